"""The real `cameogate serve` process: becomes ready, logs JSON with request ids, stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from gate import auth
from gate.db import Conn
from gate.settings import PROJECT_ROOT, Settings
from tests.conftest import KeyMaker
from tests.consent.conftest import insert_cameo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(settings: Settings, tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    """`cameogate serve` on a free port: (port, process, its log). Killed if still running."""
    port = _free_port()
    env = {
        **os.environ,
        "CAMEOGATE_DATABASE_URL": settings.database_url or "",
        "CAMEOGATE_VAR_DIR": str(tmp_path),
    }
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gate.cli", "serve", "--port", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield port, proc, log
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


def _exchange(port: int, *chunks: bytes) -> bytes:
    """Send the chunks on one connection, one write each; everything the server sends back
    until it closes the connection or goes quiet for a second."""
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        with suppress(BrokenPipeError, ConnectionResetError):  # the server answered and closed
            for chunk in chunks:
                sock.sendall(chunk)
        received = b""
        with suppress(TimeoutError, ConnectionResetError):
            while data := sock.recv(65536):
                received += data
        return received


def _status_once_up(url: str, seconds: float, headers: dict[str, str] | None = None) -> int | None:
    """GET `url` every half second until it answers 200 or `seconds` pass: the last status
    (None if the server never answered)."""
    deadline, status = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        with suppress(httpx.TransportError):
            status = httpx.get(url, headers=headers).status_code
            if status == 200:
                break
        time.sleep(0.5)
    return status


def test_serve_becomes_ready_answers_a_consent_check_and_shuts_down_gracefully(
    settings: Settings, tmp_path: Path, make_key: KeyMaker, conn: Conn
) -> None:
    owner, platform = make_key("user"), make_key("platform")
    cameo = insert_cameo(conn, owner=uuid.UUID(owner["X-Test-Subject"]), permission="everyone")
    requester = auth.ensure_subject(conn)
    conn.commit()
    with _serving(settings, tmp_path) as (port, proc, log):
        status = _status_once_up(f"http://127.0.0.1:{port}/readyz", 90, {"X-Request-ID": "probe-1"})
        assert status == 200, log.read_text()[-2000:]
        # The hot path on the server's own event loop: key lookup, read and group commit on its
        # asyncio connections.
        body = {"requester": str(requester), "cameo_ids": [str(cameo)], "prompt": "me at the beach"}
        resp = httpx.post(f"http://127.0.0.1:{port}/v1/consent/check", json=body, headers=platform)
        assert resp.status_code == 200 and resp.json()["allowed"] is True and resp.json()["token"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    probes = [entry for entry in lines if entry.get("request_id") == "probe-1"]
    assert probes and probes[-1]["path"] == "/readyz" and probes[-1]["status"] == 200


def test_a_request_head_over_16_kib_is_refused_with_431_and_others_are_served(
    settings: Settings, tmp_path: Path
) -> None:
    """The server parses HTTP with httptools, which sets no bound of its own (gate.http11)."""
    with _serving(settings, tmp_path) as (port, _, log):
        assert _status_once_up(f"http://127.0.0.1:{port}/healthz", 60) == 200, log.read_text()[-2000:]

        def refused(answer: bytes, instance: str | None) -> None:
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
            assert b"content-type: application/problem+json" in head.lower()
            problem = json.loads(body)
            # The app's problem shape, with a request id the log carries too.
            assert problem["code"] == "headers_too_large"
            assert problem["type"] == "https://cameogate.dev/problems/headers_too_large"
            assert problem["status"] == 431 and problem["instance"] == instance
            assert re.search(rb"x-request-id: " + problem["request_id"].encode(), head, re.IGNORECASE)
            logged = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
            assert any(
                e.get("request_id") == problem["request_id"] and e.get("status") == 431 for e in logged
            )

        # One header of 20 KB in one write; then a head that never ends, sent 1 KB at a time and
        # no further than the header that crosses the bound (the 17th: 34 + 16 x 1007 < 16384):
        # bytes still arriving after the server closed would make its kernel reset the
        # connection, which can drop the 431 before it is read; then a request line alone over
        # the bound.
        refused(
            _exchange(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"),
            "/healthz",
        )
        refused(
            _exchange(
                port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n", *[b"X-A: " + b"a" * 1000 + b"\r\n"] * 17
            ),
            "/healthz",
        )
        refused(_exchange(port, b"GET /" + b"u" * 20_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"), None)
        refused(  # the path decoded, as the app's problems give it
            _exchange(
                port, b"GET /v1/a%20b?q=1 HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
            ),
            "/v1/a b",
        )

        # Three requests with 10 KB of headers each, one keep-alive connection: the bound is per
        # request. A body sent in the same write as its head is not counted as head.
        big = b"X-Pad: " + b"p" * 10_000 + b"\r\n"
        kept = _exchange(
            port,
            *[b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + big + b"\r\n"] * 2,
            b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nConnection: close\r\n"
            + big
            + b"\r\n"
            + b"b" * 100_000,
        )
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", kept)  # each response follows the last body
        assert statuses == [b"200", b"200", b"405"], kept[:500]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
