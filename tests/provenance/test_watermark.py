"""The invisible watermark on raw frames: round trip, crop search, and no payload from unmarked frames."""

from __future__ import annotations

import cv2
import numpy as np

from provenance import watermark as wm

PARAMS = wm.MarkParams()
SECRET = b"k" * 32


def _frames(seed: int, n: int = 12, h: int = 360, w: int = 640) -> list[np.ndarray]:
    """A panning smooth texture (natural images keep most of their energy at low frequencies)."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(30, 220, size=(h // 10, w // 10, 3), dtype=np.uint8), (w + 80, h + 80))
    return [np.ascontiguousarray(base[3 * i : 3 * i + h, 6 * i : 6 * i + w]) for i in range(n)]


def _mark(frames: list[np.ndarray], payload: int) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    pat = wm.pattern(payload, width=w, height=h, params=PARAMS, secret=SECRET)[..., None]
    return [np.clip(f + pat, 0, 255).astype(np.uint8) for f in frames]


def test_a_payload_round_trips_through_frames() -> None:
    marked = _mark(_frames(1), 0xC0FFEE42)
    assert wm.decode(marked, secret=SECRET, params=PARAMS).payload == 0xC0FFEE42


def test_the_payload_survives_a_ten_percent_crop_and_a_downscale() -> None:
    marked = _mark(_frames(2), 0x12345678)
    h, w = marked[0].shape[:2]
    cropped = [cv2.resize(f[18 : 18 + int(h * 0.9), 20 : 20 + int(w * 0.9)], (384, 216)) for f in marked]
    decoded = wm.decode(cropped, secret=SECRET, params=PARAMS)
    assert decoded.payload == 0x12345678
    assert decoded.scale == (0.9, 0.9)


def test_a_crop_between_the_search_scales_is_found_and_read() -> None:
    marked = _mark(_frames(5), 0x0BADCAFE)
    h, w = marked[0].shape[:2]
    ch, cw = round(h * 0.875), round(w * 0.875)
    cropped = [cv2.resize(f[30 : 30 + ch, 10 : 10 + cw], (384, 216)) for f in marked]
    decoded = wm.decode(cropped, secret=SECRET, params=PARAMS)
    assert decoded.payload == 0x0BADCAFE
    assert decoded.scale == (0.875, 0.875)
    assert abs(decoded.offset[0] - 10 / w) < 0.01 and abs(decoded.offset[1] - 30 / h) < 0.01


def test_unmarked_frames_and_a_wrong_key_give_no_payload() -> None:
    assert wm.decode(_frames(3), secret=SECRET, params=PARAMS).payload is None
    marked = _mark(_frames(4), 0xDEADBEEF)
    assert wm.decode(marked, secret=b"x" * 32, params=PARAMS).payload is None


def test_the_visible_mark_shows_the_service_and_handle_and_is_translucent() -> None:
    with_handle = wm.logo(height=720, handle="alice")
    without = wm.logo(height=720, handle=None)
    assert with_handle.height > without.height
    alpha = np.asarray(with_handle)[..., 3]
    assert 0 < alpha.max() < 255
