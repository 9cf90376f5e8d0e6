"""Text normalisation and fuzzy phrase matching for names, keywords and blocked terms.

Shared by prompt scans (opt-out names), consent restrictions and policy content categories, so
"Sp0nge-B0b", "spónge bob" and "spongebob" are the same words everywhere.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

# Digits and symbols people substitute for letters to dodge filters.
_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "@": "a",
        "$": "s",
    }
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize(text: str) -> str:
    """Lower case, accents stripped, leetspeak undone, every run of other characters one space.

    Leetspeak is undone only inside words that also hold letters, so "2024" stays a number.
    """
    folded = unicodedata.normalize("NFKD", text.casefold())
    no_marks = "".join(c for c in folded if not unicodedata.combining(c))
    words = [w.translate(_LEET) if any(c.isalpha() for c in w) else w for w in no_marks.split()]
    return " ".join(_NON_ALNUM.sub(" ", " ".join(words)).split())


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, giving up (returning limit + 1) once it must exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def allowed_typos(length: int) -> int:
    """Short words must match exactly; longer ones may carry one typo, long ones two. Five letters
    is still short: one edit there is a fifth of the name, and "Osama" matched the alias "Obama"."""
    if length < 6:
        return 0
    return 1 if length < 10 else 2


@dataclass(frozen=True)
class PhraseMatch:
    phrase: str
    matched: str  # the normalised text that matched
    distance: int

    @property
    def score(self) -> float:
        return 1.0 - self.distance / max(len(self.phrase), 1)


def find_phrase(text_norm: str, phrase: str) -> PhraseMatch | None:
    """Find `phrase` in already-normalised text: word-aligned, spacing-insensitive, small typos.

    Compares the phrase with its spaces removed against every window of 1..n+1 words with their
    spaces removed, so "sponge bob", "spongebob" and "sp0nge bobb" all match "SpongeBob".
    """
    target = normalize(phrase).replace(" ", "")
    if not target:
        return None
    words = text_norm.split()
    n_words = max(1, len(normalize(phrase).split()))
    limit = allowed_typos(len(target))
    best: PhraseMatch | None = None
    for start in range(len(words)):
        joined = ""
        for end in range(start, min(len(words), start + n_words + 2)):
            joined += words[end]
            if len(joined) > len(target) + limit:
                break
            dist = _edit_distance(joined, target, limit)
            if dist <= limit and (best is None or dist < best.distance):
                best = PhraseMatch(phrase, " ".join(words[start : end + 1]), dist)
                if dist == 0:
                    return best
    return best


RUN_CAP = 8


def _pieces(phrase: str) -> set[str]:
    """The phrase's letters (spaces removed, as find_phrase compares them) cut into k + 1 nearly
    equal runs, k being the typos it may carry."""
    target = normalize(phrase).replace(" ", "")
    if not target:
        return set()
    parts = allowed_typos(len(target)) + 1
    bounds = [round(i * len(target) / parts) for i in range(parts + 1)]
    # A run's first RUN_CAP letters are as intact as the run: capping keeps few lengths to look up.
    return {target[a:b][:RUN_CAP] for a, b in itertools.pairwise(bounds)}


class PhraseIndex(Generic[K]):
    """find_phrase for many phrases at once: what prompt scans need against every opt-out's names
    and every protected person's, where trying each phrase on each prompt costs ~0.15 ms a phrase
    (bench/phrase_index.py).

    Pigeonhole: a phrase whose letters are cut into k + 1 runs can match a window of the prompt
    within k edits only if one run appears unchanged in that window, so in the prompt's letters run
    together. `find` looks the prompt's substrings up among the runs and tries find_phrase on those
    phrases only: the same matches as trying every phrase, each key's in its phrases' order."""

    def __init__(self) -> None:
        self._phrases: dict[K, tuple[str, ...]] = {}
        self._order: dict[K, int] = {}  # first insertion: matches come out in that order
        self._runs: dict[str, set[tuple[K, str]]] = {}
        self._lengths: Counter[int] = Counter()

    def __len__(self) -> int:
        return len(self._phrases)

    def set(self, key: K, phrases: Iterable[str]) -> None:
        self.discard(key)
        kept = tuple(dict.fromkeys(phrases))
        self._phrases[key] = kept
        self._order.setdefault(key, len(self._order))
        for phrase in kept:
            for run in _pieces(phrase):
                self._runs.setdefault(run, set()).add((key, phrase))
                self._lengths[len(run)] += 1

    def discard(self, key: K) -> None:
        for phrase in self._phrases.pop(key, ()):
            for run in _pieces(phrase):
                holders = self._runs[run]
                holders.discard((key, phrase))
                if not holders:
                    del self._runs[run]
                self._lengths[len(run)] -= 1
                if not self._lengths[len(run)]:
                    del self._lengths[len(run)]

    def find(self, text_norm: str) -> dict[K, list[PhraseMatch]]:
        """Per key with any, its phrases' matches in `text_norm` (normalised), in phrase order."""
        letters = "".join(text_norm.split())  # as find_phrase joins a window's words
        tried: set[tuple[K, str]] = set()
        for n in self._lengths:
            for i in range(len(letters) - n + 1):
                holders = self._runs.get(letters[i : i + n])
                if holders:
                    tried |= holders
        found: dict[K, list[PhraseMatch]] = {}
        for key in sorted({key for key, _ in tried}, key=self._order.__getitem__):
            hits = [
                hit
                for phrase in self._phrases[key]
                if (key, phrase) in tried and (hit := find_phrase(text_norm, phrase)) is not None
            ]
            if hits:
                found[key] = hits
        return found
