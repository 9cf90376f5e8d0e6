"""Perceptual frame hashes (PDQ, via pdqhash) for near-duplicate detection of uploaded media."""

from __future__ import annotations

import numpy as np


def pdq(rgb: np.ndarray) -> bytes:
    """The 256-bit PDQ hash of one RGB frame, packed into 32 bytes."""
    import pdqhash

    bits, _quality = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()


def hamming(a: bytes, b: bytes) -> int:
    return int(np.unpackbits(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)).sum())
