"""The consent check's event-loop resources (issue #4; docs/CONSENT.md, the hot path).

A check's statements run on asyncio connections in the event loop itself (no worker-thread
trip), each batched with those of concurrent checks: `FactsReader` reads the facts of every
check waiting with one statement (consent_facts_many, migration 0203), and `CheckWriter`
group-commits their records with one statement (consent_record_check_batch, migration 0212) — one
transaction, one hold of the audit chain's lock, one asynchronous commit per batch instead of
per check. Each check waits for its batch to commit before it answers, so a token is never
returned before its grant row exists. No artificial delay: while a batch is in the database,
the checks arriving queue up, and they form the next batch.

Opened and closed with the app (gate.startup's async hooks, in the lifespan's event loop);
closing drains: every check already queued is written (or failed) before the pool closes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from psycopg_pool import AsyncConnectionPool

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
T = TypeVar("T")
R = TypeVar("R")


class CheckNotRecorded(Unavailable):
    code = "check_not_recorded"
    title = "The consent check could not be recorded"


class FactsUnavailable(Unavailable):
    code = "database_unavailable"
    title = "The consent facts could not be read"


class Batcher(ABC, Generic[T, R]):
    """One asyncio task sending the items of concurrent callers to the database in batches:
    `await batcher.submit(item)` returns the item's own answer once its batch is done. A batch
    is whatever is waiting when the previous one returns (at most `max_batch`): no timer."""

    failure: type[Unavailable] = Unavailable
    failure_detail = "the database could not be reached"

    def __init__(self, pool: AsyncConnectionPool[AsyncConn], *, max_batch: int = MAX_BATCH) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._run(), name=type(self).__name__)

    async def submit(self, item: T) -> R:
        if self._closing:
            raise self.failure("the service is shutting down", code="shutting_down")
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, answer))
        self._wake.set()
        # Should the request be cancelled (client gone), the item is still sent with its batch;
        # only its answer is dropped.
        return await answer

    async def close(self) -> None:
        """Send everything queued, then stop."""
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
                    await self._send(batch)
                if self._closing:
                    return
        finally:
            # Only reached with work left if this task itself failed or was cancelled: nobody
            # is left waiting for an answer that will not come.
            self._fail(self._queue, f"{self.failure_detail} ({type(self).__name__} stopped)")
            self._queue = []

    async def _send(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            async with self._pool.connection() as conn:
                answers = await self._batch(conn, [item for item, _ in batch])
            paired = list(zip(batch, answers, strict=True))
        except BaseException as exc:
            # Whatever went wrong (the statement, the connection, this task cancelled), every
            # caller of the batch gets an answer: a 503, never a wait without end.
            self._fail(batch, self.failure_detail)
            if not isinstance(exc, Exception):
                raise
            log.exception("%s: a batch of %d failed", type(self).__name__, len(batch))
            return
        for (_, answer), value in paired:
            if not answer.done():
                answer.set_result(value)

    @abstractmethod
    async def _batch(self, conn: AsyncConn, items: list[T]) -> list[R]:
        """One statement for the whole batch: one answer per item, in order."""

    def _fail(self, batch: list[tuple[T, asyncio.Future[R]]], detail: str) -> None:
        for _, answer in batch:
            if not answer.done():
                answer.set_exception(self.failure(detail))


class FactsReader(Batcher[tuple[uuid.UUID, list[uuid.UUID]], tuple[bool, list[store.Facts]]]):
    """Group read: `await reader.submit((requester, cameo ids))` is consent_facts() for them,
    read with every other check's waiting (consent_facts_many, migration 0203)."""

    failure = FactsUnavailable
    failure_detail = "the consent facts could not be read"

    async def _batch(
        self, conn: AsyncConn, items: list[tuple[uuid.UUID, list[uuid.UUID]]]
    ) -> list[tuple[bool, list[store.Facts]]]:
        return await store.consent_facts_many(conn, items)


class CheckWriter(Batcher[store.CheckRecord, None]):
    """Group commit: `await writer.submit(record)` returns once the record is committed
    (consent_record_check_batch, migration 0212)."""

    failure = CheckNotRecorded
    failure_detail = "the check's audit entry could not be written; no token was issued"

    async def _batch(self, conn: AsyncConn, items: list[store.CheckRecord]) -> list[None]:
        await store.record_checks(conn, items)
        return [None] * len(items)


@dataclass
class HotPath:
    """What the check route uses: the asyncio pool, the batched reader and the batched writer."""

    pool: AsyncConnectionPool[AsyncConn]
    reader: FactsReader
    writer: CheckWriter
    # Prompt embeddings for the restriction screen (two: each runs on the text model's threads).
    embedder: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="consent-embed")
    )

    async def close(self) -> None:
        """Answer every check already queued (reads first: they feed the writer), then close."""
        await self.reader.close()
        await self.writer.close()
        await self.pool.close()
        self.embedder.shutdown(wait=False)

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
        models = models_of(ctx)

        async def screen(ids: list[uuid.UUID]) -> dict[uuid.UUID, service.RestrictionMatch]:
            # service.restriction_matches' two passes, in the loop. MiniLM embeds the prompt on
            # its own threads (CPU work that must not stall the loop) while the rules are read on
            # the loop's pool and their keywords matched, so the screen costs about one embedding.
            loop = asyncio.get_running_loop()
            vector = loop.run_in_executor(self.embedder, models.text.embed, [prompt])
            try:
                async with self.pool.connection() as conn:
                    rows = await store.restrictions_of_async(conn, ids)
                found, pending = service.keyword_matches(policy, rows, prompt)
                if not pending:
                    return found  # every screened cameo denies already: the embedding is not needed
                topics = (
                    await loop.run_in_executor(self.embedder, service.topic_vectors, models, pending)
                    if service.topics_need_model(models, pending)  # rules stored under another model
                    else service.topic_vectors(models, pending)
                )
                prompt_vec = (await vector)[0]
            finally:
                vector.cancel()  # no effect once done; otherwise its result is dropped, unlogged
            service.semantic_matches(policy, models.text.model_id, pending, topics, prompt_vec, found)
            return found

        async def read(requester: uuid.UUID, ids: list[uuid.UUID]) -> tuple[bool, list[store.Facts]]:
            return await self.reader.submit((requester, ids))

        return await service.check_consent_in_loop(
            read, policy=policy, settings=ctx.settings, requester_id=requester_id,
            cameo_ids=cameo_ids, prompt=prompt, platform_key_id=platform_key_id, actor=actor,
            screen=screen, record=self.writer.submit,
        )  # fmt: skip


async def open_hot_path(ctx: AppContext) -> HotPath:
    # The same server and database as the process's pool (its conninfo may be a callable).
    url = ctx.pool.conninfo if isinstance(ctx.pool.conninfo, str) else ctx.pool.conninfo()
    settings = ctx.settings
    pool = await open_async_pool(url, min_size=settings.pool_min_size, max_size=settings.pool_max_size)
    return HotPath(pool, FactsReader(pool), CheckWriter(pool))


def hot_path(ctx: AppContext) -> HotPath:
    found: HotPath | None = ctx.services.get(SERVICE)
    if found is None:
        raise RuntimeError("the consent hot path is opened by the app's lifespan (consent.lifecycle.astart)")
    return found
