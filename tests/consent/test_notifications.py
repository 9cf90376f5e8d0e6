"""Webhook delivery against a real local HTTP server: signatures, idempotency keys, backoff, give-up."""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from consent import notifications
from gate import auth, outbox
from gate.auth import Principal
from gate.crypto import Keyring
from gate.db import Conn, connect
from gate.settings import Settings
from policies.schema import Consent
from policies.service import load_file
from tests.conftest import KeyMaker
from tests.consent.conftest import CameoMaker, subject_of
from tests.pg import one_row


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in order; 200 once exhausted
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    location: str | None = None  # sent with every answer when set (a redirect)


def serve(tls: ssl.SSLContext | None = None) -> Generator[Receiver, None, None]:
    """A receiver on 127.0.0.1 (HTTPS with `tls`) until the generator is closed."""
    box = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            box.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = box.statuses.pop(0) if box.statuses else 200
            self.send_response(status)
            if box.location:
                self.send_header("Location", box.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    box.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """The receivers here listen on 127.0.0.1, which the SSRF guard refuses unless told otherwise."""
    return Settings(database_url=db_url, var_dir=tmp_path / "var", webhook_allow_private=True)


@pytest.fixture
def rules(settings) -> Consent:
    return load_file(settings.policy_file).policy.consent


@pytest.fixture
def worker_conn(db_url: str) -> Iterator[Conn]:
    with connect(db_url, autocommit=True) as c:
        yield c


@pytest.fixture
def run_once(worker_conn: Conn, rules: Consent, settings: Settings) -> Callable[..., int]:
    """One worker pass as the notify-worker command runs it with these settings."""

    def _run(now: datetime | None = None, *, allow_private: bool = settings.webhook_allow_private) -> int:
        return notifications.run_once(
            worker_conn, rules=rules, keyring=settings.keyring(), allow_private=allow_private, now=now
        )

    return _run


def ask_for_approval(client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker, url: str) -> tuple:
    owner, fan = make_key("user"), make_key("user")
    hook = client.post("/v1/webhooks", json={"url": url}, headers=owner)
    assert hook.status_code == 201
    cameo = make_cameo(owner=subject_of(owner), permission="approved")
    assert client.post(f"/v1/cameos/{cameo}/approval-requests", json={}, headers=fan).status_code == 201
    return owner, fan, cameo, bytes.fromhex(hook.json()["secret"])


def test_an_owner_endpoint_receives_a_signed_event_with_an_idempotency_key(
    client: TestClient,
    make_key: KeyMaker,
    make_cameo: CameoMaker,
    receiver: Receiver,
    worker_conn: Conn,
    rules,
    run_once,
) -> None:
    owner, fan, cameo, secret = ask_for_approval(client, make_key, make_cameo, receiver.url)
    now = datetime.now(UTC)
    assert run_once(now=now) == 1
    [(headers, body)] = receiver.received
    assert notifications.verify_signature(secret, headers["cameogate-signature"], body, now=now.timestamp())
    assert not notifications.verify_signature(
        b"x" * 32, headers["cameogate-signature"], body, now=now.timestamp()
    )
    assert not notifications.verify_signature(
        secret, headers["cameogate-signature"], body + b" ", now=now.timestamp()
    )
    event = json.loads(body)
    key = one_row(worker_conn.execute("SELECT idempotency_key FROM outbox"))["idempotency_key"]
    assert headers["idempotency-key"] == event["id"] == str(key)
    assert event["event"] == headers["cameogate-event"] == "approval.requested"
    assert event["data"] == {"cameo_id": str(cameo), "requester_id": str(subject_of(fan))}
    assert run_once(now=now) == 0  # nothing sent twice
    listed = client.get("/v1/notifications", headers=owner).json()
    assert [(n["event"], n["deliveries"], n["delivered"]) for n in listed] == [("approval.requested", 1, 1)]
    assert client.get("/v1/notifications", headers=fan).json() == []


def test_a_failing_endpoint_is_retried_with_exponential_backoff_and_the_same_key(
    client: TestClient,
    make_key: KeyMaker,
    make_cameo: CameoMaker,
    receiver: Receiver,
    worker_conn: Conn,
    rules,
    run_once,
) -> None:
    receiver.statuses = [500, 503]
    ask_for_approval(client, make_key, make_cameo, receiver.url)
    t0 = datetime.now(UTC)
    base = rules.webhook_backoff_base_seconds
    assert run_once(now=t0) == 1  # 500
    row = worker_conn.execute(
        "SELECT status, attempts, next_attempt_at, last_status FROM webhook_deliveries"
    ).fetchone()
    assert row is not None
    assert (row["status"], row["attempts"], row["last_status"]) == ("pending", 1, 500)
    assert row["next_attempt_at"] == t0 + timedelta(seconds=base)
    assert run_once(now=t0 + timedelta(seconds=base - 0.5)) == 0  # not due
    t1 = t0 + timedelta(seconds=base)
    assert run_once(now=t1) == 1  # 503
    row = worker_conn.execute("SELECT attempts, next_attempt_at FROM webhook_deliveries").fetchone()
    assert row is not None
    assert row["attempts"] == 2 and row["next_attempt_at"] == t1 + timedelta(seconds=2 * base)
    assert run_once(now=t1 + timedelta(seconds=2 * base)) == 1  # 200
    row = worker_conn.execute("SELECT status, attempts FROM webhook_deliveries").fetchone()
    assert row is not None
    assert (row["status"], row["attempts"]) == ("delivered", 3)
    keys = {h["idempotency-key"] for h, _ in receiver.received}
    assert len(receiver.received) == 3 and len(keys) == 1


def test_an_unreachable_endpoint_is_given_up_after_the_last_attempt(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker, worker_conn: Conn, rules, run_once
) -> None:
    ask_for_approval(client, make_key, make_cameo, "http://127.0.0.1:9/nothing-listens-here")
    at = datetime.now(UTC)
    for _ in range(rules.webhook_max_attempts):
        assert run_once(now=at) == 1
        at += timedelta(seconds=rules.webhook_backoff_max_seconds)
    row = worker_conn.execute("SELECT status, attempts, last_error FROM webhook_deliveries").fetchone()
    assert row is not None
    assert row["status"] == "failed" and row["attempts"] == rules.webhook_max_attempts
    assert "refused" in row["last_error"].lower()
    assert run_once(now=at) == 0


def test_backoff_doubles_and_is_capped(rules: Consent) -> None:
    delays = [notifications.backoff_seconds(rules, n) for n in range(1, 13)]
    assert delays[:3] == [2.0, 4.0, 8.0] and max(delays) == rules.webhook_backoff_max_seconds


def test_platform_endpoints_hear_of_takedowns_and_can_be_removed(
    client: TestClient, make_key: KeyMaker, receiver: Receiver, worker_conn: Conn, rules, run_once
) -> None:
    platform = make_key("platform")
    hook = client.post("/v1/webhooks", json={"url": receiver.url}, headers=platform).json()
    assert [h["id"] for h in client.get("/v1/webhooks", headers=platform).json()] == [hook["id"]]
    pkey = one_row(worker_conn.execute("SELECT id FROM api_keys WHERE role = 'platform'"))["id"]
    outbox.enqueue(worker_conn, event="clip.removed", payload={"clip_id": "c"}, platform_key_id=pkey)
    assert run_once() == 1
    assert json.loads(receiver.received[0][1])["event"] == "clip.removed"
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=platform).status_code == 204
    assert client.get("/v1/webhooks", headers=platform).json() == []
    outbox.enqueue(worker_conn, event="clip.removed", payload={"clip_id": "d"}, platform_key_id=pkey)
    assert run_once() == 0
    other = make_key("platform")
    resp = client.delete(f"/v1/webhooks/{hook['id']}", headers=other)
    assert resp.status_code == 404 and resp.json()["code"] == "endpoint_not_found"


def test_the_notify_worker_command_delivers_and_purges_old_token_records_and_quota_windows(
    client: TestClient,
    make_key: KeyMaker,
    make_cameo: CameoMaker,
    receiver: Receiver,
    settings,
    worker_conn,
    capsys,
) -> None:
    import argparse

    from consent.commands import _notify_worker

    ask_for_approval(client, make_key, make_cameo, receiver.url)
    worker_conn.execute(
        "INSERT INTO consent_grants (token_id, requester_id, cameo_ids, expires_at) VALUES"
        " ('old', gen_random_uuid(), '{}', now() - interval '2 hours'),"
        " ('live', gen_random_uuid(), '{}', now() + interval '5 minutes')"
    )
    # A counter of a window that ended days ago, and one of the current hour.
    worker_conn.execute(
        "INSERT INTO quota_counters (scope, scope_id, kind, window_secs, window_start, used) VALUES"
        " ('subject', 'ended', 'generation', 3600, now() - interval '3 days', 5),"
        " ('subject', 'current', 'generation', 3600, date_trunc('hour', now()), 2)"
    )
    assert _notify_worker(argparse.Namespace(once=True, idle=0.1), settings) == 0
    assert "attempted 1 deliveries" in capsys.readouterr().out
    assert len(receiver.received) == 1
    left = [r["token_id"] for r in worker_conn.execute("SELECT token_id FROM consent_grants")]
    assert left == ["live"]
    counters = [r["scope_id"] for r in worker_conn.execute("SELECT scope_id FROM quota_counters")]
    assert counters == ["current"]


# --- the SSRF guard and sealed secrets -----------------------------------------------------------

PUBLIC = "93.184.216.34"


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Answers for made-up names, behind the resolver the guard calls; other names resolve for real."""
    answers: dict[str, list[str]] = {}
    real = notifications.resolve
    monkeypatch.setattr(notifications, "resolve", lambda host, port: answers.get(host) or real(host, port))
    return answers


def register(conn: Conn, ctx, settings: Settings, url: str) -> tuple[uuid.UUID, bytes]:
    """An owner's endpoint registered as the route registers it, with these settings."""
    owner = auth.ensure_subject(conn)
    _, secret = notifications.register_endpoint(
        conn, policy=ctx.policies.current, principal=Principal(key_id="k", role="user", subject_id=owner),
        url=url, subject_id=owner, settings=settings,
    )  # fmt: skip
    conn.commit()
    return owner, secret


def test_registration_refuses_urls_that_are_not_public_http(
    conn: Conn, ctx, settings: Settings, dns: dict[str, list[str]]
) -> None:
    strict = settings.model_copy(update={"webhook_allow_private": False})
    dns.update({"hooks.example.com": [PUBLIC], "inside.example.com": ["10.0.0.5"],
                "both.example.com": [PUBLIC, "192.168.1.9"]})  # fmt: skip
    refused = [
        "http://127.0.0.1:5432/", "http://10.0.0.7/h", "http://172.16.5.4/h", "http://192.168.0.1/h",
        "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0/", "http://100.64.0.1/",
        "http://224.0.0.1/", "http://240.0.0.1/", "http://255.255.255.255/",
        "http://[::1]/", "http://[::]/", "http://[fe80::1]/", "http://[fc00::1]/", "http://[ff02::1]/",
        "http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/",  # IPv4-mapped loopback, metadata
        "http://localhost:8000/hooks", "http://inside.example.com/", "http://both.example.com/",
        "http://user:pw@hooks.example.com/", "http://token@hooks.example.com/",
        "ftp://hooks.example.com/", "file:///etc/passwd", "gopher://hooks.example.com/",
        "http://no-such-host.invalid/",
    ]  # fmt: skip
    for url in refused:
        with pytest.raises(notifications.UrlNotAllowed) as caught:
            register(conn, ctx, strict, url)
        assert (caught.value.status, caught.value.code) == (422, "webhook_url_not_allowed"), url
        conn.rollback()
    assert conn.execute("SELECT count(*) AS n FROM webhook_endpoints").fetchone() == {"n": 0}
    register(conn, ctx, strict, "https://hooks.example.com/cameogate?v=1")  # a public one is fine
    # Private receivers allowed (development): one host's address, never a group, "any" or broadcast.
    for url in ["http://224.0.0.1/", "http://[ff02::1]/", "http://0.0.0.0/", "http://[::]/",
                "http://255.255.255.255/", "http://240.0.0.1/", "http://[::ffff:224.0.0.1]/"]:  # fmt: skip
        with pytest.raises(notifications.UrlNotAllowed):
            register(conn, ctx, settings, url)
        conn.rollback()
    for url in ["http://localhost:8000/hooks", "http://[::1]:8000/", "http://10.0.0.7/h"]:
        register(conn, ctx, settings, url)


def test_a_secret_is_sealed_at_rest_and_still_signs(
    client: TestClient, make_key: KeyMaker, conn: Conn, receiver: Receiver, run_once
) -> None:
    owner = make_key("user")
    hook = client.post("/v1/webhooks", json={"url": receiver.url}, headers=owner)
    assert hook.status_code == 201, hook.text
    secret = bytes.fromhex(hook.json()["secret"])
    row = conn.execute("SELECT id, secret, secret_key_id FROM webhook_endpoints").fetchone()
    assert row is not None
    assert secret not in bytes(row["secret"]) and row["secret_key_id"] == "dev"
    # A row from before migration 0210 is still in clear: the worker's next pass seals it.
    conn.execute(
        "UPDATE webhook_endpoints SET secret = %s, secret_key_id = NULL, secret_nonce = NULL", (secret,)
    )
    conn.commit()
    subject = one_row(conn.execute("SELECT subject_id FROM webhook_endpoints"))["subject_id"]
    outbox.enqueue(conn, event="approval.requested", payload={}, subject_id=subject)
    conn.commit()
    at = datetime.now(UTC)
    assert run_once(now=at) == 1
    row = conn.execute("SELECT secret, secret_key_id FROM webhook_endpoints").fetchone()
    assert row is not None
    assert row["secret_key_id"] == "dev" and secret not in bytes(row["secret"])
    [(headers, body)] = receiver.received
    assert notifications.verify_signature(secret, headers["cameogate-signature"], body, now=at.timestamp())


def test_the_route_refuses_a_private_address(
    client: TestClient,
    make_key: KeyMaker,
    conn: Conn,
    ctx,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ctx, "settings", settings.model_copy(update={"webhook_allow_private": False}))
    resp = client.post(
        "/v1/webhooks", json={"url": "http://169.254.169.254/latest/"}, headers=make_key("platform")
    )
    assert resp.status_code == 422 and resp.json()["code"] == "webhook_url_not_allowed"
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert conn.execute("SELECT count(*) AS n FROM webhook_endpoints").fetchone() == {"n": 0}


def test_delivery_checks_the_address_again_and_connects_to_the_one_it_checked(
    conn: Conn,
    ctx,
    settings: Settings,
    receiver: Receiver,
    dns: dict[str, list[str]],
    worker_conn,
    rules,
    run_once,
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    dns["hooks.example.com"] = [PUBLIC]
    strict = settings.model_copy(update={"webhook_allow_private": False})
    owner, secret = register(conn, ctx, strict, f"http://hooks.example.com:{port}/hooks")
    outbox.enqueue(conn, event="approval.requested", payload={}, subject_id=owner)
    conn.commit()
    dns["hooks.example.com"] = ["127.0.0.1"]  # rebinding: the name now points inside
    at = datetime.now(UTC)
    assert run_once(now=at, allow_private=False) == 1
    assert receiver.received == []  # never connected
    row = worker_conn.execute(
        "SELECT status, attempts, last_error, next_attempt_at FROM webhook_deliveries"
    ).fetchone()
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"].startswith("webhook_url_not_allowed")
    assert row["next_attempt_at"] == at + timedelta(seconds=rules.webhook_backoff_base_seconds)
    # Allowed, it goes to the address the guard resolved (real DNS knows no hooks.example.com),
    # with the URL's host in Host, and verifies.
    at = row["next_attempt_at"]
    assert run_once(now=at, allow_private=True) == 1
    [(headers, body)] = receiver.received
    assert headers["host"] == f"hooks.example.com:{port}"
    assert notifications.verify_signature(secret, headers["cameogate-signature"], body, now=at.timestamp())


def test_a_redirect_is_not_followed(
    conn: Conn, ctx, settings: Settings, receiver: Receiver, worker_conn, rules, run_once
) -> None:
    receiver.statuses, receiver.location = [302], receiver.url + "/elsewhere"
    owner, _ = register(conn, ctx, settings, receiver.url)
    outbox.enqueue(conn, event="approval.requested", payload={}, subject_id=owner)
    conn.commit()
    at = datetime.now(UTC)
    assert run_once(now=at) == 1
    assert len(receiver.received) == 1  # the first POST only
    row = worker_conn.execute(
        "SELECT status, attempts, last_status, next_attempt_at FROM webhook_deliveries"
    ).fetchone()
    assert (row["status"], row["attempts"], row["last_status"]) == ("pending", 1, 302)
    assert row["next_attempt_at"] == at + timedelta(seconds=rules.webhook_backoff_base_seconds)


def test_a_secret_the_keyring_cannot_open_fails_the_attempt_not_the_worker(
    conn: Conn, ctx, settings: Settings, receiver: Receiver, worker_conn, rules
) -> None:
    owner, _ = register(conn, ctx, settings, receiver.url)
    outbox.enqueue(conn, event="approval.requested", payload={}, subject_id=owner)
    conn.commit()
    other = Keyring({"dev": b"k" * 32})  # the same key id, another key: the ciphertext does not open
    assert notifications.run_once(worker_conn, rules=rules, keyring=other, allow_private=True) == 1
    assert receiver.received == []
    row = worker_conn.execute("SELECT status, last_error FROM webhook_deliveries").fetchone()
    assert row["status"] == "pending" and row["last_error"].startswith("the secret cannot be opened")
    # A key removed from the ring before its rows were re-sealed: the pass still runs.
    removed = Keyring({"new": b"n" * 32})
    worker_conn.execute("UPDATE webhook_deliveries SET next_attempt_at = now()")
    assert notifications.run_once(worker_conn, rules=rules, keyring=removed, allow_private=True) == 1
    row = worker_conn.execute("SELECT attempts, last_error FROM webhook_deliveries").fetchone()
    assert row["attempts"] == 2 and row["last_error"].startswith("the secret cannot be opened")
    key_id = worker_conn.execute("SELECT secret_key_id FROM webhook_endpoints").fetchone()["secret_key_id"]
    assert key_id == "dev"  # left as it was, for a keyring that has the key again


def self_signed_localhost(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost (and 127.0.0.1) signed by its own key: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_pem, key_pem = directory / "cert.pem", directory / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_pem, key_pem


def test_https_delivery_checks_the_certificate_against_the_url_host(
    conn: Conn,
    ctx,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    worker_conn,
    run_once,
) -> None:
    cert, key = self_signed_localhost(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    serving = serve(tls)
    receiver = next(serving)
    try:
        owner, secret = register(conn, ctx, settings, receiver.url.replace("127.0.0.1", "localhost"))
        outbox.enqueue(conn, event="approval.requested", payload={}, subject_id=owner)
        conn.commit()
        at = datetime.now(UTC)
        assert run_once(now=at) == 1  # not signed by a CA the system trusts: refused
        row = worker_conn.execute("SELECT last_error, next_attempt_at FROM webhook_deliveries").fetchone()
        assert "CERTIFICATE_VERIFY_FAILED" in row["last_error"] and receiver.received == []
        # Trusted (as a deployment's CA would be), it is delivered over TLS to localhost.
        trusting = ssl.create_default_context(cafile=str(cert))
        monkeypatch.setattr(notifications.ssl, "create_default_context", lambda: trusting)
        at = row["next_attempt_at"]
        assert run_once(now=at) == 1
        [(headers, body)] = receiver.received
        assert notifications.verify_signature(
            secret, headers["cameogate-signature"], body, now=at.timestamp()
        )
    finally:
        serving.close()
