"""Explain: every rule a generation request meets and why, with no side effects."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from gate.db import Conn
from gate.settings import Settings
from gate.web import AppContext
from perception.fakes import FakeText
from perception.registry import Models
from policies import protected, quotas, versions
from tests.conftest import KeyMaker
from tests.policies.conftest import count, new_cameo, new_subject, policy_text


@pytest.fixture
def fake_ctx(ctx: AppContext) -> AppContext:
    ctx.services["models"] = Models(Settings(), text=FakeText())
    return ctx


def _tight_policy(client: TestClient, admin: dict[str, str]) -> None:
    text = policy_text(
        "explain-1",
        quotas={"per_subject": {"generation": [{"limit": 1, "seconds": 86400}]}, "per_platform_key": {}},
    )
    assert (
        client.put(
            "/v1/policy", content=text, headers={**admin, "Content-Type": "application/yaml"}
        ).status_code
        == 200
    )


def test_explain_lists_every_rule_that_fires_and_why_and_writes_nothing(
    client: TestClient, fake_ctx: AppContext, conn: Conn, make_key: KeyMaker
) -> None:
    admin, platform = make_key("admin"), make_key("platform")
    _tight_policy(client, admin)
    policy = fake_ctx.policies.current
    adult, minor = new_subject(conn, "adult"), new_subject(conn, "minor")
    minors_cameo = new_cameo(conn, minor, permission="everyone")
    protected.create(conn, policy=policy, actor="test", name="Barack Obama", aliases=[], subject_id=None)
    quotas.consume(conn, policy=policy, subject_id=adult, platform_key_id=None, kind="generation")
    conn.commit()
    before = {t: count(conn, t) for t in ("audit_log", "quota_counters", "outbox", "policy_activations")}
    used_before = conn.execute("SELECT sum(used) AS n FROM quota_counters").fetchone()
    conn.commit()

    request = {
        "requester_id": str(adult),
        "prompt": "barack obama in a gore scene",
        "cameo_ids": [str(minors_cameo), str(uuid.uuid4())],
        "duration_seconds": 60,
    }
    resp = client.post("/v1/policy/explain", json=request, headers=platform)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["decision"] == "block" and body["policy_version"] == "explain-1"
    fired = {r["rule"]: r for r in body["rules"] if r["fired"]}
    assert set(fired) == {
        "generation.duration",
        "quota.subject.generation.86400s",
        "cameo.exists",
        "age_band.cameo_permission",
        "age_band.minor_cameo_explicit_approval",
        "protected_person.name",
        "content.graphic_violence",
    }
    assert fired["age_band.minor_cameo_explicit_approval"]["effect"] == "require_approval"
    assert fired["quota.subject.generation.86400s"]["details"]["retry_after"] > 0
    assert all(r["reason"] and r["policy_version"] == "explain-1" for r in body["rules"])
    # Not fired rules are listed too, so the caller sees what was checked.
    assert {r["rule"] for r in body["rules"] if not r["fired"]} >= {"content.self_harm"}

    after = {t: count(conn, t) for t in before}
    assert after == before
    assert conn.execute("SELECT sum(used) AS n FROM quota_counters").fetchone() == used_before


def test_a_clean_request_is_allowed_and_the_requesters_own_minor_cameo_needs_no_approval(
    client: TestClient, fake_ctx: AppContext, conn: Conn, make_key: KeyMaker
) -> None:
    minor = new_subject(conn, "minor")
    own = new_cameo(conn, minor, permission="only_me")
    conn.commit()
    resp = client.post(
        "/v1/policy/explain",
        json={"requester_id": str(minor), "prompt": "me surfing a big wave", "cameo_ids": [str(own)]},
        headers=make_key("platform"),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["decision"] == "allow"
    rules = {r["rule"] for r in resp.json()["rules"]}
    # The minor's own daily limit and the platform key's window are both reported.
    assert "quota.subject.generation.86400s" in rules and "quota.platform_key.generation.60s" in rules


def test_explain_sees_a_policy_switch_immediately(
    client: TestClient, fake_ctx: AppContext, conn: Conn, make_key: KeyMaker
) -> None:
    adult = new_subject(conn)
    conn.commit()
    request = {"requester_id": str(adult), "prompt": "a calm lake", "duration_seconds": 15}
    assert (
        client.post("/v1/policy/explain", json=request, headers=make_key("admin")).json()["decision"]
        == "allow"
    )
    versions.apply(conn, text=policy_text("short", generation={"max_duration_seconds": 10}), actor="t",
                   current_version="x")  # fmt: skip
    conn.commit()
    active = versions.load_active(conn)
    assert active is not None
    fake_ctx.policies.replace(active)  # what the listener does
    body = client.post("/v1/policy/explain", json=request, headers=make_key("admin")).json()
    assert body["decision"] == "block" and body["policy_version"] == "short"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"requester_id": "not-a-uuid", "prompt": "x"}, 422, "validation_failed"),
        ({"requester_id": str(uuid.uuid4()), "prompt": ""}, 422, "validation_failed"),
        ({"requester_id": str(uuid.uuid4()), "prompt": "x", "surprise": 1}, 422, "validation_failed"),
        (
            {"requester_id": str(uuid.uuid4()), "prompt": "x", "duration_seconds": -1},
            422,
            "validation_failed",
        ),
        ({"requester_id": str(uuid.uuid4()), "prompt": "x"}, 404, "subject_not_found"),
        (
            {"requester_id": str(uuid.uuid4()), "prompt": "x", "platform_key_id": "other"},
            403,
            "other_platform_key",
        ),
    ],
)
def test_bad_explain_requests_are_4xx_problems(
    client: TestClient, fake_ctx: AppContext, make_key: KeyMaker, payload: dict, status: int, code: str
) -> None:
    resp = client.post("/v1/policy/explain", json=payload, headers=make_key("platform"))
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == code


def test_explain_with_broken_json_is_422(
    client: TestClient, fake_ctx: AppContext, make_key: KeyMaker
) -> None:
    resp = client.post(
        "/v1/policy/explain",
        content=b'{"requester_id": ',
        headers={**make_key("platform"), "Content-Type": "application/json"},
    )
    assert resp.status_code == 422 and resp.json()["code"] == "validation_failed"


def test_quota_peek_in_explain_uses_the_same_windows_as_consume(conn: Conn, fake_ctx: AppContext) -> None:
    from policies import rules

    policy = fake_ctx.policies.current
    sid = new_subject(conn)
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    before = rules.quota_rules(conn, policy=policy, subject_id=sid, platform_key_id="k", clock=lambda: now)
    quotas.consume(
        conn, policy=policy, subject_id=sid, platform_key_id="k", kind="generation", clock=lambda: now
    )
    after = rules.quota_rules(conn, policy=policy, subject_id=sid, platform_key_id="k", clock=lambda: now)
    assert [r.rule for r in before] == [r.rule for r in after]
    assert all(a.details["used"] == b.details["used"] + 1 for a, b in zip(after, before, strict=True))
