"""Small synthetic test clips (H.264 + AAC MP4) made with PyAV: textured, moving, with a tone."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def make_clip(
    path: Path,
    *,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 240,
    fps: int = 24,
    seed: int = 0,
    tone: float = 440.0,
) -> Path:
    """A clip whose picture depends on `seed` (a smooth random texture panning, a moving disc) and
    whose audio is a sine tone. Different seeds give unrelated-looking clips."""
    rng = np.random.default_rng(seed)
    # A smooth, moderate-contrast texture: closer to real footage than per-pixel noise.
    big = rng.integers(40, 216, size=(height // 24 + 4, width // 24 + 4, 3), dtype=np.uint8)
    texture = cv2.resize(big, (width + 64, height + 64), interpolation=cv2.INTER_CUBIC)
    colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
    n = int(seconds * fps)
    rate = 44_100
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"preset": "ultrafast", "crf": "18"}
        a = out.add_stream("aac", rate=rate)
        a.layout = "mono"
        for i in range(n):
            dx, dy = int(32 + 30 * np.sin(i / 15 + seed)), int(32 + 30 * np.cos(i / 20 + seed))
            img = np.ascontiguousarray(texture[dy : dy + height, dx : dx + width], dtype=np.uint8)
            cx = int(width / 2 + width / 3 * np.sin(i / 10 + seed))
            cv2.circle(img, (cx, height // 2), height // 6, colour, -1)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        t = np.arange(int(seconds * rate)) / rate
        pcm = (0.3 * np.sin(2 * np.pi * tone * t)).astype(np.float32)
        for start in range(0, len(pcm), 1024):
            chunk = pcm[start : start + 1024].reshape(1, -1)
            sound = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            sound.sample_rate = rate
            sound.pts = start
            out.mux(a.encode(sound))
        out.mux(a.encode(None))
    return path


def ffmpeg(*args: str) -> None:
    """Run the ffmpeg CLI quietly (overwriting outputs); raises when it fails."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)
