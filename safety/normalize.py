"""Text normalisation and fuzzy phrase matching for names, keywords and blocked terms.

Shared by prompt scans (opt-out names), consent restrictions and policy content categories, so
"Sp0nge-B0b", "spónge bob" and "spongebob" are the same words everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

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
