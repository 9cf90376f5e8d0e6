"""The process's opt-out indexes: built from PostgreSQL, kept current from its change feed, and
snapshotted to disk so a restart does not re-read every reference.

PostgreSQL is the source of truth. Each index holder keeps a cursor into `optout_changes`; for
every changed opt-out it re-reads the row and adds the references it has not indexed yet. A
withdrawn or suspended opt-out leaves the live set at once, and every signal filters its hits by
the live set, so nothing has to be deleted from FAISS (HNSW cannot delete anyway).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg

from gate.db import Conn, connect
from perception.images import PdqHasher, SiftFeatures
from perception.protocols import ImageHasher, LocalFeatureExtractor
from perception.vectors import LARGE_FROM, VectorIndex
from policies.schema import Safety
from safety import store
from safety.signals import (
    ClipImageSignal,
    FrameFeatures,
    Match,
    PdqSignal,
    RefFeatures,
    SiftSignal,
    TextSignal,
)

log = logging.getLogger(__name__)

CHANNEL = "safety_optouts"
# The follower polls the change feed at least this often even when no NOTIFY arrives (a NOTIFY
# can be lost across a reconnect); a NOTIFY wakes it at once.
POLL_SECONDS = 0.5
SNAPSHOT_VERSION = 2  # 2: each live opt-out's territories
# How long a hole in the change sequence is waited for before it is taken as a rollback.
GAP_SECONDS = 30.0

EmbedTexts = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class LiveOptOut:
    id: uuid.UUID
    title: str
    action: str
    organisation_id: uuid.UUID
    territories: frozenset[str] = frozenset()  # where it applies; empty: everywhere

    def applies_in(self, territory: str | None) -> bool:
        """Whether a scan for `territory` is bound by it. A scan that does not say where its
        result will be shown is bound by every opt-out: unknown is treated as anywhere."""
        return not self.territories or territory is None or territory in self.territories


def ref_features(ref: store.Reference, features_model: str) -> RefFeatures:
    """A stored reference as the signals want it. Local features made by another extractor are
    left out (they are not comparable); PDQ and CLIP are still used."""
    same = ref.features_model == features_model
    if not same:
        log.warning(
            "reference %s has %s features; this process uses %s", ref.id, ref.features_model, features_model
        )
    return RefFeatures(
        id=ref.id,
        optout_id=ref.optout_id,
        width=ref.width,
        height=ref.height,
        pdq=np.frombuffer(ref.pdq, np.uint8).reshape(8, 32),
        pdq_quality=ref.pdq_quality,
        keypoints=np.frombuffer(ref.keypoints if same else b"", np.float32).reshape(-1, 2),
        descriptors=np.frombuffer(ref.descriptors if same else b"", np.uint8).reshape(-1, 128),
        clip=np.frombuffer(ref.clip, np.float32) if ref.clip else None,
        clip_model=ref.clip_model,
    )


class SafetyIndexes:
    """Every signal's index plus the live set of opt-outs. Thread-safe: one lock guards changes
    and queries (queries are short; changes are rare)."""

    def __init__(
        self,
        *,
        text_model_id: str,
        text_dim: int,
        embed_texts: EmbedTexts | None,
        clip_model_id: str | None = None,
        clip_dim: int | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.live_optouts: dict[uuid.UUID, LiveOptOut] = {}
        self.sift = SiftSignal()
        self.pdq = PdqSignal()
        self.clip = ClipImageSignal(clip_dim, clip_model_id) if clip_dim and clip_model_id else None
        self.text = TextSignal(text_dim, text_model_id)
        self.embed_texts = embed_texts
        self.indexed_refs: set[uuid.UUID] = set()
        self.refs: list[RefFeatures] = []
        self.descriptions: dict[uuid.UUID, tuple[str, np.ndarray | None]] = {}
        self.cursor = 0
        self._seen: set[int] = set()  # applied seqs above the cursor (see refresh)
        self._gap_since: float | None = None
        self.updated_at = time.time()
        # Weight-free feature extractors live with the indexes they feed.
        self.extractor: LocalFeatureExtractor = SiftFeatures()
        self.hasher: ImageHasher = PdqHasher()

    # --- queries -----------------------------------------------------------------------------

    def live(self, optout_id: uuid.UUID) -> bool:
        return optout_id in self.live_optouts

    def optout(self, optout_id: uuid.UUID) -> LiveOptOut | None:
        return self.live_optouts.get(optout_id)

    def match_frame(self, frame: FrameFeatures, *, policy: Safety) -> list[Match]:
        with self.lock:
            out = self.pdq.match(frame, policy=policy, live=self.live)
            out += self.sift.match(frame, policy=policy, live=self.live)
            if self.clip is not None:
                out += self.clip.match(frame, policy=policy, live=self.live)
        return out

    def match_prompt(
        self, prompt_norm: str, prompt_vec: np.ndarray | None, clip_vec: np.ndarray | None, *, policy: Safety
    ) -> list[Match]:
        with self.lock:
            out = self.text.match(prompt_norm, prompt_vec, policy=policy, live=self.live)
            if self.clip is not None and clip_vec is not None:
                out += self.clip.match_text(clip_vec, policy=policy, live=self.live)
        return out

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {
                "live_optouts": len(self.live_optouts),
                "references": len(self.indexed_refs),
                "sift_descriptors": self.sift.size(),
                "pdq_hashes": self.pdq.size(),
                "clip_vectors": self.clip.size() if self.clip else 0,
                "descriptions": self.text.size(),
                "cursor": self.cursor,
            }

    # --- changes -----------------------------------------------------------------------------

    def add_reference(self, ref: RefFeatures) -> None:
        with self.lock:
            if ref.id in self.indexed_refs:
                return
            self.indexed_refs.add(ref.id)
            self.refs.append(ref)
            self.sift.add(ref)
            self.pdq.add(ref)
            if self.clip is not None:
                self.clip.add(ref)

    def apply(self, optout: store.OptOut, refs: list[store.Reference]) -> None:
        """Bring one opt-out up to date with its row in the database."""
        vector = self._description_vector(optout)
        with self.lock:
            if optout.status != "active":
                self.live_optouts.pop(optout.id, None)
            else:
                for ref in refs:
                    self.add_reference(ref_features(ref, self.extractor.model_id))
                self.text.set(optout.id, list(optout.names), list(optout.keywords), vector)
                self.live_optouts[optout.id] = LiveOptOut(
                    optout.id,
                    optout.title,
                    optout.action,
                    optout.organisation_id,
                    frozenset(optout.territories),
                )
            self.updated_at = time.time()

    def _description_vector(self, optout: store.OptOut) -> np.ndarray | None:
        text = optout.description.strip()
        prior = self.descriptions.get(optout.id)
        if prior is not None and prior[0] == text:
            return prior[1]
        vector = self.embed_texts([text])[0] if text and self.embed_texts else None
        self.descriptions[optout.id] = (text, vector)
        return vector

    def refresh(self, conn: Conn, *, commit: bool = True) -> int:
        """Apply every change after the cursor; returns how many opt-outs were re-read.

        Sequence numbers can commit out of order (a transaction holding seq 5 may commit after
        one holding seq 6), so the cursor only advances over contiguous seqs already applied; a
        gap is skipped once it has stayed open for GAP_SECONDS (a rolled-back insert leaves one
        for ever). Re-reading a change is harmless: applying is idempotent.
        """
        changes = [c for c in store.changes_since(conn, self.cursor) if c[0] not in self._seen]
        changed = list(dict.fromkeys(oid for _, oid in changes))
        for optout_id in changed:
            optout = store.get_optout(conn, optout_id)
            if optout is None:
                continue
            refs = store.references_of(conn, optout_id) if optout.status == "active" else []
            self.apply(optout, [r for r in refs if r.id not in self.indexed_refs])
        with self.lock:
            self._seen.update(seq for seq, _ in changes)
            self._advance_cursor()
        if commit:
            conn.commit()  # end the read transaction so the next poll sees new commits
        return len(changed)

    def _advance_cursor(self) -> None:
        while self._seen:
            nxt = self.cursor + 1
            if nxt in self._seen:
                self._seen.discard(nxt)
                self.cursor = nxt
                self._gap_since = None
                continue
            now = time.monotonic()
            if self._gap_since is None:
                self._gap_since = now
            if now - self._gap_since < GAP_SECONDS:
                return
            self.cursor = min(self._seen) - 1  # give up on the gap
            self._gap_since = None

    def build(self, conn: Conn) -> None:
        """Everything live in the database. The cursor starts at the last change older than
        GAP_SECONDS, so the next refresh re-applies recent changes (idempotent) and cannot miss
        one still committing while the build ran."""
        cursor = store.settled_change(conn, seconds=GAP_SECONDS)
        loaded = [(o, store.references_of(conn, o.id)) for o in store.active_optouts(conn)]
        descriptors = [
            np.frombuffer(r.descriptors, np.uint8).reshape(-1, 128)
            for _, refs in loaded
            for r in refs
            if r.features_model == self.extractor.model_id
        ]
        total = sum(len(d) for d in descriptors)
        if total >= LARGE_FROM and self.sift.size() == 0:
            # Past LARGE_FROM descriptors exact search costs too much per frame: train IVF cells
            # on what is there now; later adds land in the same cells.
            self.sift = SiftSignal(VectorIndex.ivf(np.concatenate(descriptors), add=False))
        for optout, refs in loaded:
            self.apply(optout, refs)
        with self.lock:
            self.cursor = max(self.cursor, cursor)
        conn.commit()

    # --- snapshots ---------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Features, live set, descriptions and cursor; FAISS is rebuilt from them on load
        (adding is fast; re-reading every reference from the database is what a snapshot saves)."""
        with self.lock:
            refs = list(self.refs)
            meta = {
                "version": SNAPSHOT_VERSION,
                "cursor": self.cursor,
                "text_model": self.text.model_id,
                "features_model": self.extractor.model_id,
                "clip_model": self.clip.model_id if self.clip else None,
                "live": [
                    [str(o.id), o.title, o.action, str(o.organisation_id), sorted(o.territories)]
                    for o in self.live_optouts.values()
                ],
                "phrases": {str(k): [v.names, v.keywords] for k, v in self.text.phrases.items()},
                "refs": [
                    [str(r.id), str(r.optout_id), r.width, r.height, r.pdq_quality, r.clip_model]
                    for r in refs
                ],
                "descriptions": [str(k) for k in self.descriptions],
                "description_texts": [v[0] for v in self.descriptions.values()],
            }
            arrays: dict[str, np.ndarray] = {
                "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
                "pdq": np.stack([r.pdq for r in refs]) if refs else np.zeros((0, 8, 32), np.uint8),
                "kp_counts": np.array([len(r.keypoints) for r in refs], np.int64),
                "keypoints": np.concatenate([r.keypoints for r in refs])
                if refs
                else np.zeros((0, 2), np.float32),
                "descriptors": np.concatenate([r.descriptors for r in refs])
                if refs
                else np.zeros((0, 128), np.uint8),
                "desc_vectors": np.stack(
                    [
                        v[1] if v[1] is not None else np.zeros(self.text.index.dim, np.float32)
                        for v in self.descriptions.values()
                    ]
                )
                if self.descriptions
                else np.zeros((0, self.text.index.dim), np.float32),
                "desc_present": np.array([v[1] is not None for v in self.descriptions.values()], bool),
            }
            clips = [r.clip for r in refs if r.clip is not None]
            arrays["clip"] = np.stack(clips) if clips else np.zeros((0, 1), np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)

    def load(self, path: Path) -> bool:
        """Fill an empty holder from a snapshot; False (and nothing loaded) if it does not fit."""
        try:
            data = np.load(path, allow_pickle=False)
            meta = json.loads(bytes(data["meta"]).decode())
        except (OSError, ValueError, KeyError):
            return False
        clip_model = self.clip.model_id if self.clip else None
        if meta.get("version") != SNAPSHOT_VERSION or meta["text_model"] != self.text.model_id:
            return False
        if meta["clip_model"] != clip_model or meta.get("features_model") != self.extractor.model_id:
            return False
        counts = data["kp_counts"]
        offsets = np.concatenate([[0], np.cumsum(counts)])
        clip_rows = iter(data["clip"])
        with self.lock:
            if len(data["descriptors"]) >= LARGE_FROM and self.sift.size() == 0:
                self.sift = SiftSignal(VectorIndex.ivf(data["descriptors"], add=False))  # as in build
            for i, (rid, oid, w, h, quality, cmodel) in enumerate(meta["refs"]):
                lo, hi = int(offsets[i]), int(offsets[i + 1])
                self.add_reference(
                    RefFeatures(
                        uuid.UUID(rid), uuid.UUID(oid), w, h, data["pdq"][i], quality,
                        data["keypoints"][lo:hi], data["descriptors"][lo:hi],
                        next(clip_rows) if cmodel else None, cmodel,
                    )
                )  # fmt: skip
            vectors = data["desc_vectors"]
            present = data["desc_present"]
            for i, oid in enumerate(meta["descriptions"]):
                self.descriptions[uuid.UUID(oid)] = (
                    meta["description_texts"][i],
                    vectors[i] if present[i] else None,
                )
            for oid, (names, keywords) in meta["phrases"].items():
                desc = self.descriptions.get(uuid.UUID(oid))
                self.text.set(uuid.UUID(oid), names, keywords, desc[1] if desc else None)
            for oid, title, action, org, territories in meta["live"]:
                self.live_optouts[uuid.UUID(oid)] = LiveOptOut(
                    uuid.UUID(oid), title, action, uuid.UUID(org), frozenset(territories)
                )
            self.cursor = int(meta["cursor"])
        return True


class Follower:
    """A thread with its own connection that LISTENs for opt-out changes and polls the change
    feed every POLL_SECONDS, so this process sees any change within about a second."""

    def __init__(self, url: str, indexes: SafetyIndexes) -> None:
        self.url = url
        self.indexes = indexes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="safety-index-follower", daemon=True)
        self.last_error: str | None = None
        self.last_poll = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        self.indexes.refresh(conn)
                        self.last_poll = time.time()
                        self.last_error = None
                        for _ in conn.notifies(timeout=POLL_SECONDS, stop_after=1):
                            pass
            except psycopg.Error as exc:
                self.last_error = str(exc)
                log.warning("safety index follower lost its connection: %s", exc)
                self._stop.wait(1.0)


@dataclass(frozen=True)
class IndexCheck:
    live_missing: list[uuid.UUID]  # active in the database, not live in the index
    live_extra: list[uuid.UUID]  # live in the index, not active in the database
    references_missing: list[uuid.UUID]  # references of active opt-outs not indexed

    @property
    def ok(self) -> bool:
        return not (self.live_missing or self.live_extra or self.references_missing)


def compare(conn: Conn, holder: SafetyIndexes) -> IndexCheck:
    active = {o.id for o in store.active_optouts(conn)}
    refs = store.active_reference_ids(conn)
    with holder.lock:
        live = set(holder.live_optouts)
        indexed = set(holder.indexed_refs)
    return IndexCheck(
        live_missing=sorted(active - live),
        live_extra=sorted(live - active),
        references_missing=sorted(rid for rid, _ in refs if rid not in indexed),
    )
