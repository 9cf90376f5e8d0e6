"""Production models come from configured paths; a missing one stops start-up naming the setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gate.cli import main
from gate.errors import ConfigurationError
from gate.settings import Settings
from perception.registry import Models


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"face_embedder": "facenet"}, "CAMEOGATE_FACENET_WEIGHTS"),
        ({"face_embedder": "facenet", "facenet_weights": Path("/nope/w.pt")}, "CAMEOGATE_FACENET_WEIGHTS"),
        ({"voice_embedder": "ecapa", "ecapa_dir": Path("/nope")}, "CAMEOGATE_ECAPA_DIR"),
        ({"clip_checkpoint": Path("/nope/clip.pt")}, "CAMEOGATE_CLIP_CHECKPOINT"),
        ({"generator_backend": "diffusers"}, "CAMEOGATE_DIFFUSERS_MODEL_DIR"),
    ],
)
def test_a_missing_production_model_names_its_setting(overrides: dict, setting: str) -> None:
    with pytest.raises(ConfigurationError, match=setting):
        Models(Settings(**overrides)).check_configuration()


def test_serve_refuses_to_start_without_configured_weights(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        "CAMEOGATE_DATABASE_URL": settings.database_url or "",
        "CAMEOGATE_FACE_EMBEDDER": "facenet",
        "CAMEOGATE_VAR_DIR": str(settings.var_dir),
    }
    os.environ.update(env)
    try:
        assert main(["serve", "--port", "0"]) == 2
    finally:
        for key in env:
            del os.environ[key]
    assert "CAMEOGATE_FACENET_WEIGHTS is not set" in capsys.readouterr().err
