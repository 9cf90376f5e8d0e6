"""Webhook delivery against a real local HTTP server: signatures, idempotency keys, backoff, give-up."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from consent import notifications
from gate.db import Conn, connect
from policies.schema import Consent
from policies.service import load_file
from tests.conftest import KeyMaker
from tests.consent.conftest import CameoMaker, subject_of


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in order; 200 once exhausted
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            box.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = box.statuses.pop(0) if box.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()


@pytest.fixture
def rules(settings) -> Consent:  # type: ignore[no-untyped-def]
    return load_file(settings.policy_file).policy.consent


@pytest.fixture
def worker_conn(db_url: str) -> Iterator[Conn]:
    with connect(db_url, autocommit=True) as c:
        yield c


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
) -> None:  # type: ignore[no-untyped-def]
    owner, fan, cameo, secret = ask_for_approval(client, make_key, make_cameo, receiver.url)
    now = datetime.now(UTC)
    assert notifications.run_once(worker_conn, rules=rules, now=now) == 1
    [(headers, body)] = receiver.received
    assert notifications.verify_signature(secret, headers["cameogate-signature"], body, now=now.timestamp())
    assert not notifications.verify_signature(
        b"x" * 32, headers["cameogate-signature"], body, now=now.timestamp()
    )
    assert not notifications.verify_signature(
        secret, headers["cameogate-signature"], body + b" ", now=now.timestamp()
    )
    event = json.loads(body)
    key = worker_conn.execute("SELECT idempotency_key FROM outbox").fetchone()["idempotency_key"]
    assert headers["idempotency-key"] == event["id"] == str(key)
    assert event["event"] == headers["cameogate-event"] == "approval.requested"
    assert event["data"] == {"cameo_id": str(cameo), "requester_id": str(subject_of(fan))}
    assert notifications.run_once(worker_conn, rules=rules, now=now) == 0  # nothing sent twice
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
) -> None:  # type: ignore[no-untyped-def]
    receiver.statuses = [500, 503]
    ask_for_approval(client, make_key, make_cameo, receiver.url)
    t0 = datetime.now(UTC)
    base = rules.webhook_backoff_base_seconds
    assert notifications.run_once(worker_conn, rules=rules, now=t0) == 1  # 500
    row = worker_conn.execute(
        "SELECT status, attempts, next_attempt_at, last_status FROM webhook_deliveries"
    ).fetchone()
    assert (row["status"], row["attempts"], row["last_status"]) == ("pending", 1, 500)
    assert row["next_attempt_at"] == t0 + timedelta(seconds=base)
    assert (
        notifications.run_once(worker_conn, rules=rules, now=t0 + timedelta(seconds=base - 0.5)) == 0
    )  # not due
    t1 = t0 + timedelta(seconds=base)
    assert notifications.run_once(worker_conn, rules=rules, now=t1) == 1  # 503
    row = worker_conn.execute("SELECT attempts, next_attempt_at FROM webhook_deliveries").fetchone()
    assert row["attempts"] == 2 and row["next_attempt_at"] == t1 + timedelta(seconds=2 * base)
    assert notifications.run_once(worker_conn, rules=rules, now=t1 + timedelta(seconds=2 * base)) == 1  # 200
    row = worker_conn.execute("SELECT status, attempts FROM webhook_deliveries").fetchone()
    assert (row["status"], row["attempts"]) == ("delivered", 3)
    keys = {h["idempotency-key"] for h, _ in receiver.received}
    assert len(receiver.received) == 3 and len(keys) == 1


def test_an_unreachable_endpoint_is_given_up_after_the_last_attempt(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker, worker_conn: Conn, rules
) -> None:  # type: ignore[no-untyped-def]
    ask_for_approval(client, make_key, make_cameo, "http://127.0.0.1:9/nothing-listens-here")
    at = datetime.now(UTC)
    for _ in range(rules.webhook_max_attempts):
        assert notifications.run_once(worker_conn, rules=rules, now=at) == 1
        at += timedelta(seconds=rules.webhook_backoff_max_seconds)
    row = worker_conn.execute("SELECT status, attempts, last_error FROM webhook_deliveries").fetchone()
    assert row["status"] == "failed" and row["attempts"] == rules.webhook_max_attempts
    assert "refused" in row["last_error"].lower()
    assert notifications.run_once(worker_conn, rules=rules, now=at) == 0


def test_backoff_doubles_and_is_capped(rules: Consent) -> None:
    delays = [notifications.backoff_seconds(rules, n) for n in range(1, 13)]
    assert delays[:3] == [2.0, 4.0, 8.0] and max(delays) == rules.webhook_backoff_max_seconds


def test_platform_endpoints_hear_of_takedowns_and_can_be_removed(
    client: TestClient, make_key: KeyMaker, receiver: Receiver, worker_conn: Conn, rules
) -> None:  # type: ignore[no-untyped-def]
    platform = make_key("platform")
    hook = client.post("/v1/webhooks", json={"url": receiver.url}, headers=platform).json()
    assert [h["id"] for h in client.get("/v1/webhooks", headers=platform).json()] == [hook["id"]]
    pkey = worker_conn.execute("SELECT id FROM api_keys WHERE role = 'platform'").fetchone()["id"]
    from gate import outbox

    outbox.enqueue(worker_conn, event="clip.removed", payload={"clip_id": "c"}, platform_key_id=pkey)
    assert notifications.run_once(worker_conn, rules=rules) == 1
    assert json.loads(receiver.received[0][1])["event"] == "clip.removed"
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=platform).status_code == 204
    assert client.get("/v1/webhooks", headers=platform).json() == []
    outbox.enqueue(worker_conn, event="clip.removed", payload={"clip_id": "d"}, platform_key_id=pkey)
    assert notifications.run_once(worker_conn, rules=rules) == 0
    other = make_key("platform")
    resp = client.delete(f"/v1/webhooks/{hook['id']}", headers=other)
    assert resp.status_code == 404 and resp.json()["code"] == "endpoint_not_found"


def test_the_notify_worker_command_delivers_and_purges_old_token_records(
    client: TestClient,
    make_key: KeyMaker,
    make_cameo: CameoMaker,
    receiver: Receiver,
    settings,
    worker_conn,
    capsys,
) -> None:  # type: ignore[no-untyped-def]
    import argparse

    from consent.commands import _notify_worker

    ask_for_approval(client, make_key, make_cameo, receiver.url)
    worker_conn.execute(
        "INSERT INTO consent_grants (token_id, requester_id, cameo_ids, expires_at) VALUES"
        " ('old', gen_random_uuid(), '{}', now() - interval '2 hours'),"
        " ('live', gen_random_uuid(), '{}', now() + interval '5 minutes')"
    )
    assert _notify_worker(argparse.Namespace(once=True, idle=0.1), settings) == 0
    assert "attempted 1 deliveries" in capsys.readouterr().out
    assert len(receiver.received) == 1
    left = [r["token_id"] for r in worker_conn.execute("SELECT token_id FROM consent_grants")]
    assert left == ["live"]
