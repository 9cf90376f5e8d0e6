"""The face network run by torch (perception/dlib_resnet.py) against dlib's own forward pass: the
vectors stored as templates must not change with the runtime that computes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from perception.dlib_resnet import DlibResnet, ModelFileError
from perception.faces import DlibEmbedder, MtcnnDetector
from tests.conftest import SHARED_DATA


def _models_dir() -> Path:
    import face_recognition_models

    return Path(face_recognition_models.__path__[0]) / "models"


def test_the_torch_network_gives_dlibs_own_vectors_on_real_faces() -> None:
    import dlib

    embedder, detector = DlibEmbedder(), MtcnnDetector()
    reference = dlib.face_recognition_model_v1(
        str(_models_dir() / "dlib_face_recognition_resnet_model_v1.dat")
    )
    photos = ["obama/1.jpg", "biden/1.jpg", "angelina_jolie/1.jpg", "multi/multiface.jpg"]
    compared = 0
    for name in photos:
        rgb = np.asarray(Image.open(SHARED_DATA / "faces" / name).convert("RGB"))
        faces = detector.detect(rgb)
        assert faces, name
        chips = embedder.chips(rgb, faces)
        ours = embedder.embed(rgb, faces)
        theirs = np.array([np.asarray(reference.compute_face_descriptor(chip)) for chip in chips])
        theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
        # float32 rounding only: identical to ~1e-7; a wrong layer would differ by ~0.1.
        assert np.abs(ours - theirs).max() < 1e-5, name
        compared += len(faces)
    assert compared >= 5  # the group photo adds several faces


def test_a_file_that_is_not_the_face_network_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError):
        DlibResnet(_models_dir() / "shape_predictor_5_face_landmarks.dat")
    whole = (_models_dir() / "dlib_face_recognition_resnet_model_v1.dat").read_bytes()
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ModelFileError):
        DlibResnet(truncated)
