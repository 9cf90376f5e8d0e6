"""Deterministic stand-ins for unit tests. Same Protocols; tests/test_perception_contract.py runs
one contract suite against these and the real models."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from perception.protocols import l2_normalise


class FakeText:
    """Bag of hashed words: texts sharing words are similar, unrelated texts are near-orthogonal."""

    model_id = "fake-text"
    dim = 384

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                out[i, h % self.dim] += 1.0
            out[i, 0] += 1e-3  # never a zero vector
        return l2_normalise(out)
