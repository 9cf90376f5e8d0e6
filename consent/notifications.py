"""Notifications: webhook endpoints, fan-out of the outbox to them, and signed delivery with retries.

Every outbox row (written in the transaction of the change it announces, gate.outbox) becomes one
delivery per matching endpoint: the owner's endpoints for `subject_id`, the platform key's for
`platform_key_id`. A delivery is a POST of the event as JSON with

    Cameogate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(endpoint secret, f"{t}.{body}")>
    Idempotency-Key: <the outbox row's key>   (the same on every retry: receivers de-duplicate)

retried with exponential backoff (policy: base * 2**(attempt-1), capped) until a 2xx or the last
attempt. Each delivery is claimed with FOR UPDATE SKIP LOCKED, so several workers can share the
work; the lock is held during the HTTP call (bounded by the policy's timeout).

SSRF guard: an endpoint URL must be http(s) without credentials, and every address its host
resolves to must be public (`address_allowed`) unless `CAMEOGATE_WEBHOOK_ALLOW_PRIVATE` is set
(tests, local development). It is checked at registration and again before every delivery,
which connects to the very address it checked (DNS may answer differently by then: rebinding)
and never follows a redirect (a 3xx is a failed attempt, retried with the normal backoff).

Secrets at rest: sealed with the service keyring (the templates' one, gate/crypto.py), bound to
the endpoint id; the worker opens them to sign.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit

from cryptography.exceptions import InvalidTag

from gate import audit
from gate.auth import Principal
from gate.crypto import Keyring, Sealed
from gate.db import Conn
from gate.errors import NotFound, ValidationFailed
from gate.settings import Settings
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


# --- the SSRF guard ---------------------------------------------------------------------------


class UrlNotAllowed(ValidationFailed):
    code = "webhook_url_not_allowed"
    title = "The webhook URL is not allowed"


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (a literal IP resolves to itself). Tests replace this."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """A public unicast address; or, when private receivers are allowed, any one host's address
    (loopback and private networks for development, never a group, "any" or broadcast)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0") is dropped
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 (Python 3.11 does not map it itself)
    if ip.is_multicast or ip.is_unspecified:
        return False
    if allow_private:
        # 240.0.0.0/4 and the broadcast address are IPv4's "reserved"; IPv6's reserved ranges
        # include ::1, which development needs.
        return not (isinstance(ip, ipaddress.IPv4Address) and ip.is_reserved)
    # Multicast, which is_global alone would let through (224.0.0.0/4 is "global"), is refused
    # above; the rest say why for a reader.
    return ip.is_global and not (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_reserved)


def check_url(url: str, *, allow_private: bool) -> tuple[SplitResult, str]:
    """The URL's parts and the address to connect to, or UrlNotAllowed.

    Every address the host resolves to must be allowed, not just one: a name that answers with a
    public and a private address would otherwise reach the private one on some attempts."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlNotAllowed("only http and https URLs with a host are allowed")
    if parts.username is not None or parts.password is not None:
        raise UrlNotAllowed("credentials in the URL are not allowed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = resolve(parts.hostname, port)
    except (OSError, ValueError) as exc:  # no such name, port out of range
        raise UrlNotAllowed(f"{parts.hostname} cannot be resolved") from exc
    refused = [a for a in addresses if not address_allowed(a, allow_private=allow_private)]
    if refused or not addresses:
        raise UrlNotAllowed(
            f"{parts.hostname} resolves to an address that is not public ({', '.join(refused)})"
        )
    return parts, addresses[0]


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP, or HTTPS with normal certificate checks against the URL's host, to an address the guard
    already checked, so the connection cannot be steered elsewhere by a second DNS answer.
    http.client, unlike urllib, never follows redirects (nor reads proxy variables)."""

    def __init__(self, parts: SplitResult, address: str, timeout: float) -> None:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        super().__init__(str(parts.hostname), port, timeout=timeout)
        self.address = address
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host) if self.tls else sock


# --- secrets at rest ----------------------------------------------------------------------------


def _associated(endpoint_id: uuid.UUID) -> bytes:
    return f"webhook:{endpoint_id}".encode()  # a sealed secret copied onto another endpoint fails


def _open_secret(keyring: Keyring, row: dict[str, Any]) -> bytes:
    if row["secret_key_id"] is None:  # a clear row not sealed yet (seal_secrets)
        return bytes(row["secret"])
    sealed = Sealed(row["secret_key_id"], bytes(row["secret_nonce"]), bytes(row["secret"]))
    return keyring.open(sealed, _associated(row["endpoint_id"]))


def _secret_columns(keyring: Keyring, endpoint_id: uuid.UUID, secret: bytes) -> dict[str, Any]:
    """The row's secret, secret_key_id and secret_nonce, sealed."""
    sealed = keyring.seal(secret, _associated(endpoint_id))
    return {"secret": sealed.ciphertext, "key_id": sealed.key_id, "nonce": sealed.nonce}


def seal_secrets(conn: Conn, keyring: Keyring) -> int:
    """Seal, under the keyring's first key, the secrets stored in clear or under a retired key;
    returns how many.

    Clear rows are from before migration 0210 (registration seals new ones); rows under another
    key are from before a key rotation. A migration cannot reach the keyring, so this runs at the
    start of every worker pass: one look-up that finds nothing once all are sealed under the
    current key, and no such row outlives the next pass (sealing only "on first use" would leave
    idle endpoints behind). `cameogate reseal` runs it too."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT id AS endpoint_id, secret, secret_key_id, secret_nonce FROM webhook_endpoints"
            " WHERE secret_key_id IS NULL OR secret_key_id < %(key)s OR secret_key_id > %(key)s"
            " FOR UPDATE SKIP LOCKED",  # "not this key", as ranges an index answers (migration 0211)
            {"key": keyring.active_id},
        ).fetchall()
        sealed = 0
        for r in rows:
            try:
                secret = _open_secret(keyring, r)
            except (KeyError, InvalidTag):
                # Its key left the ring before it was re-sealed: the row stays as it is, and each
                # delivery to it fails on its own (deliver_due), not the pass for everyone.
                log.warning("webhook endpoint %s: its secret cannot be opened", r["endpoint_id"])
                continue
            conn.execute(
                "UPDATE webhook_endpoints SET secret = %(secret)s, secret_key_id = %(key_id)s,"
                " secret_nonce = %(nonce)s WHERE id = %(id)s",
                {"id": r["endpoint_id"], **_secret_columns(keyring, r["endpoint_id"], secret)},
            )
            sealed += 1
    return sealed


# --- endpoints (store and service in one: four statements) -------------------------------------


def register_endpoint(
    conn: Conn,
    *,
    policy: ActivePolicy,
    principal: Principal,
    url: str,
    subject_id: uuid.UUID | None = None,
    platform_key_id: str | None = None,
    settings: Settings,
) -> tuple[Endpoint, bytes]:
    """A new endpoint and its signing secret (returned once, to show the caller, and stored
    sealed). The URL must pass the SSRF guard (UrlNotAllowed, 422); the worker checks the address
    again before every delivery (DNS can change in between)."""
    check_url(url, allow_private=settings.webhook_allow_private)
    endpoint_id, secret = uuid.uuid4(), secrets.token_bytes(32)
    keyring = settings.keyring()
    row = conn.execute(
        """
        INSERT INTO webhook_endpoints
               (id, subject_id, platform_key_id, url, secret, secret_key_id, secret_nonce)
        VALUES (%(id)s, %(subject)s, %(platform)s, %(url)s, %(secret)s, %(key_id)s, %(nonce)s)
        RETURNING id, subject_id, platform_key_id, url, created_at, disabled_at
        """,
        {
            "id": endpoint_id,
            "subject": subject_id,
            "platform": platform_key_id,
            "url": url,
            **_secret_columns(keyring, endpoint_id, secret),
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


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float, *, allow_private: bool) -> int:
    """POST to `url` after the SSRF guard; the response status, a 3xx included (not followed)."""
    parts, address = check_url(url, allow_private=allow_private)
    connection = _PinnedConnection(parts, address, timeout)
    target = parts.path or "/"
    try:
        connection.request(
            "POST", f"{target}?{parts.query}" if parts.query else target, body,
            {**headers, "Host": parts.netloc},
        )  # fmt: skip
        return connection.getresponse().status
    finally:
        connection.close()


def deliver_due(
    conn: Conn,
    *,
    rules: Consent,
    keyring: Keyring,
    allow_private: bool = False,
    now: datetime | None = None,
    limit: int = 100,
) -> int:
    """Attempt every delivery that is due, one transaction each; returns how many were attempted."""
    attempted = 0
    while attempted < limit:
        at = now or datetime.now(UTC)
        with conn.transaction():
            row = conn.execute(
                """
                SELECT d.id, d.attempts, d.endpoint_id, e.url, e.secret, e.secret_key_id, e.secret_nonce,
                       o.event, o.idempotency_key, o.payload, o.created_at
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
            }
            status: int | None = None
            error: str | None = None
            try:
                headers[SIGNATURE_HEADER] = sign(_open_secret(keyring, row), int(at.timestamp()), body)
                status = _post(
                    row["url"], body, headers, rules.webhook_timeout_seconds, allow_private=allow_private
                )
            except UrlNotAllowed as exc:  # the guard, at send time: a failed attempt like any other
                error = f"{exc.code}: {exc.detail}"[:500]
            except (KeyError, InvalidTag) as exc:  # sealed under a key no longer in the ring
                # A failed attempt rather than a crash: the row would otherwise stall every pass.
                error = f"the secret cannot be opened: {type(exc).__name__}: {exc}"[:500]
            except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, timed out, TLS
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


def run_once(
    conn: Conn, *, rules: Consent, keyring: Keyring, allow_private: bool = False, now: datetime | None = None
) -> int:
    """One pass of the worker: seal clear secrets, fan out new events, then attempt what is due.
    Tests call this.

    `conn` should be in autocommit mode: each claim is then its own short transaction (inside an
    open transaction they would be savepoints and the row locks would outlive the pass)."""
    at = now or datetime.now(UTC)
    seal_secrets(conn, keyring)
    dispatch(conn, now=at)
    return deliver_due(conn, rules=rules, keyring=keyring, allow_private=allow_private, now=at)


def run_forever(
    conn: Conn,
    *,
    rules: Consent,
    keyring: Keyring,
    allow_private: bool = False,
    stop: threading.Event,
    idle_seconds: float = 1.0,
    passes: int | None = None,
) -> None:
    """Pass after pass until `stop` is set (or `passes` have run), idling when there is nothing to do."""
    done = 0
    while not stop.is_set() and (passes is None or done < passes):
        done += 1
        try:
            busy = run_once(conn, rules=rules, keyring=keyring, allow_private=allow_private)
        except Exception:
            log.exception("notification pass failed")
            busy = 0
        if not busy:
            stop.wait(idle_seconds)
