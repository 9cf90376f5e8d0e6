"""FAISS behind two small classes: a float vector index (exact or HNSW) and a binary Hamming index.

Rows get consecutive integer labels in insertion order; callers keep their own label → meaning
table. FAISS HNSW cannot delete, so removal is the caller's filter (documented in docs/SAFETY.md).
"""

from __future__ import annotations

import threading
from typing import Any

import faiss
import numpy as np

# Exact search is used while an index is small (it is faster there and trivially correct);
# an approximate index (IVF) from this many rows on, chosen when the index is built.
LARGE_FROM = 200_000
HNSW_M = 32
HNSW_EF_SEARCH = 64
HNSW_EF_CONSTRUCTION = 80
# IVF-Flat: k-means cells trained once at build; a query visits IVF_NPROBE cells. It builds in
# seconds where HNSW takes minutes at a million rows, which matters for a start-up build.
IVF_NPROBE = 48
IVF_TRAIN_SAMPLE = 100_000


def use_threads(n: int) -> None:
    """FAISS's OpenMP threads per search. The service searches one frame at a time from many
    request threads, where OpenMP fan-out only adds contention: on the shared 2-core machine a
    single 50k-row exact query took 256 ms with the default threads and a few ms with one."""
    faiss.omp_set_num_threads(n)


class VectorIndex:
    """Float vectors, metric 'l2' (squared distances) or 'ip' (inner product of unit vectors)."""

    def __init__(
        self, dim: int, *, metric: str = "l2", kind: str = "flat", nlist: int = 4096, nprobe: int = IVF_NPROBE
    ) -> None:
        self.dim = dim
        self.metric = metric
        self.kind = kind
        fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        index: Any
        if kind == "ivf":
            quantizer = faiss.IndexFlatL2(dim) if metric == "l2" else faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, fmetric)
            index.nprobe = nprobe
            self._quantizer = quantizer  # FAISS does not own it from Python: keep it alive
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, HNSW_M, fmetric)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index.hnsw.efSearch = HNSW_EF_SEARCH
        elif metric == "l2":
            index = faiss.IndexFlatL2(dim)
        else:
            index = faiss.IndexFlatIP(dim)
        self._index: Any = index
        self._lock = threading.Lock()
        self.trained_on = 0  # rows the IVF cells were trained for

    @classmethod
    def for_size(cls, dim: int, rows: int, *, metric: str = "l2") -> VectorIndex:
        return cls(dim, metric=metric, kind="hnsw" if rows >= LARGE_FROM else "flat")

    @classmethod
    def ivf(cls, data: np.ndarray, *, metric: str = "l2", seed: int = 0, add: bool = True) -> VectorIndex:
        """An IVF index trained on (a sample of) `data`, with `data` added unless `add=False`."""
        v = np.ascontiguousarray(data, dtype=np.float32)
        # About 4·√n cells, but never fewer than 39 training points per cell (FAISS's floor).
        nlist = int(min(65_536, max(16, min(len(v) // 39, 4 * np.sqrt(len(v))))))
        out = cls(v.shape[1], metric=metric, kind="ivf", nlist=nlist)
        rng = np.random.default_rng(seed)
        sample = v[rng.choice(len(v), min(len(v), max(IVF_TRAIN_SAMPLE, 40 * nlist)), replace=False)]
        out._index.train(sample)
        out.trained_on = len(v)
        if add:
            out.add(v)
        return out

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> int:
        """Append rows; returns the label of the first one."""
        v = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            first = self.ntotal
            if len(v):
                self._index.add(v)
        return first

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances, labels), shape (n, k); label -1 where fewer than k rows exist."""
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        if self.ntotal == 0 or len(q) == 0:
            return np.zeros((len(q), k), np.float32), np.full((len(q), k), -1, np.int64)
        return self._index.search(q, k)

    def memory_bytes(self) -> int:
        return int(faiss.serialize_index(self._index).nbytes)

    def to_bytes(self) -> bytes:
        return bytes(faiss.serialize_index(self._index))

    @classmethod
    def from_bytes(cls, data: bytes, *, dim: int, metric: str, kind: str) -> VectorIndex:
        out = cls.__new__(cls)
        out.dim, out.metric, out.kind = dim, metric, kind
        out._index = faiss.deserialize_index(np.frombuffer(data, np.uint8))
        if kind == "hnsw":
            out._index.hnsw.efSearch = HNSW_EF_SEARCH
        out._lock = threading.Lock()
        out.trained_on = int(out._index.ntotal)
        return out


class BinaryIndex:
    """Packed bit strings (e.g. 256-bit PDQ) searched exactly by Hamming distance.

    Exact search over 32-byte codes runs at memory speed (~10M codes/s per core), which covers
    millions of hashes; multi-index hashing is the next step past that.
    """

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self._index: Any = faiss.IndexBinaryFlat(bits)
        self._lock = threading.Lock()

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def add(self, codes: np.ndarray) -> int:
        c = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, self.bits // 8)
        with self._lock:
            first = self.ntotal
            if len(c):
                self._index.add(c)
        return first

    def search(self, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        c = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, self.bits // 8)
        if self.ntotal == 0 or len(c) == 0:
            return np.zeros((len(c), k), np.int32), np.full((len(c), k), -1, np.int64)
        return self._index.search(c, k)

    def to_bytes(self) -> bytes:
        return bytes(faiss.serialize_index_binary(self._index))

    @classmethod
    def from_bytes(cls, data: bytes, *, bits: int) -> BinaryIndex:
        out = cls.__new__(cls)
        out.bits = bits
        out._index = faiss.deserialize_index_binary(np.frombuffer(data, np.uint8))
        out._lock = threading.Lock()
        return out
