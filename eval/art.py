"""Procedural images for tests and the IP evaluation: logo-like references and unrelated scenes.

Everything is generated from a seed with numpy and OpenCV, so no image data has to ship.
"""

from __future__ import annotations

import cv2
import numpy as np


def logo(seed: int, size: int = 384) -> np.ndarray:
    """A 'logo or character': bold shapes, lettering and a textured patch on a flat background."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), rng.integers(0, 256, 3), np.uint8)
    for _ in range(int(rng.integers(6, 11))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(0, 4)
        x, y = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(size // 14, size // 4))
        if kind == 0:
            cv2.circle(img, (x, y), r, colour, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(img, (x, y), (x + r, y + int(r * rng.uniform(0.3, 1.5))), colour, -1)
        elif kind == 2:
            pts = rng.integers(0, size, (int(rng.integers(3, 7)), 2)).astype(np.int32)
            cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)
        else:
            cv2.ellipse(img, (x, y), (r, r // 2), float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
    letters = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(3, 7))))
    cv2.putText(
        img, letters, (size // 10, size - size // 8), cv2.FONT_HERSHEY_DUPLEX, size / 200,
        tuple(int(c) for c in rng.integers(0, 256, 3)), max(2, size // 120), cv2.LINE_AA,
    )  # fmt: skip
    # A patch of texture: real artwork has detail inside shapes, not only edges.
    px, py = (int(v) for v in rng.integers(0, size // 2, 2))
    patch = cv2.resize(
        rng.integers(0, 256, (12, 12, 3)).astype(np.uint8),
        (size // 3, size // 3),
        interpolation=cv2.INTER_NEAREST,
    )
    img[py : py + size // 3, px : px + size // 3] = (
        0.5 * img[py : py + size // 3, px : px + size // 3] + 0.5 * patch
    ).astype(np.uint8)
    return img


def scene(seed: int, width: int = 960, height: int = 540) -> np.ndarray:
    """An unrelated 'photo-like' scene: gradient sky, smooth noise, soft blobs and lines."""
    rng = np.random.default_rng(10_000_000 + seed)
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0, 1, height)[:, None, None]
    img = (top * (1 - ramp) + bottom * ramp) * np.ones((1, width, 1))
    noise = cv2.resize(
        rng.normal(0, 40, (height // 30, width // 30, 3)), (width, height), interpolation=cv2.INTER_CUBIC
    )
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(5, 15))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.circle(img, (x, y), int(rng.integers(10, 120)), colour, -1, cv2.LINE_AA)
        cv2.line(
            img,
            (x, y),
            (int(rng.integers(0, width)), int(rng.integers(0, height))),
            colour,
            int(rng.integers(1, 6)),
        )
    return cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 2.0)))


def paste(background: np.ndarray, item: np.ndarray, area_fraction: float, seed: int) -> np.ndarray:
    """`item` resized to cover `area_fraction` of `background`, at a random place."""
    rng = np.random.default_rng(seed)
    h, w = background.shape[:2]
    ih, iw = item.shape[:2]
    scale = np.sqrt(area_fraction * h * w / (ih * iw))
    nh, nw = max(8, int(ih * scale)), max(8, int(iw * scale))
    resized = cv2.resize(item, (nw, nh), interpolation=cv2.INTER_AREA)
    y, x = int(rng.integers(0, max(1, h - nh))), int(rng.integers(0, max(1, w - nw)))
    out = background.copy()
    out[y : y + nh, x : x + nw] = resized[: h - y, : w - x]
    return out
