"""Revocation racing consent checks and a publish, with real threads on real PostgreSQL.

After the revocation commits: no check that starts allows, no token validates, and no publish
featuring the cameo commits — the publish re-checks inside its transaction under a row lock.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

from consent import service
from gate.auth import Principal
from gate.db import connect
from gate.errors import ConsentRequired
from gate.settings import Settings
from perception.fakes import FakeText
from perception.registry import Models
from policies.service import load_file
from tests.consent.conftest import insert_cameo
from tests.pg import one_row

PROMPT = "the two of us on a rollercoaster"


@dataclass
class CheckRun:
    started: float
    allowed: bool
    token: str | None


@dataclass
class PublishRun:
    started: float
    commit_called: float | None  # None: the re-check refused it


def test_no_check_allows_and_no_publish_lands_after_the_revocation_commits(
    db_url: str, settings: Settings
) -> None:
    policy = load_file(settings.policy_file)
    models = Models(settings, text=FakeText())
    with connect(db_url) as conn:
        cameo = insert_cameo(conn, permission="approved")
        owner = one_row(conn.execute("SELECT owner_id FROM cameos WHERE id = %s", (cameo,)))["owner_id"]
        requester = uuid.uuid4()
        conn.execute("INSERT INTO subjects (id) VALUES (%s)", (requester,))
        conn.execute(
            "INSERT INTO cameo_approvals (cameo_id, subject_id, status) VALUES (%s, %s, 'approved')",
            (cameo, requester),
        )

    stop = threading.Event()
    revoked_at: list[float] = []
    checks: list[CheckRun] = []
    publishes: list[PublishRun] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def checker() -> None:
        with connect(db_url) as conn:
            while not stop.is_set():
                started = time.monotonic()
                result = service.check_consent(
                    conn, policy=policy, models=models, settings=settings, requester_id=requester,
                    cameo_ids=[cameo], prompt=PROMPT, platform_key_id=None,
                )  # fmt: skip
                conn.commit()
                with lock:
                    checks.append(CheckRun(started, result.allowed, result.token))

    def publisher() -> None:
        with connect(db_url) as conn:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    service.recheck_for_publish(
                        conn,
                        policy=policy,
                        models=models,
                        requester_id=requester,
                        cameo_ids=[cameo],
                        prompt=PROMPT,
                    )
                except ConsentRequired:
                    conn.rollback()
                    with lock:
                        publishes.append(PublishRun(started, None))
                    continue
                clip = uuid.uuid4()
                conn.execute(
                    "INSERT INTO clips (id, status, requester_id, published_at)"
                    " VALUES (%s, 'published', %s, now())",
                    (clip, requester),
                )
                service.record_appearances(conn, clip_id=clip, cameo_ids=[cameo])
                time.sleep(0.02)  # a publish takes a while: the window a revocation could slip into
                commit_called = time.monotonic()
                conn.commit()
                with lock:
                    publishes.append(PublishRun(started, commit_called))

    def revoker() -> None:
        time.sleep(0.3)
        with connect(db_url) as conn:
            service.remove_approval(
                conn, policy=policy, principal=Principal("k", "user", owner), cameo_id=cameo,
                subject_id=requester, hooks=[],
            )  # fmt: skip
            conn.commit()
            revoked_at.append(time.monotonic())

    def guarded(fn):
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)
                stop.set()

        return run

    threads = [threading.Thread(target=guarded(f)) for f in (checker, checker, publisher, publisher, revoker)]
    for t in threads:
        t.start()
    threads[-1].join(timeout=30)
    time.sleep(0.3)  # keep racing for a while after the revocation
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert revoked_at, "the revocation did not commit"
    t_revoke = revoked_at[0]

    before = [c for c in checks if c.started < t_revoke]
    after = [c for c in checks if c.started > t_revoke]
    assert any(c.allowed for c in before) and after, (len(before), len(after))  # the race really ran
    assert not any(c.allowed for c in after)
    with connect(db_url) as conn:
        for c in checks:
            if c.token:
                try:
                    service.validate_token(
                        conn,
                        settings=settings,
                        token=c.token,
                        requester_id=requester,
                        cameo_ids=[cameo],
                        prompt=PROMPT,
                    )
                    raise AssertionError("a token issued before the revocation still validates")
                except ConsentRequired as exc:
                    assert exc.code == "consent_revoked"

        landed = [p for p in publishes if p.commit_called is not None]
        assert landed and any(p.commit_called is None for p in publishes)
        # Every publish that committed had called commit before the revocation committed.
        assert all(p.commit_called is not None and p.commit_called < t_revoke for p in landed)
        assert not any(p.commit_called for p in publishes if p.started > t_revoke)
        published = one_row(
            conn.execute(
                "SELECT count(*) AS n FROM clips k JOIN clip_coowners co ON co.clip_id = k.id"
                " WHERE co.cameo_id = %s AND k.status = 'published'",
                (cameo,),
            )
        )["n"]
        assert published == len(landed)
