"""The PostgreSQL queue: SKIP LOCKED claims, leases and takeover, retries, dead letters, cancel."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from psycopg_pool import ConnectionPool

from gate.db import Conn, open_pool
from generation import service, store
from generation.store import Job
from generation.worker import JobBlocked, JobControl, Worker
from tests.generation.helpers import queue_job


@pytest.fixture
def pool(db_url: str) -> Iterator[ConnectionPool[Conn]]:
    p = open_pool(db_url, min_size=1, max_size=6)
    yield p
    p.close()


def _clip_status(conn: Conn, job: Job) -> str:
    row = conn.execute("SELECT status FROM clips WHERE id = %s", (job.clip_id,)).fetchone()
    conn.commit()
    assert row is not None
    return str(row["status"])


def test_concurrent_workers_never_claim_the_same_job(conn: Conn, pool: ConnectionPool[Conn]) -> None:
    jobs = {queue_job(conn).id for _ in range(6)}
    claimed: list[Job] = []
    lock = threading.Lock()

    def claim_all() -> None:
        worker = Worker(pool=pool, run=lambda j, c: None)
        while (job := worker.claim()) is not None:
            with lock:
                claimed.append(job)

    threads = [threading.Thread(target=claim_all) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(str(j.id) for j in claimed) == sorted(str(j) for j in jobs)


def test_a_job_whose_worker_went_silent_is_taken_over(conn: Conn, pool: ConnectionPool[Conn]) -> None:
    job = queue_job(conn)
    silent = Worker(pool=pool, run=lambda j, c: None, lease_seconds=0.3, worker_id="silent")
    assert silent.claim() is not None  # claimed, then never heard from again
    rescuer = Worker(pool=pool, run=lambda j, c: None, worker_id="rescuer")
    assert rescuer.claim() is None  # lease still valid
    time.sleep(0.5)
    taken = rescuer.claim()
    assert taken is not None and taken.id == job.id and taken.attempts == 2
    # The silent worker cannot finish a job that is no longer its own.
    assert not store.finish(conn, job_id=job.id, state="published", worker="silent")
    assert store.finish(conn, job_id=job.id, state="published", worker="rescuer")


def test_a_failing_job_is_retried_then_dead_lettered(conn: Conn, pool: ConnectionPool[Conn]) -> None:
    job = queue_job(conn, max_attempts=2)
    runs: list[int] = []

    def explode(j: Job, control: JobControl) -> None:
        runs.append(j.attempts)
        raise RuntimeError("renderer crashed")

    worker = Worker(pool=pool, run=explode)
    worker.run_once()
    assert store.get_job(conn, job.id).state == "queued"  # type: ignore[union-attr]
    conn.commit()
    worker.run_once()
    final = store.get_job(conn, job.id)
    assert final is not None and final.state == "dead" and final.error_code == "stage_error"
    assert runs == [1, 2] and _clip_status(conn, job) == "blocked"
    assert worker.run_once() is None


def test_a_blocked_job_leaves_no_retrievable_clip(conn: Conn, pool: ConnectionPool[Conn]) -> None:
    job = queue_job(conn)

    def block(j: Job, control: JobControl) -> None:
        raise JobBlocked("prompt_blocked", "matches an opt-out")

    Worker(pool=pool, run=block).run_once()
    final = store.get_job(conn, job.id)
    assert final is not None and (final.state, final.error_code) == ("blocked", "prompt_blocked")
    assert _clip_status(conn, job) == "blocked"


def test_cancelling_a_running_job_stops_its_worker(conn: Conn, pool: ConnectionPool[Conn]) -> None:
    job = queue_job(conn)
    reached: list[str] = []
    started = threading.Event()

    def long_render(j: Job, control: JobControl) -> None:
        started.set()
        for i in range(100):
            control.stage(f"step{i}", i / 100)
            reached.append(f"step{i}")
            time.sleep(0.05)

    worker = Worker(pool=pool, run=long_render, heartbeat_seconds=0.1)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    assert started.wait(5)
    time.sleep(0.2)
    with pool.connection() as c:
        assert service.end_job(c, job_id=job.id, state="cancelled", error_code="cancelled_by_platform")
    thread.join(10)
    assert not thread.is_alive() and len(reached) < 100
    assert store.get_job(conn, job.id).state == "cancelled"  # type: ignore[union-attr]
    assert _clip_status(conn, job) == "blocked"


def test_revocation_hook_cancels_queued_jobs_featuring_the_cameo(conn: Conn) -> None:
    import uuid

    from gate import auth

    owner = auth.ensure_subject(conn)
    cameo = uuid.uuid4()
    conn.execute("INSERT INTO cameos (id, owner_id, status) VALUES (%s, %s, 'verified')", (cameo, owner))
    featuring = queue_job(conn, cameo_ids=[cameo])
    other = queue_job(conn)
    assert service.cancel_for_cameos(conn, [cameo]) == 1
    conn.commit()
    assert store.get_job(conn, featuring.id).state == "cancelled"  # type: ignore[union-attr]
    assert store.get_job(conn, other.id).state == "queued"  # type: ignore[union-attr]
