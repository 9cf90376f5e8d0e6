"""The process's models, each loaded once, on first use, from a package or a configured path.

Which implementation serves each capability is a setting; a production model whose path is not
configured (or missing) raises ConfigurationError naming the setting. Nothing is downloaded.
Tests build a Models with fakes passed in.
"""

from __future__ import annotations

import threading
from typing import Any

from gate.errors import ConfigurationError
from gate.settings import Settings
from perception.protocols import (
    FaceDetector,
    FaceEmbedder,
    ImageEmbedder,
    SpeechRecognizer,
    TextEmbedder,
    VoiceEmbedder,
)


class Models:
    def __init__(self, settings: Settings, **preset: Any) -> None:
        self._settings = settings
        self._loaded: dict[str, Any] = dict(preset)
        self._lock = threading.Lock()

    def _get(self, name: str) -> Any:
        model = self._loaded.get(name)
        if model is None:
            with self._lock:  # one load per process, even when requests race for it
                model = self._loaded.get(name)
                if model is None:
                    model = getattr(self, f"_load_{name}")()
                    self._loaded[name] = model
        return model

    def check_configuration(self) -> None:
        """Fail at start-up, naming the setting, when a configured production model is missing."""
        s = self._settings
        if s.face_embedder == "facenet":
            require_path(s, "facenet_weights")
        if s.voice_embedder == "ecapa":
            require_path(s, "ecapa_dir")
        if s.clip_checkpoint is not None:
            require_path(s, "clip_checkpoint")
        if s.generator_backend == "diffusers":
            require_path(s, "diffusers_model_dir")

    def loaded(self) -> list[str]:
        return sorted(self._loaded)

    @property
    def text(self) -> TextEmbedder:
        return self._get("text")

    @property
    def face_detector(self) -> FaceDetector:
        return self._get("face_detector")

    @property
    def face_embedder(self) -> FaceEmbedder:
        return self._get("face_embedder")

    @property
    def voice_embedder(self) -> VoiceEmbedder:
        return self._get("voice_embedder")

    @property
    def speech(self) -> SpeechRecognizer:
        return self._get("speech")

    @property
    def clip(self) -> ImageEmbedder | None:
        """None when no CLIP checkpoint is configured: CLIP signals are then off."""
        if self._settings.clip_checkpoint is None and "clip" not in self._loaded:
            return None
        return self._get("clip")

    # --- loaders ------------------------------------------------------------------------------

    def _load_text(self) -> TextEmbedder:
        from perception.text import MiniLMText

        return MiniLMText(threads=self._settings.text_threads)

    def _load_face_detector(self) -> FaceDetector:
        from perception.faces import load_detector

        return load_detector(self._settings)

    def _load_face_embedder(self) -> FaceEmbedder:
        from perception.faces import load_embedder

        return load_embedder(self._settings)

    def _load_voice_embedder(self) -> VoiceEmbedder:
        from perception.voices import load_embedder

        return load_embedder(self._settings)

    def _load_speech(self) -> SpeechRecognizer:
        from perception.speech import load_recognizer

        return load_recognizer(self._settings)

    def _load_clip(self) -> ImageEmbedder:
        from perception.images import load_clip

        return load_clip(self._settings)


def require_path(settings: Settings, name: str) -> Any:
    """The configured path of setting `name`, or a ConfigurationError that names the setting."""
    value = getattr(settings, name)
    env = f"CAMEOGATE_{name.upper()}"
    if value is None:
        raise ConfigurationError(f"{env} is not set; it must point at local weights (nothing is downloaded)")
    if not value.exists():
        raise ConfigurationError(f"{env}={value} does not exist")
    return value
