"""Watermarks burned into clips: the moving visible mark and the invisible payload (embed and decode).

The invisible mark is a low-frequency spread-spectrum pattern in normalised frame coordinates: a
sync pattern plus a data pattern (each grid cell carries one of the payload's bits, signed by a secret
key), added to the luma of every frame. Because it is static and smooth it survives re-encoding and
downscaling, and frames can be averaged at decode time; because the decoder searches the crop scale
and finds the offset by FFT cross-correlation with the sync pattern, it survives cropping.
Both marks are applied in one ffmpeg pass (blend grainmerge for the additive pattern, overlay with a
time-dependent position for the visible mark), so the cost is close to a plain re-encode.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gate.errors import ConfigurationError, InvalidMedia

PAYLOAD_BITS = 32


@dataclass(frozen=True)
class MarkParams:
    """Embedding and decoding parameters (from the policy document's provenance section)."""

    grid: int = 48  # cells per side, in normalised coordinates
    strength: float = 3.0  # luma levels per pattern unit
    sync_weight: float = 1.0
    data_weight: float = 1.0
    work: int = 192  # decode working resolution (pixels per side of the normalised frame)
    scales: tuple[float, ...] = (1.0, 0.95, 0.9, 0.85, 0.8)
    min_sync_z: float = 7.0  # sync peak, in standard deviations of the correlation surface (search)
    min_sync_z_known: float = 4.5  # the same when only the uncropped position is tested
    crf: int = 20
    preset: str = "veryfast"


@dataclass(frozen=True)
class Decoded:
    payload: int | None
    sync_z: float
    scale: tuple[float, float]
    offset: tuple[float, float]  # the copy's top-left corner in the original frame (fractions)
    bit_margin: float  # mean |soft bit| / its spread: how clearly the bits were read


def _keys(grid: int, secret: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seed = int.from_bytes(hashlib.sha256(b"cameogate-wm:" + secret).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    sync = rng.choice([-1.0, 1.0], size=(grid, grid))
    key = rng.choice([-1.0, 1.0], size=(grid, grid))
    bit_of = rng.permutation(grid * grid).reshape(grid, grid) % PAYLOAD_BITS
    return sync, key, bit_of


def _bits(payload: int) -> np.ndarray:
    return np.array([(payload >> i) & 1 for i in range(PAYLOAD_BITS)], dtype=np.float64) * 2 - 1


def pattern(payload: int, *, width: int, height: int, params: MarkParams, secret: bytes) -> np.ndarray:
    """The additive luma pattern (float, levels) at width×height."""
    sync, key, bit_of = _keys(params.grid, secret)
    cells = params.sync_weight * sync + params.data_weight * key * _bits(payload)[bit_of]
    return cv2.resize(cells * params.strength, (width, height), interpolation=cv2.INTER_CUBIC)


def _highpass(luma: np.ndarray, sigma: float) -> np.ndarray:
    return luma - cv2.GaussianBlur(luma, (0, 0), sigma)


def _ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if not path:
        raise ConfigurationError("ffmpeg is not on PATH (install Debian's ffmpeg)")
    return path


def logo(*, height: int, handle: str | None) -> Image.Image:
    """The visible mark: a procedurally drawn logo (a play-triangle in a ring), the service name and
    the creator's handle, white with a dark outline, semi-transparent."""
    size = max(12, height // 14)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # older Pillow
        font = ImageFont.load_default()
    lines = ["cameogate"] + ([f"@{handle}"] if handle else [])
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    text_w = max(int(probe.textlength(line, font=font)) for line in lines)
    icon = int(size * 1.6)
    w = icon + size // 2 + text_w + 8
    h = max(icon, len(lines) * (size + 4)) + 8
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    r = icon // 2
    c = (4 + r, h // 2)
    d.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], outline=(255, 255, 255, 150), width=max(2, size // 6))
    t = r * 0.55
    d.polygon(
        [(c[0] - t * 0.6, c[1] - t), (c[0] - t * 0.6, c[1] + t), (c[0] + t, c[1])], fill=(255, 255, 255, 150)
    )
    y = (h - len(lines) * (size + 4)) // 2
    for line in lines:
        d.text(
            (icon + size // 2 + 4, y),
            line,
            font=font,
            fill=(255, 255, 255, 150),
            stroke_width=1,
            stroke_fill=(0, 0, 0, 90),
        )
        y += size + 4
    return img


THUMB_WIDTH = 320


class MarkingPass:
    """One ffmpeg marking pass, running: `wait()` for the thumbnails, `cancel()` to abandon it.

    It runs as a separate process, so the caller can do other work meanwhile (the generation
    pipeline scans the same clip while it is being marked)."""

    def __init__(self, cmd: list[str], thumbs: Path, size: tuple[int, int], every: float) -> None:
        self._thumbs, self._size, self._every = thumbs, size, every
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def wait(self, timeout: float = 600) -> list[tuple[float, np.ndarray]]:
        try:
            _, err = self._proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.cancel()
            raise InvalidMedia("marking the clip took too long", code="watermark_failed") from None
        if self._proc.returncode != 0:
            raise InvalidMedia(
                "the clip could not be re-encoded with its watermarks",
                code="watermark_failed",
                reason=err.decode(errors="replace")[-300:],
            )
        tw, th = self._size
        raw = np.fromfile(self._thumbs, dtype=np.uint8)
        frames = raw[: raw.size - raw.size % (tw * th * 3)].reshape(-1, th, tw, 3)
        return [(round(i * self._every, 3), np.ascontiguousarray(frames[i])) for i in range(len(frames))]

    def cancel(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()


def start(
    *,
    source: Path,
    dest: Path,
    payload: int,
    secret: bytes,
    params: MarkParams,
    handle: str | None,
    width: int,
    height: int,
    workdir: Path,
    thumbs_every: float,
    audio_is_aac: bool = False,
) -> MarkingPass:
    """Start one ffmpeg pass: add the invisible pattern to luma, overlay the moving visible mark,
    encode H.264 (yuv420p) + AAC into a fast-start MP4, and keep small RGB copies of the marked
    frames every `thumbs_every` seconds (for the fingerprint, without decoding the output again).
    AAC sound is copied as it is (the marks are in the pictures); other sound is encoded to AAC."""
    w, h = width - width % 2, height - height % 2
    pat = pattern(payload, width=w, height=h, params=params, secret=secret)
    # PGM, not PNG: the same pixels, written in a millisecond instead of ~60 ms of compression.
    pat_path, logo_path, thumbs = workdir / "wm_pattern.pgm", workdir / "wm_logo.png", workdir / "thumbs.rgb"
    Image.fromarray(np.clip(np.round(128 + pat), 0, 255).astype(np.uint8), "L").save(pat_path)
    logo(height=h, handle=handle).save(logo_path)
    tw = THUMB_WIDTH
    th = max(2, round(tw * h / w / 2) * 2)
    # The visible mark jumps to a new place every 2 s and drifts while there, so no fixed crop or
    # blur box removes it from the whole clip (the Sora app's mark moves the same way). It is
    # blended in 4:2:0 like the video (overlay's format=auto picked 4:4:4 and the conversions cost
    # ~0.9 CPU-s on a 10 s 720p clip, half a whole re-encode); the mark is white, so no colour is lost.
    # The fingerprint's thumbnails are area-averaged: fast_bilinear reads 4 of every 16 pixels at
    # this 4× reduction and aliased, which cost the fingerprint alone 2 of 50 cropped copies
    # (bench.provenance_robustness: 50/50/48/48 → 50/50/50/50; docs/PROVENANCE.md).
    x = "(W-w)*(0.05+0.9*(0.5+0.5*sin(3.1*floor(t/2)+0.3*t)))"
    y = "(H-h)*(0.05+0.9*(0.5+0.5*cos(1.7*floor(t/2)+0.2*t)))"
    graph = (
        f"[0:v]scale={w}:{h},format=yuv420p[v];"
        "[1:v]format=gray,format=yuv420p[p];"
        "[v][p]blend=c0_mode=grainmerge:c1_mode=normal:c1_opacity=1:c2_mode=normal:c2_opacity=1:eof_action=repeat[m];"
        f"[m][2:v]overlay=x='{x}':y='{y}':format=yuv420:eof_action=repeat:shortest=0,format=yuv420p,split=2[out][s];"
        f"[s]fps={1 / thumbs_every:.6f},scale={tw}:{th}:flags=area,format=rgb24[t]"
    )
    cmd = [
        _ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-i", str(source), "-i", str(pat_path), "-i", str(logo_path),
        "-filter_complex", graph,
        "-map", "[out]", "-map", "0:a?",
        "-c:v", "libx264", "-preset", params.preset, "-crf", str(params.crf), "-pix_fmt", "yuv420p",
        *(["-c:a", "copy"] if audio_is_aac else ["-c:a", "aac", "-b:a", "128k"]),
        "-shortest", "-map_metadata", "-1", "-movflags", "+faststart",
        str(dest),
        "-map", "[t]", "-f", "rawvideo", str(thumbs),
    ]  # fmt: skip
    return MarkingPass(cmd, thumbs, (tw, th), thumbs_every)


# Decoding constants, measured on the robustness benchmark (docs/PROVENANCE.md, "Decoding").
HIGHPASS_CELLS = 0.5  # high-pass scale, in grid cells: keeps the cell edges, drops most image content
CLIP_LEVELS = 4.0  # a residual pixel counts at most this much (strong edges cannot outvote the pattern)
FLOOR_LEVELS = 1.0  # local residual energy floor, so flat areas are not divided by ~0
SCALE_STEP = 0.025  # refinement around the best coarse crop scale (crops between the grid's steps)


def _residual(frames: list[np.ndarray], n: int, sigma: float) -> np.ndarray:
    """The frames' average high-passed luma at n×n, each pixel weighted by the inverse local residual
    energy (textured areas count less than flat ones, where the pattern dominates)."""
    acc = np.zeros((n, n), dtype=np.float64)
    for frame in frames:
        luma = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        # Reduce in uint8 first: resizing a full-size float copy costs more than all the rest.
        small = cv2.resize(luma, (n, n), interpolation=cv2.INTER_AREA).astype(np.float64)
        hp = np.clip(_highpass(small, sigma), -CLIP_LEVELS, CLIP_LEVELS)
        local = cv2.GaussianBlur(hp * hp, (0, 0), sigma * 2)
        acc += hp / np.sqrt(local + FLOOR_LEVELS**2)
    return acc / max(1, len(frames))


def _render(cells: np.ndarray, n: int, scale: tuple[float, float], offset: tuple[float, float]) -> np.ndarray:
    """Cell values (over the original frame) as they appear in an n×n copy of the part of the original
    frame whose top-left corner is at `offset` and whose size is `scale` (fractions of the original
    width and height), interpolated as `pattern()` embeds them."""
    g = cells.shape[0]
    (sx, sy), (ox, oy) = scale, offset
    # Inverse map: copy pixel (x, y) -> cell coordinate, with pixel centres at +0.5 as cv2.resize does.
    m = np.array(
        [[sx * g / n, 0, (ox + sx * 0.5 / n) * g - 0.5], [0, sy * g / n, (oy + sy * 0.5 / n) * g - 0.5]]
    )
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(cells, m, (n, n), flags=flags, borderMode=cv2.BORDER_REFLECT)


def _locate(
    acc: np.ndarray, ref_sync: np.ndarray, scales: tuple[float, ...], refine: bool
) -> tuple[float, tuple[float, float], tuple[float, float]]:
    """Where the copy sits in the original frame: (sync z, scale, offset) of the best correlation
    peak over the crop scales (the offset by FFT cross-correlation, per scale)."""
    n = acc.shape[0]
    f_sync = np.fft.rfft2(ref_sync)

    def peak(sx: float, sy: float) -> tuple[float, tuple[float, float], tuple[float, float]]:
        hh, ww = round(n * sy), round(n * sx)
        canvas = np.zeros((n, n))
        canvas[:hh, :ww] = cv2.resize(acc, (ww, hh), interpolation=cv2.INTER_LINEAR)
        # Peak at (dy, dx) = where the copy's top-left corner sits in the original frame.
        corr = np.fft.irfft2(f_sync * np.conj(np.fft.rfft2(canvas)), s=(n, n))
        # Offsets beyond the crop range are impossible: the copy lies inside the original frame.
        valid = corr[: n - hh + 1, : n - ww + 1]
        z_all = (valid - corr.mean()) / (corr.std() + 1e-9)
        iy, ix = np.unravel_index(int(np.argmax(z_all)), z_all.shape)
        return float(z_all[iy, ix]), (sx, sy), (ix / n, iy / n)

    best = max((peak(sx, sy) for sy in scales for sx in scales), key=lambda p: p[0])
    if refine:
        # A crop between two grid scales loses a third of its peak; one finer step around the best
        # recovers it (0.875 crops: median z 14 -> 22) for 8 more correlations.
        (bx, by), d = best[1], SCALE_STEP
        near = [
            (round(bx + i * d, 4), round(by + j * d, 4)) for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j
        ]
        best = max([best] + [peak(sx, sy) for sx, sy in near if sx <= 1 and sy <= 1], key=lambda p: p[0])
    return best


def decode(frames: list[np.ndarray], *, secret: bytes, params: MarkParams, search: bool = True) -> Decoded:
    """Read the payload from RGB or luma (H×W) frames of a (possibly re-encoded, downscaled, cropped) copy.

    `search=False` assumes the frame is uncropped (a clip whose signature is intact): one hypothesis
    instead of a scale search."""
    n = params.work
    sync, key, bit_of = _keys(params.grid, secret)
    sigma = n / params.grid * HIGHPASS_CELLS
    acc = _residual(frames, n, sigma)
    ref_sync = _highpass(cv2.resize(sync, (n, n), interpolation=cv2.INTER_CUBIC), sigma)
    z, scale, offset = _locate(acc, ref_sync, params.scales if search else (1.0,), refine=search)
    if z < (params.min_sync_z if search else params.min_sync_z_known):
        return Decoded(payload=None, sync_z=z, scale=scale, offset=offset, bit_margin=0.0)
    # Demodulate against the pattern as it appears in the copy (rendered at the found crop), not by
    # resampling the noisy copy onto the grid: sharper cells, fewer bit errors on busy content.
    s_ref = _highpass(_render(sync, n, scale, offset), sigma)
    # Remove the sync component first so it does not leak into the bits.
    resid = _highpass(acc - s_ref * float((acc * s_ref).sum()) / float((s_ref**2).sum() or 1.0), sigma)
    soft = np.array(
        [float((resid * _render(key * (bit_of == b), n, scale, offset)).sum()) for b in range(PAYLOAD_BITS)]
    )
    payload = sum(1 << i for i in range(PAYLOAD_BITS) if soft[i] > 0)
    margin = float(np.abs(soft).mean() / (np.abs(soft).std() + 1e-9))
    return Decoded(payload=payload, sync_z=z, scale=scale, offset=offset, bit_margin=margin)
