"""The check route's group commit (consent.hotpath): concurrent checks share one statement per
batch, yet each gets its audit entry in one valid hash chain, each token validates the moment it
is returned, a failed batch answers its checks with a clean 503 (not a hang), and shutdown writes
everything already queued. Real PostgreSQL, real event loop."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from consent import hotpath, service, store
from gate import audit
from gate.db import AsyncConn, connect, open_async_pool
from gate.errors import NotFound
from gate.settings import Settings
from gate.web import AppContext
from policies.service import ActivePolicy, load_file
from tests.conftest import KeyMaker
from tests.consent.conftest import insert_cameo
from tests.pg import one_row

BATCH_FN = "consent_record_check_batch(jsonb)"


@pytest.fixture
def policy(settings: Settings) -> ActivePolicy:
    return load_file(settings.policy_file)


@pytest.fixture
def parties(db_url: str) -> dict[str, uuid.UUID]:
    with connect(db_url) as conn:
        cameo = insert_cameo(conn, permission="everyone")
        denied = insert_cameo(conn, permission="only_me")
        requester = uuid.uuid4()
        conn.execute("INSERT INTO subjects (id) VALUES (%s)", (requester,))
    return {"cameo": cameo, "denied": denied, "requester": requester}


def check_records(parties: dict[str, uuid.UUID], n: int, *, with_grants: bool) -> list[store.CheckRecord]:
    """What n checks of the requester would write (with a token each when `with_grants`)."""
    return [
        store.check_record(
            grant=(uuid.uuid4().hex, [parties["cameo"]], datetime.now(UTC)) if with_grants else None,
            actor="test",
            action="consent.check",
            policy_version="t",
            subject_id=parties["requester"],
            target_kind="consent_check",
            target_id=None,
            details={"i": i},
        )
        for i in range(n)
    ]


class CountingReader(hotpath.FactsReader):
    """The real reader, counting the statements it sends and the reads in each."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.batches: list[int] = []

    async def _batch(
        self, conn: AsyncConn, items: list[tuple[uuid.UUID, list[uuid.UUID]]]
    ) -> list[tuple[bool, list[store.Facts]]]:
        self.batches.append(len(items))
        return await super()._batch(conn, items)


class CountingWriter(hotpath.CheckWriter):
    """The real writer, counting the statements it sends and the checks in each."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.batches: list[int] = []

    async def _batch(self, conn: AsyncConn, items: list[store.CheckRecord]) -> list[None]:
        self.batches.append(len(items))
        return await super()._batch(conn, items)


def test_concurrent_checks_are_written_in_batches_into_one_valid_chain(
    db_url: str, settings: Settings, ctx: AppContext, policy: ActivePolicy, parties: dict[str, uuid.UUID]
) -> None:
    n = 60
    stop = threading.Event()
    ordinary_errors: list[BaseException] = []

    def ordinary_appends() -> None:  # gate.audit.record racing the batches on the same chain
        try:
            with connect(db_url) as conn:
                while not stop.is_set():
                    audit.record(conn, actor="test", action="test.append", policy_version="t")
                    conn.commit()
        except BaseException as exc:
            ordinary_errors.append(exc)

    async def run() -> tuple[list[service.ConsentCheck], list[int]]:
        pool = await open_async_pool(db_url, max_size=8)
        reader, writer = CountingReader(pool), CountingWriter(pool)
        hot = hotpath.HotPath(pool, reader, writer)

        async def one(i: int) -> service.ConsentCheck:
            cameo = parties["cameo"] if i % 3 else parties["denied"]
            result = await hot.check(
                ctx, policy=policy, requester_id=parties["requester"], cameo_ids=[cameo],
                prompt=f"take {i}", platform_key_id="pk", actor=None,
            )  # fmt: skip
            if result.token:  # usable the moment it is returned
                await asyncio.to_thread(validate, result.token, cameo, f"take {i}")
            return result

        try:
            results = await asyncio.gather(*(one(i) for i in range(n)))
        finally:
            await hot.close()
        assert sum(reader.batches) == n and len(reader.batches) < n, reader.batches  # reads grouped too
        return results, writer.batches

    def validate(token: str, cameo: uuid.UUID, prompt: str) -> None:
        with connect(db_url) as conn:
            service.validate_token(
                conn, settings=settings, token=token, requester_id=parties["requester"],
                cameo_ids=[cameo], prompt=prompt,
            )  # fmt: skip

    appender = threading.Thread(target=ordinary_appends)
    appender.start()
    try:
        results, batches = asyncio.run(run())
    finally:
        stop.set()
        appender.join()
    assert not ordinary_errors, ordinary_errors
    assert sum(batches) == n and len(batches) < n, batches  # grouped, and every check written
    issued = [r for r in results if r.token]
    assert len(issued) == 40  # the only_me cameo (every third check) is denied, without a token
    with connect(db_url) as conn:
        report = audit.verify_chain(conn)
        checks = conn.execute(
            "SELECT target_id, details FROM audit_log WHERE action = 'consent.check'"
        ).fetchall()
        grants = {r["token_id"] for r in conn.execute("SELECT token_id FROM consent_grants").fetchall()}
    assert report.ok, report
    assert len(checks) == n
    assert sorted(d["details"]["prompt_sha256"] for d in checks) == sorted(r.prompt_sha256 for r in results)
    assert grants == {r.token_id for r in issued} == {c["target_id"] for c in checks if c["target_id"]}


def test_batched_reads_answer_each_check_for_its_own_requester_and_cameos(
    db_url: str, ctx: AppContext, policy: ActivePolicy, parties: dict[str, uuid.UUID]
) -> None:
    """Checks read in one statement: each gets its own decision, its own 404, and a revocation
    committed before a check was queued is seen by it."""
    with connect(db_url) as conn:
        approved = insert_cameo(conn, permission="approved")
        conn.execute(
            "INSERT INTO cameo_approvals (cameo_id, subject_id, status) VALUES (%s, %s, 'approved')",
            (approved, parties["requester"]),
        )
    requester, stranger = parties["requester"], uuid.uuid4()
    asks = [
        (requester, [parties["cameo"], approved]),  # allowed: everyone + approved
        (requester, [parties["denied"]]),  # only_me: denied
        (stranger, [parties["cameo"]]),  # no such subject
        (requester, [parties["cameo"], uuid.uuid4()]),  # no such cameo
    ]

    async def run(asks: list[tuple[uuid.UUID, list[uuid.UUID]]]) -> list[object]:
        pool = await open_async_pool(db_url, max_size=4)
        hot = hotpath.HotPath(pool, CountingReader(pool), hotpath.CheckWriter(pool))
        try:
            return await asyncio.gather(
                *(
                    hot.check(
                        ctx,
                        policy=policy,
                        requester_id=who,
                        cameo_ids=ids,
                        prompt="p",
                        platform_key_id="pk",
                        actor=None,
                    )
                    for who, ids in asks
                ),
                return_exceptions=True,
            )
        finally:
            await hot.close()

    out = asyncio.run(run(asks))
    assert isinstance(out[0], service.ConsentCheck) and out[0].allowed and out[0].token
    assert isinstance(out[1], service.ConsentCheck) and [d.reason for d in out[1].decisions] == ["only_me"]
    assert isinstance(out[2], NotFound) and out[2].code == "subject_not_found"
    assert isinstance(out[3], NotFound) and out[3].code == "cameo_not_found"
    with connect(db_url) as conn:  # the owner removes the approval; the next checks see it
        conn.execute("DELETE FROM cameo_approvals WHERE cameo_id = %s", (approved,))
        conn.execute("UPDATE cameos SET consent_epoch = consent_epoch + 1 WHERE id = %s", (approved,))
    again = asyncio.run(run([(requester, [approved])] * 3))
    assert all(isinstance(r, service.ConsentCheck) and not r.allowed for r in again), again


def test_a_failed_batch_answers_its_checks_with_503_and_the_batchers_carry_on(
    client: TestClient, make_key: KeyMaker, db_url: str, parties: dict[str, uuid.UUID]
) -> None:
    headers = make_key("platform")
    body = {"requester": str(parties["requester"]), "cameo_ids": [str(parties["cameo"])], "prompt": "x"}
    with connect(db_url) as conn:  # the batch statement now fails in the database
        conn.execute(f"ALTER FUNCTION {BATCH_FN} RENAME TO away")
    resp = client.post("/v1/consent/check", json=body, headers=headers)
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    problem = resp.json()
    assert problem["code"] == "check_not_recorded" and "token" not in problem
    with connect(db_url) as conn:
        assert one_row(conn.execute("SELECT count(*) AS n FROM consent_grants"))["n"] == 0
        conn.execute("ALTER FUNCTION away(jsonb) RENAME TO consent_record_check_batch")
    resp = client.post("/v1/consent/check", json=body, headers=headers)
    assert resp.status_code == 200 and resp.json()["token"], resp.text
    with connect(db_url) as conn:  # the same for the batched read
        conn.execute("ALTER FUNCTION consent_facts_many(integer[], uuid[], uuid[]) RENAME TO away")
    resp = client.post("/v1/consent/check", json=body, headers=headers)
    assert resp.status_code == 503 and resp.json()["code"] == "database_unavailable", resp.text
    with connect(db_url) as conn:
        conn.execute("ALTER FUNCTION away(integer[], uuid[], uuid[]) RENAME TO consent_facts_many")
    assert client.post("/v1/consent/check", json=body, headers=headers).status_code == 200


def test_a_batch_chains_exactly_the_bytes_hashed_here_whatever_the_text(
    db_url: str, parties: dict[str, uuid.UUID]
) -> None:
    # An owner's restriction, quoted in a decision, can be any text: the batch document carries
    # the canonical bytes as base64, and each row's details and time as the hash covered them.
    texts = ["Ne me montrez pas en politique — « jamais »", "不要政治视频 🎉", 'quote " and \\ backslash']
    records = [
        store.check_record(
            grant=(uuid.uuid4().hex, [parties["cameo"]], datetime.now(UTC)),
            actor="test",
            action="consent.check",
            policy_version="t",
            subject_id=parties["requester"],
            target_kind="consent_check",
            target_id=uuid.uuid4().hex,
            details={"text": text},
        )
        for text in texts
    ]

    async def run() -> None:
        async with await open_async_pool(db_url, max_size=1) as pool, pool.connection() as conn:
            await store.record_checks(conn, records)

    asyncio.run(run())
    with connect(db_url) as conn:
        report = audit.verify_chain(conn)
        rows = conn.execute("SELECT at, details FROM audit_log ORDER BY id").fetchall()
    assert report.ok and report.checked == 3, report
    assert [r["details"]["text"] for r in rows] == texts
    assert [r["at"] for r in rows] == [r.row["at"] for r in records]


def test_shutdown_writes_every_check_already_queued(db_url: str, parties: dict[str, uuid.UUID]) -> None:
    n = 25

    async def run() -> list[BaseException | None]:
        pool = await open_async_pool(db_url, max_size=2)
        writer = hotpath.CheckWriter(pool, max_batch=4)
        records = check_records(parties, n, with_grants=True)
        waiting = [asyncio.create_task(writer.submit(r)) for r in records]
        await asyncio.sleep(0)  # all queued; the first batch at most has started
        await writer.close()
        with pytest.raises(hotpath.CheckNotRecorded):
            await writer.submit(records[0])  # closed: refused at once
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        await pool.close()
        return outcomes

    assert asyncio.run(run()) == [None] * n
    with connect(db_url) as conn:
        assert audit.verify_chain(conn).checked == n
        assert one_row(conn.execute("SELECT count(*) AS n FROM consent_grants"))["n"] == n


def test_the_app_drains_its_writer_when_it_stops(
    settings: Settings, ctx: AppContext, make_key: KeyMaker, db_url: str, parties: dict[str, uuid.UUID]
) -> None:
    from gate.app import create_app

    headers = make_key("platform")
    body = {"requester": str(parties["requester"]), "cameo_ids": [str(parties["cameo"])], "prompt": "x"}
    with TestClient(create_app(settings, ctx)) as c:
        assert c.post("/v1/consent/check", json=body, headers=headers).status_code == 200
        assert hotpath.SERVICE in ctx.services
    assert hotpath.SERVICE not in ctx.services  # closed with the app
    with connect(db_url) as conn:
        assert audit.verify_chain(conn).ok


def test_a_writer_stopped_mid_batch_answers_its_checks_instead_of_leaving_them_waiting(
    db_url: str, parties: dict[str, uuid.UUID]
) -> None:
    """The writer task cancelled while its batch waits on the audit chain's lock (held here by an
    ordinary append's open transaction): the checks of that batch and those queued behind it
    get CheckNotRecorded at once."""

    async def run() -> list[BaseException | None]:
        pool = await open_async_pool(db_url, max_size=2)
        writer = hotpath.CheckWriter(pool, max_batch=2)
        records = check_records(parties, 5, with_grants=False)
        with connect(db_url) as holder:  # holds the chain's lock until this block ends
            audit.record(holder, actor="test", action="test.hold", policy_version="t")
            waiting = [asyncio.create_task(writer.submit(r)) for r in records]
            await asyncio.sleep(0.5)  # the first batch is now blocked in the database
            writer._task.cancel()
            outcomes = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), timeout=5)
            holder.rollback()
        await pool.close()
        return outcomes

    outcomes = asyncio.run(run())
    assert all(isinstance(o, hotpath.CheckNotRecorded) for o in outcomes), outcomes
    with connect(db_url) as conn:
        assert one_row(conn.execute("SELECT count(*) AS n FROM audit_log"))["n"] == 0
