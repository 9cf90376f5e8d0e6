"""API keys and roles: keys are shown once, stored hashed, checked in constant time.

Every route declares the roles it allows with `Allow(...)`; tests walk the route table to make
sure no route forgot to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal, get_args

from fastapi import Request

from gate.db import Conn
from gate.errors import Conflict, Forbidden, NotFound, Unauthorized
from gate.web import DbConn

Role = Literal["platform", "user", "rights_holder", "auditor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
KEY_PREFIX = "cg"


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: str
    subject_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"


@dataclass(frozen=True)
class KeyRecord:
    id: str
    role: str
    subject_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    label: str
    created_at: object
    revoked_at: object


# --- storage ----------------------------------------------------------------------------------


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def create_key(
    conn: Conn,
    *,
    role: str,
    subject_id: uuid.UUID | None = None,
    organisation_id: uuid.UUID | None = None,
    label: str = "",
) -> tuple[str, KeyRecord]:
    """Create a key; return the full key (the only time it exists in clear) and its record."""
    if role not in ROLES:
        raise Conflict(f"unknown role {role!r}; one of {', '.join(ROLES)}", code="unknown_role")
    if role == "user" and subject_id is None:
        raise Conflict("a user key is bound to one subject", code="subject_required")
    if role == "rights_holder" and organisation_id is None:
        raise Conflict("a rights_holder key is bound to an organisation", code="organisation_required")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = conn.execute(
        """
        INSERT INTO api_keys (id, secret_sha256, role, subject_id, organisation_id, label)
        VALUES (%(id)s, %(digest)s, %(role)s, %(subject)s, %(org)s, %(label)s)
        RETURNING id, role, subject_id, organisation_id, label, created_at, revoked_at
        """,
        {
            "id": key_id,
            "digest": _digest(secret),
            "role": role,
            "subject": subject_id,
            "org": organisation_id,
            "label": label,
        },
    ).fetchone()
    assert row is not None
    return f"{KEY_PREFIX}_{key_id}_{secret}", KeyRecord(**row)


def list_keys(conn: Conn) -> list[KeyRecord]:
    rows = conn.execute(
        "SELECT id, role, subject_id, organisation_id, label, created_at, revoked_at"
        " FROM api_keys ORDER BY created_at"
    ).fetchall()
    return [KeyRecord(**r) for r in rows]


def revoke_key(conn: Conn, key_id: str) -> None:
    cur = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (key_id,)
    )
    if cur.rowcount == 0:
        raise NotFound(f"no active key {key_id!r}", code="key_not_found")


def ensure_subject(conn: Conn, subject_id: uuid.UUID | None = None, *, age_band: str = "adult") -> uuid.UUID:
    sid = subject_id or uuid.uuid4()
    conn.execute(
        "INSERT INTO subjects (id, age_band) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING", (sid, age_band)
    )
    return sid


def ensure_organisation(conn: Conn, name: str) -> uuid.UUID:
    row = conn.execute(
        """
        INSERT INTO organisations (id, name) VALUES (%s, %s)
        ON CONFLICT ON CONSTRAINT organisations_name_key DO UPDATE SET name = EXCLUDED.name
        RETURNING id
        """,
        (uuid.uuid4(), name),
    ).fetchone()
    assert row is not None
    return row["id"]


# A digest compared against when the key id is unknown, so both paths cost the same.
_DUMMY_DIGEST = _digest("not-a-key")


def authenticate(conn: Conn, presented: str) -> Principal:
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    row = None
    if prefix == KEY_PREFIX and key_id and secret:
        row = conn.execute(
            "SELECT id, secret_sha256, role, subject_id, organisation_id, revoked_at"
            " FROM api_keys WHERE id = %s",
            (key_id,),
        ).fetchone()
    stored = bytes(row["secret_sha256"]) if row else _DUMMY_DIGEST
    matches = hmac.compare_digest(stored, _digest(secret))
    if row is None or not matches or row["revoked_at"] is not None:
        raise Unauthorized("the API key is unknown, wrong or revoked", code="invalid_api_key")
    return Principal(row["id"], row["role"], row["subject_id"], row["organisation_id"])


# --- the route dependency ---------------------------------------------------------------------


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


class Allow:
    """`Depends(Allow("platform", "admin"))`: the caller's principal, if its role is listed."""

    def __init__(self, *roles: str) -> None:
        unknown = set(roles) - set(ROLES)
        if unknown or not roles:
            raise ValueError(f"Allow() needs known roles, got {roles}")
        self.roles = frozenset(roles)

    def __call__(self, request: Request, conn: DbConn) -> Principal:
        key = presented_key(request)
        if not key:
            raise Unauthorized("send the API key as 'Authorization: Bearer <key>'", code="missing_api_key")
        principal = authenticate(conn, key)
        if principal.role not in self.roles:
            raise Forbidden(
                f"role {principal.role!r} may not call this; allowed: {', '.join(sorted(self.roles))}",
                code="role_not_allowed",
            )
        request.state.principal = principal
        return principal
