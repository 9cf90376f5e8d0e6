"""Notifications: webhook endpoints, fan-out of the outbox to them, and signed delivery with retries.

Every outbox row (written in the transaction of the change it announces, gate.outbox) becomes one
delivery per matching endpoint: the owner's endpoints for `subject_id`, the platform key's for
`platform_key_id`. A delivery is a POST of the event as JSON with

    Cameogate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(endpoint secret, f"{t}.{body}")>
    Idempotency-Key: <the outbox row's key>   (the same on every retry: receivers de-duplicate)

retried with exponential backoff (policy: base * 2**(attempt-1), capped) until a 2xx or the last
attempt. Each delivery is claimed with FOR UPDATE SKIP LOCKED, so several workers can share the
work; the lock is held during the HTTP call (bounded by the policy's timeout).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gate import audit
from gate.auth import Principal
from gate.db import Conn
from gate.errors import NotFound
from policies.schema import Consent
from policies.service import ActivePolicy

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Cameogate-Signature"


@dataclass(frozen=True)
class Endpoint:
    id: uuid.UUID
    subject_id: uuid.UUID | None
    platform_key_id: str | None
    url: str
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class Notification:
    id: int
    event: str
    idempotency_key: uuid.UUID
    payload: dict[str, Any]
    created_at: datetime
    deliveries: int
    delivered: int


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: bytes, header: str, body: bytes, *, now: float, tolerance: int = 300) -> bool:
    """What a receiver does (tests and docs use it): right MAC, timestamp within `tolerance` s."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = sign(secret, ts, body).split("v1=", 1)[1]
    return abs(now - ts) <= tolerance and hmac.compare_digest(expected, parts.get("v1", ""))


def backoff_seconds(rules: Consent, attempts: int) -> float:
    return float(
        min(rules.webhook_backoff_base_seconds * 2 ** (attempts - 1), rules.webhook_backoff_max_seconds)
    )


# --- endpoints (store and service in one: four statements) -------------------------------------


def register_endpoint(
    conn: Conn,
    *,
    policy: ActivePolicy,
    principal: Principal,
    url: str,
    subject_id: uuid.UUID | None = None,
    platform_key_id: str | None = None,
) -> tuple[Endpoint, bytes]:
    """A new endpoint and its signing secret (returned once, to show the caller).

    Only http(s) URLs are accepted (the schema checks); which hosts may be reached is left to the
    deployment's egress rules (an SSRF guard by address is listed as left to do in docs/CONSENT.md).
    """
    secret = secrets.token_bytes(32)
    row = conn.execute(
        """
        INSERT INTO webhook_endpoints (id, subject_id, platform_key_id, url, secret)
        VALUES (%(id)s, %(subject)s, %(platform)s, %(url)s, %(secret)s)
        RETURNING id, subject_id, platform_key_id, url, created_at, disabled_at
        """,
        {
            "id": uuid.uuid4(),
            "subject": subject_id,
            "platform": platform_key_id,
            "url": url,
            "secret": secret,
        },
    ).fetchone()
    assert row is not None
    endpoint = Endpoint(**row)
    audit.record(
        conn, actor=principal, action="consent.webhook_register", policy_version=policy.version,
        subject_id=subject_id, target_kind="webhook", target_id=endpoint.id, details={"url": url},
    )  # fmt: skip
    return endpoint, secret


def list_endpoints(
    conn: Conn, *, subject_id: uuid.UUID | None = None, platform_key_id: str | None = None
) -> list[Endpoint]:
    rows = conn.execute(
        """
        SELECT id, subject_id, platform_key_id, url, created_at, disabled_at FROM webhook_endpoints
        WHERE disabled_at IS NULL
          AND (subject_id = %(subject)s OR platform_key_id = %(platform)s)
        ORDER BY created_at
        """,
        {"subject": subject_id, "platform": platform_key_id},
    ).fetchall()
    return [Endpoint(**r) for r in rows]


def disable_endpoint(
    conn: Conn,
    endpoint_id: uuid.UUID,
    *,
    subject_id: uuid.UUID | None = None,
    platform_key_id: str | None = None,
) -> None:
    cur = conn.execute(
        """
        UPDATE webhook_endpoints SET disabled_at = now()
        WHERE id = %(id)s AND disabled_at IS NULL
          AND (subject_id = %(subject)s OR platform_key_id = %(platform)s)
        """,
        {"id": endpoint_id, "subject": subject_id, "platform": platform_key_id},
    )
    if cur.rowcount == 0:
        raise NotFound(f"no endpoint {endpoint_id}", code="endpoint_not_found")


def recent(conn: Conn, *, subject_id: uuid.UUID, limit: int) -> list[Notification]:
    """An owner's latest notifications, newest first, with how many deliveries reached an endpoint."""
    rows = conn.execute(
        """
        SELECT o.id, o.event, o.idempotency_key, o.payload, o.created_at,
               count(d.id) AS deliveries, count(d.id) FILTER (WHERE d.status = 'delivered') AS delivered
        FROM outbox o LEFT JOIN webhook_deliveries d ON d.outbox_id = o.id
        WHERE o.subject_id = %(subject)s
        GROUP BY o.id ORDER BY o.id DESC LIMIT %(limit)s
        """,
        {"subject": subject_id, "limit": limit},
    ).fetchall()
    return [Notification(**r) for r in rows]


# --- the worker -------------------------------------------------------------------------------


def dispatch(conn: Conn, *, now: datetime, batch: int = 500) -> int:
    """Fan new outbox rows out to one pending delivery per matching endpoint; returns rows handled."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT id FROM outbox WHERE dispatched_at IS NULL"
            " ORDER BY id LIMIT %(n)s FOR UPDATE SKIP LOCKED",
            {"n": batch},
        ).fetchall()
        ids = [r["id"] for r in rows]
        if ids:
            conn.execute(
                """
                INSERT INTO webhook_deliveries (outbox_id, endpoint_id, next_attempt_at)
                SELECT o.id, e.id, %(now)s FROM outbox o
                JOIN webhook_endpoints e ON e.disabled_at IS NULL
                 AND (e.subject_id = o.subject_id OR e.platform_key_id = o.platform_key_id)
                WHERE o.id = ANY(%(ids)s)
                ON CONFLICT ON CONSTRAINT webhook_deliveries_once DO NOTHING
                """,
                {"ids": ids, "now": now},
            )
            conn.execute("UPDATE outbox SET dispatched_at = now() WHERE id = ANY(%(ids)s)", {"ids": ids})
    return len(ids)


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310  (http(s) only, checked at registration)
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def deliver_due(conn: Conn, *, rules: Consent, now: datetime | None = None, limit: int = 100) -> int:
    """Attempt every delivery that is due, one transaction each; returns how many were attempted."""
    attempted = 0
    while attempted < limit:
        at = now or datetime.now(UTC)
        with conn.transaction():
            row = conn.execute(
                """
                SELECT d.id, d.attempts, e.url, e.secret, o.event, o.idempotency_key, o.payload, o.created_at
                FROM webhook_deliveries d
                JOIN webhook_endpoints e ON e.id = d.endpoint_id
                JOIN outbox o ON o.id = d.outbox_id
                WHERE d.status = 'pending' AND d.next_attempt_at <= %(now)s
                ORDER BY d.next_attempt_at
                LIMIT 1
                FOR UPDATE OF d SKIP LOCKED
                """,
                {"now": at},
            ).fetchone()
            if row is None:
                break
            attempted += 1
            body = json.dumps(
                {
                    "id": str(row["idempotency_key"]),
                    "event": row["event"],
                    "created_at": row["created_at"].isoformat(),
                    "data": row["payload"],
                },
                separators=(",", ":"),
            ).encode()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "cameogate-webhooks/1",
                "Idempotency-Key": str(row["idempotency_key"]),
                "Cameogate-Event": row["event"],
                SIGNATURE_HEADER: sign(bytes(row["secret"]), int(at.timestamp()), body),
            }
            status: int | None = None
            error: str | None = None
            try:
                status = _post(row["url"], body, headers, rules.webhook_timeout_seconds)
            except (OSError, ValueError) as exc:  # refused, timed out, DNS, bad URL
                error = f"{type(exc).__name__}: {exc}"[:500]
            attempts = row["attempts"] + 1
            if status is not None and 200 <= status < 300:
                conn.execute(
                    """
                    UPDATE webhook_deliveries SET status = 'delivered', attempts = %(n)s,
                           last_status = %(status)s, last_error = NULL, delivered_at = %(now)s
                    WHERE id = %(id)s
                    """,
                    {"id": row["id"], "n": attempts, "status": status, "now": at},
                )
            else:
                give_up = attempts >= rules.webhook_max_attempts
                conn.execute(
                    """
                    UPDATE webhook_deliveries SET status = %(state)s, attempts = %(n)s,
                           last_status = %(status)s, last_error = %(error)s, next_attempt_at = %(next)s
                    WHERE id = %(id)s
                    """,
                    {
                        "id": row["id"],
                        "n": attempts,
                        "state": "failed" if give_up else "pending",
                        "status": status,
                        "error": error or f"HTTP {status}",
                        "next": at + timedelta(seconds=backoff_seconds(rules, attempts)),
                    },
                )
                log.warning(
                    "webhook delivery %s failed (attempt %s): %s", row["id"], attempts, error or status
                )
    return attempted


def run_once(conn: Conn, *, rules: Consent, now: datetime | None = None) -> int:
    """One pass of the worker: fan out new events, then attempt what is due. Tests call this.

    `conn` should be in autocommit mode: each claim is then its own short transaction (inside an
    open transaction they would be savepoints and the row locks would outlive the pass)."""
    at = now or datetime.now(UTC)
    dispatch(conn, now=at)
    return deliver_due(conn, rules=rules, now=at)


def run_forever(
    conn: Conn, *, rules: Consent, stop: threading.Event, idle_seconds: float = 1.0, passes: int | None = None
) -> None:
    """Pass after pass until `stop` is set (or `passes` have run), idling when there is nothing to do."""
    done = 0
    while not stop.is_set() and (passes is None or done < passes):
        done += 1
        try:
            busy = run_once(conn, rules=rules)
        except Exception:
            log.exception("notification pass failed")
            busy = 0
        if not busy:
            stop.wait(idle_seconds)
