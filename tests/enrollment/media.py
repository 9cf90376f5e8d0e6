"""Capture fixtures built from ../shared/data: the real video, real digit takes, real photos.

The genuine capture is the real video's one-person stretch (GENUINE_START..GENUINE_END) with its
audio replaced by a spoken-digit track assembled from one real speaker's takes. The head moves
that stretch really shows were measured with perception.pose.head_pose at 4 fps (yaw relative to
the stretch's median: about -0.3 at 4.6-5.4 s, +0.25 at 6.2-6.7 s, -0.2 at 7.3-7.8 s): left,
right, left in image coordinates. Pitch varies too little to count as a nod.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from gate.settings import PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared" / "data"
VIDEO = SHARED / "video" / "short_hamilton_clip.mp4"
DIGITS_DIR = SHARED / "voices" / "digits"
GENUINE_START, GENUINE_END = 3.75, 7.95
GENUINE_MOVES = ["left", "right", "left"]
GENUINE_SPEAKER = "lucas"
RATE = 16_000


def digit_track(digits: str, speakers: list[str] | str, *, take: int = 0, gap: float = 0.12) -> np.ndarray:
    """16 kHz float32 speech: each digit one real take (8 kHz WAV, resampled), short gaps between.
    `speakers` may name one speaker per digit (a voice that changes half-way)."""
    per_digit = [speakers] * len(digits) if isinstance(speakers, str) else speakers
    silence = np.zeros(int(gap * RATE), np.float32)
    parts = [np.zeros(int(0.25 * RATE), np.float32)]
    for d, speaker in zip(digits, per_digit, strict=True):
        pcm, rate = sf.read(DIGITS_DIR / speaker / f"{d}_{take}.wav", dtype="float32")
        pcm = resample_poly(pcm, RATE // 1000, rate // 1000).astype(np.float32)
        parts += [0.8 * pcm / max(float(np.abs(pcm).max()), 1e-3), silence]
    return np.concatenate(parts)


def _write_wav(path: Path, pcm: np.ndarray) -> Path:
    sf.write(path, pcm, RATE, subtype="PCM_16")
    return path


def genuine(dest: Path, audio: np.ndarray, *, start: float = GENUINE_START, end: float = GENUINE_END) -> Path:
    """The real video's one-person stretch with `audio` as its sound (H.264 + AAC MP4)."""
    wav = _write_wav(dest.with_suffix(".wav"), audio)
    _ffmpeg(
        ["-ss", f"{start}", "-to", f"{end}", "-i", str(VIDEO), "-i", str(wav), "-map", "0:v", "-map", "1:a",
         "-af", "apad", "-shortest"],
        dest,
    )  # fmt: skip
    return dest


def reencoded(source: Path, dest: Path) -> Path:
    """The same capture re-encoded at another quality and size (a replay that changes the bytes)."""
    _ffmpeg(["-i", str(source), "-vf", "scale=512:-2", "-crf", "32"], dest)
    return dest


def frames_video(dest: Path, frames: list[np.ndarray], audio: np.ndarray, *, fps: int = 15) -> Path:
    """Encode RGB frames + 16 kHz audio as an H.264 + AAC MP4 with PyAV."""
    h, w = frames[0].shape[:2]
    with av.open(str(dest), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "23"}
        as_ = out.add_stream("aac", rate=RATE)
        as_.layout = "mono"
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(rgb[: vs.height, : vs.width]), format="rgb24"
            )
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        samples = np.asarray(audio, np.float32)
        step = 1024
        for i in range(0, len(samples), step):
            chunk = samples[i : i + step]
            af = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            af.sample_rate = RATE
            af.pts = i
            af.time_base = Fraction(1, RATE)
            for packet in as_.encode(af):
                out.mux(packet)
        for packet in as_.encode():
            out.mux(packet)
    return dest


def photo(rel: str, *, height: int = 360) -> np.ndarray:
    bgr = cv2.imread(str(SHARED / "faces" / rel))
    if bgr is None:
        raise FileNotFoundError(SHARED / "faces" / rel)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    scale = height / rgb.shape[0]
    return cv2.resize(rgb, (round(rgb.shape[1] * scale), height), interpolation=cv2.INTER_AREA)


def still_photo_video(dest: Path, picture: np.ndarray, audio: np.ndarray, *, seconds: float = 4.0) -> Path:
    """Attack (a): one photo repeated for every frame."""
    return frames_video(dest, [picture] * int(seconds * 15), audio)


def planar_photo_video(dest: Path, picture: np.ndarray, audio: np.ndarray, *, seconds: float = 4.0) -> Path:
    """Attack (b): the photo moved, rotated, scaled and tilted in perspective as one flat plane,
    on a 640x360 canvas (a printed photo or a phone screen waved at the camera)."""
    h, w = picture.shape[:2]
    canvas_w, canvas_h = 640, 360
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    frames = []
    n = int(seconds * 15)
    for i in range(n):
        t = i / n
        angle = np.deg2rad(12 * np.sin(2 * np.pi * t))
        scale = 0.7 + 0.2 * np.sin(np.pi * t)
        tilt = 0.18 * np.sin(2 * np.pi * t)  # perspective: one side nearer the camera
        cx, cy = canvas_w / 2 + 90 * np.sin(2 * np.pi * t), canvas_h / 2 + 20 * np.cos(2 * np.pi * t)
        corners = []
        for x, y in src - [w / 2, h / 2]:
            depth = 1 + tilt * (x / (w / 2))
            xr, yr = x * np.cos(angle) - y * np.sin(angle), x * np.sin(angle) + y * np.cos(angle)
            corners.append([cx + scale * xr / depth, cy + scale * yr / depth])
        m = cv2.getPerspectiveTransform(src, np.array(corners, np.float32))
        frames.append(cv2.warpPerspective(picture, m, (canvas_w, canvas_h), borderValue=(40, 40, 40)))
    return frames_video(dest, frames, audio)


def decode(path: Path, start: float, end: float) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [
            f.to_ndarray(format="rgb24")
            for f in c.decode(video=0)
            if f.time is not None and start <= f.time < end
        ]


def two_faces_video(dest: Path, picture: np.ndarray, audio: np.ndarray) -> Path:
    """Attack (g): the real stretch with a second person's photo in the frame's corner."""
    frames = decode(VIDEO, GENUINE_START, GENUINE_END)[::2]
    inset = cv2.resize(picture, (round(picture.shape[1] * 170 / picture.shape[0]), 170))
    out = []
    for rgb in frames:
        rgb = rgb.copy()
        rgb[-inset.shape[0] :, -inset.shape[1] :] = inset
        out.append(rgb)
    return frames_video(dest, out, audio)


def no_face_video(dest: Path, audio: np.ndarray, *, seconds: float = 4.0) -> Path:
    """Attack (h): a moving textured scene without anyone in it (the video's first second shows
    an empty stage would be harder to cut reliably; a synthetic scene is exact)."""
    rng = np.random.default_rng(7)
    texture = cv2.resize(
        rng.integers(0, 255, (45, 80, 3), dtype=np.uint8), (1280, 360), interpolation=cv2.INTER_CUBIC
    )
    n = int(seconds * 15)
    return frames_video(dest, [texture[:, i * 8 : i * 8 + 640] for i in range(n)], audio)


def _ffmpeg(args: list[str], dest: Path) -> None:
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(dest)]
    subprocess.run(cmd, check=True, capture_output=True)
