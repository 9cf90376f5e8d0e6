"""Deterministic stand-ins for unit tests. Same Protocols; tests/test_perception_contract.py runs
one contract suite against these and the real models."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from perception.protocols import Face, l2_normalise


class FakeText:
    """Bag of hashed words: texts sharing words are similar, unrelated texts are near-orthogonal."""

    model_id = "fake-text"
    dim = 384

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                out[i, h % self.dim] += 1.0
            out[i, 0] += 1e-3  # never a zero vector
        return l2_normalise(out)


class FakeFaceDetector:
    """One face in the middle third of any image that is not flat (a blank frame has none)."""

    model_id = "fake-face-detector"

    def detect(self, rgb: np.ndarray) -> list[Face]:
        if float(np.asarray(rgb, np.float32).std()) < 1.0:
            return []
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = w / 3, h / 3, 2 * w / 3, 2 * h / 3
        cx, cy, fw, fh = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
        marks = np.array(
            [
                [cx - fw / 5, cy - fh / 6],
                [cx + fw / 5, cy - fh / 6],
                [cx, cy],
                [cx - fw / 6, cy + fh / 5],
                [cx + fw / 6, cy + fh / 5],
            ],
            np.float32,
        )
        return [Face((x0, y0, x1, y1), 0.99, marks)]

    def detect_many(self, frames: list[np.ndarray]) -> list[list[Face]]:
        return [self.detect(f) for f in frames]


class FakeFaceEmbedder:
    """A coarse colour layout of the face box: the same picture gives the same vector."""

    model_id = "fake-face-embedder"
    dim = 128

    def embed(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        rows = []
        for face in faces:
            x0, y0, x1, y1 = (int(v) for v in face.box)
            crop = np.asarray(rgb[max(0, y0) : y1, max(0, x0) : x1], np.float32)
            small = _resize_mean(crop, 6)  # 6×6×3 = 108 values
            vec = np.zeros(self.dim, np.float32)
            vec[: small.size] = small.reshape(-1) - small.mean()
            vec[-1] = 1.0
            rows.append(vec)
        return l2_normalise(np.array(rows, np.float32).reshape(len(faces), self.dim))


class FakeVoice:
    """Energy in 64 frequency bands: the same recording gives the same vector."""

    model_id = "fake-voice"
    dim = 64

    def embed(self, pcm16k: np.ndarray) -> np.ndarray:
        spectrum = np.abs(np.fft.rfft(np.asarray(pcm16k, np.float32), n=4096))
        bands = np.array([b.mean() for b in np.array_split(spectrum, self.dim)], np.float32) + 1e-6
        return l2_normalise(np.log(bands) - np.log(bands).mean())


def _resize_mean(img: np.ndarray, n: int) -> np.ndarray:
    h, w = img.shape[:2]
    out = np.zeros((n, n, img.shape[2]), np.float32)
    for i in range(n):
        for j in range(n):
            cell = img[
                i * h // n : max((i + 1) * h // n, i * h // n + 1),
                j * w // n : max((j + 1) * w // n, j * w // n + 1),
            ]
            out[i, j] = cell.reshape(-1, img.shape[2]).mean(axis=0) if cell.size else 0
    return out


class FakeClip:
    """A CLIP stand-in: images by a coarse colour layout, texts by hashed words (two unrelated
    spaces, so only image-image and text-text similarity mean anything)."""

    model_id = "fake-clip"
    dim = 64

    def embed_images(self, rgbs: list[np.ndarray]) -> np.ndarray:
        rows = []
        for rgb in rgbs:
            small = _resize_mean(np.asarray(rgb, np.float32), 4)  # 4×4×3 = 48 values
            vec = np.zeros(self.dim, np.float32)
            vec[: small.size] = small.reshape(-1) - small.mean()
            vec[-1] = 1.0
            rows.append(vec)
        return l2_normalise(np.array(rows, np.float32).reshape(len(rgbs), self.dim))

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                out[i, h % self.dim] += 1.0
            out[i, 0] += 1e-3
        return l2_normalise(out)


class FakeSpeech:
    """Digits as tones: digit d is a sine at 500 + 150·d Hz, one tone per digit, silence between
    (`tones` makes such a track). The same track always reads the same way."""

    model_id = "fake-speech"
    rate = 16_000

    @classmethod
    def tones(cls, digits: str, *, tone: float = 0.25, gap: float = 0.15) -> np.ndarray:
        t = np.arange(int(tone * cls.rate)) / cls.rate
        silence = np.zeros(int(gap * cls.rate), np.float32)
        parts = [silence]
        for d in digits:
            parts += [(0.5 * np.sin(2 * np.pi * (500 + 150 * int(d)) * t)).astype(np.float32), silence]
        return np.concatenate(parts)

    def digits(self, pcm16k: np.ndarray) -> str:
        pcm = np.asarray(pcm16k, np.float32)
        hop = self.rate // 100
        n = len(pcm) // hop
        if n == 0:
            return ""
        energy = np.sqrt((pcm[: n * hop].reshape(n, hop) ** 2).mean(axis=1))
        voiced = energy > max(0.05, 0.2 * float(energy.max()))
        out, i = "", 0
        while i < n:
            if not voiced[i]:
                i += 1
                continue
            j = i
            while j < n and voiced[j]:
                j += 1
            if j - i >= 5:  # at least 50 ms
                seg = pcm[i * hop : j * hop]
                freq = np.fft.rfftfreq(len(seg), 1 / self.rate)[int(np.argmax(np.abs(np.fft.rfft(seg))))]
                digit = round((freq - 500) / 150)
                if 0 <= digit <= 9:
                    out += str(digit)
            i = j
        return out
