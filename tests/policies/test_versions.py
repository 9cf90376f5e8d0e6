"""Policy administration: apply, version + hash, 409 on a reused version, refusals that keep the
active policy, the API, the command line."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gate.cli import main
from gate.db import Conn
from gate.errors import Conflict, ValidationFailed
from gate.web import AppContext
from policies import versions
from tests.conftest import KeyMaker
from tests.policies.conftest import count, policy_text

YAML = {"Content-Type": "application/yaml"}


def test_apply_stores_the_version_with_its_hash_and_activates_it(conn: Conn) -> None:
    text = policy_text("v1")
    applied = versions.apply(conn, text=text, actor="test", current_version="boot")
    assert applied.changed and applied.previous_version is None
    active = versions.load_active(conn)
    assert active is not None and active.version == "v1" and active.sha256 == applied.active.sha256
    row = conn.execute("SELECT sha256, source FROM policy_versions WHERE version = 'v1'").fetchone()
    assert row == {"sha256": applied.active.sha256, "source": text}
    entry = conn.execute("SELECT action, target_id, policy_version FROM audit_log").fetchone()
    assert entry == {"action": "policy.apply", "target_id": "v1", "policy_version": "boot"}


def test_reusing_a_version_for_other_content_is_a_conflict(conn: Conn) -> None:
    versions.apply(conn, text=policy_text("v1"), actor="test", current_version="boot")
    with pytest.raises(Conflict) as err:
        versions.apply(
            conn,
            text=policy_text("v1", generation={"max_duration_seconds": 5}),
            actor="t",
            current_version="v1",
        )
    assert err.value.code == "policy_version_conflict"


def test_reapplying_the_active_version_changes_nothing_and_a_rollback_is_recorded(conn: Conn) -> None:
    versions.apply(conn, text=policy_text("v1"), actor="test", current_version="boot")
    # Same content, other formatting: the same document.
    again = versions.apply(conn, text="\n\n" + policy_text("v1"), actor="test", current_version="v1")
    assert not again.changed
    versions.apply(conn, text=policy_text("v2", description="second"), actor="test", current_version="v1")
    back = versions.apply(conn, text=policy_text("v1"), actor="test", current_version="v2")
    assert back.changed and back.previous_version == "v2"
    assert [a.version for a in versions.history(conn)] == ["v1", "v2", "v1"]
    assert count(conn, "policy_versions") == 2


def test_a_refused_policy_names_field_line_and_reason_and_stores_nothing(conn: Conn) -> None:
    bad = 'version: "v9"\nquotas:\n  per_subject:\n    generation:\n      - {limit: -1, seconds: 60}\n'
    with pytest.raises(ValidationFailed) as err:
        versions.apply(conn, text=bad, actor="test", current_version="boot")
    assert err.value.code == "policy_invalid"
    first = err.value.extra["errors"][0]
    assert first["field"] == "quotas.per_subject.generation.0.limit" and first["line"] == 5
    assert "greater than or equal to 0" in first["reason"]
    assert count(conn, "policy_versions") == 0 and count(conn, "audit_log") == 0


def test_yaml_aliases_are_refused(conn: Conn) -> None:
    bomb = 'version: "v9"\nx: &a [1, 1, 1]\ndescription: *a\n'
    with pytest.raises(ValidationFailed) as err:
        versions.apply(conn, text=bomb, actor="test", current_version="boot")
    assert err.value.extra["errors"][0]["line"] == 3


def test_put_policy_switches_this_process_and_get_reads_it(
    client: TestClient, ctx: AppContext, make_key: KeyMaker
) -> None:
    admin = make_key("admin")
    resp = client.put("/v1/policy", content=policy_text("v2"), headers={**admin, **YAML})
    assert resp.status_code == 200, resp.text
    assert resp.json()["version"] == "v2" and resp.json()["changed"] is True
    assert ctx.policies.current.version == "v2"
    got = client.get("/v1/policy", headers=admin).json()
    assert got["version"] == "v2" and got["source"] == policy_text("v2")
    history = client.get("/v1/policy/history", headers=make_key("auditor")).json()
    assert [h["version"] for h in history] == ["v2"]
    stored = client.get("/v1/policy/versions/v2", headers=admin).json()
    assert stored["sha256"] == got["sha256"]
    assert client.get("/v1/policy/versions/nope", headers=admin).json()["code"] == "policy_version_not_found"


def test_a_refused_put_answers_422_with_field_and_line_and_the_old_policy_stays(
    client: TestClient, ctx: AppContext, make_key: KeyMaker
) -> None:
    admin = make_key("admin")
    before = client.get("/v1/policy", headers=admin).json()["version"]
    bad = 'version: "v3"\nconsent:\n  token_ttl_seconds: soon\n'
    resp = client.put("/v1/policy", content=bad, headers={**admin, **YAML})
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["code"] == "policy_invalid"
    assert body["errors"][0] == {
        "field": "consent.token_ttl_seconds",
        "line": 3,
        "reason": body["errors"][0]["reason"],
    }
    assert "integer" in body["errors"][0]["reason"]
    assert ctx.policies.current.version == before
    assert client.get("/v1/policy", headers=admin).json()["version"] == before


def test_a_reused_version_over_the_api_is_409(client: TestClient, make_key: KeyMaker) -> None:
    admin = make_key("admin")
    assert client.put("/v1/policy", content=policy_text("v4"), headers={**admin, **YAML}).status_code == 200
    other = policy_text("v4", description="changed")
    resp = client.put("/v1/policy", content=other, headers={**admin, **YAML})
    assert resp.status_code == 409 and resp.json()["code"] == "policy_version_conflict"


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"version: x\n", {"Content-Type": "application/json"}, 415, "policy_not_yaml"),
        (b"", YAML, 422, "policy_empty"),
        (b"version: \xff\xfe\n", YAML, 422, "policy_not_utf8"),
        (b"version: [unclosed\n", YAML, 422, "policy_invalid"),
        (b"- a list\n", YAML, 422, "policy_invalid"),
        (b"# " + b"x" * 1_000_001, YAML, 413, "payload_too_large"),
    ],
)
def test_hostile_policy_bodies_are_refused_and_nothing_is_stored(
    client: TestClient,
    conn: Conn,
    make_key: KeyMaker,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    resp = client.put("/v1/policy", content=body, headers={**make_key("admin"), **headers})
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == code
    assert count(conn, "policy_versions") == 0


def test_every_role_reads_the_policy_but_only_admins_and_auditors_see_blocked_terms(
    client: TestClient, make_key: KeyMaker
) -> None:
    seen = client.get("/v1/policy", headers=make_key("user")).json()
    assert seen["source"] is None
    categories = seen["document"]["content"]["categories"]
    assert categories and all(c["terms"] == [] and c["descriptions"] == [] for c in categories)
    assert seen["document"]["age_bands"]["minor"]["forbidden_cameo_permissions"] == ["everyone"]
    full = client.get("/v1/policy", headers=make_key("auditor")).json()
    assert full["document"]["content"]["categories"][0]["terms"]


def test_the_cli_applies_a_file_and_refuses_a_bad_one_with_its_line(
    db_url: str, conn: Conn, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CAMEOGATE_DATABASE_URL", db_url)
    monkeypatch.setenv("CAMEOGATE_VAR_DIR", str(tmp_path / "var"))
    good = tmp_path / "good.yaml"
    good.write_text(policy_text("cli-1"))
    assert main(["policy", "apply", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text('version: "cli-2"\nage_bands:\n  minor:\n    daily_generation_limit: many\n')
    assert main(["policy", "apply", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:4: age_bands.minor.daily_generation_limit" in err
    assert main(["policy", "show"]) == 0
    assert "# version cli-1" in capsys.readouterr().out
    assert main(["policy", "history"]) == 0
    assert "cli-1" in capsys.readouterr().out
    assert count(conn, "policy_versions") == 1
