"""Uploads are hostile: sniffed by content, dimensions checked before decoding, truncation caught."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from gate.errors import InvalidMedia, UnsupportedMedia
from gate.media import ContentStore, decode_image, iter_frames, probe_video, read_audio, sniff
from policies.schema import UploadLimits
from tests.conftest import SHARED_DATA

LIMITS = UploadLimits()
VIDEO = SHARED_DATA / "video" / "short_hamilton_clip.mp4"


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _png_header_claiming(w: int, h: int) -> bytes:
    """A tiny PNG whose header claims w×h: the shape of a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_sniffing_goes_by_content_not_name() -> None:
    assert sniff(_png(4, 4)) == "image"
    assert sniff(VIDEO.read_bytes()) == "video"
    with pytest.raises(UnsupportedMedia):
        sniff(b"%PDF-1.7 not media")


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    with pytest.raises(InvalidMedia) as err:
        decode_image(_png_header_claiming(60_000, 60_000), LIMITS)
    assert err.value.code == "dimensions_too_large"


def test_a_truncated_image_is_invalid_media() -> None:
    data = _png(64, 64)
    with pytest.raises((InvalidMedia, UnsupportedMedia)):
        decode_image(data[: len(data) // 2], LIMITS)


def test_video_probe_and_frames_from_the_real_clip() -> None:
    info = probe_video(VIDEO, LIMITS)
    assert (info.width, info.height) == (640, 360) and info.has_audio and 9 < info.duration < 10.5
    frames = list(iter_frames(VIDEO, every=1.0))
    assert 9 <= len(frames) <= 11 and frames[0][1].shape == (360, 640, 3)
    audio = read_audio(VIDEO, start=1.0, end=2.0)
    assert audio.shape == (16000,) and float(np.abs(audio).max()) > 0.01


def test_a_video_over_the_duration_limit_is_refused_before_decoding() -> None:
    with pytest.raises(InvalidMedia) as err:
        probe_video(VIDEO, LIMITS, max_seconds=5)
    assert err.value.code == "too_long"


def test_a_truncated_video_is_refused() -> None:
    data = VIDEO.read_bytes()[:4000]
    with pytest.raises((InvalidMedia, UnsupportedMedia)):
        probe_video(data, LIMITS)
        list(iter_frames(data))


def test_content_store_is_addressed_by_sha256(tmp_path) -> None:
    store = ContentStore(tmp_path)
    digest = store.put(b"clip bytes")
    assert store.get(digest) == b"clip bytes" and store.put(b"clip bytes") == digest
    assert store.delete(digest) and not store.exists(digest)
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")
