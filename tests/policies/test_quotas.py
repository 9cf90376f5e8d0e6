"""Quotas and rate limits in PostgreSQL: exhaustion, reset, minors' daily limit, platform keys,
no overshoot across connections, and the 429 problem+json with Retry-After."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from gate.app import create_app
from gate.db import Conn, connect
from gate.errors import RateLimited
from gate.settings import Settings
from gate.web import AppContext
from policies import quotas
from policies.service import ActivePolicy
from tests.conftest import KeyMaker
from tests.policies.conftest import PolicyMaker, count, new_subject

T0 = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _policy(make_policy: PolicyMaker, **quota: object) -> ActivePolicy:
    return make_policy(quotas={"per_subject": {}, "per_platform_key": {}, **quota})


def test_a_subject_is_refused_when_the_window_is_full_and_served_again_after_it_resets(
    conn: Conn, make_policy: PolicyMaker
) -> None:
    policy = _policy(make_policy, per_subject={"generation": [{"limit": 3, "seconds": 60}]})
    sid = new_subject(conn)
    clock = Clock(T0 + timedelta(seconds=15))
    for _ in range(3):
        quotas.consume(
            conn, policy=policy, subject_id=sid, platform_key_id=None, kind="generation", clock=clock
        )
    with pytest.raises(RateLimited) as err:
        quotas.consume(
            conn, policy=policy, subject_id=sid, platform_key_id=None, kind="generation", clock=clock
        )
    assert err.value.headers["Retry-After"] == "45"
    assert err.value.code == "quota_exceeded" and err.value.extra["policy_version"] == policy.version
    clock.now = T0 + timedelta(seconds=60)
    quotas.consume(conn, policy=policy, subject_id=sid, platform_key_id=None, kind="generation", clock=clock)
    [state] = quotas.peek(
        conn, policy=policy, subject_id=sid, platform_key_id=None, kind="generation", clock=clock
    )
    assert state.used == 1 and not state.exhausted


def test_a_refused_use_counts_in_no_window(conn: Conn, make_policy: PolicyMaker) -> None:
    windows = [{"limit": 5, "seconds": 60}, {"limit": 2, "seconds": 86400}]
    policy = _policy(make_policy, per_subject={"generation": windows})
    sid = new_subject(conn)
    clock = Clock()
    for _ in range(2):
        quotas.consume(
            conn, policy=policy, subject_id=sid, platform_key_id=None, kind="generation", clock=clock
        )
    with pytest.raises(RateLimited) as err:
        quotas.consume(
            conn, policy=policy, subject_id=sid, platform_key_id=None, kind="generation", clock=clock
        )
    assert err.value.extra["window_seconds"] == 86400
    assert int(err.value.headers["Retry-After"]) == 14 * 3600  # until the next UTC midnight
    used = {s.limit.seconds: s.used for s in quotas.peek(
        conn, policy=policy, subject_id=sid, platform_key_id=None, kind="generation", clock=clock
    )}  # fmt: skip
    assert used == {60: 2, 86400: 2}


def test_minors_get_a_daily_generation_limit_that_adults_do_not(conn: Conn, make_policy: PolicyMaker) -> None:
    policy = make_policy(
        quotas={"per_subject": {}, "per_platform_key": {}}, age_bands={"minor": {"daily_generation_limit": 2}}
    )
    minor, adult = new_subject(conn, "minor"), new_subject(conn, "adult")
    clock = Clock()
    for _ in range(2):
        quotas.consume(
            conn, policy=policy, subject_id=minor, platform_key_id=None, kind="generation", clock=clock
        )
    with pytest.raises(RateLimited) as err:
        quotas.consume(
            conn, policy=policy, subject_id=minor, platform_key_id=None, kind="generation", clock=clock
        )
    assert err.value.extra["source"] == "age_bands.minor.daily_generation_limit"
    for _ in range(5):
        quotas.consume(
            conn, policy=policy, subject_id=adult, platform_key_id=None, kind="generation", clock=clock
        )
    # Other kinds of use are not generations.
    quotas.consume(
        conn, policy=policy, subject_id=minor, platform_key_id=None, kind="consent_check", clock=clock
    )
    clock.now = T0 + timedelta(days=1)
    quotas.consume(
        conn, policy=policy, subject_id=minor, platform_key_id=None, kind="generation", clock=clock
    )


def test_platform_keys_have_their_own_limit(conn: Conn, make_policy: PolicyMaker) -> None:
    policy = _policy(make_policy, per_platform_key={"generation": [{"limit": 2, "seconds": 60}]})
    clock = Clock()
    a, b = new_subject(conn), new_subject(conn)
    quotas.consume(conn, policy=policy, subject_id=a, platform_key_id="keyA", kind="generation", clock=clock)
    quotas.consume(conn, policy=policy, subject_id=b, platform_key_id="keyA", kind="generation", clock=clock)
    with pytest.raises(RateLimited) as err:
        quotas.consume(
            conn, policy=policy, subject_id=a, platform_key_id="keyA", kind="generation", clock=clock
        )
    assert err.value.extra["scope"] == "platform_key"
    quotas.consume(conn, policy=policy, subject_id=a, platform_key_id="keyB", kind="generation", clock=clock)


def test_a_zero_limit_refuses_everything_and_an_unknown_kind_is_a_programming_error(
    conn: Conn, make_policy: PolicyMaker
) -> None:
    policy = _policy(make_policy, per_subject={"enrollment": [{"limit": 0, "seconds": 3600}]})
    sid = new_subject(conn)
    with pytest.raises(RateLimited):
        quotas.consume(conn, policy=policy, subject_id=sid, platform_key_id=None, kind="enrollment")
    with pytest.raises(ValueError, match="unknown quota kind"):
        quotas.consume(conn, policy=policy, subject_id=sid, platform_key_id=None, kind="generations")


def test_concurrent_processes_never_pass_the_limit(db_url: str, conn: Conn, make_policy: PolicyMaker) -> None:
    policy = _policy(make_policy, per_subject={"generation": [{"limit": 15, "seconds": 3600}]})
    sid = new_subject(conn)
    conn.commit()
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        ok = 0
        with connect(db_url, autocommit=True) as c:
            for _ in range(10):
                try:
                    quotas.consume(c, policy=policy, subject_id=sid, platform_key_id=None, kind="generation")
                    ok += 1
                except RateLimited:
                    pass
        with lock:
            granted.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 15


def test_prune_drops_only_ended_windows(conn: Conn, make_policy: PolicyMaker) -> None:
    policy = _policy(make_policy, per_subject={"generation": [{"limit": 9, "seconds": 60}]})
    sid = new_subject(conn)
    quotas.consume(
        conn, policy=policy, subject_id=sid, platform_key_id=None, kind="generation", clock=Clock()
    )
    assert quotas.prune(conn, policy=policy, clock=Clock(T0 + timedelta(hours=1))) == 0
    assert quotas.prune(conn, policy=policy, clock=Clock(T0 + timedelta(days=2))) == 1
    assert count(conn, "quota_counters") == 0


def test_an_exhausted_quota_answers_429_problem_json_with_retry_after(
    settings: Settings, ctx: AppContext, make_policy: PolicyMaker
) -> None:
    policy = _policy(make_policy, per_platform_key={"generation": [{"limit": 1, "seconds": 60}]})
    app = create_app(settings, ctx)

    @app.post("/quota-probe")  # a stand-in for the generation route, which calls consume the same way
    def probe() -> dict[str, str]:
        with ctx.pool.connection() as c:
            quotas.consume(
                c, policy=policy, subject_id=None, platform_key_id=str(uuid.UUID(int=1)), kind="generation"
            )
        return {"status": "ok"}

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/quota-probe").status_code == 200
        resp = client.post("/quota-probe")
    assert resp.status_code == 429
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(resp.headers["retry-after"]) <= 60
    body = resp.json()
    assert body["code"] == "quota_exceeded" and body["retry_after"] == int(resp.headers["retry-after"])


def test_quotas_can_be_read_without_being_counted(client: TestClient, conn: Conn, make_key: KeyMaker) -> None:
    user = make_key("user")
    sid = uuid.UUID(user["X-Test-Subject"])
    resp = client.get("/v1/policy/quotas", headers=user)
    assert resp.status_code == 200, resp.text
    windows = {(q["scope"], q["window_seconds"]): q for q in resp.json()["quotas"]}
    assert windows[("subject", 60)]["used"] == 0 and windows[("subject", 60)]["remaining"] == 10
    assert client.get(f"/v1/policy/quotas?subject_id={uuid.uuid4()}", headers=user).status_code == 403
    assert client.get("/v1/policy/quotas?kind=nonsense", headers=user).status_code == 422
    platform = make_key("platform")
    seen = client.get(f"/v1/policy/quotas?subject_id={sid}", headers=platform).json()["quotas"]
    assert {q["scope"] for q in seen} == {"subject", "platform_key"}
    assert count(conn, "quota_counters") == 0
