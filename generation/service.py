"""Generation jobs: submit (everything checkable is checked before queueing), view, cancel,
and the clips they publish."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from consent import service as consent
from gate import audit
from gate.auth import Principal
from gate.db import Conn
from gate.errors import BadRequest, ConsentRequired, Gone, NotFound, ValidationFailed
from gate.media import ContentStore, decode_image, probe_video, sniff
from gate.settings import Settings
from generation import store
from generation.schemas import ClipView, GenerationRequest, JobView, StageRecord
from policies import quotas
from policies.service import ActivePolicy


@dataclass(frozen=True)
class InputMedia:
    data: bytes
    kind: str  # 'image' or 'video'


def check_input(data: bytes, policy: ActivePolicy) -> InputMedia:
    """Refuse oversized, corrupt or unsupported input media before anything is queued."""
    kind = sniff(data)
    if kind == "image":
        decode_image(data, policy.policy.uploads)
    else:
        probe_video(data, policy.policy.uploads, max_seconds=policy.policy.generation.max_input_seconds)
    return InputMedia(data, kind)


def submit(
    conn: Conn,
    *,
    settings: Settings,
    policy: ActivePolicy,
    media_store: ContentStore,
    principal: Principal,
    request: GenerationRequest,
    input_media: InputMedia | None,
) -> store.Job:
    limits = policy.policy.generation
    duration = request.duration or limits.default_duration_seconds
    if duration > limits.max_duration_seconds:
        raise ValidationFailed(
            f"duration {duration:g}s exceeds the policy maximum of {limits.max_duration_seconds:g}s",
            code="duration_over_limit",
        )
    if len(request.prompt) > policy.policy.consent.max_prompt_chars:
        raise ValidationFailed("the prompt is too long", code="prompt_too_long")

    cameo_ids = list(dict.fromkeys(request.cameo_ids))
    if request.remix_of is not None:
        cameo_ids = list(dict.fromkeys(cameo_ids + remix_cameos(conn, request.remix_of)))
    if cameo_ids:
        if not request.consent_token:
            raise ConsentRequired(
                "generating with cameos needs a consent token", code="consent_token_missing"
            )
        consent.validate_token(
            conn,
            settings=settings,
            token=request.consent_token,
            requester_id=request.requester,
            cameo_ids=cameo_ids,
            prompt=request.prompt,
        )

    quotas.consume(
        conn, policy=policy, subject_id=request.requester, platform_key_id=principal.key_id, kind="generation"
    )

    job_id, clip_id = uuid.uuid4(), uuid.uuid4()
    input_sha = media_store.put(input_media.data) if input_media else None
    conn.execute(
        "INSERT INTO clips (id, status, requester_id, platform_key_id) VALUES (%s, 'draft', %s, %s)",
        (clip_id, request.requester, principal.key_id),
    )
    if cameo_ids:
        consent.record_appearances(conn, clip_id=clip_id, cameo_ids=cameo_ids)
    job = store.insert_job(
        conn,
        id=job_id,
        clip_id=clip_id,
        requester_id=request.requester,
        platform_key_id=principal.key_id,
        prompt=request.prompt,
        cameo_ids=cameo_ids,
        consent_token=request.consent_token,
        input_sha256=input_sha,
        input_kind=input_media.kind if input_media else None,
        remix_of=request.remix_of,
        duration_s=duration,
        width=request.width,
        height=request.height,
        fps=request.fps,
        seed=request.seed,
        max_attempts=limits.max_attempts,
        policy_version=policy.version,
        territory=request.territory,
    )
    audit.record(
        conn,
        actor=principal,
        action="generation.submit",
        policy_version=policy.version,
        subject_id=request.requester,
        target_kind="generation_job",
        target_id=job.id,
        details={
            "clip_id": clip_id,
            "cameo_ids": cameo_ids,
            "remix_of": request.remix_of,
            "territory": request.territory,
        },
    )
    return job


def remix_cameos(conn: Conn, clip_id: uuid.UUID) -> list[uuid.UUID]:
    """The cameos of a published source clip: they co-own the remix and must consent again."""
    row = conn.execute("SELECT status FROM clips WHERE id = %s", (clip_id,)).fetchone()
    if row is None or row["status"] != "published":
        raise NotFound("remix_of must be a published clip", code="remix_source_not_found")
    rows = conn.execute("SELECT cameo_id FROM clip_coowners WHERE clip_id = %s ORDER BY cameo_id", (clip_id,))
    return [r["cameo_id"] for r in rows]


def _own_job(conn: Conn, principal: Principal, job_id: uuid.UUID) -> store.Job:
    job = store.get_job(conn, job_id)
    # Another platform's job is reported as missing, not forbidden: its existence is not ours to tell.
    if job is None or (principal.role == "platform" and job.platform_key_id != principal.key_id):
        raise NotFound(f"no generation {job_id}", code="generation_not_found")
    return job


def view(conn: Conn, *, principal: Principal, job_id: uuid.UUID) -> JobView:
    job = _own_job(conn, principal, job_id)
    return JobView(
        job_id=job.id,
        clip_id=job.clip_id,
        state=job.state,
        stage=job.stage,
        progress=job.progress,
        attempts=job.attempts,
        error_code=job.error_code,
        error_detail=job.error_detail,
        policy_version=job.policy_version,
        territory=job.territory,
        created_at=job.created_at,
        finished_at=job.finished_at,
        stages=[StageRecord(**s) for s in store.stages(conn, job.id)],
    )


def end_job(
    conn: Conn,
    *,
    job_id: uuid.UUID,
    state: str,
    worker: str | None = None,
    error_code: str | None = None,
    error_detail: str | None = None,
) -> bool:
    """Finish a job; a job that ends without publishing leaves its draft clip 'blocked', so it
    can never be fetched."""
    ended = store.finish(
        conn, job_id=job_id, state=state, worker=worker, error_code=error_code, error_detail=error_detail
    )
    if ended and state in ("blocked", "cancelled", "dead", "failed"):
        store.block_draft_clip(conn, job_id=job_id, reason=error_code or state)
    return ended


def cancel(conn: Conn, *, principal: Principal, policy: ActivePolicy, job_id: uuid.UUID) -> None:
    job = _own_job(conn, principal, job_id)
    if not end_job(conn, job_id=job.id, state="cancelled", error_code="cancelled_by_platform"):
        raise BadRequest(f"the generation is already {job.state}", code="generation_finished")
    audit.record(
        conn,
        actor=principal,
        action="generation.cancel",
        policy_version=policy.version,
        subject_id=job.requester_id,
        target_kind="generation_job",
        target_id=job.id,
    )


def cancel_for_cameos(conn: Conn, cameo_ids: list[uuid.UUID]) -> int:
    """Revocation hook (consent calls it in the revoking transaction): cancel every queued or
    running job featuring one of these cameos. A running worker notices at its next heartbeat
    or stage change, and publishing re-checks consent under a row lock in any case."""
    cancelled = 0
    for job_id in store.runnable_jobs_with_cameos(conn, cameo_ids):
        if end_job(conn, job_id=job_id, state="cancelled", error_code="consent_revoked"):
            cancelled += 1
    return cancelled


def clip_view(conn: Conn, clip_id: uuid.UUID) -> ClipView:
    row = conn.execute(
        "SELECT id AS clip_id, status, media_sha256, created_at, published_at, removed_at, removal_reason"
        " FROM clips WHERE id = %s",
        (clip_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no clip {clip_id}", code="clip_not_found")
    return ClipView(**row)


def clip_media(conn: Conn, *, media_store: ContentStore, clip_id: uuid.UUID) -> bytes:
    """Bytes of a published clip. Drafts, blocked and removed clips are never served."""
    clip = clip_view(conn, clip_id)
    if clip.status == "removed":
        raise Gone(f"clip {clip_id} was removed: {clip.removal_reason}", code="clip_removed")
    if clip.status != "published" or clip.media_sha256 is None:
        raise NotFound(f"clip {clip_id} is not published", code="clip_not_published")
    return media_store.get(clip.media_sha256)
