"""The small interfaces every model sits behind. Domains depend on these, never on a library.

Every implementation has a `model_id` (stored beside every embedding and decision) and returns
L2-normalised float32 vectors, so cosine similarity is a dot product everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Face:
    """One detected face: box (x0, y0, x1, y1) in pixels, detector confidence, 5 landmarks
    (left eye, right eye, nose, left mouth corner, right mouth corner) as a 5×2 array."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@runtime_checkable
class FaceDetector(Protocol):
    model_id: str

    def detect(self, rgb: np.ndarray) -> list[Face]: ...

    def detect_many(self, frames: list[np.ndarray]) -> list[list[Face]]:
        """`detect` of each frame (a model may run them as one batch)."""
        ...


@runtime_checkable
class FaceEmbedder(Protocol):
    model_id: str
    dim: int

    def embed(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        """One row per face, shape (len(faces), dim)."""
        ...


@runtime_checkable
class VoiceEmbedder(Protocol):
    model_id: str
    dim: int

    def embed(self, pcm16k: np.ndarray) -> np.ndarray:
        """One utterance (mono float32, 16 kHz) → (dim,)."""
        ...


@runtime_checkable
class SpeechRecognizer(Protocol):
    model_id: str

    def digits(self, pcm16k: np.ndarray) -> str:
        """The spoken digits, as a string of 0-9 (empty when none are heard)."""
        ...


@runtime_checkable
class TextEmbedder(Protocol):
    model_id: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim)."""
        ...


@runtime_checkable
class ImageEmbedder(Protocol):
    """CLIP-style joint image/text space."""

    model_id: str
    dim: int

    def embed_images(self, rgbs: list[np.ndarray]) -> np.ndarray: ...

    def embed_texts(self, texts: list[str]) -> np.ndarray: ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)


@runtime_checkable
class LocalFeatureExtractor(Protocol):
    """Keypoints and descriptors for geometric matching (e.g. SIFT)."""

    model_id: str

    def extract(self, rgb: np.ndarray, *, reference: bool = False) -> Any:
        """A perception.images.LocalFeatures."""
        ...


@runtime_checkable
class ImageHasher(Protocol):
    """A perceptual hash (e.g. PDQ): packed bytes, compared by Hamming distance."""

    model_id: str

    def dihedral(self, rgb: np.ndarray) -> tuple[np.ndarray, int]: ...

    def hash(self, rgb: np.ndarray) -> tuple[np.ndarray, int]: ...
