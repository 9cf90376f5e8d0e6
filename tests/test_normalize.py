"""The text normaliser shared by prompt scans, restrictions and blocked categories."""

from __future__ import annotations

import random

import pytest

from eval import names
from safety.normalize import PhraseIndex, find_phrase, normalize


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


def test_the_phrase_index_finds_exactly_what_trying_every_phrase_finds() -> None:
    """PhraseIndex only skips phrases that cannot match: on prompts holding phrases with up to
    two typos (inserted, dropped, changed letters) and random words, it returns the same matches,
    in the same order, as find_phrase on every phrase, also after keys are replaced and removed."""
    rng = random.Random(20261129)
    keys = {k: [names.name(rng) for _ in range(rng.randint(1, 3))] for k in range(400)}
    index: PhraseIndex[int] = PhraseIndex()
    for k, phrases in keys.items():
        index.set(k, phrases)
    for k in range(0, 400, 7):
        keys[k] = [names.word(rng)]
        index.set(k, keys[k])
    for k in range(3, 400, 11):
        del keys[k]
        index.discard(k)
    every = [p for phrases in keys.values() for p in phrases]
    found_any = 0
    for _ in range(100):
        text = normalize(names.prompt(rng, every))
        expected = {
            k: hits
            for k, phrases in keys.items()
            if (hits := [h for p in phrases if (h := find_phrase(text, p))])
        }
        got = index.find(text)
        assert got == expected and list(got) == list(expected), text
        found_any += bool(got)
    assert found_any > 40  # the prompts do hold phrases: the comparison is not of empty answers
