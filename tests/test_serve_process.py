"""The real `cameogate serve` process: becomes ready, logs JSON with request ids, stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gate.settings import PROJECT_ROOT, Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_becomes_ready_and_shuts_down_gracefully(settings: Settings, tmp_path: Path) -> None:
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
            deadline, status = time.monotonic() + 90, None
            while time.monotonic() < deadline:
                try:
                    status = httpx.get(
                        f"http://127.0.0.1:{port}/readyz", headers={"X-Request-ID": "probe-1"}
                    ).status_code
                    if status == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            assert status == 200, log.read_text()[-2000:]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    probes = [entry for entry in lines if entry.get("request_id") == "probe-1"]
    assert probes and probes[-1]["path"] == "/readyz" and probes[-1]["status"] == 200
