"""Voice embeddings: Resemblyzer's GE2E (256-d, weights in the package) by default, speechbrain
ECAPA-TDNN (192-d) from a configured local directory."""

from __future__ import annotations

import threading

import numpy as np

from gate.settings import Settings
from perception.protocols import l2_normalise
from perception.registry import require_path


class ResemblyzerVoice:
    model_id = "ge2e@resemblyzer-0.1.4"
    dim = 256

    def __init__(self) -> None:
        from resemblyzer import VoiceEncoder

        self._encoder = VoiceEncoder(device="cpu", verbose=False)
        self._lock = threading.Lock()

    def embed(self, pcm16k: np.ndarray) -> np.ndarray:
        from resemblyzer import preprocess_wav

        wav = preprocess_wav(np.asarray(pcm16k, np.float32), source_sr=16_000)
        if len(wav) < 16_000 // 2:  # VAD left under half a second: too little speech to embed
            wav = np.asarray(pcm16k, np.float32)
        with self._lock:
            return l2_normalise(self._encoder.embed_utterance(wav))


class EcapaVoice:
    dim = 192

    def __init__(self, source_dir: str) -> None:
        from speechbrain.inference.speaker import EncoderClassifier

        # savedir == source: speechbrain links files in place and never contacts a hub.
        self._model = EncoderClassifier.from_hparams(
            source=source_dir, savedir=source_dir, run_opts={"device": "cpu"}
        )
        self.model_id = f"ecapa-tdnn@{source_dir.rstrip('/').rsplit('/', 1)[-1]}"

    def embed(self, pcm16k: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self._model.encode_batch(torch.from_numpy(np.asarray(pcm16k, np.float32))[None])
        return l2_normalise(out.reshape(-1).numpy())


def load_embedder(settings: Settings) -> ResemblyzerVoice | EcapaVoice:
    if settings.voice_embedder == "ecapa":
        return EcapaVoice(str(require_path(settings, "ecapa_dir")))
    return ResemblyzerVoice()
