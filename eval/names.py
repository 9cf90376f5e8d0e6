"""Random names and prompts that hold them with typos, for the phrase index's test and benchmark.

Seeded, so a failure can be replayed. Letters only: the normaliser would fold digits and symbols.
"""

from __future__ import annotations

import random
import string


def word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9)))


def name(rng: random.Random) -> str:
    """One to three words."""
    return " ".join(word(rng) for _ in range(rng.randint(1, 3)))


def with_typos(rng: random.Random, phrase: str) -> str:
    """Up to two letters inserted, dropped or changed."""
    letters = list(phrase)
    for _ in range(rng.randint(0, 2)):
        i, op = rng.randrange(len(letters)), rng.randrange(3)
        if op == 0:
            letters[i] = rng.choice(string.ascii_lowercase)
        elif op == 1 and len(letters) > 1:
            del letters[i]
        else:
            letters.insert(i, rng.choice(string.ascii_lowercase))
    return "".join(letters)


def prompt(rng: random.Random, names: list[str], *, words: tuple[int, int] = (2, 20)) -> str:
    """Random words with 0-3 of `names` among them, each with typos."""
    out = [word(rng) for _ in range(rng.randint(*words))]
    for _ in range(rng.randint(0, 3)):
        out.insert(rng.randrange(len(out) + 1), with_typos(rng, rng.choice(names)))
    return " ".join(out)
