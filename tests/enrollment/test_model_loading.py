"""The production models' loading code, with small randomly initialised weights in a temp dir
(the real VGGFace2 and ECAPA weights cannot be downloaded here), and the missing-path errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gate.errors import ConfigurationError
from gate.settings import Settings
from perception import faces, voices
from tests.enrollment import media as M

ECAPA_HPARAMS = """\
# A tiny ECAPA-TDNN in the layout speechbrain's EncoderClassifier.from_hparams expects. A real
# production directory has the same keys; `paths` must name local files (no hub source).
n_mels: 24
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [32, 32, 32, 32, 96]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 16
    lin_neurons: 192
modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
    paths:
        embedding_model: embedding_model.ckpt
"""


def test_facenet_loads_a_local_state_dict_and_embeds_faces(tmp_path: Path) -> None:
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(0)
    state = InceptionResnetV1(pretrained=None, classify=False).state_dict()
    state["logits.weight"] = torch.zeros(10, 512)  # the checkpoint's classifier, ignored
    state["logits.bias"] = torch.zeros(10)
    weights = tmp_path / "vggface2.pt"
    torch.save(state, weights)
    embedder = faces.load_embedder(Settings(face_embedder="facenet", facenet_weights=weights))
    assert isinstance(embedder, faces.FacenetEmbedder) and embedder.model_id.startswith("facenet-vggface2@")
    rgb = M.photo("obama/1.jpg")
    found = [_centre_face(rgb)]
    out = embedder.embed(rgb, found)
    assert out.shape == (1, 512) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)


def _centre_face(rgb: np.ndarray):
    from perception.protocols import Face

    h, w = rgb.shape[:2]
    return Face((w * 0.3, h * 0.2, w * 0.7, h * 0.7), 0.99, np.zeros((5, 2), np.float32))


def test_facenet_refuses_a_file_that_is_not_its_state_dict(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pt"
    torch.save({"conv.weight": torch.zeros(3)}, wrong)
    with pytest.raises(ConfigurationError, match="CAMEOGATE_FACENET_WEIGHTS"):
        faces.load_embedder(Settings(face_embedder="facenet", facenet_weights=wrong))


def test_ecapa_loads_from_a_local_directory(tmp_path: Path) -> None:
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    torch.manual_seed(0)
    model = ECAPA_TDNN(
        input_size=24, channels=[32, 32, 32, 32, 96], kernel_sizes=[5, 3, 3, 3, 1], dilations=[1, 2, 3, 4, 1],
        attention_channels=16, lin_neurons=192,
    )  # fmt: skip
    directory = tmp_path / "ecapa-tiny"
    directory.mkdir()
    torch.save(model.state_dict(), directory / "embedding_model.ckpt")
    (directory / "hyperparams.yaml").write_text(ECAPA_HPARAMS)
    voice = voices.load_embedder(Settings(voice_embedder="ecapa", ecapa_dir=directory))
    assert isinstance(voice, voices.EcapaVoice) and voice.model_id == "ecapa-tdnn@ecapa-tiny"
    pcm = M.digit_track("123", "theo")
    a, b = voice.embed(pcm), voice.embed(pcm)
    assert a.shape == (192,) and abs(float(np.linalg.norm(a)) - 1.0) < 1e-4
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize(
    ("settings", "loader", "setting"),
    [
        ({"face_embedder": "facenet"}, faces.load_embedder, "CAMEOGATE_FACENET_WEIGHTS"),
        ({"face_embedder": "facenet", "facenet_weights": Path("/nonexistent/vggface2.pt")},
         faces.load_embedder, "CAMEOGATE_FACENET_WEIGHTS"),
        ({"voice_embedder": "ecapa"}, voices.load_embedder, "CAMEOGATE_ECAPA_DIR"),
        ({"voice_embedder": "ecapa", "ecapa_dir": Path("/nonexistent/ecapa")}, voices.load_embedder,
         "CAMEOGATE_ECAPA_DIR"),
    ],
)  # fmt: skip
def test_a_missing_production_model_path_names_its_setting(settings, loader, setting) -> None:
    with pytest.raises(ConfigurationError, match=setting):
        loader(Settings(**settings))
