"""Enrollment flow: cameo and challenge creation, capture verification, templates, deletion.

Verification runs inline: a 5 s 720p capture is verified in a few seconds on 2 cores
(bench/enrollment.py), cheaper than a job queue round trip. Frames are sampled sparsely (pose at
`pose_fps`, embeddings on `embed_frames` frames) and MTCNN runs on frames downscaled to
`detect_short_side`; boxes and landmarks are scaled back so sizes and embeddings use full pixels.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import cv2
import numpy as np

from consent import service as consent_service
from consent import templates
from consent.enrollment import checks, store
from consent.enrollment.checks import CheckResult, LikenessMatch, Observation
from consent.service import RevocationHook
from gate import audit, outbox
from gate.auth import Principal
from gate.crypto import Keyring
from gate.db import Conn
from gate.errors import Conflict, Forbidden, InvalidMedia, NotFound, UnsupportedMedia
from gate.media import ContentStore, iter_frames, probe_video, read_audio, sniff
from perception.faces import crop_face, detect_downscaled_many
from perception.framehash import hamming, pdq
from perception.protocols import Face
from perception.registry import Models
from policies.schema import Enrollment, UploadLimits
from policies.service import ActivePolicy

Clock = Callable[[], datetime]
CAPTURABLE = ("pending", "rejected")  # a rejected cameo may try again with a fresh challenge
FINGERPRINT_FRAMES = 4
CROP_TEMPLATES = 3


# --- cameos and challenges ------------------------------------------------------------------------


def create_cameo(
    conn: Conn, *, policy: ActivePolicy, principal: Principal, clock: Clock
) -> tuple[store.CameoRow, checks.ChallengeRow]:
    """A pending cameo owned by the caller's subject, with its first challenge."""
    if principal.subject_id is None:
        raise Forbidden("this key is not bound to a person", code="no_subject")
    cameo = store.insert_cameo(
        conn,
        cameo_id=uuid.uuid4(),
        owner_id=principal.subject_id,
        permission=policy.policy.consent.default_permission,
    )
    challenge = _issue_challenge(
        conn, policy=policy, principal=principal, cameo=cameo, now=clock(), action="create"
    )
    return cameo, challenge


def new_challenge(
    conn: Conn, *, policy: ActivePolicy, principal: Principal, cameo_id: uuid.UUID, clock: Clock
) -> checks.ChallengeRow:
    """A fresh challenge for a pending or rejected cameo (the earlier ones stay single use)."""
    cameo = _owned_cameo(conn, principal, cameo_id, for_update=True)
    if cameo.status not in CAPTURABLE:
        raise Conflict(f"the cameo is {cameo.status}", code="cameo_not_capturable")
    return _issue_challenge(
        conn, policy=policy, principal=principal, cameo=cameo, now=clock(), action="challenge"
    )


def random_moves(n: int) -> list[str]:
    """`n` head moves, never the same twice in a row (so each one is a visible change)."""
    rng = secrets.SystemRandom()
    moves: list[str] = []
    for _ in range(n):
        moves.append(rng.choice([m for m in checks.MOVES if not moves or m != moves[-1]]))
    return moves


def _issue_challenge(
    conn: Conn,
    *,
    policy: ActivePolicy,
    principal: Principal,
    cameo: store.CameoRow,
    now: datetime,
    action: str,
) -> checks.ChallengeRow:
    """Store a new challenge for `cameo` and audit it as `cameos.<action>`."""
    e = policy.policy.enrollment
    challenge = store.insert_challenge(
        conn,
        challenge_id=uuid.uuid4(),
        cameo_id=cameo.id,
        moves=random_moves(e.head_moves),
        digits="".join(secrets.choice("0123456789") for _ in range(e.digits)),
        expires_at=now + timedelta(seconds=e.challenge_ttl_seconds),
    )
    audit.record(
        conn, actor=principal, action=f"cameos.{action}", policy_version=policy.version,
        subject_id=cameo.owner_id, target_kind="cameo", target_id=cameo.id,
        details={"challenge_id": str(challenge.id)},
    )  # fmt: skip
    return challenge


def _owned_cameo(
    conn: Conn, principal: Principal, cameo_id: uuid.UUID, *, for_update: bool = False
) -> store.CameoRow:
    """The cameo if the caller owns it (admins see every cameo); otherwise 404, so cameo ids
    of other people cannot be probed."""
    cameo = store.get_cameo(conn, cameo_id, for_update=for_update)
    if cameo is None or cameo.status == "deleted":
        raise NotFound("no such cameo", code="cameo_not_found")
    if principal.role != "admin" and cameo.owner_id != principal.subject_id:
        raise NotFound("no such cameo", code="cameo_not_found")
    return cameo


# --- capture --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    cameo_id: uuid.UUID
    capture_id: uuid.UUID
    outcome: str
    reason: str | None
    checks: list[CheckResult]
    policy_version: str
    model_ids: dict[str, str]
    elapsed_ms: int


def capture_limits(policy: ActivePolicy) -> UploadLimits:
    e = policy.policy.enrollment
    return UploadLimits(
        max_video_bytes=e.capture_max_bytes,
        max_width=e.capture_max_width,
        max_height=e.capture_max_height,
        max_pixels=e.capture_max_width * e.capture_max_height,
        max_video_seconds=e.capture_max_seconds,
    )


def decode_capture(data: bytes, policy: ActivePolicy) -> tuple[list[tuple[float, np.ndarray]], np.ndarray]:
    """Sampled RGB frames and 16 kHz audio, or a 4xx (nothing is stored before this succeeds)."""
    e = policy.policy.enrollment
    if sniff(data) != "video":
        raise UnsupportedMedia("a capture must be a video (MP4, MOV or WebM)")
    info = probe_video(data, capture_limits(policy))
    if info.duration and info.duration < e.capture_min_seconds:
        raise InvalidMedia(
            f"the capture lasts {info.duration:.1f}s; at least {e.capture_min_seconds:g}s", code="too_short"
        )
    max_frames = int(e.capture_max_seconds * e.pose_fps) + 2
    frames = list(iter_frames(data, every=1.0 / e.pose_fps, max_frames=max_frames))
    audio = read_audio(data) if info.has_audio else np.zeros(0, np.float32)
    return frames, audio


def capture(
    conn: Conn,
    *,
    policy: ActivePolicy,
    models: Models,
    keyring: Keyring,
    media: ContentStore,
    principal: Principal,
    cameo_id: uuid.UUID,
    challenge_id: uuid.UUID,
    data: bytes,
    clock: Clock,
) -> Verification:
    """Verify one capture against its challenge; the cameo becomes verified, rejected or review."""
    started = time.perf_counter()
    e = policy.policy.enrollment
    cameo = _owned_cameo(conn, principal, cameo_id, for_update=True)
    if cameo.status not in CAPTURABLE:
        raise Conflict(f"the cameo is {cameo.status}", code="cameo_not_capturable")
    frames, audio = decode_capture(data, policy)

    challenge = store.get_challenge(conn, challenge_id, for_update=True)
    results = [checks.check_challenge(challenge, cameo_id=cameo.id, now=clock())]
    if challenge is not None and challenge.cameo_id == cameo.id and challenge.used_at is None:
        store.mark_challenge_used(conn, challenge.id)  # spent by any attempt, passed or not

    sha = hashlib.sha256(data).hexdigest()
    results.append(checks.check_replay_bytes(store.sha256_seen(conn, sha)))
    hashes = _fingerprints(frames)
    # A retry on the same cameo is compared byte for byte only: the same person re-recording in
    # the same room may look alike frame for frame, and the fresh challenge catches a replay.
    others = store.other_fingerprints(conn, cameo.id)
    results.append(checks.check_replay_near_duplicate(_matched_ratio(hashes, others, e), e))

    model_ids: dict[str, str] = {}
    crops: list[np.ndarray] = []
    obs: Observation | None = None
    if all(r.passed for r in results):
        obs, crops = observe(models, frames, audio, e)
        model_ids = obs.model_ids
        results += run_checks(obs, challenge, e)  # type: ignore[arg-type]  # challenge passed: not None
        best = _best_matches(conn, keyring, models, obs, owner_id=cameo.owner_id, cameo_id=cameo.id)
        results.append(checks.check_protected(best.get("protected_person"), e))
        results.append(checks.check_duplicate(best.get("cameo"), e))
    else:
        results += [checks.not_run(name, "the challenge or replay check failed") for name in LATER_CHECKS]

    outcome, reason = checks.outcome(results)
    capture_id = uuid.uuid4()
    keep = e.keep_capture == "always" or (e.keep_capture == "until_verified" and outcome != "verified")
    digest = media.put(data) if keep else None
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    store.insert_capture(
        conn, capture_id=capture_id, cameo_id=cameo.id, challenge_id=challenge.id if challenge else None,
        sha256=sha, media_digest=digest, outcome=outcome, reason=reason,
        checks=[r.to_dict() for r in results], model_ids=model_ids, policy_version=policy.version,
        elapsed_ms=elapsed_ms,
    )  # fmt: skip
    store.insert_fingerprints(conn, capture_id=capture_id, cameo_id=cameo.id, hashes=hashes)
    if outcome == "verified":
        assert obs is not None
        if e.keep_capture == "until_verified":
            _delete_kept_media(conn, media, cameo.id)  # earlier rejected attempts go too
        _store_templates(conn, keyring, models, cameo.id, obs, crops)
    elif outcome == "review":
        for r in results:
            if r.passed is False and r.code in checks.REVIEW_CODES:
                match = best[_MATCH_KIND[r.code]]
                store.insert_review(
                    conn, cameo_id=cameo.id, capture_id=capture_id, reason=r.code,
                    match_kind=match.owner_kind, match_ref=match.owner_ref, score=match.score,
                )  # fmt: skip
    store.set_cameo_status(conn, cameo_id=cameo.id, status=outcome)
    audit.record(
        conn, actor=principal, action="cameos.capture", policy_version=policy.version,
        subject_id=cameo.owner_id, target_kind="cameo", target_id=cameo.id,
        details={
            "capture_id": str(capture_id), "outcome": outcome, "reason": reason,
            "failed": [r.code for r in results if r.passed is False], "capture_kept": digest is not None,
        },
    )  # fmt: skip
    return Verification(cameo.id, capture_id, outcome, reason, results, policy.version, model_ids, elapsed_ms)


_MATCH_KIND = {"protected_person": "protected_person", "face_already_enrolled": "cameo"}
LATER_CHECKS = (
    "face_present", "single_face", "face_size", "face_sharpness", "identity", "motion", "non_planar",
    "head_moves", "digits", "voice", "protected_person", "duplicate",
)  # fmt: skip


def run_checks(obs: Observation, challenge: checks.ChallengeRow, e: Enrollment) -> list[CheckResult]:
    """The model-based checks, in report order (the first failure becomes the reason)."""
    return [
        checks.check_face_present(obs, e),
        checks.check_single_face(obs, e),
        checks.check_face_size(obs, e),
        checks.check_face_sharpness(obs, e),
        checks.check_identity(obs, e),
        checks.check_motion(obs, e),
        checks.check_non_planar(obs, e),
        checks.check_head_moves(obs, challenge, e),
        checks.check_digits(obs, challenge, e),
        checks.check_voice(obs, e),
    ]


# --- observation: the only place models run --------------------------------------------------------


def observe(
    models: Models, frames: list[tuple[float, np.ndarray]], audio: np.ndarray, e: Enrollment
) -> tuple[Observation, list[np.ndarray]]:
    detector, embedder = models.face_detector, models.face_embedder
    observed: list[checks.FrameObs] = []
    found = detect_downscaled_many(detector, [rgb for _, rgb in frames], e.detect_short_side)
    for (t, rgb), all_faces in zip(frames, found, strict=True):
        faces = [f for f in all_faces if f.score >= e.face_min_score]
        sharp = _sharpness(rgb, faces[0]) if len(faces) == 1 else None
        observed.append(checks.FrameObs(t, faces, min(rgb.shape[:2]), sharp))
    single = [i for i, f in enumerate(observed) if len(f.faces) == 1]
    picks = (
        [
            single[int(j)]
            for j in np.unique(np.linspace(0, len(single) - 1, min(e.embed_frames, len(single))).round())
        ]
        if single
        else []
    )
    embeddings = [embedder.embed(frames[i][1], observed[i].faces)[0] for i in picks]
    crop_picks = picks[:: max(1, len(picks) // CROP_TEMPLATES)][:CROP_TEMPLATES]
    crops = [crop_face(frames[i][1], observed[i].faces[0]) for i in crop_picks]

    voice = models.voice_embedder
    speech = models.speech
    span = speech_span(audio)
    halves = None
    if span.size >= 16_000:  # at least a second of speech: half a second per half
        mid = span.size // 2
        halves = (voice.embed(span[:mid]), voice.embed(span[mid:]))
    obs = Observation(
        frames=observed,
        embeddings=np.array(embeddings, np.float32).reshape(len(embeddings), embedder.dim),
        heard=speech.digits(audio) if audio.size else "",
        voice_halves=halves,
        speech_seconds=span.size / 16_000,
        model_ids={
            "face_detector": detector.model_id, "face_embedder": embedder.model_id,
            "voice_embedder": voice.model_id, "speech": speech.model_id,
        },
    )  # fmt: skip
    return obs, crops


def _sharpness(rgb: np.ndarray, face: Face) -> float:
    """Variance of the Laplacian of the face resized to 112 px: independent of face size."""
    x0, y0, x1, y1 = (round(v) for v in face.box)
    crop = rgb[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
    if crop.size == 0:
        return 0.0
    gray = cv2.cvtColor(cv2.resize(crop, (112, 112), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def speech_span(pcm: np.ndarray, rate: int = 16_000) -> np.ndarray:
    """The audio from the first to the last loud 10 ms frame (leading and trailing silence cut)."""
    hop = rate // 100
    n = len(pcm) // hop
    if n == 0:
        return np.zeros(0, np.float32)
    energy = np.sqrt((pcm[: n * hop].reshape(n, hop) ** 2).mean(axis=1))
    loud = np.flatnonzero(energy > max(1e-3, 0.1 * float(energy.max())))
    if loud.size == 0:
        return np.zeros(0, np.float32)
    return np.asarray(pcm[loud[0] * hop : (loud[-1] + 1) * hop], np.float32)


def _fingerprints(frames: list[tuple[float, np.ndarray]]) -> list[bytes]:
    idx = np.unique(np.linspace(0, len(frames) - 1, min(FINGERPRINT_FRAMES, len(frames))).round().astype(int))
    return [pdq(frames[i][1]) for i in idx]


def _matched_ratio(hashes: list[bytes], stored: list[tuple[uuid.UUID, bytes]], e: Enrollment) -> float:
    """Share of this capture's frame hashes that are near some single earlier capture's."""
    by_capture: dict[uuid.UUID, list[bytes]] = {}
    for capture_id, h in stored:
        by_capture.setdefault(capture_id, []).append(h)
    best = 0.0
    for earlier in by_capture.values():
        hits = sum(1 for h in hashes if any(hamming(h, o) <= e.replay_max_hamming for o in earlier))
        best = max(best, hits / max(len(hashes), 1))
    return best


def _best_matches(
    conn: Conn,
    keyring: Keyring,
    models: Models,
    obs: Observation,
    *,
    owner_id: uuid.UUID,
    cameo_id: uuid.UUID,
) -> dict[str, LikenessMatch]:
    """The closest protected person and the closest other subject's verified cameo."""
    if len(obs.embeddings) == 0:
        return {}
    probe = obs.embeddings.mean(axis=0)
    probe = probe / max(float(np.linalg.norm(probe)), 1e-9)
    best: dict[str, LikenessMatch] = {}
    for entry in templates.gallery(conn, keyring, kind="face", model_id=models.face_embedder.model_id):
        if entry.owner_kind == "cameo" and (entry.subject_id == owner_id or entry.owner_ref == cameo_id):
            continue  # a person may hold several cameos of their own face
        score = float((entry.embeddings @ probe).max())
        current = best.get(entry.owner_kind)
        if current is None or score > current.score:
            best[entry.owner_kind] = LikenessMatch(entry.owner_kind, entry.owner_ref, score)
    return best


def _store_templates(
    conn: Conn,
    keyring: Keyring,
    models: Models,
    cameo_id: uuid.UUID,
    obs: Observation,
    crops: list[np.ndarray],
) -> None:
    """Face: the mean embedding, then the per-frame exemplars; voice: the mean of both halves,
    then the halves; reference crops as uint8. All encrypted, each with its model id."""
    face_mean = obs.embeddings.mean(axis=0, keepdims=True)
    face_mean /= max(float(np.linalg.norm(face_mean)), 1e-9)
    face_id = models.face_embedder.model_id
    templates.store(
        conn, keyring, owner_kind="cameo", owner_ref=cameo_id, kind="face", model_id=face_id, array=face_mean
    )
    templates.store(
        conn,
        keyring,
        owner_kind="cameo",
        owner_ref=cameo_id,
        kind="face",
        model_id=face_id,
        array=obs.embeddings,
    )
    if obs.voice_halves is not None:
        halves = np.vstack(obs.voice_halves).astype(np.float32)
        voice_mean = halves.mean(axis=0, keepdims=True)
        voice_mean /= max(float(np.linalg.norm(voice_mean)), 1e-9)
        voice_id = models.voice_embedder.model_id
        for array in (voice_mean, halves):
            templates.store(
                conn,
                keyring,
                owner_kind="cameo",
                owner_ref=cameo_id,
                kind="voice",
                model_id=voice_id,
                array=array,
            )
    if crops:
        templates.store(
            conn, keyring, owner_kind="cameo", owner_ref=cameo_id, kind="face_crop", model_id="",
            array=np.stack(crops).astype(np.uint8),
        )  # fmt: skip


def _delete_kept_media(conn: Conn, media: ContentStore, cameo_id: uuid.UUID) -> int:
    digests = store.kept_capture_digests(conn, cameo_id)
    store.forget_capture_media(conn, cameo_id)
    for digest in set(digests) - store.digests_in_use(conn, digests):  # bytes others keep too stay
        media.delete(digest)
    return len(digests)


# --- status and deletion ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CameoStatus:
    cameo: store.CameoRow
    challenge: checks.ChallengeRow | None
    verification: store.CaptureRow | None
    in_review: bool


def status(conn: Conn, *, principal: Principal, cameo_id: uuid.UUID) -> CameoStatus:
    cameo = _owned_cameo(conn, principal, cameo_id)
    # The open challenge is shown to its owner only: an admin reading a cameo has no use for it.
    challenge = (
        store.latest_open_challenge(conn, cameo.id)
        if cameo.owner_id == principal.subject_id and cameo.status in CAPTURABLE
        else None
    )
    return CameoStatus(
        cameo, challenge, store.latest_capture(conn, cameo.id), bool(store.open_reviews(conn, cameo.id))
    )


def delete(
    conn: Conn,
    *,
    policy: ActivePolicy,
    principal: Principal,
    media: ContentStore,
    cameo_id: uuid.UUID,
    hooks: Sequence[RevocationHook] = (),
) -> dict[str, int]:
    """Purge templates, kept captures and frame hashes at once; the cameo row stays as 'deleted'
    so clips and audit entries that name it still resolve. Deleting is the strongest revocation:
    outstanding tokens die and in-flight jobs using the cameo are cancelled (`hooks`)."""
    cameo = _owned_cameo(conn, principal, cameo_id, for_update=True)
    consent_service.revoke(conn, cameo_ids=[cameo.id], hooks=hooks)
    purged = {
        "templates": templates.purge(conn, owner_kind="cameo", owner_ref=cameo.id),
        "captures": _delete_kept_media(conn, media, cameo.id),
        "fingerprints": store.delete_fingerprints(conn, cameo.id),
    }
    store.set_cameo_status(conn, cameo_id=cameo.id, status="deleted")
    store.resolve_reviews(conn, cameo.id, resolution="withdrawn")  # nothing left to look at
    audit.record(
        conn, actor=principal, action="cameos.delete", policy_version=policy.version,
        subject_id=cameo.owner_id, target_kind="cameo", target_id=cameo.id, details={"purged": purged},
    )  # fmt: skip
    return purged


# --- the review queue -------------------------------------------------------------------------------
# A capture that passed every liveness check but looks like a protected person or someone else's
# verified cameo waits for a person (an admin) to decide. What they decide is about the capture,
# so a decision closes every open review of the cameo (one capture can raise both).

REVIEW_OUTCOMES = {"approve": ("verified", "approved"), "reject": ("rejected", "rejected")}


def review_queue(conn: Conn, *, limit: int) -> list[store.ReviewRow]:
    return store.review_queue(conn, limit=limit)


def review_capture(
    conn: Conn, *, policy: ActivePolicy, media: ContentStore, principal: Principal, review_id: uuid.UUID
) -> bytes:
    """The capture a review is about, for the reviewer to watch. Biometric media leaves the
    service here, so every viewing is audited."""
    review = _review(conn, review_id)
    if review.resolved_at is not None:  # biometric media is shown only while a decision is due
        raise Conflict(f"the review was already resolved: {review.resolution}", code="review_resolved")
    data = _kept_capture(conn, media, review)
    if data is None:
        raise NotFound(NOT_KEPT, code="capture_not_kept")
    cameo = store.get_cameo(conn, review.cameo_id)
    assert cameo is not None  # cameo rows are never deleted
    audit.record(
        conn, actor=principal, action="cameos.review_capture", policy_version=policy.version,
        subject_id=cameo.owner_id, target_kind="cameo", target_id=review.cameo_id,
        details={"review_id": str(review.id), "capture_id": str(review.capture_id)},
    )  # fmt: skip
    return data


def _review(conn: Conn, review_id: uuid.UUID) -> store.ReviewRow:
    review = store.get_review(conn, review_id)
    if review is None:
        raise NotFound("no such review", code="review_not_found")
    return review


NOT_KEPT = "the capture was not kept (enrollment.keep_capture): reject, and the owner enrolls again"


def _kept_capture(conn: Conn, media: ContentStore, review: store.ReviewRow) -> bytes | None:
    digest = store.capture_digest(conn, review.capture_id)
    try:
        return media.get(digest) if digest is not None else None
    except FileNotFoundError:  # deleted by a transaction not yet committed, or lost
        return None


@dataclass(frozen=True)
class ReviewDecision:
    cameo_id: uuid.UUID
    status: str
    decision: str
    review_ids: list[uuid.UUID]


def resolve_review(
    conn: Conn,
    *,
    policy: ActivePolicy,
    models: Models,
    keyring: Keyring,
    media: ContentStore,
    principal: Principal,
    review_id: uuid.UUID,
    decision: str,
    note: str,
) -> ReviewDecision:
    """Approve: the templates are computed from the kept capture and the cameo is verified, as if
    the capture had passed (its liveness checks had). Reject: the cameo is rejected, and its owner
    may try again with a fresh challenge. Audited with the reviewer's note; the owner is notified
    (`cameo.reviewed`)."""
    status, resolution = REVIEW_OUTCOMES[decision]
    cameo = store.get_cameo(conn, _review(conn, review_id).cameo_id, for_update=True)
    review = store.get_review(conn, review_id)  # again under the cameo's lock: one decision wins
    assert cameo is not None and review is not None  # rows are never deleted
    if review.resolved_at is not None:
        raise Conflict(f"the review was already resolved: {review.resolution}", code="review_resolved")
    if cameo.status != "review":  # not reached while deletion closes a cameo's reviews
        raise Conflict(f"the cameo is {cameo.status}", code="cameo_not_in_review")
    e = policy.policy.enrollment
    if decision == "approve":
        data = _kept_capture(conn, media, review)
        if data is None:
            raise Conflict(NOT_KEPT, code="capture_not_kept")
        frames, audio = decode_capture(data, policy)
        obs, crops = observe(models, frames, audio, e)
        if len(obs.embeddings) == 0:  # it had one face when it was verified; a model may differ now
            raise Conflict("no single face was found in the kept capture", code="capture_unusable")
        _store_templates(conn, keyring, models, cameo.id, obs, crops)
    store.set_cameo_status(conn, cameo_id=cameo.id, status=status)
    closed = store.resolve_reviews(conn, cameo.id, resolution=resolution)
    outbox.enqueue(
        conn, event="cameo.reviewed", payload={"cameo_id": str(cameo.id), "status": status},
        subject_id=cameo.owner_id,
    )  # fmt: skip
    audit.record(
        conn, actor=principal, action="cameos.review", policy_version=policy.version,
        subject_id=cameo.owner_id, target_kind="cameo", target_id=cameo.id,
        details={
            "decision": decision, "note": note, "capture_id": str(review.capture_id),
            "review_ids": [str(i) for i in closed],
        },
    )  # fmt: skip
    if decision == "approve" and e.keep_capture == "until_verified":
        # As after a capture that passes. The files go before the transaction commits: should the
        # commit fail, the review stays open without its capture, and approval then answers
        # capture_not_kept (reject, and the owner enrolls again).
        _delete_kept_media(conn, media, cameo.id)
    return ReviewDecision(cameo.id, status, decision, closed)
