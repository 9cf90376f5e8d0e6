"""API keys and roles: keys are shown once, stored hashed, checked in constant time.

Every route declares the roles it allows with `Allow(...)`; tests walk the route table to make
sure no route forgot to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from fastapi import Request
from psycopg_pool import AsyncConnectionPool
from starlette.concurrency import run_in_threadpool

from gate.db import AsyncConn, Conn
from gate.errors import Conflict, Forbidden, NotFound, Unauthorized
from gate.web import AppContext, DbConn, context_of

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


def revoke_key(conn: Conn, key_id: str, *, cache: KeyCache | None = None) -> None:
    """Revoke a key. Pass the serving process's cache so that this process refuses the key at
    once; every other process refuses it at the latest KEY_CACHE_TTL_SECONDS after the commit."""
    cur = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (key_id,)
    )
    if cur.rowcount == 0:
        raise NotFound(f"no active key {key_id!r}", code="key_not_found")
    if cache is not None:
        cache.drop(key_id)


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

# How long a process trusts a key it has authenticated without asking PostgreSQL again. The key
# query is a round trip on every keyed request (a third of a consent check's; issue #4), so keys
# are remembered briefly. What it costs: a key revoked elsewhere (`cameogate keys revoke`, another
# server process) is still accepted by this process for up to this long after the revocation
# commits. The process serving `DELETE /v1/keys/{id}` drops the key from its own cache at once.
# Consent itself (permissions, approvals, follows, epochs) is never cached (docs/CONSENT.md).
KEY_CACHE_TTL_SECONDS = 1.0


def _split(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed `cg_<id>_<secret>`, else None."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    return (key_id, secret) if prefix == KEY_PREFIX and key_id and secret else None


class KeyCache:
    """Keys this process authenticated in the last `ttl` seconds: key id → (stored digest,
    principal, expiry). Only successes are kept, and a hit still compares the presented secret's
    digest with the stored one, so a wrong secret is never accepted from here."""

    MAX_ENTRIES = 10_000

    def __init__(self, ttl: float = KEY_CACHE_TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[bytes, Principal, float]] = {}

    def get(self, presented: str) -> Principal | None:
        parts = _split(presented)
        entry = self._entries.get(parts[0]) if parts else None
        if parts is None or entry is None or entry[2] <= self.clock():
            return None
        return entry[1] if hmac.compare_digest(entry[0], _digest(parts[1])) else None

    def put(self, key_id: str, stored: bytes, principal: Principal, *, read_at: float) -> None:
        """`read_at`: the clock before the row was read, so the entry expires at most `ttl` after
        any revocation that the read did not see."""
        if len(self._entries) >= self.MAX_ENTRIES:
            now = self.clock()
            self._entries = {k: e for k, e in self._entries.items() if e[2] > now}
        self._entries[key_id] = (stored, principal, read_at + self.ttl)

    def drop(self, key_id: str) -> None:
        self._entries.pop(key_id, None)


_KEY_ROW = (
    "SELECT id, secret_sha256, role, subject_id, organisation_id, revoked_at FROM api_keys WHERE id = %s"
)


def authenticate(conn: Conn, presented: str, *, cache: KeyCache | None = None) -> Principal:
    if cache is not None and (hit := cache.get(presented)) is not None:
        return hit
    read_at = cache.clock() if cache is not None else 0.0
    key_id, secret = _split(presented) or ("", "")
    row = conn.execute(_KEY_ROW, (key_id,)).fetchone() if key_id else None
    return _admit_row(row, key_id, secret, cache, read_at)


async def authenticate_async(conn: AsyncConn, presented: str, *, cache: KeyCache) -> Principal:
    """authenticate() on an asyncio connection, in the event loop. It always queries: its caller
    (`AllowInLoop`) has just missed the cache."""
    read_at = cache.clock()
    key_id, secret = _split(presented) or ("", "")
    row = await (await conn.execute(_KEY_ROW, (key_id,))).fetchone() if key_id else None
    return _admit_row(row, key_id, secret, cache, read_at)


def _admit_row(
    row: dict[str, Any] | None, key_id: str, secret: str, cache: KeyCache | None, read_at: float
) -> Principal:
    stored = bytes(row["secret_sha256"]) if row else _DUMMY_DIGEST
    matches = hmac.compare_digest(stored, _digest(secret))
    if row is None or not matches or row["revoked_at"] is not None:
        raise Unauthorized("the API key is unknown, wrong or revoked", code="invalid_api_key")
    principal = Principal(row["id"], row["role"], row["subject_id"], row["organisation_id"])
    if cache is not None:
        cache.put(key_id, stored, principal, read_at=read_at)
    return principal


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

    async def __call__(self, request: Request, conn: DbConn) -> Principal:
        return await self._admit(
            request, lambda key, cache: run_in_threadpool(authenticate, conn, key, cache=cache)
        )

    async def _admit(
        self, request: Request, lookup: Callable[[str, KeyCache], Awaitable[Principal]]
    ) -> Principal:
        # async: a cached key costs no trip to a worker thread (each is a GIL hand-over and a
        # wake-up, dear on a busy machine); only a cache miss queries, through `lookup`.
        key = presented_key(request)
        if not key:
            raise Unauthorized("send the API key as 'Authorization: Bearer <key>'", code="missing_api_key")
        cache = context_of(request).key_cache
        principal = cache.get(key)
        if principal is None:
            principal = await lookup(key, cache)
        if principal.role not in self.roles:
            raise Forbidden(
                f"role {principal.role!r} may not call this; allowed: {', '.join(sorted(self.roles))}",
                code="role_not_allowed",
            )
        request.state.principal = principal
        return principal


class AllowInLoop(Allow):
    """`Allow` for a route served in the event loop on asyncio connections (the consent check):
    a key missing from the cache is looked up on the asyncio pool that `pool(ctx)` gives, in the
    loop itself, and the request takes no synchronous connection at all. Looked up in a worker
    thread instead, as a cached key is once per KEY_CACHE_TTL_SECONDS, each lookup came with a
    6-10 ms stall of the loop: once a second under steady load (docs/CONSENT.md)."""

    def __init__(self, *roles: str, pool: Callable[[AppContext], AsyncConnectionPool[AsyncConn]]) -> None:
        super().__init__(*roles)
        self.pool = pool

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        async def lookup(key: str, cache: KeyCache) -> Principal:
            async with self.pool(context_of(request)).connection() as conn:
                return await authenticate_async(conn, key, cache=cache)

        return await self._admit(request, lookup)
