"""CLIP loading from a configured checkpoint (a tiny randomly initialised open-clip model saved to
a temporary file), the same contract for the fake, and CLIP as a scan signal."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from eval.art import logo
from gate.errors import ConfigurationError
from gate.settings import Settings
from perception.fakes import FakeClip, FakeText
from perception.images import load_clip
from perception.protocols import ImageEmbedder
from perception.registry import Models
from policies.schema import Safety
from safety.indexes import LiveOptOut, SafetyIndexes
from safety.service import frame_features
from safety.signals import RefFeatures

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    import open_clip
    import torch

    root = tmp_path_factory.mktemp("clip")
    (root / "cameogate-tiny-test.json").write_text(json.dumps(TINY))
    open_clip.add_model_config(root / "cameogate-tiny-test.json")
    torch.manual_seed(0)
    model = open_clip.create_model("cameogate-tiny-test")
    path = root / "tiny.pt"
    torch.save(model.state_dict(), path)
    return "cameogate-tiny-test", path


def _contract(model: ImageEmbedder) -> None:
    a, b = logo(1, 96), logo(2, 96)
    images = model.embed_images([a, b, a])
    assert images.shape == (3, model.dim) and images.dtype == np.float32
    assert np.allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-4)
    assert float(images[0] @ images[2]) > 0.999  # deterministic
    assert float(images[0] @ images[1]) < 0.999
    texts = model.embed_texts(["a red logo", "a red logo", "an unrelated sentence"])
    assert texts.shape == (3, model.dim) and float(texts[0] @ texts[1]) > 0.999
    assert model.embed_images([]).shape == (0, model.dim)


def test_clip_loads_from_the_configured_checkpoint_and_meets_the_contract(
    tiny_checkpoint: tuple[str, Path],
) -> None:
    name, path = tiny_checkpoint
    model = load_clip(Settings(clip_checkpoint=path, clip_model=name))
    assert model.model_id.startswith(f"open-clip-{name}@")
    _contract(model)


def test_the_fake_clip_meets_the_same_contract() -> None:
    _contract(FakeClip())


def test_clip_is_off_without_a_checkpoint_and_a_missing_one_names_the_setting(tmp_path: Path) -> None:
    assert Models(Settings(clip_checkpoint=None)).clip is None
    with pytest.raises(ConfigurationError, match="CAMEOGATE_CLIP_CHECKPOINT"):
        load_clip(Settings(clip_checkpoint=tmp_path / "missing.pt"))


def test_clip_image_signal_matches_a_reference_above_its_threshold() -> None:
    clip = FakeClip()
    holder = SafetyIndexes(
        text_model_id="fake-text",
        text_dim=384,
        embed_texts=FakeText().embed,
        clip_model_id=clip.model_id,
        clip_dim=clip.dim,
    )
    ref = logo(5)
    oid = uuid.uuid4()
    pdq, quality = holder.hasher.dihedral(ref)
    holder.add_reference(
        RefFeatures(
            uuid.uuid4(), oid, 384, 384, pdq, quality, np.zeros((0, 2), np.float32),
            np.zeros((0, 128), np.uint8), clip.embed_images([ref])[0], clip.model_id,
        )
    )  # fmt: skip
    holder.live_optouts[oid] = LiveOptOut(oid, "t", "block", oid)
    models = Models(Settings(), clip=clip)
    matches = holder.match_frame(frame_features(holder, models, 0.0, ref), policy=Safety())
    assert any(m.signal == "clip_image" and m.optout_id == oid for m in matches)
    other = holder.match_frame(
        frame_features(holder, models, 0.0, logo(99)), policy=Safety(clip_image_threshold=0.99)
    )
    assert not any(m.signal == "clip_image" for m in other)
