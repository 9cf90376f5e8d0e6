"""Real worker processes: one is killed with SIGKILL mid-job, another takes the job over and
publishes exactly one clip."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gate.db import Conn
from gate.settings import PROJECT_ROOT, Settings
from tests.generation.conftest import Person

pytestmark = pytest.mark.slow


def _spawn(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CAMEOGATE_DATABASE_URL": settings.database_url or "",
        "CAMEOGATE_VAR_DIR": str(settings.var_dir),  # same secrets and signing identity as the API
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gate.cli", "worker", "--lease", "4", "--heartbeat", "1"],
        cwd=PROJECT_ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def _job(conn: Conn, job_id: str) -> dict:
    row = conn.execute(
        "SELECT state, stage, lease_owner, attempts FROM generation_jobs WHERE id = %s", (job_id,)
    ).fetchone()
    conn.commit()
    assert row is not None
    return row


def test_a_killed_worker_s_job_is_finished_by_another_with_one_clip(
    api: TestClient,
    platform: dict[str, str],
    requester: Person,
    settings: Settings,
    conn: Conn,
    tmp_path: Path,
) -> None:
    body = {
        "requester": str(requester.subject_id),
        "prompt": "a long day at sea",
        "duration": 8,
        "width": 640,
        "height": 360,
        "fps": 24,
    }
    accepted = api.post("/v1/generations", json=body, headers=platform).json()
    workers = [_spawn(settings, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            job = _job(conn, accepted["job_id"])
            if job["stage"] in ("generate", "output_scan"):
                break
            time.sleep(0.2)
        assert job["stage"] in ("generate", "output_scan"), (
            job,
            (tmp_path / "worker0.log").read_text()[-3000:],
        )
        owner_pid = int(job["lease_owner"].split(":")[1])
        victim = next(w for w in workers if w.pid == owner_pid)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        while time.monotonic() < deadline and _job(conn, accepted["job_id"])["state"] == "running":
            time.sleep(0.5)
        final = _job(conn, accepted["job_id"])
        assert final["state"] == "published", final
        assert final["attempts"] == 2 and int(final["lease_owner"].split(":")[1]) != owner_pid
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
    published = conn.execute("SELECT count(*) AS n FROM clips WHERE status = 'published'").fetchone()
    assert published == {"n": 1}
    assert api.get(f"/v1/clips/{accepted['clip_id']}/media", headers=platform).status_code == 200
