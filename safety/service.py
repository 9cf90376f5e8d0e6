"""The safety domain's logic: the opt-out registry, prompt and media scans (IP and likeness),
and disputes. Plain functions; every dependency is passed in."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from gate import audit, outbox
from gate.auth import Principal
from gate.crypto import Keyring
from gate.db import Conn
from gate.errors import Conflict, Forbidden, NotFound, ValidationFailed
from perception.faces import detect_downscaled_many
from perception.registry import Models
from policies import protected
from policies.schema import Safety
from policies.service import ActivePolicy
from safety import store
from safety.indexes import SafetyIndexes
from safety.normalize import normalize
from safety.signals import FrameFeatures, Match

# --- registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptOutView:
    optout: store.OptOut
    references: int
    matches: dict[str, int]


@dataclass(frozen=True)
class ReferenceImage:
    """One decoded reference: the original upload's digest, and for video frames their time."""

    sha256: str
    rgb: np.ndarray
    frame_time: float | None = None


def _clean_list(values: Iterable[str], limit: int, what: str) -> list[str]:
    out = list(dict.fromkeys(v.strip() for v in values if v and v.strip() and normalize(v)))
    if len(out) > limit:
        raise ValidationFailed(f"at most {limit} {what}", code="too_many_" + what)
    return out


def _owned(
    conn: Conn, principal: Principal, optout_id: uuid.UUID, *, for_update: bool = False
) -> store.OptOut:
    optout = store.get_optout(conn, optout_id, for_update=for_update)
    # Another organisation's opt-out is reported as missing, not forbidden: ids are not an oracle.
    if optout is None or (
        principal.role == "rights_holder" and optout.organisation_id != principal.organisation_id
    ):
        raise NotFound("no such opt-out", code="optout_not_found")
    return optout


def create_optout(
    conn: Conn,
    *,
    policy: ActivePolicy,
    models: Models,
    indexes: SafetyIndexes,
    principal: Principal,
    title: str,
    names: list[str],
    keywords: list[str],
    description: str,
    action: str,
    territories: list[str],
    notes: str,
    references: list[ReferenceImage],
) -> OptOutView:
    if principal.organisation_id is None:
        raise Forbidden("a rights holder key is bound to an organisation", code="organisation_required")
    safety = policy.policy.safety
    names = _clean_list(names, safety.max_names, "names")
    keywords = _clean_list(keywords, safety.max_names, "keywords")
    if not names and not keywords and not description.strip() and not references:
        raise ValidationFailed(
            "an opt-out needs names, keywords, a description or reference media", code="optout_empty"
        )
    optout = store.insert_optout(
        conn, id=uuid.uuid4(), organisation_id=principal.organisation_id, title=title.strip(),
        names=names, keywords=keywords, description=description.strip(), action=action,
        territories=sorted(set(territories)), notes=notes,
    )  # fmt: skip
    count = _store_references(
        conn, models=models, indexes=indexes, optout_id=optout.id, references=references
    )
    audit.record(
        conn, actor=principal, action="safety.optout.create", policy_version=policy.version,
        target_kind="optout", target_id=optout.id,
        details={"organisation_id": str(optout.organisation_id), "action": action, "references": count,
                 "names": len(names), "keywords": len(keywords)},
    )  # fmt: skip
    return OptOutView(optout, count, {})


def add_references(
    conn: Conn,
    *,
    policy: ActivePolicy,
    models: Models,
    indexes: SafetyIndexes,
    principal: Principal,
    optout_id: uuid.UUID,
    references: list[ReferenceImage],
) -> OptOutView:
    optout = _owned(conn, principal, optout_id, for_update=True)
    if optout.status != "active":
        raise Conflict(f"the opt-out is {optout.status}", code="optout_not_active")
    count = _store_references(
        conn, models=models, indexes=indexes, optout_id=optout.id, references=references
    )
    audit.record(
        conn, actor=principal, action="safety.optout.add_references", policy_version=policy.version,
        target_kind="optout", target_id=optout.id,
        details={"organisation_id": str(optout.organisation_id), "references": count},
    )  # fmt: skip
    return detail(conn, principal=principal, optout_id=optout.id)


def _store_references(
    conn: Conn,
    *,
    models: Models,
    indexes: SafetyIndexes,
    optout_id: uuid.UUID,
    references: list[ReferenceImage],
) -> int:
    clip = models.clip
    clip_vectors = clip.embed_images([r.rgb for r in references]) if clip and references else None
    for i, ref in enumerate(references):
        local = indexes.extractor.extract(ref.rgb, reference=True)
        pdq, quality = indexes.hasher.dihedral(ref.rgb)
        store.insert_reference(
            conn, id=uuid.uuid4(), optout_id=optout_id, sha256=ref.sha256, frame_time=ref.frame_time,
            width=int(ref.rgb.shape[1]), height=int(ref.rgb.shape[0]), pdq=pdq.tobytes(),
            pdq_quality=quality, keypoints=local.keypoints.astype(np.float32).tobytes(),
            descriptors=local.descriptors.astype(np.uint8).tobytes(),
            features_model=indexes.extractor.model_id,
            clip=clip_vectors[i].astype(np.float32).tobytes() if clip_vectors is not None else None,
            clip_model=clip.model_id if clip else None,
        )  # fmt: skip
    return len(references)


def list_optouts(conn: Conn, *, principal: Principal, status: str | None) -> list[OptOutView]:
    org = principal.organisation_id if principal.role == "rights_holder" else None
    rows = store.list_optouts(conn, organisation_id=org, status=status)
    counts = store.reference_counts(conn, [r.id for r in rows])
    return [OptOutView(r, counts.get(r.id, 0), {}) for r in rows]


def detail(conn: Conn, *, principal: Principal, optout_id: uuid.UUID) -> OptOutView:
    optout = _owned(conn, principal, optout_id)
    return OptOutView(
        optout,
        store.reference_counts(conn, [optout.id]).get(optout.id, 0),
        store.match_counts(conn, optout.id),
    )


UPDATABLE = ("title", "names", "keywords", "description", "action", "territories", "notes")


def update_optout(
    conn: Conn, *, policy: ActivePolicy, principal: Principal, optout_id: uuid.UUID, changes: dict[str, Any]
) -> OptOutView:
    optout = _owned(conn, principal, optout_id, for_update=True)
    if optout.status == "withdrawn":
        raise Conflict("a withdrawn opt-out cannot be changed; file a new one", code="optout_withdrawn")
    fields = {k: v for k, v in changes.items() if k in UPDATABLE and v is not None}
    for key in ("names", "keywords"):
        if key in fields:
            fields[key] = _clean_list(fields[key], policy.policy.safety.max_names, key)
    if "territories" in fields:
        fields["territories"] = sorted(set(fields["territories"]))
    if not fields:
        raise ValidationFailed("nothing to change", code="nothing_to_change")
    store.update_optout(conn, optout.id, **fields)
    audit.record(
        conn, actor=principal, action="safety.optout.update", policy_version=policy.version,
        target_kind="optout", target_id=optout.id,
        details={"organisation_id": str(optout.organisation_id), "fields": sorted(fields)},
    )  # fmt: skip
    return detail(conn, principal=principal, optout_id=optout.id)


def withdraw_optout(
    conn: Conn, *, policy: ActivePolicy, principal: Principal, optout_id: uuid.UUID
) -> OptOutView:
    optout = _owned(conn, principal, optout_id, for_update=True)
    if optout.status == "withdrawn":
        raise Conflict("the opt-out is already withdrawn", code="optout_withdrawn")
    store.update_optout(conn, optout.id, status="withdrawn", status_reason="withdrawn by the rights holder")
    audit.record(
        conn, actor=principal, action="safety.optout.withdraw", policy_version=policy.version,
        target_kind="optout", target_id=optout.id, details={"organisation_id": str(optout.organisation_id)},
    )  # fmt: skip
    return detail(conn, principal=principal, optout_id=optout.id)


def set_suspended(
    conn: Conn,
    *,
    policy: ActivePolicy,
    principal: Principal,
    optout_id: uuid.UUID,
    suspended: bool,
    reason: str,
) -> OptOutView:
    """Admin only: suspend an opt-out found invalid (as Content ID does), or reinstate it."""
    optout = _owned(conn, principal, optout_id, for_update=True)
    if optout.status == "withdrawn":
        raise Conflict("the opt-out is withdrawn", code="optout_withdrawn")
    store.update_optout(conn, optout.id, status="suspended" if suspended else "active", status_reason=reason)
    audit.record(
        conn, actor=principal, action="safety.optout.suspend" if suspended else "safety.optout.reinstate",
        policy_version=policy.version, target_kind="optout", target_id=optout.id,
        details={"organisation_id": str(optout.organisation_id), "reason": reason},
    )  # fmt: skip
    outbox.enqueue(
        conn, event="optout.suspended" if suspended else "optout.reinstated",
        payload={"optout_id": str(optout.id), "organisation_id": str(optout.organisation_id),
                 "reason": reason},
    )  # fmt: skip
    return detail(conn, principal=principal, optout_id=optout.id)


# --- scans ------------------------------------------------------------------------------------


def _in_territory(matches: list[Match], indexes: SafetyIndexes, territory: str | None) -> list[Match]:
    """The matches of opt-outs that apply where the result will be shown (an opt-out without
    territories applies everywhere; a scan without a territory is bound by every opt-out)."""
    return [m for m in matches if (info := indexes.optout(m.optout_id)) is None or info.applies_in(territory)]


def _decide(matches: list[Match], indexes: SafetyIndexes, safety: Safety) -> str:
    decision = "allow"
    for m in matches:
        info = indexes.optout(m.optout_id)
        action = info.action if info else "flag"
        if m.signal == "keyword" and safety.keyword_decision == "flag":
            action = "flag"
        if action == "block":
            return "block"
        decision = "flag"
    return decision


@dataclass
class PromptScan:
    scan_id: uuid.UUID
    decision: str
    policy_version: str
    matches: list[Match]
    territory: str | None  # the opt-outs that applied were those of this territory (None: all)
    titles: dict[uuid.UUID, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scan_id": str(self.scan_id),
            "decision": self.decision,
            "policy_version": self.policy_version,
            "territory": self.territory,
            "matches": [{**m.to_dict(), "title": self.titles.get(m.optout_id)} for m in self.matches],
        }


def scan_prompt(
    conn: Conn,
    *,
    policy: ActivePolicy,
    models: Models,
    indexes: SafetyIndexes,
    prompt: str,
    territory: str | None = None,
) -> PromptScan:
    """Names, aliases and keywords (normalised, fuzzy), descriptions (MiniLM), CLIP text."""
    # Apply committed opt-out changes this process has not seen yet (one indexed query), so a
    # scan always runs against the database's current opt-outs; the follower keeps idle
    # processes current between scans.
    indexes.refresh(conn, commit=False)
    norm = normalize(prompt)
    vec = models.text.embed([prompt])[0] if prompt.strip() else None
    clip = models.clip
    clip_vec = clip.embed_texts([prompt])[0] if clip and prompt.strip() else None
    matches = indexes.match_prompt(norm, vec, clip_vec, policy=policy.policy.safety)
    matches = _in_territory(matches, indexes, territory)
    scan = PromptScan(
        uuid.uuid4(), _decide(matches, indexes, policy.policy.safety), policy.version, matches, territory
    )
    scan.titles = {m.optout_id: info.title for m in matches if (info := indexes.optout(m.optout_id))}
    _record_matches(conn, scan.scan_id, "prompt", matches, scan.decision)
    return scan


def _record_matches(conn: Conn, scan_id: uuid.UUID, kind: str, matches: list[Match], decision: str) -> None:
    best: dict[tuple[uuid.UUID, str], Match] = {}
    for m in matches:
        key = (m.optout_id, m.signal)
        if key not in best or m.score > best[key].score:
            best[key] = m
    store.insert_matches(
        conn,
        [
            {"optout_id": m.optout_id, "scan_id": scan_id, "scan_kind": kind, "signal": m.signal,
             "score": float(m.score), "decision": decision, "actor": "scan"}
            for m in best.values()
        ],
    )  # fmt: skip


@dataclass(frozen=True)
class LikenessMatch:
    kind: str  # 'face' or 'voice'
    owner_kind: str  # 'cameo' or 'protected_person'
    owner_ref: uuid.UUID
    subject_id: uuid.UUID | None
    score: float
    threshold: float
    covered: bool
    frame_time: float | None = None
    region: tuple[float, float, float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "owner_kind": self.owner_kind,
            "owner_ref": str(self.owner_ref),
            "subject_id": str(self.subject_id) if self.subject_id else None,
            "score": round(float(self.score), 4),
            "threshold": self.threshold,
            "covered": self.covered,
            "frame_time": self.frame_time,
            "region": [round(v, 1) for v in self.region] if self.region else None,
        }


@dataclass
class MediaScan:
    scan_id: uuid.UUID
    decision: str
    policy_version: str
    matches: list[Match]
    likeness: list[LikenessMatch]
    frames_scanned: int
    territory: str | None  # as PromptScan's
    titles: dict[uuid.UUID, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scan_id": str(self.scan_id),
            "decision": self.decision,
            "policy_version": self.policy_version,
            "territory": self.territory,
            "frames_scanned": self.frames_scanned,
            "matches": [{**m.to_dict(), "title": self.titles.get(m.optout_id)} for m in self.matches],
            "likeness": [x.to_dict() for x in self.likeness],
            "notes": self.notes,
        }


def frame_features(
    indexes: SafetyIndexes, models: Models | None, time_s: float | None, rgb: np.ndarray
) -> FrameFeatures:
    pdq, quality = indexes.hasher.hash(rgb)
    clip = models.clip if models is not None else None
    return FrameFeatures(
        time=time_s, width=int(rgb.shape[1]), height=int(rgb.shape[0]),
        local=indexes.extractor.extract(rgb), pdq=pdq, pdq_quality=quality,
        clip=clip.embed_images([rgb])[0] if clip else None,
    )  # fmt: skip


# Frames are described two at a time: OpenCV and FAISS release the GIL, and the machines this
# runs on have 2 cores per process; matching itself is serialised by the index lock.
SCAN_THREADS = 2


def match_frames(
    *, policy: Safety, models: Models | None, indexes: SafetyIndexes, frames: list[tuple[float, np.ndarray]]
) -> list[Match]:
    """IP matches over frames, the best per (opt-out, signal) kept with its frame time."""

    def one(item: tuple[float, np.ndarray]) -> list[Match]:
        t, rgb = item
        return indexes.match_frame(frame_features(indexes, models, t, rgb), policy=policy)

    best: dict[tuple[uuid.UUID, str], Match] = {}
    with ThreadPoolExecutor(max_workers=SCAN_THREADS, thread_name_prefix="safety-scan") as pool:
        for found in pool.map(one, frames):
            for m in found:
                key = (m.optout_id, m.signal)
                if key not in best or m.score > best[key].score:
                    best[key] = m
    return sorted(best.values(), key=lambda m: (str(m.optout_id), m.signal))


def scan_media(
    conn: Conn,
    *,
    policy: ActivePolicy,
    models: Models,
    indexes: SafetyIndexes,
    keyring: Keyring,
    frames: list[tuple[float, np.ndarray]],
    audio: np.ndarray | None,
    consented_cameo_ids: set[uuid.UUID],
    territory: str | None = None,
) -> MediaScan:
    """IP matches on every frame given; faces (and voices) matching verified cameos or protected
    people, each marked covered when the caller's consent covers that cameo."""
    safety = policy.policy.safety
    indexes.refresh(conn, commit=False)  # see scan_prompt
    frames = frames[: safety.max_scan_frames]
    # IP matching (OpenCV, FAISS) runs on other threads while this one looks for people (torch):
    # both release the GIL, so a scan uses every core the machine has free (the likeness part
    # needs `conn`, which stays on this thread).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="safety-ip") as side:
        ip = side.submit(match_frames, policy=safety, models=models, indexes=indexes, frames=frames)
        likeness = _likeness(
            conn, safety=safety, models=models, keyring=keyring, frames=frames, audio=audio,
            consented_cameo_ids=consented_cameo_ids,
        )  # fmt: skip
        matches = _in_territory(ip.result(), indexes, territory)
    decision = _decide(matches, indexes, safety)
    uncovered = [x for x in likeness if not x.covered]
    if uncovered and decision != "block":
        decision = "block" if safety.uncovered_likeness == "block" else "flag"
    scan = MediaScan(uuid.uuid4(), decision, policy.version, matches, likeness, len(frames), territory)
    scan.titles = {m.optout_id: info.title for m in matches if (info := indexes.optout(m.optout_id))}
    _record_matches(conn, scan.scan_id, "media", matches, decision)
    return scan


def covered(
    owner_kind: str,
    owner_ref: uuid.UUID,
    consented_cameo_ids: set[uuid.UUID],
    covered_people: set[uuid.UUID] | frozenset[uuid.UUID] = frozenset(),
) -> bool:
    """A cameo is covered when the caller's consent covers it; a protected person only when they
    appear through their own consented cameo (`covered_people`)."""
    if owner_kind == "cameo":
        return owner_ref in consented_cameo_ids
    return owner_ref in covered_people


def people_covered(conn: Conn, consented_cameo_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Protected people covered through their own consented cameo (the policies domain owns the
    link between a protected person and a subject)."""
    if not consented_cameo_ids:
        return set()
    return set(protected.people_covered_by_cameos(conn, consented_cameo_ids=consented_cameo_ids))


def _likeness(
    conn: Conn,
    *,
    safety: Safety,
    models: Models,
    keyring: Keyring,
    frames: list[tuple[float, np.ndarray]],
    audio: np.ndarray | None,
    consented_cameo_ids: set[uuid.UUID],
) -> list[LikenessMatch]:
    from consent.templates import gallery

    found: dict[tuple[str, str, uuid.UUID], LikenessMatch] = {}
    people = people_covered(conn, consented_cameo_ids)
    if frames:
        embedder = models.face_embedder
        faces_gallery = gallery(conn, keyring, kind="face", model_id=embedder.model_id)
        if faces_gallery:
            # Spread over the whole clip, the last frame included (a stride would drop the end).
            picks = np.unique(
                np.linspace(0, len(frames) - 1, min(len(frames), safety.likeness_max_frames)).round()
            )
            chosen = [frames[int(i)] for i in picks]
            detected = detect_downscaled_many(
                models.face_detector, [rgb for _, rgb in chosen], safety.likeness_detect_short_side
            )
            for (t, rgb), faces in zip(chosen, detected, strict=True):
                if not faces:
                    continue
                vectors = embedder.embed(rgb, faces)
                for face, vec in zip(faces, vectors, strict=True):
                    _best_owner(found, "face", faces_gallery, vec, safety.face_match_threshold,
                                consented_cameo_ids, people, t, face.box)  # fmt: skip
    if audio is not None and len(audio) >= 16_000:
        voice = models.voice_embedder
        voices_gallery = gallery(conn, keyring, kind="voice", model_id=voice.model_id)
        if voices_gallery:
            _best_owner(found, "voice", voices_gallery, voice.embed(audio), safety.voice_match_threshold,
                        consented_cameo_ids, people, None, None)  # fmt: skip
    return sorted(found.values(), key=lambda x: -x.score)


def _best_owner(
    found: dict[tuple[str, str, uuid.UUID], LikenessMatch],
    kind: str,
    entries: list[Any],
    vector: np.ndarray,
    threshold: float,
    consented: set[uuid.UUID],
    people: set[uuid.UUID],
    t: float | None,
    box: tuple[float, float, float, float] | None,
) -> None:
    for entry in entries:
        score = float((entry.embeddings @ vector).max())
        if score < threshold:
            continue
        key = (kind, entry.owner_kind, entry.owner_ref)
        if key not in found or score > found[key].score:
            found[key] = LikenessMatch(
                kind, entry.owner_kind, entry.owner_ref, entry.subject_id, score, threshold,
                covered(entry.owner_kind, entry.owner_ref, consented, people), t, box,
            )  # fmt: skip


class SceneSampler:
    """Picks the frames a video scan analyses: at least `fps` a second, plus every frame that starts
    a new scene (mean absolute difference of 32×18 grey thumbnails above `scene_threshold`), at
    most `max_frames`. Fed every decoded frame's luma plane (gate.media.iter_frames' `keep`), so
    scene changes are found without converting frames that are not kept to colour."""

    def __init__(self, *, fps: float, scene_threshold: float, max_frames: int) -> None:
        self.fps, self.threshold, self.max_frames = fps, scene_threshold, max_frames
        self.kept = 0
        self._prev: np.ndarray | None = None
        self._next_t = 0.0

    def __call__(self, t: float, luma: np.ndarray) -> bool:
        # Every n-th pixel first (n = 5 at 720p): averaging a whole plane costs more than decoding it.
        step = max(1, min(luma.shape) // 144)
        small = luma[::step, ::step]
        thumb = cv2.resize(small, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        cut = self._prev is not None and float(np.abs(thumb - self._prev).mean()) > self.threshold
        self._prev = thumb
        if self.kept >= self.max_frames or not (t >= self._next_t or cut):
            return False
        self.kept += 1
        self._next_t = t + 1.0 / self.fps
        return True


# --- disputes ---------------------------------------------------------------------------------


def file_dispute(
    conn: Conn,
    *,
    policy: ActivePolicy,
    principal: Principal,
    optout_id: uuid.UUID,
    scan_id: uuid.UUID | None,
    reason: str,
) -> store.Dispute:
    optout = store.get_optout(conn, optout_id)
    if optout is None:
        raise NotFound("no such opt-out", code="optout_not_found")
    if scan_id is not None and not store.scan_matched(conn, scan_id, optout_id):
        raise NotFound("that scan did not match this opt-out", code="scan_match_not_found")
    dispute = store.insert_dispute(
        conn, id=uuid.uuid4(), optout_id=optout_id, scan_id=scan_id, filed_by=principal.key_id,
        filed_role=principal.role, subject_id=principal.subject_id,
        platform_key_id=principal.key_id if principal.role == "platform" else None, reason=reason,
    )  # fmt: skip
    audit.record(
        conn, actor=principal, action="safety.dispute.file", policy_version=policy.version,
        subject_id=principal.subject_id, target_kind="dispute", target_id=dispute.id,
        details={"optout_id": str(optout_id), "organisation_id": str(optout.organisation_id)},
    )  # fmt: skip
    outbox.enqueue(
        conn, event="dispute.filed",
        payload={"dispute_id": str(dispute.id), "optout_id": str(optout_id),
                 "organisation_id": str(optout.organisation_id)},
    )  # fmt: skip
    return dispute


def _visible_dispute(
    conn: Conn, principal: Principal, dispute_id: uuid.UUID, *, for_update: bool = False
) -> store.Dispute:
    dispute = store.get_dispute(conn, dispute_id, for_update=for_update)
    if dispute is None:
        raise NotFound("no such dispute", code="dispute_not_found")
    if principal.role == "rights_holder":
        optout = store.get_optout(conn, dispute.optout_id)
        if optout is None or optout.organisation_id != principal.organisation_id:
            raise NotFound("no such dispute", code="dispute_not_found")
    elif principal.role in ("platform", "user") and dispute.filed_by != principal.key_id:
        raise NotFound("no such dispute", code="dispute_not_found")
    return dispute


def get_dispute(conn: Conn, *, principal: Principal, dispute_id: uuid.UUID) -> store.Dispute:
    return _visible_dispute(conn, principal, dispute_id)


def list_disputes(conn: Conn, *, principal: Principal, status: str | None) -> list[store.Dispute]:
    return store.list_disputes(
        conn,
        organisation_id=principal.organisation_id if principal.role == "rights_holder" else None,
        filed_by=principal.key_id if principal.role in ("platform", "user") else None,
        status=status,
    )


def answer_dispute(
    conn: Conn, *, policy: ActivePolicy, principal: Principal, dispute_id: uuid.UUID, answer: str
) -> store.Dispute:
    dispute = _visible_dispute(conn, principal, dispute_id, for_update=True)
    if dispute.status == "decided":
        raise Conflict("the dispute is already decided", code="dispute_decided")
    updated = store.answer_dispute(conn, dispute.id, answer=answer)
    audit.record(
        conn, actor=principal, action="safety.dispute.answer", policy_version=policy.version,
        target_kind="dispute", target_id=dispute.id, details={"optout_id": str(dispute.optout_id)},
    )  # fmt: skip
    outbox.enqueue(
        conn, event="dispute.answered", subject_id=dispute.subject_id,
        platform_key_id=dispute.platform_key_id,
        payload={"dispute_id": str(dispute.id), "optout_id": str(dispute.optout_id)},
    )  # fmt: skip
    return updated


def decide_dispute(
    conn: Conn, *, policy: ActivePolicy, principal: Principal, dispute_id: uuid.UUID, decision: str, note: str
) -> store.Dispute:
    """Admin: 'upheld' (the block stands), 'rejected' (the dispute fails), or 'optout_suspended'
    (the opt-out is invalid and stops matching)."""
    dispute = _visible_dispute(conn, principal, dispute_id, for_update=True)
    if dispute.status == "decided":
        raise Conflict("the dispute is already decided", code="dispute_decided")
    if decision == "optout_suspended":
        set_suspended(
            conn, policy=policy, principal=principal, optout_id=dispute.optout_id, suspended=True,
            reason=f"dispute {dispute.id}: {note}"[:500],
        )  # fmt: skip
    updated = store.decide_dispute(conn, dispute.id, decision=decision, note=note)
    audit.record(
        conn, actor=principal, action="safety.dispute.decide", policy_version=policy.version,
        target_kind="dispute", target_id=dispute.id,
        details={"optout_id": str(dispute.optout_id), "decision": decision},
    )  # fmt: skip
    outbox.enqueue(
        conn, event="dispute.decided", subject_id=dispute.subject_id, platform_key_id=dispute.platform_key_id,
        payload={"dispute_id": str(dispute.id), "optout_id": str(dispute.optout_id), "decision": decision},
    )  # fmt: skip
    return updated


# --- uploads ----------------------------------------------------------------------------------


def decode_references(uploads: list[bytes], *, policy: ActivePolicy) -> list[ReferenceImage]:
    """Decode every upload before anything is stored: one bad file refuses the whole request."""
    import hashlib

    from gate.media import decode_image, iter_frames, probe_video, sniff

    if len(uploads) > policy.policy.safety.max_references_per_request:
        raise ValidationFailed(
            f"at most {policy.policy.safety.max_references_per_request} reference files per request",
            code="too_many_references",
        )
    out: list[ReferenceImage] = []
    for data in uploads:
        digest = hashlib.sha256(data).hexdigest()
        if sniff(data) == "image":
            out.append(ReferenceImage(digest, decode_image(data, policy.policy.uploads)))
            continue
        probe_video(data, policy.policy.uploads)
        every = 1.0 / policy.policy.safety.reference_video_fps
        for t, rgb in iter_frames(data, every=every, max_frames=policy.policy.safety.max_reference_frames):
            out.append(ReferenceImage(digest, rgb, t))
    return out


def decode_scan_media(
    data: bytes, *, policy: ActivePolicy
) -> tuple[list[tuple[float, np.ndarray]], np.ndarray | None]:
    """Frames to scan (an image is one frame at t=0; a video is sampled at ≥ 1 fps plus scene
    changes) and, for a video with sound, its audio at 16 kHz."""
    from gate.media import decode_image, iter_frames, probe_video, read_audio, sniff

    if sniff(data) == "image":
        return [(0.0, decode_image(data, policy.policy.uploads))], None
    info = probe_video(data, policy.policy.uploads)
    safety = policy.policy.safety
    sampler = SceneSampler(
        fps=safety.video_sample_fps, scene_threshold=safety.scene_change_threshold,
        max_frames=safety.max_scan_frames,
    )  # fmt: skip
    bound = int(info.fps * policy.policy.uploads.max_video_seconds) + 10
    frames = list(iter_frames(data, keep=sampler, max_frames=safety.max_scan_frames, max_decoded=bound))
    audio = read_audio(data) if info.has_audio else None
    return frames, audio if audio is not None and len(audio) else None
