"""The matching signals, each behind the MediaSignal Protocol with its own FAISS index and its
own policy threshold: SIFT + RANSAC, PDQ (dihedral), CLIP image; and the prompt text signals."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from perception.images import LocalFeatures, project_box, verify_homography
from perception.vectors import BinaryIndex, VectorIndex
from policies.schema import Safety
from safety.normalize import PhraseIndex

Live = Callable[[uuid.UUID], bool]
# Descriptors at which the SIFT index leaves exact search for IVF (see SiftSignal._maybe_retrain).
IVF_FROM = 10_000


@dataclass(frozen=True)
class Match:
    optout_id: uuid.UUID
    signal: str  # 'sift', 'pdq', 'clip_image', 'clip_text', 'name', 'keyword', 'description'
    score: float
    threshold: float
    frame_time: float | None = None
    region: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 in frame pixels
    reference_id: uuid.UUID | None = None
    matched: str | None = None  # the prompt words that matched (text signals)

    def to_dict(self) -> dict[str, Any]:
        return {
            "optout_id": str(self.optout_id),
            "signal": self.signal,
            "score": round(float(self.score), 4),
            "threshold": float(self.threshold),
            "frame_time": self.frame_time,
            "region": [round(v, 1) for v in self.region] if self.region else None,
            "reference_id": str(self.reference_id) if self.reference_id else None,
            "matched": self.matched,
        }


@dataclass(frozen=True)
class RefFeatures:
    """What the indexes keep of one reference image or frame."""

    id: uuid.UUID
    optout_id: uuid.UUID
    width: int
    height: int
    pdq: np.ndarray  # (8, 32) uint8
    pdq_quality: int
    keypoints: np.ndarray  # (n, 2) float32
    descriptors: np.ndarray  # (n, 128) uint8
    clip: np.ndarray | None = None
    clip_model: str | None = None


@dataclass
class FrameFeatures:
    """What a scan computes once per frame and every signal reads."""

    time: float | None
    width: int
    height: int
    local: LocalFeatures | None = None
    pdq: np.ndarray | None = None  # (32,) uint8
    pdq_quality: int = 0
    clip: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class MediaSignal(Protocol):
    name: str

    def add(self, ref: RefFeatures) -> None: ...

    def match(self, frame: FrameFeatures, *, policy: Safety, live: Live) -> list[Match]: ...

    def size(self) -> int: ...


class SiftSignal:
    """SIFT descriptors of every reference in one FAISS index; candidate references by votes of
    ratio-tested nearest neighbours, then confirmed by a RANSAC homography."""

    name = "sift"

    def __init__(self, index: VectorIndex | None = None) -> None:
        self.index = index or VectorIndex(128, metric="l2")
        self.labels: list[np.ndarray] = []  # per add: reference slot of each descriptor
        self.refs: list[RefFeatures] = []
        self._label_array: np.ndarray | None = None

    def add(self, ref: RefFeatures) -> None:
        if len(ref.descriptors) == 0:
            return
        slot = len(self.refs)
        self.refs.append(ref)
        self.index.add(ref.descriptors.astype(np.float32))
        self.labels.append(np.full(len(ref.descriptors), slot, np.int32))
        self._label_array = None
        self._maybe_retrain()

    def _maybe_retrain(self) -> None:
        """Exact search over every reference descriptor costs ~0.3 s CPU per 720p frame at 40
        references; IVF cells cut that ~10x at recall@10 ≥ 0.99 (bench/ip_index.py). The index
        switches to IVF at IVF_FROM descriptors and is retrained (from the descriptors kept in
        `refs`) whenever it has grown 4x past what its cells were trained on."""
        size = self.index.ntotal
        grown = self.index.kind == "ivf" and size >= 4 * max(1, self.index.trained_on)
        if not ((self.index.kind == "flat" and size >= IVF_FROM) or grown):
            return
        data = np.concatenate([r.descriptors for r in self.refs if len(r.descriptors)]).astype(np.float32)
        self.index = VectorIndex.ivf(data)

    def size(self) -> int:
        return self.index.ntotal

    def _slots(self) -> np.ndarray:
        if self._label_array is None:
            self._label_array = np.concatenate(self.labels) if self.labels else np.zeros(0, np.int32)
        return self._label_array

    def match(self, frame: FrameFeatures, *, policy: Safety, live: Live) -> list[Match]:
        local = frame.local
        if local is None or len(local.descriptors) == 0 or self.index.ntotal == 0:
            return []
        dist, lab = self.index.search(local.descriptors.astype(np.float32), 4)
        slots = self._slots()
        votes: dict[int, list[tuple[int, int]]] = defaultdict(list)  # slot → (query i, ref kp j)
        max_d2 = policy.sift_max_distance**2
        ratio2 = policy.sift_ratio**2
        starts = self._starts()
        for i in range(len(lab)):
            first = int(lab[i, 0])
            if first < 0 or dist[i, 0] > max_d2:
                continue
            slot = int(slots[first])
            ref = self.refs[slot]
            if not live(ref.optout_id):
                continue
            # Ratio test against the nearest descriptor of ANOTHER opt-out: several references of
            # one opt-out (frames of one video) share features and must not cancel each other.
            second = next(
                (
                    float(dist[i, j])
                    for j in range(1, lab.shape[1])
                    if lab[i, j] >= 0 and self.refs[int(slots[int(lab[i, j])])].optout_id != ref.optout_id
                ),
                None,
            )
            if second is not None and dist[i, 0] > ratio2 * second:
                continue
            votes[slot].append((i, first - starts[slot]))
        found: dict[uuid.UUID, Match] = {}
        for slot, pairs in sorted(votes.items(), key=lambda kv: -len(kv[1])):
            if len(pairs) < policy.sift_min_votes:
                break
            ref = self.refs[slot]
            q = local.keypoints[[p[0] for p in pairs]]
            r = ref.keypoints[[p[1] for p in pairs]]
            inliers, matrix = verify_homography(r, q, reproj_px=policy.sift_reproj_px)
            if inliers < policy.sift_min_inliers or matrix is None:
                continue
            prior = found.get(ref.optout_id)
            if prior is None or inliers > prior.score:
                found[ref.optout_id] = Match(
                    ref.optout_id, self.name, float(inliers), float(policy.sift_min_inliers),
                    frame.time, project_box(matrix, ref.width, ref.height), ref.id,
                )  # fmt: skip
        return list(found.values())

    def _starts(self) -> list[int]:
        starts, total = [], 0
        for labels in self.labels:
            starts.append(total)
            total += len(labels)
        return starts


class PdqSignal:
    """All 8 dihedral PDQ hashes of every reference in a FAISS binary index; a frame's one hash is
    compared with them, so flips and 90° rotations of a near-exact copy still match."""

    name = "pdq"

    def __init__(self) -> None:
        self.index = BinaryIndex(256)
        self.slots: list[int] = []
        self.refs: list[RefFeatures] = []

    def add(self, ref: RefFeatures) -> None:
        slot = len(self.refs)
        self.refs.append(ref)
        self.index.add(ref.pdq)
        self.slots.extend([slot] * len(ref.pdq))

    def size(self) -> int:
        return self.index.ntotal

    def match(self, frame: FrameFeatures, *, policy: Safety, live: Live) -> list[Match]:
        if frame.pdq is None or frame.pdq_quality < policy.pdq_min_quality:
            return []
        dist, lab = self.index.search(frame.pdq, 16)
        found: dict[uuid.UUID, Match] = {}
        for d, label in zip(dist[0], lab[0], strict=True):
            if label < 0 or d > policy.pdq_max_distance:
                continue
            ref = self.refs[self.slots[int(label)]]
            if ref.pdq_quality < policy.pdq_min_quality or not live(ref.optout_id):
                continue
            score = 1.0 - float(d) / 256.0
            if ref.optout_id not in found or score > found[ref.optout_id].score:
                threshold = 1.0 - policy.pdq_max_distance / 256.0
                region = (0.0, 0.0, float(frame.width), float(frame.height))
                found[ref.optout_id] = Match(
                    ref.optout_id, self.name, score, threshold, frame.time, region, ref.id
                )
        return list(found.values())


class ClipImageSignal:
    """CLIP image embeddings of references (made by one model id) in a FAISS inner-product index."""

    name = "clip_image"

    def __init__(self, dim: int, model_id: str) -> None:
        self.model_id = model_id
        self.index = VectorIndex(dim, metric="ip")
        self.refs: list[RefFeatures] = []

    def add(self, ref: RefFeatures) -> None:
        if ref.clip is None or ref.clip_model != self.model_id:
            return
        self.refs.append(ref)
        self.index.add(ref.clip.reshape(1, -1))

    def size(self) -> int:
        return self.index.ntotal

    def match(self, frame: FrameFeatures, *, policy: Safety, live: Live) -> list[Match]:
        if frame.clip is None:
            return []
        return self._best(frame.clip, policy.clip_image_threshold, live, frame.time, self.name)

    def match_text(self, vector: np.ndarray, *, policy: Safety, live: Live) -> list[Match]:
        return self._best(vector, policy.clip_text_threshold, live, None, "clip_text")

    def _best(
        self, vector: np.ndarray, threshold: float, live: Live, t: float | None, name: str
    ) -> list[Match]:
        sims, lab = self.index.search(vector.reshape(1, -1), 16)
        found: dict[uuid.UUID, Match] = {}
        for s, label in zip(sims[0], lab[0], strict=True):
            if label < 0 or s < threshold:
                continue
            ref = self.refs[int(label)]
            if live(ref.optout_id) and ref.optout_id not in found:
                found[ref.optout_id] = Match(ref.optout_id, name, float(s), threshold, t, None, ref.id)
        return list(found.values())


@dataclass
class TextEntry:
    optout_id: uuid.UUID
    names: list[str]
    keywords: list[str]


class TextSignal:
    """Names/aliases/keywords by normalised fuzzy phrase search; descriptions by MiniLM cosine in
    a FAISS inner-product index (one row per description version; stale rows are filtered)."""

    def __init__(self, dim: int, model_id: str) -> None:
        self.model_id = model_id
        self.index = VectorIndex(dim, metric="ip")
        self.rows: list[tuple[uuid.UUID, int]] = []  # label → (opt-out, description version)
        self.version: dict[uuid.UUID, int] = {}
        self.phrases: dict[uuid.UUID, TextEntry] = {}
        self.names: PhraseIndex[tuple[uuid.UUID, str]] = PhraseIndex()  # (opt-out, "name" | "keyword")

    def set(
        self, optout_id: uuid.UUID, names: list[str], keywords: list[str], description: np.ndarray | None
    ) -> None:
        self.phrases[optout_id] = TextEntry(optout_id, names, keywords)
        self.names.set((optout_id, "name"), names)
        self.names.set((optout_id, "keyword"), keywords)
        version = self.version.get(optout_id, 0) + 1
        self.version[optout_id] = version
        if description is not None:
            self.rows.append((optout_id, version))
            self.index.add(description.reshape(1, -1))

    def size(self) -> int:
        return self.index.ntotal

    def match(
        self, prompt_norm: str, prompt_vec: np.ndarray | None, *, policy: Safety, live: Live
    ) -> list[Match]:
        out: list[Match] = []
        for (optout_id, signal), hits in self.names.find(prompt_norm).items():
            if live(optout_id):
                best = max(hits, key=lambda hit: hit.score)  # the first of equals, in phrase order
                out.append(Match(optout_id, signal, best.score, 0.0, matched=best.matched))
        if prompt_vec is not None and self.index.ntotal:
            sims, lab = self.index.search(prompt_vec.reshape(1, -1), min(32, self.index.ntotal))
            seen: set[uuid.UUID] = set()
            for s, label in zip(sims[0], lab[0], strict=True):
                if label < 0 or s < policy.description_threshold:
                    continue
                optout_id, version = self.rows[int(label)]
                if version != self.version.get(optout_id) or optout_id in seen or not live(optout_id):
                    continue
                seen.add(optout_id)
                out.append(Match(optout_id, "description", float(s), policy.description_threshold))
        return out
