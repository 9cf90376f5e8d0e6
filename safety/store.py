"""SQL of the safety domain: opt-outs, their references, the change feed, matches, disputes."""
# ruff: noqa: S608  -- f-strings here only splice constant column lists; values are parameters.

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gate.db import Conn


@dataclass(frozen=True)
class OptOut:
    id: uuid.UUID
    organisation_id: uuid.UUID
    title: str
    names: list[str]
    keywords: list[str]
    description: str
    action: str
    territories: list[str]
    notes: str
    status: str
    status_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Reference:
    id: uuid.UUID
    optout_id: uuid.UUID
    sha256: str
    frame_time: float | None
    width: int
    height: int
    pdq: bytes
    pdq_quality: int
    keypoints: bytes
    descriptors: bytes
    features_model: str
    clip: bytes | None
    clip_model: str | None


@dataclass(frozen=True)
class Dispute:
    id: uuid.UUID
    optout_id: uuid.UUID
    scan_id: uuid.UUID | None
    filed_by: str
    filed_role: str
    subject_id: uuid.UUID | None
    platform_key_id: str | None
    reason: str
    status: str
    answer: str | None
    answered_at: datetime | None
    decision: str | None
    decision_note: str | None
    decided_at: datetime | None
    created_at: datetime


_OPTOUT_COLS = (
    "id, organisation_id, title, names, keywords, description, action, territories, notes, status,"
    " status_reason, created_at, updated_at"
)
_REF_COLS = (
    "id, optout_id, sha256, frame_time, width, height, pdq, pdq_quality, keypoints, descriptors,"
    " features_model, clip, clip_model"
)


def insert_optout(conn: Conn, **fields: Any) -> OptOut:
    row = conn.execute(
        f"""
        INSERT INTO optouts (id, organisation_id, title, names, keywords, description, action,
                             territories, notes)
        VALUES (%(id)s, %(organisation_id)s, %(title)s, %(names)s, %(keywords)s, %(description)s,
                %(action)s, %(territories)s, %(notes)s)
        RETURNING {_OPTOUT_COLS}
        """,
        fields,
    ).fetchone()
    assert row is not None
    return OptOut(**row)


def get_optout(conn: Conn, optout_id: uuid.UUID, *, for_update: bool = False) -> OptOut | None:
    lock = " FOR UPDATE" if for_update else ""
    row = conn.execute(
        f"SELECT {_OPTOUT_COLS} FROM optouts WHERE id = %(id)s{lock}", {"id": optout_id}
    ).fetchone()
    return OptOut(**row) if row else None


def list_optouts(conn: Conn, *, organisation_id: uuid.UUID | None, status: str | None) -> list[OptOut]:
    rows = conn.execute(
        f"""
        SELECT {_OPTOUT_COLS} FROM optouts
        WHERE (%(org)s::uuid IS NULL OR organisation_id = %(org)s)
          AND (%(status)s::text IS NULL OR status = %(status)s)
        ORDER BY created_at, id
        """,
        {"org": organisation_id, "status": status},
    ).fetchall()
    return [OptOut(**r) for r in rows]


def update_optout(conn: Conn, optout_id: uuid.UUID, **fields: Any) -> OptOut:
    # Column names come from the service's fixed set, never from the client.
    sets = ", ".join(f"{name} = %({name})s" for name in fields)
    row = conn.execute(
        f"UPDATE optouts SET {sets}, updated_at = now() WHERE id = %(id)s RETURNING {_OPTOUT_COLS}",
        {**fields, "id": optout_id},
    ).fetchone()
    assert row is not None
    return OptOut(**row)


def insert_reference(conn: Conn, **fields: Any) -> uuid.UUID:
    conn.execute(
        """
        INSERT INTO optout_references (id, optout_id, sha256, frame_time, width, height, pdq,
                                       pdq_quality, keypoints, descriptors, features_model, clip,
                                       clip_model)
        VALUES (%(id)s, %(optout_id)s, %(sha256)s, %(frame_time)s, %(width)s, %(height)s, %(pdq)s,
                %(pdq_quality)s, %(keypoints)s, %(descriptors)s, %(features_model)s, %(clip)s,
                %(clip_model)s)
        """,
        fields,
    )
    return uuid.UUID(str(fields["id"]))


def references_of(conn: Conn, optout_id: uuid.UUID) -> list[Reference]:
    rows = conn.execute(
        f"SELECT {_REF_COLS} FROM optout_references WHERE optout_id = %(id)s ORDER BY created_at, id",
        {"id": optout_id},
    ).fetchall()
    return [Reference(**r) for r in rows]


def reference_counts(conn: Conn, optout_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = conn.execute(
        "SELECT optout_id, count(*) AS n FROM optout_references"
        " WHERE optout_id = ANY(%(ids)s) GROUP BY optout_id",
        {"ids": optout_ids},
    ).fetchall()
    return {r["optout_id"]: int(r["n"]) for r in rows}


def active_optouts(conn: Conn) -> list[OptOut]:
    rows = conn.execute(f"SELECT {_OPTOUT_COLS} FROM optouts WHERE status = 'active' ORDER BY id").fetchall()
    return [OptOut(**r) for r in rows]


def active_reference_ids(conn: Conn) -> list[tuple[uuid.UUID, uuid.UUID]]:
    rows = conn.execute(
        """
        SELECT r.id, r.optout_id FROM optout_references r JOIN optouts o ON o.id = r.optout_id
        WHERE o.status = 'active'
        """
    ).fetchall()
    return [(r["id"], r["optout_id"]) for r in rows]


def settled_change(conn: Conn, *, seconds: float) -> int:
    """The last change older than `seconds`: later seqs may still have gaps being committed."""
    row = conn.execute(
        "SELECT coalesce(max(seq), 0) AS seq FROM optout_changes"
        " WHERE at < now() - make_interval(secs => %(s)s)",
        {"s": seconds},
    ).fetchone()
    return int(row["seq"]) if row else 0


def changes_since(conn: Conn, seq: int, *, limit: int = 10_000) -> list[tuple[int, uuid.UUID]]:
    rows = conn.execute(
        "SELECT seq, optout_id FROM optout_changes WHERE seq > %(seq)s ORDER BY seq LIMIT %(limit)s",
        {"seq": seq, "limit": limit},
    ).fetchall()
    return [(int(r["seq"]), r["optout_id"]) for r in rows]


def insert_matches(conn: Conn, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO optout_matches (optout_id, scan_id, scan_kind, signal, score, decision, actor)
            VALUES (%(optout_id)s, %(scan_id)s, %(scan_kind)s, %(signal)s, %(score)s, %(decision)s,
                    %(actor)s)
            """,
            rows,
        )


def match_counts(conn: Conn, optout_id: uuid.UUID) -> dict[str, int]:
    rows = conn.execute(
        "SELECT signal, count(*) AS n FROM optout_matches WHERE optout_id = %(id)s GROUP BY signal",
        {"id": optout_id},
    ).fetchall()
    return {r["signal"]: int(r["n"]) for r in rows}


def scan_matched(conn: Conn, scan_id: uuid.UUID, optout_id: uuid.UUID) -> bool:
    row = conn.execute(
        "SELECT 1 FROM optout_matches WHERE scan_id = %(scan)s AND optout_id = %(id)s LIMIT 1",
        {"scan": scan_id, "id": optout_id},
    ).fetchone()
    return row is not None


_DISPUTE_COLS = (
    "id, optout_id, scan_id, filed_by, filed_role, subject_id, platform_key_id, reason, status, answer,"
    " answered_at, decision, decision_note, decided_at, created_at"
)


def insert_dispute(conn: Conn, **fields: Any) -> Dispute:
    row = conn.execute(
        f"""
        INSERT INTO disputes (id, optout_id, scan_id, filed_by, filed_role, subject_id,
                              platform_key_id, reason)
        VALUES (%(id)s, %(optout_id)s, %(scan_id)s, %(filed_by)s, %(filed_role)s, %(subject_id)s,
                %(platform_key_id)s, %(reason)s)
        RETURNING {_DISPUTE_COLS}
        """,
        fields,
    ).fetchone()
    assert row is not None
    return Dispute(**row)


def get_dispute(conn: Conn, dispute_id: uuid.UUID, *, for_update: bool = False) -> Dispute | None:
    lock = " FOR UPDATE" if for_update else ""
    row = conn.execute(
        f"SELECT {_DISPUTE_COLS} FROM disputes WHERE id = %(id)s{lock}", {"id": dispute_id}
    ).fetchone()
    return Dispute(**row) if row else None


def list_disputes(
    conn: Conn, *, organisation_id: uuid.UUID | None, filed_by: str | None, status: str | None
) -> list[Dispute]:
    rows = conn.execute(
        f"""
        SELECT {", ".join("d." + c.strip() for c in _DISPUTE_COLS.split(","))}
        FROM disputes d JOIN optouts o ON o.id = d.optout_id
        WHERE (%(org)s::uuid IS NULL OR o.organisation_id = %(org)s)
          AND (%(filed_by)s::text IS NULL OR d.filed_by = %(filed_by)s)
          AND (%(status)s::text IS NULL OR d.status = %(status)s)
        ORDER BY d.created_at, d.id
        """,
        {"org": organisation_id, "filed_by": filed_by, "status": status},
    ).fetchall()
    return [Dispute(**r) for r in rows]


def answer_dispute(conn: Conn, dispute_id: uuid.UUID, *, answer: str) -> Dispute:
    row = conn.execute(
        f"""
        UPDATE disputes SET answer = %(answer)s, answered_at = now(), status = 'answered'
        WHERE id = %(id)s RETURNING {_DISPUTE_COLS}
        """,
        {"id": dispute_id, "answer": answer},
    ).fetchone()
    assert row is not None
    return Dispute(**row)


def decide_dispute(conn: Conn, dispute_id: uuid.UUID, *, decision: str, note: str) -> Dispute:
    row = conn.execute(
        f"""
        UPDATE disputes SET decision = %(decision)s, decision_note = %(note)s, decided_at = now(),
                            status = 'decided'
        WHERE id = %(id)s RETURNING {_DISPUTE_COLS}
        """,
        {"id": dispute_id, "decision": decision, "note": note},
    ).fetchone()
    assert row is not None
    return Dispute(**row)
