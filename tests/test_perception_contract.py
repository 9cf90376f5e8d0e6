"""One contract for every TextEmbedder: the offline MiniLM model and the unit-test fake alike."""

from __future__ import annotations

import numpy as np
import pytest

from perception.fakes import FakeText
from perception.protocols import TextEmbedder
from perception.registry import Models


@pytest.fixture(params=["real", "fake"])
def text_model(request: pytest.FixtureRequest, real_models: Models) -> TextEmbedder:
    return real_models.text if request.param == "real" else FakeText()


def test_text_embeddings_are_normalised_and_sized(text_model: TextEmbedder) -> None:
    out = text_model.embed(["a cat on a boat", "a dog in a car"])
    assert out.shape == (2, text_model.dim) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    assert isinstance(text_model, TextEmbedder) and text_model.model_id
    assert text_model.embed([]).shape == (0, text_model.dim)


def test_related_texts_are_closer_than_unrelated(text_model: TextEmbedder) -> None:
    a, b, c = text_model.embed(["a political rally speech", "a political campaign speech", "a bowl of fruit"])
    assert float(a @ b) > float(a @ c)


def test_the_real_model_knows_paraphrases(real_models: Models) -> None:
    a, b, c = real_models.text.embed(
        ["a yellow sea sponge in square pants", "SpongeBob SquarePants", "a red car"]
    )
    assert float(a @ b) > 0.5 > float(a @ c)
