"""Benchmark clips for provenance: 720p H.264+AAC clips with natural content (slow pans and zooms over
real photos and segments of the real video) and unrelated procedural clips (fractals, cellular
automata, gradients) that were never signed."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from gate.settings import PROJECT_ROOT

DATA = PROJECT_ROOT.parent / "shared" / "data"
W, H, FPS = 1280, 720, 24


def ffmpeg(*args: str) -> None:
    """Run the ffmpeg CLI quietly (overwriting outputs); raises when it fails."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


def _stills() -> list[Path]:
    return sorted(p for p in (DATA / "faces").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def _encode(path: Path, frames: list[np.ndarray], *, tone: float) -> Path:
    rate = 44_100
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        v.options = {"preset": "veryfast", "crf": "18"}
        a = out.add_stream("aac", rate=rate)
        a.layout = "mono"
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        t = np.arange(int(len(frames) / FPS * rate)) / rate
        pcm = (0.2 * np.sin(2 * np.pi * tone * t)).astype(np.float32)
        for start in range(0, len(pcm), 1024):
            af = av.AudioFrame.from_ndarray(
                pcm[start : start + 1024].reshape(1, -1), format="fltp", layout="mono"
            )
            af.sample_rate, af.pts = rate, start
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    return path


def ken_burns(image: np.ndarray, *, seconds: float, rng: np.random.Generator) -> list[np.ndarray]:
    """A slow pan and zoom over a still, as a 16:9 720p clip."""
    h, w = image.shape[:2]
    n = int(seconds * FPS)
    z0, z1 = rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0)
    c0, c1 = rng.uniform(0.35, 0.65, size=2), rng.uniform(0.35, 0.65, size=2)
    frames = []
    for i in range(n):
        a = i / max(1, n - 1)
        z, c = z0 + (z1 - z0) * a, c0 + (c1 - c0) * a
        ch = min(h, w * 9 / 16) * z
        cw = ch * 16 / 9
        x0 = float(np.clip(c[0] * w - cw / 2, 0, w - cw))
        y0 = float(np.clip(c[1] * h - ch / 2, 0, h - ch))
        crop = image[int(y0) : int(y0 + ch), int(x0) : int(x0 + cw)]
        frames.append(cv2.resize(crop, (W, H), interpolation=cv2.INTER_CUBIC))
    return frames


def real_video_720p(path: Path, *, start: float, seconds: float) -> Path:
    """A segment of the real video scaled to 1280x720, H.264 + AAC."""
    ffmpeg(
        "-ss",
        f"{start}",
        "-t",
        f"{seconds}",
        "-i",
        str(DATA / "video" / "short_hamilton_clip.mp4"),
        "-vf",
        f"scale={W}:{H}",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "18",
        "-c:a",
        "aac",
        str(path),
    )
    return path


def signed_sources(out_dir: Path, count: int, *, seconds: float = 2.0) -> list[Path]:
    """`count` natural clips: Ken Burns over the face photos (two paths each) and real-video segments."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths: list[Path] = []
    for k, start in enumerate(np.arange(0.0, 8.0, seconds)):
        paths.append(real_video_720p(out_dir / f"video_{k}.mp4", start=float(start), seconds=seconds))
    stills = _stills()
    i = 0
    while len(paths) < count:
        bgr = cv2.imread(str(stills[i % len(stills)]))
        assert bgr is not None
        img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        p = out_dir / f"still_{i}.mp4"
        paths.append(_encode(p, ken_burns(img, seconds=seconds, rng=rng), tone=float(rng.uniform(200, 900))))
        i += 1
    return paths[:count]


_PROCEDURAL = [
    "mandelbrot=size={s}:rate=24:start_x={a}:start_y={b}:start_scale={c}",
    "life=size={s}:rate=24:seed={n}:ratio={r}:mold=10:life_color=#{h1}:death_color=#{h2}:mold_color=#{h3}",
    "cellauto=size={s}:rate=24:rule={rule}:seed={n}:random_fill_ratio={r}",
    "gradients=size={s}:rate=24:seed={n}:nb_colors=6:speed=0.02",
    "testsrc2=size={s}:rate=24",
]


def unrelated(out_dir: Path, count: int, *, seconds: float = 2.0) -> list[Path]:
    """`count` procedural clips that were never signed (ffmpeg sources with random parameters)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    paths = []
    for i in range(count):
        kind = _PROCEDURAL[i % 4] if i % 25 else _PROCEDURAL[4]
        spec = kind.format(
            s=f"{W}x{H}",
            a=rng.uniform(-1.5, 0.3),
            b=rng.uniform(-0.8, 0.8),
            c=rng.uniform(0.5, 3),
            n=int(rng.integers(1, 1 << 30)),
            r=round(float(rng.uniform(0.05, 0.6)), 2),
            rule=int(rng.integers(1, 255)),
            h1=f"{int(rng.integers(0, 1 << 24)):06x}",
            h2=f"{int(rng.integers(0, 1 << 24)):06x}",
            h3=f"{int(rng.integers(0, 1 << 24)):06x}",
        )
        p = out_dir / f"unrelated_{i}.mp4"
        ffmpeg(
            "-f",
            "lavfi",
            "-i",
            spec,
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={int(rng.integers(200, 900))}",
            "-t",
            f"{seconds}",
            "-vf",
            f"scale={W}:{H},format=yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-c:a",
            "aac",
            "-shortest",
            str(p),
        )
        paths.append(p)
    return paths
