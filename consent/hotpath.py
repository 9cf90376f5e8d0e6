"""The consent check's event-loop resources (issue #4; docs/CONSENT.md, the hot path).

A check's read runs on an asyncio connection in the event loop itself (no worker-thread trip),
and its write is group-committed: `CheckWriter`, one asyncio task per process, takes every
check waiting to be recorded and writes them all with one statement (consent_record_checks,
migration 0202) — one transaction, one hold of the audit chain's lock, one asynchronous commit
per batch instead of per check. Each check waits for its batch to commit before it answers, so
a token is never returned before its grant row exists. No artificial delay: while a batch is in
the database, the checks finishing their reads queue up, and they form the next batch.

Opened and closed with the app (gate.startup's async hooks, in the lifespan's event loop);
closing drains: every check already queued is written (or failed) before the pool closes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool
from starlette.concurrency import run_in_threadpool

from consent import service, store
from gate.auth import Principal
from gate.db import AsyncConn, open_async_pool
from gate.errors import Unavailable
from gate.web import AppContext
from perception.lifecycle import models as models_of
from policies.service import ActivePolicy

log = logging.getLogger(__name__)

SERVICE = "consent.hotpath"
MAX_BATCH = 64  # checks per statement: bounds the statement's size and the lock's hold


class CheckNotRecorded(Unavailable):
    code = "check_not_recorded"
    title = "The consent check could not be recorded"


class CheckWriter:
    """Group commit of check records: `await writer.record(r)` returns once `r` is committed."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConn], *, max_batch: int = MAX_BATCH) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._queue: list[tuple[store.CheckRecord, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="consent-check-writer")

    async def record(self, record: store.CheckRecord) -> None:
        if self._closing:
            raise CheckNotRecorded("the service is shutting down", code="shutting_down")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((record, done))
        self._wake.set()
        # Should the request be cancelled (client gone), the record is still written with its
        # batch; only its answer is dropped.
        await done

    async def close(self) -> None:
        """Write everything queued, then stop."""
        self._closing = True
        self._wake.set()
        await self._task

    async def _run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    batch = self._queue[: self._max_batch]
                    del self._queue[: self._max_batch]
                    await self._write(batch)
                if self._closing:
                    return
        finally:
            # Only reached with work left if this task itself failed or was cancelled: nobody
            # is left waiting for an answer that will not come.
            self._fail(self._queue, "the check writer stopped")
            self._queue = []

    async def _write(self, batch: list[tuple[store.CheckRecord, asyncio.Future[None]]]) -> None:
        try:
            async with self._pool.connection() as conn:
                await store.record_checks(conn, [r for r, _ in batch])
        except Exception:
            log.exception("recording %d consent checks failed", len(batch))
            self._fail(batch, "the check's audit entry could not be written; no token was issued")
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)

    @staticmethod
    def _fail(batch: list[tuple[store.CheckRecord, asyncio.Future[None]]], detail: str) -> None:
        for _, done in batch:
            if not done.done():
                done.set_exception(CheckNotRecorded(detail))


@dataclass
class HotPath:
    """What the check route uses: the asyncio pool for reads and writes, and the writer."""

    pool: AsyncConnectionPool[AsyncConn]
    writer: CheckWriter

    async def check(
        self,
        ctx: AppContext,
        *,
        policy: ActivePolicy,
        requester_id: uuid.UUID,
        cameo_ids: list[uuid.UUID],
        prompt: str,
        platform_key_id: str | None,
        actor: Principal | str | None,
    ) -> service.ConsentCheck:
        def screen_in_thread(ids: list[uuid.UUID]) -> dict[uuid.UUID, service.RestrictionMatch]:
            with ctx.pool.connection() as conn:
                return service.restriction_matches(
                    conn, policy=policy, models=models_of(ctx), cameo_ids=ids, prompt=prompt
                )

        async def screen(ids: list[uuid.UUID]) -> dict[uuid.UUID, service.RestrictionMatch]:
            # MiniLM embeds the prompt: CPU work that must not stall the event loop.
            return await run_in_threadpool(screen_in_thread, ids)

        return await service.check_consent_in_loop(
            self.pool.connection, policy=policy, settings=ctx.settings, requester_id=requester_id,
            cameo_ids=cameo_ids, prompt=prompt, platform_key_id=platform_key_id, actor=actor,
            screen=screen, record=self.writer.record,
        )  # fmt: skip


async def open_hot_path(ctx: AppContext) -> HotPath:
    # The same server and database as the process's pool (its conninfo may be a callable).
    url = ctx.pool.conninfo if isinstance(ctx.pool.conninfo, str) else ctx.pool.conninfo()
    settings = ctx.settings
    pool = await open_async_pool(url, min_size=settings.pool_min_size, max_size=settings.pool_max_size)
    return HotPath(pool, CheckWriter(pool))


def hot_path(ctx: AppContext) -> HotPath:
    found: HotPath | None = ctx.services.get(SERVICE)
    if found is None:
        raise RuntimeError("the consent hot path is opened by the app's lifespan (consent.lifecycle.astart)")
    return found
