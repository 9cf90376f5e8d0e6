"""Errors are problem+json with a stable code and the request id; operations endpoints answer."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time

import pytest
import uvicorn
from fastapi import APIRouter
from fastapi.testclient import TestClient

from gate import logs
from gate.app import create_app
from gate.settings import Settings
from gate.web import AppContext
from tests.conftest import KeyMaker


def _is_problem(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["code"] == code and body["status"] == status
    assert body["request_id"] == resp.headers["x-request-id"]
    return body


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    _is_problem(client.get("/v1/nothing-here"), 404, "not_found")


def test_request_validation_errors_name_the_field(client: TestClient, make_key: KeyMaker) -> None:
    body = _is_problem(
        client.post("/v1/subjects", json={"age_band": "ancient"}, headers=make_key("admin")),
        422,
        "validation_failed",
    )
    assert body["errors"][0]["field"] == "body.age_band"


def test_malformed_json_is_a_422_problem(client: TestClient, make_key: KeyMaker) -> None:
    headers = {**make_key("admin"), "content-type": "application/json"}
    _is_problem(client.post("/v1/subjects", content=b"{not json", headers=headers), 422, "validation_failed")


def test_unknown_fields_are_refused(client: TestClient, make_key: KeyMaker) -> None:
    _is_problem(
        client.post("/v1/subjects", json={"nmae": "x"}, headers=make_key("admin")), 422, "validation_failed"
    )


def test_an_unexpected_error_is_500_without_trace(settings: Settings, ctx: AppContext) -> None:
    app = create_app(settings, ctx)
    boom = APIRouter()

    @boom.get("/boom")
    def _boom() -> None:
        raise RuntimeError("SELECT secret FROM internals")

    app.include_router(boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        resp = c.get("/boom", headers={"X-Request-ID": "trace-me-1"})
    body = _is_problem(resp, 500, "internal_error")
    assert body["request_id"] == "trace-me-1"
    assert "SELECT" not in resp.text and "Traceback" not in resp.text


def test_each_request_is_logged_once_under_its_id(client: TestClient) -> None:
    seen: list[tuple[str, object, object, str]] = []

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "request":
                seen.append((record.getMessage(), record.path, record.status, logs.request_id.get()))  # type: ignore[attr-defined]

    handler, app_log = Seen(), logging.getLogger("gate.app")
    app_log.addHandler(handler)
    level = app_log.level
    app_log.setLevel(logging.INFO)
    try:
        kept = client.get("/v1/nothing-here", headers={"X-Request-ID": "log-me-1"})
        fresh = client.get("/healthz", headers={"X-Request-ID": "not a valid id!"})
    finally:
        app_log.removeHandler(handler)
        app_log.setLevel(level)
    assert kept.headers["x-request-id"] == "log-me-1"
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])  # a malformed id is replaced
    assert seen == [
        ("request", "/v1/nothing-here", 404, "log-me-1"),
        ("request", "/healthz", 200, fresh.headers["x-request-id"]),
    ]


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["migrations"] == "ok"


def test_readyz_says_not_ready_when_a_check_fails(client: TestClient, ctx: AppContext) -> None:
    ctx.readiness["models"] = lambda: "face model not loaded"
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["checks"]["models"] == "face model not loaded"


def test_openapi_is_served(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "cameogate"


def test_a_chunked_upload_past_the_limit_is_refused_while_it_arrives(
    settings: Settings, ctx: AppContext, make_key: KeyMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Content-Length to refuse up front: the server must stop reading at the limit and answer
    413, not spool the whole body first. A real server and a raw socket, so the client sees the
    answer arrive before it has sent the rest."""
    import gate.app

    monkeypatch.setattr(gate.app, "MAX_BODY_BYTES", 256 * 1024)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, ctx), host="127.0.0.1", port=0, log_config=None, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        key = make_key("auditor")["Authorization"]
        head = (
            "POST /v1/verify HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
            f"Authorization: {key}\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n"
        )
        part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.mp4"\r\n\r\n'
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head.encode() + b"%x\r\n%s\r\n" % (len(part), part))
            sock.settimeout(0.05)
            sent, reply = 0, b""
            chunk = b"\0" * 64 * 1024
            while sent < 64 * 1024 * 1024 and not reply:  # the client would send 64 MiB
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
                    reply = sock.recv(65536)
                except TimeoutError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
            sock.settimeout(10)
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                more = sock.recv(65536)
                if not more:
                    break
                reply += more
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    status_line, _, rest = reply.partition(b"\r\n")
    assert b" 413 " in status_line, reply[:300]
    assert b"application/problem+json" in rest and b'"payload_too_large"' in rest
    assert sent <= 2 * 1024 * 1024  # refused near the 256 KiB limit, not after 64 MiB
