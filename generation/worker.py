"""Workers: claim jobs from the PostgreSQL queue, hold a lease by heartbeat, run the pipeline.

A worker that dies (kill -9) simply stops renewing its lease; when the lease runs out another
worker claims the job and runs it again from the start. Every stage is idempotent for a job
(the clip id is fixed at submission, media is content-addressed, publishing is one transaction
that checks the lease), so a takeover yields exactly one published clip.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from gate.db import Conn
from generation import service, store
from generation.store import Job

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """The job was cancelled (or taken over) while this worker was running it."""


class JobBlocked(Exception):
    """A pipeline stage decided the job must not go on; `code` says which rule."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass
class JobControl:
    """What a running job uses to report progress and to learn it must stop."""

    pool: ConnectionPool[Conn]
    job: Job
    worker_id: str
    cancelled: threading.Event = field(default_factory=threading.Event)

    def stage(self, name: str, progress: float) -> None:
        self.check()
        with self.pool.connection() as conn:
            still_ours = store.set_stage(
                conn, job_id=self.job.id, worker=self.worker_id, stage=name, progress=progress
            )
        if not still_ours:
            self.cancelled.set()
            raise JobCancelled(name)

    def check(self) -> None:
        if self.cancelled.is_set():
            raise JobCancelled("cancelled")


Runner = Callable[[Job, JobControl], None]


class Worker:
    def __init__(
        self,
        *,
        pool: ConnectionPool[Conn],
        run: Runner,
        lease_seconds: float = 30.0,
        heartbeat_seconds: float = 5.0,
        worker_id: str | None = None,
    ) -> None:
        self.pool = pool
        self.run = run
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def claim(self) -> Job | None:
        with self.pool.connection() as conn:
            return store.claim_next(conn, worker=self.worker_id, lease_seconds=self.lease_seconds)

    def run_once(self) -> Job | None:
        """Claim and run one job; None when the queue is empty."""
        job = self.claim()
        if job is None:
            return None
        control = JobControl(self.pool, job, self.worker_id)
        stop_beat = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, control, stop_beat), daemon=True)
        beat.start()
        try:
            self.run(job, control)
        except JobCancelled:
            log.info("job %s cancelled while running", job.id)
        except JobBlocked as blocked:
            with self.pool.connection() as conn:
                service.end_job(
                    conn,
                    job_id=job.id,
                    state="blocked",
                    worker=self.worker_id,
                    error_code=blocked.code,
                    error_detail=blocked.detail,
                )
        except Exception as exc:
            log.exception("job %s failed (attempt %s of %s)", job.id, job.attempts, job.max_attempts)
            retry = job.attempts < job.max_attempts
            with self.pool.connection() as conn:
                service.end_job(
                    conn,
                    job_id=job.id,
                    state="queued" if retry else "dead",
                    worker=self.worker_id,
                    error_code="stage_error",
                    error_detail=type(exc).__name__,
                )
        finally:
            stop_beat.set()
            beat.join()
        return job

    def _heartbeat(self, job: Job, control: JobControl, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_seconds):
            try:
                with self.pool.connection() as conn:
                    ours = store.renew_lease(
                        conn, job_id=job.id, worker=self.worker_id, lease_seconds=self.lease_seconds
                    )
            except Exception:
                log.exception("heartbeat for job %s failed", job.id)
                continue
            if not ours:
                control.cancelled.set()
                return

    def run_forever(self, stop: threading.Event, *, idle_seconds: float = 0.5) -> None:
        log.info("worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                if self.run_once() is None:
                    stop.wait(idle_seconds)
            except Exception:
                log.exception("worker loop error")
                time.sleep(idle_seconds)
