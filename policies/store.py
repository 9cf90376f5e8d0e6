"""SQL of the policies domain: stored policy versions, activations, quota counters, protected people."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from gate.db import Conn

# --- policy versions and activations ----------------------------------------------------------


@dataclass(frozen=True)
class StoredPolicy:
    version: str
    sha256: str
    source: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class Activation:
    id: int
    version: str
    sha256: str
    activated_at: datetime
    activated_by: str


def get_version(conn: Conn, version: str) -> StoredPolicy | None:
    row = conn.execute(
        "SELECT version, sha256, source, created_at, created_by FROM policy_versions"
        " WHERE version = %(version)s",
        {"version": version},
    ).fetchone()
    return StoredPolicy(**row) if row else None


def lock_versions(conn: Conn) -> None:
    """Serialise policy changes (two admins applying at once) for the rest of the transaction."""
    conn.execute("LOCK TABLE policy_versions IN SHARE ROW EXCLUSIVE MODE")


def insert_version(conn: Conn, *, version: str, sha256: str, source: str, created_by: str) -> None:
    conn.execute(
        "INSERT INTO policy_versions (version, sha256, source, created_by)"
        " VALUES (%(version)s, %(sha256)s, %(source)s, %(by)s)",
        {"version": version, "sha256": sha256, "source": source, "by": created_by},
    )


def insert_activation(conn: Conn, *, version: str, activated_by: str) -> int:
    row = conn.execute(
        "INSERT INTO policy_activations (version, activated_by) VALUES (%(version)s, %(by)s) RETURNING id",
        {"version": version, "by": activated_by},
    ).fetchone()
    assert row is not None
    return int(row["id"])


def active(conn: Conn) -> StoredPolicy | None:
    row = conn.execute(
        """
        SELECT v.version, v.sha256, v.source, v.created_at, v.created_by
        FROM policy_activations a JOIN policy_versions v ON v.version = a.version
        ORDER BY a.id DESC LIMIT 1
        """
    ).fetchone()
    return StoredPolicy(**row) if row else None


def active_sha256(conn: Conn) -> str | None:
    """The digest of the active stored policy, without its source (the listener's poll)."""
    row = conn.execute(
        """
        SELECT v.sha256 FROM policy_activations a JOIN policy_versions v ON v.version = a.version
        ORDER BY a.id DESC LIMIT 1
        """
    ).fetchone()
    return row["sha256"] if row else None


def activations(conn: Conn, *, limit: int) -> list[Activation]:
    rows = conn.execute(
        """
        SELECT a.id, a.version, v.sha256, a.activated_at, a.activated_by
        FROM policy_activations a JOIN policy_versions v ON v.version = a.version
        ORDER BY a.id DESC LIMIT %(limit)s
        """,
        {"limit": limit},
    ).fetchall()
    return [Activation(**r) for r in rows]


# --- quota counters ---------------------------------------------------------------------------


def increment_below(
    conn: Conn, *, scope: str, scope_id: str, kind: str, window_secs: int, window_start: datetime, limit: int
) -> int | None:
    """Add one use to the window unless it is already at `limit`; the new count, or None when full.

    One statement: the row lock taken by ON CONFLICT makes concurrent callers queue, and the WHERE
    is evaluated on the latest row, so the count never passes the limit.
    """
    row = conn.execute(
        """
        INSERT INTO quota_counters (scope, scope_id, kind, window_secs, window_start, used)
        SELECT %(scope)s, %(scope_id)s, %(kind)s, %(secs)s, %(start)s, 1 WHERE %(limit)s > 0
        ON CONFLICT ON CONSTRAINT quota_counters_pkey
        DO UPDATE SET used = quota_counters.used + 1 WHERE quota_counters.used < %(limit)s
        RETURNING used
        """,
        {
            "scope": scope,
            "scope_id": scope_id,
            "kind": kind,
            "secs": window_secs,
            "start": window_start,
            "limit": limit,
        },
    ).fetchone()
    return int(row["used"]) if row else None


def used(
    conn: Conn, *, scope: str, scope_id: str, kind: str, window_secs: int, window_start: datetime
) -> int:
    row = conn.execute(
        """
        SELECT used FROM quota_counters
        WHERE scope = %(scope)s AND scope_id = %(scope_id)s AND kind = %(kind)s
          AND window_secs = %(secs)s AND window_start = %(start)s
        """,
        {"scope": scope, "scope_id": scope_id, "kind": kind, "secs": window_secs, "start": window_start},
    ).fetchone()
    return int(row["used"]) if row else 0


def delete_counters_before(conn: Conn, *, before: datetime) -> int:
    """Drop counters of windows that started before `before` (callers pass now - longest window)."""
    return conn.execute(
        "DELETE FROM quota_counters WHERE window_start < %(before)s", {"before": before}
    ).rowcount


def subject_age_band(conn: Conn, subject_id: uuid.UUID) -> str | None:
    row = conn.execute("SELECT age_band FROM subjects WHERE id = %(id)s", {"id": subject_id}).fetchone()
    return str(row["age_band"]) if row else None


# --- protected people -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProtectedPerson:
    id: uuid.UUID
    name: str
    aliases: list[str]
    subject_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    photos: int = 0  # face templates stored


_PERSON_COLUMNS = """
    p.id, p.name, p.aliases, p.subject_id, p.created_at, p.updated_at,
    (SELECT count(*) FROM templates t
     WHERE t.owner_kind = 'protected_person' AND t.owner_ref = p.id AND t.kind = 'face')::int AS photos
"""


def insert_person(conn: Conn, *, name: str, aliases: list[str], subject_id: uuid.UUID | None) -> uuid.UUID:
    pid = uuid.uuid4()
    conn.execute(
        "INSERT INTO protected_people (id, name, aliases, subject_id)"
        " VALUES (%(id)s, %(name)s, %(aliases)s, %(subject)s)",
        {"id": pid, "name": name, "aliases": aliases, "subject": subject_id},
    )
    return pid


def update_person(
    conn: Conn, *, person_id: uuid.UUID, name: str, aliases: list[str], subject_id: uuid.UUID | None
) -> int:
    return conn.execute(
        """
        UPDATE protected_people SET name = %(name)s, aliases = %(aliases)s, subject_id = %(subject)s,
                                    updated_at = now()
        WHERE id = %(id)s
        """,
        {"id": person_id, "name": name, "aliases": aliases, "subject": subject_id},
    ).rowcount


def get_person(conn: Conn, person_id: uuid.UUID) -> ProtectedPerson | None:
    row = conn.execute(
        f"SELECT {_PERSON_COLUMNS} FROM protected_people p WHERE p.id = %(id)s",  # noqa: S608 (fixed text)
        {"id": person_id},
    ).fetchone()
    return ProtectedPerson(**row) if row else None


def list_people(conn: Conn) -> list[ProtectedPerson]:
    rows = conn.execute(
        f"SELECT {_PERSON_COLUMNS} FROM protected_people p ORDER BY p.name"  # noqa: S608 (fixed text)
    ).fetchall()
    return [ProtectedPerson(**r) for r in rows]


def people_version(conn: Conn) -> uuid.UUID | None:
    """Changes with every change to the list (migration 0601); None if its row is gone."""
    row = conn.execute("SELECT version FROM protected_people_version").fetchone()
    return uuid.UUID(str(row["version"])) if row else None


def people_names(conn: Conn) -> list[ProtectedPerson]:
    """Everyone on the list with their names, by name: what the prompt matcher needs."""
    rows = conn.execute(
        "SELECT id, name, aliases, subject_id, created_at, updated_at FROM protected_people ORDER BY name"
    ).fetchall()
    return [ProtectedPerson(**r) for r in rows]


def people_by_ids(conn: Conn, ids: list[uuid.UUID]) -> list[ProtectedPerson]:
    rows = conn.execute(
        f"SELECT {_PERSON_COLUMNS} FROM protected_people p WHERE p.id = ANY(%(ids)s)",  # noqa: S608
        {"ids": ids},
    ).fetchall()
    return [ProtectedPerson(**r) for r in rows]


def delete_person(conn: Conn, person_id: uuid.UUID) -> int:
    return conn.execute("DELETE FROM protected_people WHERE id = %(id)s", {"id": person_id}).rowcount


def people_linked_to_cameos(conn: Conn, cameo_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Protected people whose own subject owns one of these cameos."""
    rows = conn.execute(
        """
        SELECT DISTINCT p.id FROM protected_people p JOIN cameos c ON c.owner_id = p.subject_id
        WHERE c.id = ANY(%(ids)s)
        """,
        {"ids": cameo_ids},
    ).fetchall()
    return {r["id"] for r in rows}


# --- cameos, read for rule evaluation (core table shared by every domain) ---------------------


@dataclass(frozen=True)
class CameoFacts:
    id: uuid.UUID
    owner_id: uuid.UUID
    owner_age_band: str
    status: str
    permission: str


def cameo_facts(conn: Conn, cameo_ids: list[uuid.UUID]) -> list[CameoFacts]:
    rows = conn.execute(
        """
        SELECT c.id, c.owner_id, s.age_band AS owner_age_band, c.status, c.permission
        FROM cameos c JOIN subjects s ON s.id = c.owner_id
        WHERE c.id = ANY(%(ids)s)
        """,
        {"ids": cameo_ids},
    ).fetchall()
    return [CameoFacts(**r) for r in rows]
