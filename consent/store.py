"""SQL of the consent domain: one function per statement, rows mapped to dataclasses."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gate.audit import canonical as audit_canonical
from gate.auth import Principal
from gate.db import AsyncConn, Conn


@dataclass(frozen=True)
class Cameo:
    id: uuid.UUID
    owner_id: uuid.UUID
    status: str
    permission: str
    consent_epoch: int
    owner_age_band: str  # for the age-band rule on permission levels (policies/rules.py)


@dataclass(frozen=True)
class Facts:
    """What one consent decision needs about one cameo and one requester, read in one statement."""

    id: uuid.UUID
    owner_id: uuid.UUID
    status: str
    permission: str
    consent_epoch: int
    approved: bool
    mutual: bool
    has_restrictions: bool
    # For the age-band rules (policies/rules.py: an adult may use a minor's cameo only with an
    # explicit approval); read here so that applying them costs no extra query.
    owner_age_band: str
    requester_age_band: str | None


@dataclass(frozen=True)
class Restriction:
    id: uuid.UUID
    cameo_id: uuid.UUID
    text: str
    terms: list[str]
    topic: str
    embedding: bytes | None
    model_id: str
    created_at: datetime


@dataclass(frozen=True)
class Approval:
    cameo_id: uuid.UUID
    subject_id: uuid.UUID
    status: str
    requested_at: datetime | None
    decided_at: datetime | None


@dataclass(frozen=True)
class Appearance:
    clip_id: uuid.UUID
    status: str
    requester_id: uuid.UUID | None
    platform_key_id: str | None
    media_sha256: str | None
    created_at: datetime
    published_at: datetime | None
    removed_at: datetime | None
    removed_by: uuid.UUID | None
    removal_reason: str | None


# --- cameos -----------------------------------------------------------------------------------


def get_cameo(conn: Conn, cameo_id: uuid.UUID, *, lock: bool = False) -> Cameo | None:
    sql = (
        "SELECT c.id, c.owner_id, c.status, c.permission, c.consent_epoch, o.age_band AS owner_age_band"
        " FROM cameos c JOIN subjects o ON o.id = c.owner_id WHERE c.id = %(id)s"
    )
    row = conn.execute(sql + (" FOR UPDATE OF c" if lock else ""), {"id": cameo_id}).fetchone()
    return Cameo(**row) if row else None


def set_permission(conn: Conn, cameo_id: uuid.UUID, *, permission: str, bump: bool) -> None:
    conn.execute(
        """
        UPDATE cameos SET permission = %(permission)s, updated_at = now(),
               consent_epoch = consent_epoch + %(bump)s
        WHERE id = %(id)s
        """,
        {"id": cameo_id, "permission": permission, "bump": 1 if bump else 0},
    )


def bump_epochs(conn: Conn, cameo_ids: list[uuid.UUID]) -> None:
    """Take consent away: every token embedding an older epoch of these cameos stops validating."""
    conn.execute(
        "UPDATE cameos SET consent_epoch = consent_epoch + 1, updated_at = now() WHERE id = ANY(%(ids)s)",
        {"ids": cameo_ids},
    )


def lock_cameos_shared(conn: Conn, cameo_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """FOR SHARE in id order: revocation (an UPDATE of the row) waits for the holder to commit."""
    rows = conn.execute(
        "SELECT id FROM cameos WHERE id = ANY(%(ids)s) ORDER BY id FOR SHARE", {"ids": cameo_ids}
    ).fetchall()
    return [r["id"] for r in rows]


def consent_facts(
    conn: Conn, *, requester_id: uuid.UUID, cameo_ids: list[uuid.UUID]
) -> tuple[bool, list[Facts]]:
    """Whether the requester exists, and per cameo its state plus approval and mutual-follow flags.

    One statement, index lookups only (cameos pkey, cameo_approvals pkey, follows pkey twice), so
    the hot path costs one round trip whatever the size of the graphs. The query is the function
    consent_facts (migration 0201), where it is planned once per connection instead of on every
    call (the migration says why); it reads the calling statement's snapshot.
    """
    rows = conn.execute(
        "SELECT * FROM consent_facts(%(req)s, %(ids)s)", {"req": requester_id, "ids": cameo_ids}
    ).fetchall()
    known = bool(rows) and rows[0]["requester_age_band"] is not None
    return known, [Facts(**r) for r in rows]


def insert_grant(
    conn: Conn, *, token_id: str, requester_id: uuid.UUID, cameo_ids: list[uuid.UUID], expires_at: datetime
) -> None:
    conn.execute(
        "INSERT INTO consent_grants (token_id, requester_id, cameo_ids, expires_at)"
        " VALUES (%(id)s, %(req)s, %(cameos)s, %(exp)s)",
        {"id": token_id, "req": requester_id, "cameos": cameo_ids, "exp": expires_at},
    )


def purge_grants(conn: Conn, *, expired_before: datetime) -> int:
    return conn.execute("DELETE FROM consent_grants WHERE expires_at < %(t)s", {"t": expired_before}).rowcount


def grant_exists(conn: Conn, token_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM consent_grants WHERE token_id = %(id)s", {"id": token_id}).fetchone()
    return row is not None


@dataclass(frozen=True)
class CheckRecord:
    """What the check route writes for one check: the grant `(token id, cameo ids, expires at)`
    of the token issued to the requester, if any, and gate.audit.record's entry with its
    canonical bytes (gate.audit's own definition), which the database chains."""

    grant: tuple[str, list[uuid.UUID], datetime] | None
    row: dict[str, Any]
    details_json: str
    canonical: bytes


def check_record(
    *,
    grant: tuple[str, list[uuid.UUID], datetime] | None,
    actor: Principal | str,
    action: str,
    policy_version: str,
    subject_id: uuid.UUID,
    target_kind: str,
    target_id: str | None,
    details: dict[str, Any],
) -> CheckRecord:
    # The details round-trip through JSON so the hashed form is exactly what jsonb gives back.
    details_json = json.dumps(details, default=str)
    row: dict[str, Any] = {
        "at": datetime.now(UTC),
        "actor": actor.actor if isinstance(actor, Principal) else actor,
        "role": actor.role if isinstance(actor, Principal) else "system",
        "action": action,
        "subject_id": subject_id,
        "target_kind": target_kind,
        "target_id": target_id,
        "policy_version": policy_version,
        "details": json.loads(details_json),
    }
    return CheckRecord(grant, row, details_json, audit_canonical(row))


def record_check(conn: Conn, record: CheckRecord) -> None:
    """One check's write in one statement (consent_record_check, migration 0201): the grant and
    the audit entry, appended inside the server (consent_audit_append: the chain's lock is held
    for no client round trip). On a connection in autocommit mode the statement is its own
    transaction, committed asynchronously."""
    token_id, cameo_ids, expires_at = record.grant or (None, None, None)
    conn.execute(
        """
        SELECT consent_record_check(%(token_id)s, %(subject_id)s, %(cameo_ids)s, %(expires_at)s,
                                    %(at)s, %(actor)s, %(role)s, %(action)s, %(subject_id)s,
                                    %(target_kind)s, %(target_id)s, %(policy_version)s,
                                    %(details_json)s, %(canonical)s)
        """,
        {
            **record.row,
            "token_id": token_id,
            "cameo_ids": cameo_ids,
            "expires_at": expires_at,
            "details_json": record.details_json,
            "canonical": record.canonical,
        },
    )


# The check route's statements on an asyncio connection (consent.hotpath): a batch of
# consent_facts() and a batch of record_check(), each in one statement.


def _array_literal(values: Iterable[int | uuid.UUID]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


async def consent_facts_many(
    conn: AsyncConn, requests: list[tuple[uuid.UUID, list[uuid.UUID]]]
) -> list[tuple[bool, list[Facts]]]:
    """consent_facts() for several (requester, cameo ids) at once, in one statement
    (consent_facts_many, migration 0203), on an asyncio connection: one answer per request."""
    triples = [(k, requester, cameo) for k, (requester, ids) in enumerate(requests) for cameo in ids]
    # The three arrays go as text literals cast by the statement: psycopg adapts a list element
    # by element in Python, in the event loop, and for one check's read that cost ~130 us of the
    # loop's ~320 (docs/CONSENT.md). Integers and UUIDs need no quoting inside a literal.
    cur = await conn.execute(
        "SELECT * FROM consent_facts_many(%s::integer[], %s::uuid[], %s::uuid[])",
        tuple(_array_literal(t[i] for t in triples) for i in range(3)),
    )
    found: list[list[Facts]] = [[] for _ in requests]
    for row in await cur.fetchall():
        found[row.pop("request")].append(Facts(**row))
    # As consent_facts(): the requester exists when the rows carry its age band.
    return [(bool(facts) and facts[0].requester_age_band is not None, facts) for facts in found]


async def record_checks(conn: AsyncConn, records: list[CheckRecord]) -> None:
    """Several checks' writes in one statement and one transaction (consent_record_check_batch,
    migration 0212): their grants, and their audit entries chained in list order under one hold
    of the chain's lock. On a connection in autocommit mode it commits asynchronously. The batch
    goes as one JSON document: adapting it as arrays cost the event loop ~8x more (0212)."""
    grants = [
        {"token_id": g[0], "requester_id": str(r.row["subject_id"]), "cameo_ids": [str(i) for i in g[1]],
         "expires_at": g[2].isoformat()}
        for r in records
        if (g := r.grant) is not None
    ]  # fmt: skip
    entries = [
        {**r.row, "at": r.row["at"].isoformat(), "subject_id": str(r.row["subject_id"]),
         "canonical": base64.b64encode(r.canonical).decode()}
        for r in records
    ]  # fmt: skip
    await conn.execute(
        "SELECT consent_record_check_batch(%s::jsonb)",
        (json.dumps({"grants": grants, "entries": entries}),),
    )


def subject_exists(conn: Conn, subject_id: uuid.UUID) -> bool:
    return conn.execute("SELECT 1 FROM subjects WHERE id = %(id)s", {"id": subject_id}).fetchone() is not None


def current_epochs(conn: Conn, cameo_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, str]]:
    rows = conn.execute(
        "SELECT id, consent_epoch, status FROM cameos WHERE id = ANY(%(ids)s)", {"ids": cameo_ids}
    ).fetchall()
    return {r["id"]: (r["consent_epoch"], r["status"]) for r in rows}


# --- approvals --------------------------------------------------------------------------------


def get_approval(conn: Conn, cameo_id: uuid.UUID, subject_id: uuid.UUID) -> Approval | None:
    row = conn.execute(
        "SELECT cameo_id, subject_id, status, requested_at, decided_at FROM cameo_approvals"
        " WHERE cameo_id = %(cameo)s AND subject_id = %(subject)s",
        {"cameo": cameo_id, "subject": subject_id},
    ).fetchone()
    return Approval(**row) if row else None


def decide_approval(conn: Conn, cameo_id: uuid.UUID, subject_id: uuid.UUID, *, status: str) -> Approval:
    row = conn.execute(
        """
        INSERT INTO cameo_approvals (cameo_id, subject_id, status, decided_at)
        VALUES (%(cameo)s, %(subject)s, %(status)s, now())
        ON CONFLICT ON CONSTRAINT cameo_approvals_pkey
        DO UPDATE SET status = EXCLUDED.status, decided_at = now()
        RETURNING cameo_id, subject_id, status, requested_at, decided_at
        """,
        {"cameo": cameo_id, "subject": subject_id, "status": status},
    ).fetchone()
    assert row is not None
    return Approval(**row)


def request_approval(conn: Conn, cameo_id: uuid.UUID, subject_id: uuid.UUID) -> Approval:
    """A new request, or a repeated one; an existing approval or denial is left as it is."""
    row = conn.execute(
        """
        INSERT INTO cameo_approvals (cameo_id, subject_id, status, requested_at)
        VALUES (%(cameo)s, %(subject)s, 'requested', now())
        ON CONFLICT ON CONSTRAINT cameo_approvals_pkey
        DO UPDATE SET requested_at = now() WHERE cameo_approvals.status = 'requested'
        RETURNING cameo_id, subject_id, status, requested_at, decided_at
        """,
        {"cameo": cameo_id, "subject": subject_id},
    ).fetchone()
    return Approval(**row) if row else get_approval(conn, cameo_id, subject_id)  # type: ignore[return-value]


def delete_approval(conn: Conn, cameo_id: uuid.UUID, subject_id: uuid.UUID) -> bool:
    return (
        conn.execute(
            "DELETE FROM cameo_approvals WHERE cameo_id = %(cameo)s AND subject_id = %(subject)s",
            {"cameo": cameo_id, "subject": subject_id},
        ).rowcount
        > 0
    )


def delete_all_approvals(conn: Conn, cameo_id: uuid.UUID) -> int:
    return conn.execute(
        "DELETE FROM cameo_approvals WHERE cameo_id = %(cameo)s AND status = 'approved'", {"cameo": cameo_id}
    ).rowcount


def list_approvals(conn: Conn, cameo_id: uuid.UUID) -> list[Approval]:
    rows = conn.execute(
        "SELECT cameo_id, subject_id, status, requested_at, decided_at FROM cameo_approvals"
        " WHERE cameo_id = %(cameo)s ORDER BY coalesce(decided_at, requested_at) DESC",
        {"cameo": cameo_id},
    ).fetchall()
    return [Approval(**r) for r in rows]


# --- follows ----------------------------------------------------------------------------------


def insert_follow(conn: Conn, follower_id: uuid.UUID, followee_id: uuid.UUID) -> bool:
    return (
        conn.execute(
            "INSERT INTO follows (follower_id, followee_id) VALUES (%(a)s, %(b)s)"
            " ON CONFLICT ON CONSTRAINT follows_pkey DO NOTHING",
            {"a": follower_id, "b": followee_id},
        ).rowcount
        > 0
    )


def delete_follow(conn: Conn, follower_id: uuid.UUID, followee_id: uuid.UUID) -> bool:
    return (
        conn.execute(
            "DELETE FROM follows WHERE follower_id = %(a)s AND followee_id = %(b)s",
            {"a": follower_id, "b": followee_id},
        ).rowcount
        > 0
    )


def mutuals_cameos_of(conn: Conn, subject_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    rows = conn.execute(
        "SELECT id FROM cameos WHERE owner_id = ANY(%(ids)s) AND permission = 'mutuals' ORDER BY id",
        {"ids": subject_ids},
    ).fetchall()
    return [r["id"] for r in rows]


# --- restrictions -----------------------------------------------------------------------------


def insert_restriction(
    conn: Conn,
    *,
    cameo_id: uuid.UUID,
    text: str,
    terms: list[str],
    topic: str,
    embedding: bytes,
    model_id: str,
) -> Restriction:
    row = conn.execute(
        """
        INSERT INTO cameo_restrictions (id, cameo_id, text, terms, topic, embedding, model_id)
        VALUES (%(id)s, %(cameo)s, %(text)s, %(terms)s, %(topic)s, %(embedding)s, %(model)s)
        RETURNING id, cameo_id, text, terms, topic, embedding, model_id, created_at
        """,
        {
            "id": uuid.uuid4(),
            "cameo": cameo_id,
            "text": text,
            "terms": terms,
            "topic": topic,
            "embedding": embedding,
            "model": model_id,
        },
    ).fetchone()
    assert row is not None
    return _restriction(row)


def _restriction(row: dict[str, Any]) -> Restriction:
    emb = row["embedding"]
    return Restriction(**{**row, "embedding": bytes(emb) if emb is not None else None})


_RESTRICTIONS_OF = (
    "SELECT id, cameo_id, text, terms, topic, embedding, model_id, created_at"
    " FROM cameo_restrictions WHERE cameo_id = ANY(%(ids)s)"
    " ORDER BY cameo_id, created_at"
)


def restrictions_of(conn: Conn, cameo_ids: list[uuid.UUID]) -> list[Restriction]:
    rows = conn.execute(_RESTRICTIONS_OF, {"ids": cameo_ids}).fetchall()
    return [_restriction(r) for r in rows]


async def restrictions_of_async(conn: AsyncConn, cameo_ids: list[uuid.UUID]) -> list[Restriction]:
    """restrictions_of() on an asyncio connection (the check route's screen, consent.hotpath)."""
    cur = await conn.execute(_RESTRICTIONS_OF, {"ids": cameo_ids})
    return [_restriction(r) for r in await cur.fetchall()]


def count_restrictions(conn: Conn, cameo_id: uuid.UUID) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM cameo_restrictions WHERE cameo_id = %(id)s", {"id": cameo_id}
    ).fetchone()
    return int(row["n"]) if row else 0


def delete_restriction(conn: Conn, cameo_id: uuid.UUID, restriction_id: uuid.UUID) -> bool:
    return (
        conn.execute(
            "DELETE FROM cameo_restrictions WHERE id = %(id)s AND cameo_id = %(cameo)s",
            {"id": restriction_id, "cameo": cameo_id},
        ).rowcount
        > 0
    )


# --- co-ownership and clips -------------------------------------------------------------------


def insert_coowners(
    conn: Conn, clip_id: uuid.UUID, cameo_ids: list[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Every featured cameo's owner co-owns the clip; returns (cameo, owner) pairs newly listed."""
    rows = conn.execute(
        """
        INSERT INTO clip_coowners (clip_id, cameo_id, owner_id)
        SELECT %(clip)s, c.id, c.owner_id FROM cameos c WHERE c.id = ANY(%(ids)s)
        ON CONFLICT (clip_id, cameo_id) DO NOTHING
        RETURNING cameo_id, owner_id
        """,
        {"clip": clip_id, "ids": cameo_ids},
    ).fetchall()
    return [(r["cameo_id"], r["owner_id"]) for r in rows]


def appearances(conn: Conn, cameo_id: uuid.UUID, *, limit: int) -> list[Appearance]:
    rows = conn.execute(
        """
        SELECT k.id AS clip_id, k.status, k.requester_id, k.platform_key_id, k.media_sha256,
               k.created_at, k.published_at, k.removed_at, k.removed_by, k.removal_reason
        FROM clip_coowners co JOIN clips k ON k.id = co.clip_id
        WHERE co.cameo_id = %(cameo)s ORDER BY k.created_at DESC LIMIT %(limit)s
        """,
        {"cameo": cameo_id, "limit": limit},
    ).fetchall()
    return [Appearance(**r) for r in rows]


def appearance_for_update(conn: Conn, cameo_id: uuid.UUID, clip_id: uuid.UUID) -> Appearance | None:
    row = conn.execute(
        """
        SELECT k.id AS clip_id, k.status, k.requester_id, k.platform_key_id, k.media_sha256,
               k.created_at, k.published_at, k.removed_at, k.removed_by, k.removal_reason
        FROM clip_coowners co JOIN clips k ON k.id = co.clip_id
        WHERE co.cameo_id = %(cameo)s AND co.clip_id = %(clip)s
        FOR UPDATE OF k
        """,
        {"cameo": cameo_id, "clip": clip_id},
    ).fetchone()
    return Appearance(**row) if row else None


def mark_removed(conn: Conn, clip_id: uuid.UUID, *, removed_by: uuid.UUID, reason: str) -> None:
    conn.execute(
        """
        UPDATE clips SET status = 'removed', removed_at = now(), removed_by = %(by)s,
               removal_reason = %(reason)s
        WHERE id = %(clip)s
        """,
        {"clip": clip_id, "by": removed_by, "reason": reason},
    )


def coowners_of(conn: Conn, clip_id: uuid.UUID) -> list[uuid.UUID]:
    rows = conn.execute(
        "SELECT DISTINCT owner_id FROM clip_coowners WHERE clip_id = %(clip)s ORDER BY owner_id",
        {"clip": clip_id},
    ).fetchall()
    return [r["owner_id"] for r in rows]
