"""The built-in CPU renderer: real H.264 + AAC, deterministic by seed, shots, speech, faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gate.media import iter_frames, probe_video, read_audio
from generation.backends import CpuRenderer, RenderRequest
from perception.faces import crop_face
from perception.registry import Models
from policies.schema import UploadLimits
from tests.conftest import SHARED_DATA


def _render(tmp_path: Path, name: str, **kw: object) -> Path:
    base: dict[str, object] = {
        "prompt": "a red ball",
        "duration": 2.0,
        "width": 320,
        "height": 240,
        "fps": 12,
        "seed": 3,
    }
    base.update(kw)
    out = tmp_path / f"{name}.mp4"
    CpuRenderer().render(RenderRequest(**base), out, progress=lambda p: None)  # type: ignore[arg-type]
    return out


def _frames(path: Path) -> np.ndarray:
    return np.stack([f for _, f in iter_frames(path)])


def test_output_is_h264_aac_of_the_requested_shape(tmp_path: Path) -> None:
    info = probe_video(_render(tmp_path, "a"), UploadLimits())
    assert (info.width, info.height, info.video_codec, info.has_audio) == (320, 240, "h264", True)
    assert abs(info.duration - 2.0) < 0.2 and info.fps == 12


def test_the_same_seed_renders_the_same_clip_and_another_seed_does_not(tmp_path: Path) -> None:
    request = RenderRequest('Shot 1: a red ball. Shot 2: she says "hello"', 2.0, 320, 240, 12, 3)
    other = RenderRequest('Shot 1: a red ball. Shot 2: she says "hello"', 2.0, 320, 240, 12, 4)
    renderer = CpuRenderer()
    same = [
        np.array_equal(a, b) for a, b in zip(renderer.frames(request), renderer.frames(request), strict=True)
    ]
    assert same and all(same)
    assert np.array_equal(renderer.soundtrack(request), renderer.soundtrack(request))
    assert not all(
        np.array_equal(a, b) for a, b in zip(renderer.frames(request), renderer.frames(other), strict=True)
    )
    # Encoded twice, the clips decode to the same pictures up to the encoder's last bits.
    a, b = _frames(_render(tmp_path, "a")), _frames(_render(tmp_path, "b"))
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    assert mse < 1.0  # PSNR > 48 dB; a different seed is a different scene (mean error in the hundreds)
    c = _frames(_render(tmp_path, "c", seed=4))
    assert float(np.mean((a.astype(np.float64) - c.astype(np.float64)) ** 2)) > 100


def test_each_shot_gets_its_own_scene(tmp_path: Path) -> None:
    assert RenderRequest("Shot 1: a beach. Shot 2: a forest", 2, 64, 64, 8, 0).shots == [
        "a beach.",
        "a forest",
    ]
    clip = _frames(_render(tmp_path, "shots", prompt="Shot 1: a beach at noon. Shot 2: a dark forest"))
    first, second = clip[: len(clip) // 2 - 1], clip[len(clip) // 2 + 1 :]
    # Backgrounds differ between shots (top rows, away from the ball and captions).
    assert abs(float(first[:, :20].mean()) - float(second[:, :20].mean())) > 3


def test_quoted_dialogue_is_spoken(tmp_path: Path) -> None:
    speech = read_audio(_render(tmp_path, "talk", prompt='she says "good morning everyone, welcome"'))
    tones = read_audio(_render(tmp_path, "tone", prompt="a quiet field"))

    # Speech has pauses and bursts; a sustained chord is steady: compare energy variation.
    def variation(pcm: np.ndarray) -> float:
        energy = np.array([float(np.abs(c).mean()) for c in np.array_split(pcm, 40)])
        return float(energy.std() / (energy.mean() + 1e-9))

    assert variation(speech) > 2 * variation(tones)


@pytest.mark.slow
def test_a_consented_cameos_face_is_composited_recognisably(tmp_path: Path, real_models: Models) -> None:
    photo = np.asarray(Image.open(SHARED_DATA / "faces" / "obama" / "1.jpg").convert("RGB"))
    det, emb = real_models.face_detector, real_models.face_embedder
    face = det.detect(photo)[0]
    reference = emb.embed(photo, [face])[0]
    clip = _render(tmp_path, "face", faces=[crop_face(photo, face)], width=640, height=360)
    for _, frame in iter_frames(clip, every=1.0):
        faces = det.detect(frame)
        assert len(faces) == 1
        assert float(emb.embed(frame, faces)[0] @ reference) > 0.92
