"""The append-only, hash-chained audit log: who did what, when, under which policy version.

Each row's hash covers its content and the previous row's hash, so changing, removing or
reordering any row breaks every hash after it. Appends take a transaction-scoped advisory lock
to keep the chain linear; write the audit row last in a transaction so the lock is held briefly.
Never put biometric data in `details`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gate.auth import Principal
from gate.db import Conn

GENESIS = b"\x00" * 32
CHAIN_LOCK_KEY = 7_216_400_002  # arbitrary, fixed: "cameogate audit chain"


def canonical(row: dict[str, Any]) -> bytes:
    """The bytes of a row that its hash covers (the chain's one definition of them)."""
    content = {
        "at": row["at"].astimezone(UTC).isoformat(),
        "actor": row["actor"],
        "role": row["role"],
        "action": row["action"],
        "subject_id": str(row["subject_id"]) if row["subject_id"] else None,
        "target_kind": row["target_kind"],
        "target_id": row["target_id"],
        "policy_version": row["policy_version"],
        "details": row["details"],
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: bytes, row: dict[str, Any]) -> bytes:
    return hashlib.sha256(prev_hash + canonical(row)).digest()


def record(
    conn: Conn,
    *,
    actor: Principal | str,
    action: str,
    policy_version: str,
    subject_id: uuid.UUID | None = None,
    target_kind: str | None = None,
    target_id: object = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one entry in the caller's transaction; returns its id."""
    row: dict[str, Any] = {
        "at": datetime.now(UTC),
        "actor": actor.actor if isinstance(actor, Principal) else actor,
        "role": actor.role if isinstance(actor, Principal) else "system",
        "action": action,
        "subject_id": subject_id,
        "target_kind": target_kind,
        "target_id": None if target_id is None else str(target_id),
        "policy_version": policy_version,
        # Round-trip through JSON so the hashed form is exactly what jsonb gives back.
        "details": json.loads(json.dumps(details or {}, default=str)),
    }
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK_KEY,))
    last = conn.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    prev = bytes(last["hash"]) if last else GENESIS
    inserted = conn.execute(
        """
        INSERT INTO audit_log (at, actor, role, action, subject_id, target_kind, target_id,
                               policy_version, details, prev_hash, hash)
        VALUES (%(at)s, %(actor)s, %(role)s, %(action)s, %(subject_id)s, %(target_kind)s,
                %(target_id)s, %(policy_version)s, %(details_json)s, %(prev)s, %(hash)s)
        RETURNING id
        """,
        {
            **row,
            "details_json": json.dumps(row["details"]),
            "prev": prev,
            "hash": chain_hash(prev, row),
        },
    ).fetchone()
    assert inserted is not None
    return int(inserted["id"])


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str | None = None


def verify_chain(conn: Conn) -> ChainReport:
    """Recompute every hash in id order; name the first row that does not match."""
    prev = GENESIS
    checked = 0
    with conn.cursor(name="audit_verify") as cur:
        cur.execute("SELECT * FROM audit_log ORDER BY id")
        for row in cur:
            if bytes(row["prev_hash"]) != prev:
                return ChainReport(False, checked, row["id"], "prev_hash does not match the row before")
            if bytes(row["hash"]) != chain_hash(prev, row):
                return ChainReport(False, checked, row["id"], "content does not match its hash")
            prev = bytes(row["hash"])
            checked += 1
    return ChainReport(True, checked)


def page(
    conn: Conn,
    *,
    subject_id: uuid.UUID | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    return conn.execute(
        """
        SELECT id, at, actor, role, action, subject_id, target_kind, target_id, policy_version,
               details, encode(prev_hash, 'hex') AS prev_hash, encode(hash, 'hex') AS hash
        FROM audit_log
        WHERE id > %(after)s
          AND (%(subject)s::uuid IS NULL OR subject_id = %(subject)s)
          AND (%(action)s::text IS NULL OR action = %(action)s OR action LIKE %(action)s || '.%%')
          AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
          AND (%(until)s::timestamptz IS NULL OR at < %(until)s)
        ORDER BY id
        LIMIT %(limit)s
        """,
        {
            "after": after_id,
            "subject": subject_id,
            "action": action,
            "since": since,
            "until": until,
            "limit": limit,
        },
    ).fetchall()
