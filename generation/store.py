"""SQL of the generation queue: jobs, leases, stage records. One function per statement."""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gate.db import Conn

RUNNABLE = ("queued", "running")
FINAL = ("published", "blocked", "cancelled", "failed", "dead")


@dataclass(frozen=True)
class Job:
    id: uuid.UUID
    clip_id: uuid.UUID
    state: str
    stage: str
    progress: float
    requester_id: uuid.UUID
    platform_key_id: str
    prompt: str
    cameo_ids: list[uuid.UUID]
    consent_token: str | None
    input_sha256: str | None
    input_kind: str | None
    remix_of: uuid.UUID | None
    duration_s: float
    width: int
    height: int
    fps: int
    seed: int
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    error_code: str | None
    error_detail: str | None
    policy_version: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    territory: str | None  # ISO 3166-1 alpha-2: where the clip will be shown (migration 0501)


_JOB_FIELDS = tuple(f.name for f in dataclasses.fields(Job))


def _job(row: dict[str, Any]) -> Job:
    """A job from a `SELECT *` row, ignoring columns it does not know: a column that a later
    release's migration adds does not stop this release's workers while both run."""
    return Job(**{name: row[name] for name in _JOB_FIELDS})


def insert_job(conn: Conn, **fields: Any) -> Job:
    row = conn.execute(
        """
        INSERT INTO generation_jobs (id, clip_id, requester_id, platform_key_id, prompt, cameo_ids,
            consent_token, input_sha256, input_kind, remix_of, duration_s, width, height, fps, seed,
            max_attempts, policy_version, territory)
        VALUES (%(id)s, %(clip_id)s, %(requester_id)s, %(platform_key_id)s, %(prompt)s, %(cameo_ids)s,
            %(consent_token)s, %(input_sha256)s, %(input_kind)s, %(remix_of)s, %(duration_s)s,
            %(width)s, %(height)s, %(fps)s, %(seed)s, %(max_attempts)s, %(policy_version)s, %(territory)s)
        RETURNING *
        """,
        fields,
    ).fetchone()
    assert row is not None
    return _job(row)


def get_job(conn: Conn, job_id: uuid.UUID) -> Job | None:
    row = conn.execute("SELECT * FROM generation_jobs WHERE id = %s", (job_id,)).fetchone()
    return _job(row) if row else None


def lock_job(conn: Conn, job_id: uuid.UUID) -> Job | None:
    """The job, row-locked until the transaction ends (publish and cancel serialise on it)."""
    row = conn.execute("SELECT * FROM generation_jobs WHERE id = %s FOR UPDATE", (job_id,)).fetchone()
    return _job(row) if row else None


def claim_next(conn: Conn, *, worker: str, lease_seconds: float) -> Job | None:
    """Take the oldest queued job, or a running one whose lease ran out (its worker died).

    SKIP LOCKED lets any number of workers claim concurrently without waiting on each other.
    """
    row = conn.execute(
        """
        UPDATE generation_jobs SET
            state = 'running', lease_owner = %(worker)s,
            lease_expires_at = now() + make_interval(secs => %(lease)s),
            attempts = attempts + 1, updated_at = now()
        WHERE id = (
            SELECT id FROM generation_jobs
            WHERE state = 'queued' OR (state = 'running' AND lease_expires_at < now())
            ORDER BY created_at
            FOR UPDATE SKIP LOCKED
            LIMIT 1
        )
        RETURNING *
        """,
        {"worker": worker, "lease": lease_seconds},
    ).fetchone()
    return _job(row) if row else None


def renew_lease(conn: Conn, *, job_id: uuid.UUID, worker: str, lease_seconds: float) -> bool:
    """Extend our lease; False when the job is no longer ours (cancelled, or taken over)."""
    cur = conn.execute(
        """
        UPDATE generation_jobs SET lease_expires_at = now() + make_interval(secs => %(lease)s)
        WHERE id = %(id)s AND lease_owner = %(worker)s AND state = 'running'
        """,
        {"id": job_id, "worker": worker, "lease": lease_seconds},
    )
    return cur.rowcount == 1


def set_stage(conn: Conn, *, job_id: uuid.UUID, worker: str, stage: str, progress: float) -> bool:
    cur = conn.execute(
        """
        UPDATE generation_jobs SET stage = %(stage)s, progress = %(progress)s, updated_at = now()
        WHERE id = %(id)s AND lease_owner = %(worker)s AND state = 'running'
        """,
        {"id": job_id, "worker": worker, "stage": stage, "progress": progress},
    )
    return cur.rowcount == 1


def finish(
    conn: Conn,
    *,
    job_id: uuid.UUID,
    state: str,
    worker: str | None = None,
    error_code: str | None = None,
    error_detail: str | None = None,
) -> bool:
    """Move a runnable job to a final state (or back to 'queued' for a retry).

    With `worker`, only while that worker still holds the lease, so a worker that lost its job
    to a takeover cannot overwrite the new owner's result.
    """
    cur = conn.execute(
        """
        UPDATE generation_jobs SET
            state = %(state)s, error_code = %(code)s, error_detail = %(detail)s, updated_at = now(),
            lease_owner = CASE WHEN %(state)s = 'queued' THEN NULL ELSE lease_owner END,
            finished_at = CASE WHEN %(state)s IN ('queued', 'running') THEN NULL ELSE now() END,
            stage = CASE WHEN %(state)s IN ('queued', 'running') THEN stage ELSE %(state)s END,
            progress = CASE WHEN %(state)s = 'published' THEN 1 ELSE progress END
        WHERE id = %(id)s AND state IN ('queued', 'running')
          AND (%(worker)s::text IS NULL OR lease_owner = %(worker)s)
        """,
        {"id": job_id, "state": state, "worker": worker, "code": error_code, "detail": error_detail},
    )
    return cur.rowcount == 1


def block_draft_clip(conn: Conn, *, job_id: uuid.UUID, reason: str) -> None:
    conn.execute(
        """
        UPDATE clips SET status = 'blocked', removal_reason = %(reason)s
        WHERE id = (SELECT clip_id FROM generation_jobs WHERE id = %(job)s) AND status = 'draft'
        """,
        {"job": job_id, "reason": reason},
    )


def runnable_jobs_with_cameos(conn: Conn, cameo_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    rows = conn.execute(
        "SELECT id FROM generation_jobs WHERE state IN ('queued', 'running') AND cameo_ids && %s::uuid[]",
        (cameo_ids,),
    ).fetchall()
    return [r["id"] for r in rows]


def record_stage(
    conn: Conn,
    *,
    job_id: uuid.UUID,
    attempt: int,
    stage: str,
    decision: str,
    ms: float,
    policy_version: str,
    details: dict[str, Any],
) -> None:
    conn.execute(
        """
        INSERT INTO generation_stages (job_id, attempt, stage, decision, ms, policy_version, details)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        """,
        (job_id, attempt, stage, decision, ms, policy_version, json.dumps(details, default=str)),
    )


def stages(conn: Conn, job_id: uuid.UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT attempt, stage, decision, ms, policy_version, details, at FROM generation_stages"
        " WHERE job_id = %s ORDER BY id",
        (job_id,),
    ).fetchall()
