"""Generator backends behind one Protocol: the built-in CPU renderer (default) and a diffusers
text-to-video pipeline from a local model directory (generation/diffusers_backend.py)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

AUDIO_RATE = 44_100
_SHOT = re.compile(r"shot\s*\d+\s*[:.)-]\s*", re.IGNORECASE)
_QUOTE = re.compile(r"[\"“”]([^\"“”]{1,300})[\"“”]")


@dataclass(frozen=True)
class RenderRequest:
    prompt: str
    duration: float
    width: int
    height: int
    fps: int
    seed: int
    faces: list[np.ndarray] = field(default_factory=list)  # consented cameos' reference crops (RGB)
    input_frames: list[np.ndarray] = field(default_factory=list)  # an input image, or video frames

    @property
    def shots(self) -> list[str]:
        """ "Shot 1: … Shot 2: …" → one text per shot; a prompt without markers is one shot."""
        parts = [p.strip() for p in _SHOT.split(self.prompt) if p.strip()]
        return parts or [self.prompt.strip() or "an empty stage"]


Progress = Callable[[float], None]


class GeneratorBackend(Protocol):
    name: str
    version: str

    def render(self, request: RenderRequest, dest: Path, *, progress: Progress) -> None:
        """Write an H.264 + AAC MP4 of the request to `dest`."""
        ...


def _rng_for(seed: int, text: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class CpuRenderer:
    """Deterministic by seed: the same request always renders the same pixels and samples (the
    H.264 bitstream may differ in its last bits between runs: threaded x264 is not bit-exact here).

    Each shot gets a sky-to-ground gradient, a ball under gravity bouncing with energy loss
    (simple, physically plausible motion), the shot's caption, the consented cameos' faces moving
    across the frame, and an input image slowly zoomed (Ken Burns) when one is given. Audio is
    espeak-ng speech for quoted dialogue and a soft seeded chord otherwise.
    """

    name = "cameogate-cpu-renderer"
    version = "1.0"

    def render(self, request: RenderRequest, dest: Path, *, progress: Progress) -> None:
        total = max(1, round(request.duration * request.fps))

        def reported() -> Iterator[np.ndarray]:
            for done, frame in enumerate(self.frames(request), 1):
                yield frame
                if done % request.fps == 0:
                    progress(done / total)

        write_mp4(dest, request, reported(), self.soundtrack(request))
        progress(1.0)

    def frames(self, request: RenderRequest) -> Iterator[np.ndarray]:
        """The clip's pictures, RGB, in order: a pure function of the request (and its seed)."""
        shots = request.shots
        per_shot = split_frames(max(1, round(request.duration * request.fps)), len(shots))
        for index, (shot, n) in enumerate(zip(shots, per_shot, strict=True)):
            scene = _Scene(request, shot, index)
            for i in range(n):
                yield scene.frame(i / request.fps)

    def soundtrack(self, request: RenderRequest) -> np.ndarray:
        shots = request.shots
        return soundtrack(
            request, shots, split_frames(max(1, round(request.duration * request.fps)), len(shots))
        )


def split_frames(total: int, shots: int) -> list[int]:
    """`total` frames shared out over `shots`, the first ones one longer."""
    return [total // shots + (1 if i < total % shots else 0) for i in range(shots)]


def soundtrack(request: RenderRequest, shots: list[str], per_shot: list[int]) -> np.ndarray:
    """espeak-ng speech for each shot's quoted dialogue, a soft seeded chord for shots without."""
    track = np.zeros(round(request.duration * AUDIO_RATE), np.float32)
    start = 0
    for shot, n in zip(shots, per_shot, strict=True):
        length = int(n / request.fps * AUDIO_RATE)
        lines = _QUOTE.findall(shot)
        clip = _speak(" ".join(lines)) if lines else _chord(_rng_for(request.seed, shot), length)
        clip = clip[:length]
        track[start : start + len(clip)] += clip
        start += length
    return np.clip(track, -1, 1)


def write_mp4(dest: Path, request: RenderRequest, frames: Iterable[np.ndarray], audio: np.ndarray) -> None:
    """H.264 (libx264 veryfast, yuv420p) + mono AAC, frames at the request's size and rate."""
    with av.open(str(dest), mode="w", format="mp4") as out:
        vstream = out.add_stream("libx264", rate=request.fps, options={"preset": "veryfast", "crf": "23"})
        vstream.width, vstream.height, vstream.pix_fmt = request.width, request.height, "yuv420p"
        astream = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for pts, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, request.fps)
            out.mux(vstream.encode(frame))
        out.mux(vstream.encode(None))
        _encode_audio(out, astream, audio)


class _Scene:
    def __init__(self, request: RenderRequest, text: str, index: int) -> None:
        self.req = request
        self.text = text
        rng = _rng_for(request.seed, f"{index}:{text}")
        w, h = request.width, request.height
        top, bottom = rng.integers(40, 220, 3), rng.integers(20, 160, 3)
        ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        self.background = (top * (1 - ramp) + bottom * ramp).astype(np.uint8).repeat(w, axis=1)
        self.ball_color = tuple(int(c) for c in rng.integers(120, 255, 3))
        self.ball_x0 = float(rng.uniform(0.1, 0.4) * w)
        self.ball_vx = float(rng.uniform(0.1, 0.25) * w)  # px/s
        self.ball_r = max(6, h // 18)
        self.face_phase = float(rng.uniform(0, 1))
        self.input = request.input_frames

    def _ball_y(self, t: float) -> float:
        # Dropped from the top, g chosen so a fall takes ~0.8 s; each bounce keeps 80% of speed.
        h, r = self.req.height, self.ball_r
        floor, g = h * 0.8 - r, 2 * (h * 0.7) / 0.8**2
        y, v, left = h * 0.1, 0.0, t
        while left > 0:
            to_floor = (-v + np.sqrt(v * v + 2 * g * (floor - y))) / g
            if left < to_floor:
                return y + v * left + 0.5 * g * left * left
            left -= to_floor
            v, y = -0.8 * (v + g * to_floor), floor
            if abs(v) < 5:
                return floor
        return y

    def frame(self, t: float) -> np.ndarray:
        w, h = self.req.width, self.req.height
        if self.input:
            src = self.input[min(len(self.input) - 1, int(t * self.req.fps))]
            zoom = 1.0 + 0.04 * t
            frame = _ken_burns(src, w, h, zoom)
        else:
            frame = self.background.copy()
        x = int((self.ball_x0 + self.ball_vx * t) % (w + 2 * self.ball_r)) - self.ball_r
        cv2.circle(frame, (x, int(self._ball_y(t))), self.ball_r, self.ball_color, -1, cv2.LINE_AA)
        for i, face in enumerate(self.req.faces):
            _paste_face(frame, face, t, i, len(self.req.faces), self.face_phase)
        _caption(frame, self.text)
        return frame


def _ken_burns(src: np.ndarray, w: int, h: int, zoom: float) -> np.ndarray:
    sh, sw = src.shape[:2]
    scale = max(w / sw, h / sh) * zoom
    resized = cv2.resize(
        src, (max(w, round(sw * scale)), max(h, round(sh * scale))), interpolation=cv2.INTER_AREA
    )
    y0, x0 = (resized.shape[0] - h) // 2, (resized.shape[1] - w) // 2
    return np.ascontiguousarray(resized[y0 : y0 + h, x0 : x0 + w])


def _paste_face(frame: np.ndarray, face: np.ndarray, t: float, i: int, n: int, phase: float) -> None:
    """A cameo's reference face, large enough to be recognised, drifting slowly, feathered edges."""
    h, w = frame.shape[:2]
    size = min(h // 2, w // (n + 1))
    crop = cv2.resize(face, (size, size), interpolation=cv2.INTER_LINEAR)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = ((xx - size / 2) / (size * 0.48)) ** 2 + ((yy - size / 2) / (size * 0.5)) ** 2
    alpha = np.clip((1.0 - r) * 4, 0, 1)[..., None]
    slot = (i + 1) * w / (n + 1)
    cx = int(slot + np.sin(2 * np.pi * (t / 6 + phase)) * w * 0.05)
    cy = int(h * 0.42 + np.cos(2 * np.pi * (t / 5 + phase)) * h * 0.03)
    x0, y0 = max(0, cx - size // 2), max(0, cy - size // 2)
    x1, y1 = min(w, x0 + size), min(h, y0 + size)
    region = frame[y0:y1, x0:x1].astype(np.float32)
    a = alpha[: y1 - y0, : x1 - x0]
    frame[y0:y1, x0:x1] = (crop[: y1 - y0, : x1 - x0] * a + region * (1 - a)).astype(np.uint8)


def _caption(frame: np.ndarray, text: str) -> None:
    h, w = frame.shape[:2]
    scale = max(0.4, h / 720)
    line = text if len(text) <= 60 else text[:57] + "..."
    (tw, th), _ = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    org = (max(8, (w - tw) // 2), h - int(th * 1.2))
    cv2.rectangle(frame, (org[0] - 6, org[1] - th - 6), (org[0] + tw + 6, org[1] + 8), (0, 0, 0), -1)
    cv2.putText(frame, line, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)


def _chord(rng: np.random.Generator, length: int) -> np.ndarray:
    t = np.arange(length, dtype=np.float32) / AUDIO_RATE
    base = float(rng.choice([196.0, 220.0, 246.9, 261.6, 293.7]))
    tone = sum(np.sin(2 * np.pi * base * ratio * t) for ratio in (1.0, 1.25, 1.5))
    envelope = np.minimum(1.0, np.minimum(t / 0.05, (t[-1] - t + 1e-3) / 0.2)) if length else t
    return (0.08 * tone * envelope).astype(np.float32)


def _speak(text: str) -> np.ndarray:
    """Speech from Debian's espeak-ng, resampled to the track's rate."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "line.wav"
        subprocess.run(
            ["espeak-ng", "-w", str(wav), "--", text[:600]], check=True, capture_output=True, timeout=30
        )
        with av.open(str(wav)) as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            chunks = [
                o.to_ndarray().reshape(-1) for f in container.decode(audio=0) for o in resampler.resample(f)
            ]
            chunks += [o.to_ndarray().reshape(-1) for o in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32) * np.float32(0.8) if chunks else np.zeros(0, np.float32)


def _encode_audio(out: av.container.OutputContainer, stream: av.stream.Stream, pcm: np.ndarray) -> None:
    frame_size = 1024
    for pts in range(0, len(pcm), frame_size):
        chunk = pcm[pts : pts + frame_size]
        if len(chunk) < frame_size:
            chunk = np.pad(chunk, (0, frame_size - len(chunk)))
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = pts
        out.mux(stream.encode(frame))  # type: ignore[attr-defined]
    out.mux(stream.encode(None))  # type: ignore[attr-defined]
