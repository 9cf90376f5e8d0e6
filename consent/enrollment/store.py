"""SQL of enrollment: cameo rows, challenges, captures, replay fingerprints, the review queue."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consent.enrollment.checks import ChallengeRow
from gate.db import Conn


@dataclass(frozen=True)
class CameoRow:
    id: uuid.UUID
    owner_id: uuid.UUID
    status: str
    permission: str
    created_at: datetime
    updated_at: datetime
    verified_at: datetime | None
    deleted_at: datetime | None


@dataclass(frozen=True)
class CaptureRow:
    id: uuid.UUID
    cameo_id: uuid.UUID
    challenge_id: uuid.UUID | None
    outcome: str
    reason: str | None
    checks: list[dict[str, Any]]
    model_ids: dict[str, str]
    policy_version: str
    elapsed_ms: int
    media_digest: str | None
    created_at: datetime


def insert_cameo(conn: Conn, *, cameo_id: uuid.UUID, owner_id: uuid.UUID, permission: str) -> CameoRow:
    row = conn.execute(
        """
        INSERT INTO cameos (id, owner_id, status, permission) VALUES (%(id)s, %(owner)s, 'pending', %(perm)s)
        RETURNING id, owner_id, status, permission, created_at, updated_at, verified_at, deleted_at
        """,
        {"id": cameo_id, "owner": owner_id, "perm": permission},
    ).fetchone()
    assert row is not None
    return CameoRow(**row)


def get_cameo(conn: Conn, cameo_id: uuid.UUID, *, for_update: bool = False) -> CameoRow | None:
    query = (
        "SELECT id, owner_id, status, permission, created_at, updated_at, verified_at, deleted_at"
        " FROM cameos WHERE id = %(id)s"
    )
    row = conn.execute(query + (" FOR UPDATE" if for_update else ""), {"id": cameo_id}).fetchone()
    return CameoRow(**row) if row else None


def set_cameo_status(conn: Conn, *, cameo_id: uuid.UUID, status: str) -> None:
    conn.execute(
        """
        UPDATE cameos SET status = %(status)s, updated_at = now(),
               verified_at = CASE WHEN %(status)s = 'verified' THEN now() ELSE verified_at END,
               deleted_at = CASE WHEN %(status)s = 'deleted' THEN now() ELSE deleted_at END
        WHERE id = %(id)s
        """,
        {"id": cameo_id, "status": status},
    )


def insert_challenge(
    conn: Conn,
    *,
    challenge_id: uuid.UUID,
    cameo_id: uuid.UUID,
    moves: list[str],
    digits: str,
    expires_at: datetime,
) -> ChallengeRow:
    row = conn.execute(
        """
        INSERT INTO enrollment_challenges (id, cameo_id, moves, digits, expires_at)
        VALUES (%(id)s, %(cameo)s, %(moves)s, %(digits)s, %(expires)s)
        RETURNING id, cameo_id, moves, digits, expires_at, used_at
        """,
        {"id": challenge_id, "cameo": cameo_id, "moves": moves, "digits": digits, "expires": expires_at},
    ).fetchone()
    assert row is not None
    return ChallengeRow(**row)


def get_challenge(conn: Conn, challenge_id: uuid.UUID, *, for_update: bool = False) -> ChallengeRow | None:
    query = (
        "SELECT id, cameo_id, moves, digits, expires_at, used_at FROM enrollment_challenges WHERE id = %(id)s"
    )
    row = conn.execute(query + (" FOR UPDATE" if for_update else ""), {"id": challenge_id}).fetchone()
    return ChallengeRow(**row) if row else None


def latest_open_challenge(conn: Conn, cameo_id: uuid.UUID) -> ChallengeRow | None:
    row = conn.execute(
        """
        SELECT id, cameo_id, moves, digits, expires_at, used_at FROM enrollment_challenges
        WHERE cameo_id = %(cameo)s AND used_at IS NULL AND expires_at > now()
        ORDER BY created_at DESC LIMIT 1
        """,
        {"cameo": cameo_id},
    ).fetchone()
    return ChallengeRow(**row) if row else None


def mark_challenge_used(conn: Conn, challenge_id: uuid.UUID) -> None:
    conn.execute("UPDATE enrollment_challenges SET used_at = now() WHERE id = %(id)s", {"id": challenge_id})


def sha256_seen(conn: Conn, sha256: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM enrollment_captures WHERE sha256 = %(sha)s LIMIT 1", {"sha": sha256}
    ).fetchone()
    return row is not None


def other_fingerprints(conn: Conn, cameo_id: uuid.UUID) -> list[tuple[uuid.UUID, bytes]]:
    """Every stored frame hash of other cameos' captures (a linear scan: fine for thousands of
    captures; a FAISS binary index is the seam past that, see docs/ENROLLMENT.md)."""
    rows = conn.execute(
        "SELECT capture_id, pdq FROM enrollment_fingerprints WHERE cameo_id <> %(cameo)s", {"cameo": cameo_id}
    ).fetchall()
    return [(r["capture_id"], bytes(r["pdq"])) for r in rows]


def insert_capture(
    conn: Conn,
    *,
    capture_id: uuid.UUID,
    cameo_id: uuid.UUID,
    challenge_id: uuid.UUID | None,
    sha256: str,
    media_digest: str | None,
    outcome: str,
    reason: str | None,
    checks: list[dict[str, Any]],
    model_ids: dict[str, str],
    policy_version: str,
    elapsed_ms: int,
) -> None:
    conn.execute(
        """
        INSERT INTO enrollment_captures (id, cameo_id, challenge_id, sha256, media_digest, outcome, reason,
                                         checks, model_ids, policy_version, elapsed_ms)
        VALUES (%(id)s, %(cameo)s, %(challenge)s, %(sha)s, %(digest)s, %(outcome)s, %(reason)s,
                %(checks)s, %(models)s, %(policy)s, %(elapsed)s)
        """,
        {
            "id": capture_id, "cameo": cameo_id, "challenge": challenge_id, "sha": sha256,
            "digest": media_digest, "outcome": outcome, "reason": reason, "checks": json.dumps(checks),
            "models": json.dumps(model_ids), "policy": policy_version, "elapsed": elapsed_ms,
        },
    )  # fmt: skip


def insert_fingerprints(
    conn: Conn, *, capture_id: uuid.UUID, cameo_id: uuid.UUID, hashes: list[bytes]
) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO enrollment_fingerprints (capture_id, cameo_id, pdq)"
            " VALUES (%(cap)s, %(cameo)s, %(pdq)s)",
            [{"cap": capture_id, "cameo": cameo_id, "pdq": h} for h in hashes],
        )


def latest_capture(conn: Conn, cameo_id: uuid.UUID) -> CaptureRow | None:
    row = conn.execute(
        """
        SELECT id, cameo_id, challenge_id, outcome, reason, checks, model_ids, policy_version, elapsed_ms,
               media_digest, created_at
        FROM enrollment_captures WHERE cameo_id = %(cameo)s ORDER BY created_at DESC LIMIT 1
        """,
        {"cameo": cameo_id},
    ).fetchone()
    return CaptureRow(**row) if row else None


def kept_capture_digests(conn: Conn, cameo_id: uuid.UUID) -> list[str]:
    rows = conn.execute(
        "SELECT media_digest FROM enrollment_captures"
        " WHERE cameo_id = %(cameo)s AND media_digest IS NOT NULL",
        {"cameo": cameo_id},
    ).fetchall()
    return [r["media_digest"] for r in rows]


def digests_in_use(conn: Conn, digests: list[str]) -> set[str]:
    """Which of `digests` a row still names: the content store is addressed by hash, so the same
    bytes kept for a capture, an opt-out reference, a generation's input or a clip are one file.
    (Every table naming content-store files is here; a new one belongs here too.)"""
    rows = conn.execute(
        """
        SELECT media_digest AS d FROM enrollment_captures WHERE media_digest = ANY(%(d)s)
        UNION SELECT sha256 FROM optout_references WHERE sha256 = ANY(%(d)s)
        UNION SELECT input_sha256 FROM generation_jobs WHERE input_sha256 = ANY(%(d)s)
        UNION SELECT media_sha256 FROM clips WHERE media_sha256 = ANY(%(d)s)
        UNION SELECT signed_sha256 FROM provenance_manifests WHERE signed_sha256 = ANY(%(d)s)
        """,
        {"d": digests},
    ).fetchall()
    return {r["d"] for r in rows}


def forget_capture_media(conn: Conn, cameo_id: uuid.UUID) -> int:
    return conn.execute(
        "UPDATE enrollment_captures SET media_digest = NULL"
        " WHERE cameo_id = %(cameo)s AND media_digest IS NOT NULL",
        {"cameo": cameo_id},
    ).rowcount


def delete_fingerprints(conn: Conn, cameo_id: uuid.UUID) -> int:
    return conn.execute(
        "DELETE FROM enrollment_fingerprints WHERE cameo_id = %(cameo)s", {"cameo": cameo_id}
    ).rowcount


def insert_review(
    conn: Conn,
    *,
    cameo_id: uuid.UUID,
    capture_id: uuid.UUID,
    reason: str,
    match_kind: str,
    match_ref: uuid.UUID,
    score: float,
) -> uuid.UUID:
    review_id = uuid.uuid4()
    conn.execute(
        """
        INSERT INTO enrollment_reviews (id, cameo_id, capture_id, reason, match_kind, match_ref, score)
        VALUES (%(id)s, %(cameo)s, %(capture)s, %(reason)s, %(kind)s, %(ref)s, %(score)s)
        """,
        {
            "id": review_id, "cameo": cameo_id, "capture": capture_id, "reason": reason,
            "kind": match_kind, "ref": match_ref, "score": score,
        },
    )  # fmt: skip
    return review_id


def open_reviews(conn: Conn, cameo_id: uuid.UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, reason, match_kind, score FROM enrollment_reviews"
        " WHERE cameo_id = %(cameo)s AND resolved_at IS NULL ORDER BY created_at",
        {"cameo": cameo_id},
    ).fetchall()


@dataclass(frozen=True)
class ReviewRow:
    id: uuid.UUID
    cameo_id: uuid.UUID
    capture_id: uuid.UUID
    reason: str
    match_kind: str
    match_ref: uuid.UUID
    score: float
    created_at: datetime
    resolved_at: datetime | None
    resolution: str | None


_REVIEW_COLUMNS = (
    "id, cameo_id, capture_id, reason, match_kind, match_ref, score, created_at, resolved_at, resolution"
)


def review_queue(conn: Conn, *, limit: int) -> list[ReviewRow]:
    """Open reviews, oldest first (enrollment_reviews_open_idx)."""
    rows = conn.execute(
        f"SELECT {_REVIEW_COLUMNS} FROM enrollment_reviews"  # noqa: S608 (a constant)
        " WHERE resolved_at IS NULL ORDER BY created_at, id LIMIT %(n)s",
        {"n": limit},
    ).fetchall()
    return [ReviewRow(**r) for r in rows]


def get_review(conn: Conn, review_id: uuid.UUID) -> ReviewRow | None:
    row = conn.execute(
        f"SELECT {_REVIEW_COLUMNS} FROM enrollment_reviews WHERE id = %(id)s",  # noqa: S608 (a constant)
        {"id": review_id},
    ).fetchone()
    return ReviewRow(**row) if row else None


def resolve_reviews(conn: Conn, cameo_id: uuid.UUID, *, resolution: str) -> list[uuid.UUID]:
    """Close every open review of the cameo (a capture can raise two: a protected person and
    someone else's cameo); the ids closed."""
    rows = conn.execute(
        "UPDATE enrollment_reviews SET resolved_at = now(), resolution = %(resolution)s"
        " WHERE cameo_id = %(cameo)s AND resolved_at IS NULL RETURNING id",
        {"cameo": cameo_id, "resolution": resolution},
    ).fetchall()
    return [r["id"] for r in rows]


def capture_digest(conn: Conn, capture_id: uuid.UUID) -> str | None:
    row = conn.execute(
        "SELECT media_digest FROM enrollment_captures WHERE id = %(id)s", {"id": capture_id}
    ).fetchone()
    return row["media_digest"] if row else None
