"""Image features for IP matching: SIFT local features, PDQ hashes with dihedral variants, and
CLIP image/text embeddings loaded from a configured open-clip checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gate.settings import Settings
from perception.protocols import l2_normalise
from perception.registry import require_path

# References are described at a modest size (a logo or character rarely needs more) and query
# frames a little larger, so a reference pasted at 10-20% of a frame still has enough pixels.
# 640 px takes ~40% less CPU than 800 px (66 against 115 ms a 720p frame) with the same evaluation
# results (270/270 found, 0/1,013 false; docs/SAFETY.md), as 800 px did against 960 px / 1,500.
REFERENCE_MAX_SIDE = 512
QUERY_MAX_SIDE = 640


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoint positions (n, 2) float32 in the original image's pixels and SIFT descriptors
    (n, 128) uint8, plus the size of the image they were computed on."""

    keypoints: np.ndarray
    descriptors: np.ndarray
    width: int
    height: int


def _resized(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    img: np.ndarray = np.ascontiguousarray(rgb, dtype=np.uint8)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return img, scale


def colour_edges(rgb: np.ndarray) -> np.ndarray:
    """Colour gradient magnitude (the strongest of the Lab channels) as a grey image.

    SIFT on plain grey misses recoloured copies: a hue shift can swap which side of an edge is
    brighter, and SIFT descriptors are not invariant to that. Edges stay edges under any
    recolouring, so describing the gradient magnitude keeps the match (docs/SAFETY.md has the
    evaluation: colour-shift recall 60% on grey, 100% on colour edges).
    """
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    mag = np.zeros(lab.shape[:2], np.float32)
    for c in range(3):
        gx = cv2.Sobel(lab[..., c], cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(lab[..., c], cv2.CV_32F, 0, 1, ksize=3)
        np.maximum(mag, cv2.magnitude(gx, gy), out=mag)
    top = float(np.percentile(mag, 99)) or 1.0
    return np.clip(mag * (255.0 / top), 0, 255).astype(np.uint8)


def _prepared(rgb: np.ndarray, max_side: int, channel: str) -> tuple[np.ndarray, float]:
    img, scale = _resized(rgb, max_side)
    return (colour_edges(img) if channel == "edges" else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)), scale


class SiftFeatures:
    """OpenCV SIFT (weight-free, patent expired): survives scale, rotation, crop and occlusion.
    Computed on colour edges by default (see colour_edges); `channel="gray"` is classic SIFT."""

    def __init__(self, *, max_reference: int = 600, max_query: int = 1000, channel: str = "edges") -> None:
        self.channel = channel
        self.model_id = f"opencv-sift-{channel}@{cv2.__version__}"
        self._ref = cv2.SIFT_create(  # type: ignore[attr-defined]
            nfeatures=max_reference
        )
        self._query = cv2.SIFT_create(  # type: ignore[attr-defined]
            nfeatures=max_query
        )

    def extract(self, rgb: np.ndarray, *, reference: bool = False) -> LocalFeatures:
        gray, scale = _prepared(rgb, REFERENCE_MAX_SIDE if reference else QUERY_MAX_SIDE, self.channel)
        # SIFT objects hold no state between calls, but OpenCV does not promise thread safety.
        kps, desc = (self._ref if reference else self._query).detectAndCompute(gray, None)
        h, w = rgb.shape[:2]
        if desc is None or not kps:
            return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), w, h)
        pts = np.array([k.pt for k in kps], np.float32) / scale
        return LocalFeatures(pts, np.clip(desc, 0, 255).astype(np.uint8), w, h)


def verify_homography(
    ref_pts: np.ndarray, query_pts: np.ndarray, *, reproj_px: float
) -> tuple[int, np.ndarray | None]:
    """RANSAC homography between matched points; returns (inliers, 3×3 matrix or None).

    A homography that folds the reference over itself or shrinks it to a sliver is refused: such
    fits come from a handful of coincidental matches, not from a picture of the reference.
    """
    if len(ref_pts) < 4:
        return 0, None
    matrix, mask = cv2.findHomography(
        ref_pts, query_pts, cv2.RANSAC, reproj_px, maxIters=2000, confidence=0.995
    )
    if matrix is None or mask is None:
        return 0, None
    det = float(np.linalg.det(matrix[:2, :2]))
    if not (1e-3 < abs(det) < 1e3):
        return 0, None
    return int(mask.sum()), matrix


def project_box(matrix: np.ndarray, width: int, height: int) -> tuple[float, float, float, float]:
    corners = np.array([[[0, 0]], [[width, 0]], [[width, height]], [[0, height]]], np.float32)
    out = cv2.perspectiveTransform(corners, matrix).reshape(-1, 2)
    return float(out[:, 0].min()), float(out[:, 1].min()), float(out[:, 0].max()), float(out[:, 1].max())


class PdqHasher:
    """Meta's PDQ: 256-bit perceptual hash; dihedral variants cover flips and 90° rotations."""

    model_id = "pdq@pdqhash-0.2"

    def dihedral(self, rgb: np.ndarray) -> tuple[np.ndarray, int]:
        """(8, 32) uint8 packed hashes (original first) and the quality (0-100)."""
        import pdqhash

        img = np.ascontiguousarray(_thumb(rgb), dtype=np.uint8)
        hashes, quality = pdqhash.compute_dihedral(img)
        packed = np.stack([np.packbits(np.asarray(h, np.uint8)) for h in hashes])
        return packed, int(quality)

    def hash(self, rgb: np.ndarray) -> tuple[np.ndarray, int]:
        """(32,) uint8 packed hash and quality."""
        import pdqhash

        img = np.ascontiguousarray(_thumb(rgb), dtype=np.uint8)
        bits, quality = pdqhash.compute(img)
        return np.packbits(np.asarray(bits, np.uint8)), int(quality)


def _thumb(rgb: np.ndarray, side: int = 512) -> np.ndarray:
    # PDQ downsamples to 64×64 internally; hashing a ≤512 px copy gives the same bits faster.
    h, w = rgb.shape[:2]
    if max(h, w) <= side:
        return rgb
    scale = side / max(h, w)
    return cv2.resize(
        np.ascontiguousarray(rgb),
        (max(1, round(w * scale)), max(1, round(h * scale))),
        interpolation=cv2.INTER_AREA,
    )


class OpenClip:
    """open-clip-torch image and text towers from a local checkpoint (never downloaded)."""

    def __init__(self, model_name: str, checkpoint: str) -> None:
        import open_clip
        import torch

        model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=checkpoint)
        model.eval()
        self._model = model
        self._preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(model_name)
        self._torch = torch
        self.model_id = f"open-clip-{model_name}@{_file_tag(checkpoint)}"
        with torch.no_grad():
            self.dim = int(model.encode_text(self._tokenizer(["x"])).shape[-1])

    def embed_images(self, rgbs: list[np.ndarray]) -> np.ndarray:
        from PIL import Image

        if not rgbs:
            return np.zeros((0, self.dim), np.float32)
        batch = self._torch.stack([self._preprocess(Image.fromarray(np.asarray(r, np.uint8))) for r in rgbs])
        with self._torch.no_grad():
            out = self._model.encode_image(batch).float().numpy()
        return l2_normalise(out)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._torch.no_grad():
            out = self._model.encode_text(self._tokenizer(texts)).float().numpy()
        return l2_normalise(out)


def _file_tag(path: str) -> str:
    import hashlib
    from pathlib import Path

    p = Path(path)
    st = p.stat()
    return hashlib.sha256(f"{p.name}:{st.st_size}".encode()).hexdigest()[:12]


def load_clip(settings: Settings) -> OpenClip:
    path = require_path(settings, "clip_checkpoint")
    return OpenClip(settings.clip_model, str(path))
