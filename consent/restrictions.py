"""Owners' free-text restrictions: turning a rule into terms and a topic, and matching a prompt.

A rule such as "Don't put me in political videos" carries framing ("don't put me in ... videos")
that says nothing about the subject matter and, embedded as is, pulls every prompt that mentions
videos or people towards it. So a rule is reduced to its content words: the terms are matched as
normalised keywords (typo- and leetspeak-tolerant, via safety.normalize), and the same words,
joined as a topic, are compared with the prompt by MiniLM cosine similarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safety.normalize import find_phrase, normalize

# Words that frame a rule rather than name what it forbids. Kept small and explicit: a word that
# might be the point of a rule ("nude", "alcohol", "kids") must never be here.
_FRAMING_WORDS = """
a an the and or of in on at to for with without about from into onto by as any all no not
never dont don t do does doesnt didnt won wont shouldnt cant cannot please i me my mine myself
im ive we us our you your it its this that these those is are be being been put puts putting
use using used show showing shows make making made appear appearing feature featuring include
including involve involving depict depicting portray portraying video videos clip clips
content scene scenes stuff thing things kind kinds type types sort anyone anybody someone
somebody people person other others nothing anything something want allow allowed okay ok like
"""
FRAMING = frozenset(_FRAMING_WORDS.split())


@dataclass(frozen=True)
class ParsedRule:
    terms: list[str]  # normalised content words, in order
    topic: str  # the content words joined: what is embedded


def parse(text: str) -> ParsedRule:
    words = normalize(text).split()
    terms = [w for w in words if w not in FRAMING and len(w) > 1]
    # A rule made only of framing words (e.g. "don't use me") keeps its whole text as the topic.
    topic = " ".join(terms) if terms else normalize(text)
    return ParsedRule(terms=terms, topic=topic)


def stems(term: str) -> set[str]:
    """The term and a plural-stripped form, so "guns" matches "gun" and "parties" "party"."""
    out = {term}
    if len(term) > 4 and term.endswith("ies"):
        out.add(term[:-3] + "y")
    elif len(term) > 3 and term.endswith("s") and not term.endswith("ss"):
        out.add(term[:-1])
    return out


def keyword_hit(prompt_norm: str, terms: list[str], min_length: int) -> str | None:
    """The first term (at least `min_length` letters) found in the normalised prompt, if any."""
    prompt_words = {w2 for w in prompt_norm.split() for w2 in stems(w)}
    for term in terms:
        if len(term) < min_length:
            continue
        if stems(term) & prompt_words:
            return term
        for form in stems(term):
            if find_phrase(prompt_norm, form) is not None:
                return term
    return None


def similarity(prompt_vec: np.ndarray, topic_vec: np.ndarray) -> float:
    return float(np.dot(prompt_vec, topic_vec))
