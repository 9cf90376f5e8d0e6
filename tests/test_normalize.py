"""The text normaliser shared by prompt scans, restrictions and blocked categories."""

from __future__ import annotations

import pytest

from safety.normalize import find_phrase, normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SpongeBob SquarePants", "spongebob squarepants"),
        ("Spóngé-Bób!!", "sponge bob"),
        ("Sp0ng3B0b", "spongebob"),
        ("in 2024, at 10:30", "in 2024 at 10 30"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "prompt",
    ["a video of SpongeBob", "sponge bob at the beach", "sp0nge-b0b", "spongebobb dancing", "SPONGE  BOB"],
)
def test_variants_of_a_name_are_found(prompt: str) -> None:
    assert find_phrase(normalize(prompt), "SpongeBob") is not None


@pytest.mark.parametrize("prompt", ["a sponge on the sea floor", "bob the builder", "a spongy cake"])
def test_unrelated_words_are_not_matched(prompt: str) -> None:
    assert find_phrase(normalize(prompt), "SpongeBob") is None


def test_short_names_must_match_exactly() -> None:
    assert find_phrase(normalize("make an elk"), "Elmo") is None
    assert find_phrase(normalize("make elmo dance"), "Elmo") is not None
