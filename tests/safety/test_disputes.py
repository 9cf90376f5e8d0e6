"""Disputes: filed by a platform or user, answered by the rights holder, decided by an admin;
every step audited and announced in the outbox."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gate.db import Conn
from tests.conftest import KeyMaker
from tests.safety.conftest import FileOptOut


def test_a_dispute_runs_from_filing_to_an_admin_suspending_the_opt_out(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut, conn: Conn
) -> None:
    rh, platform, admin = make_key("rights_holder"), make_key("platform"), make_key("admin")
    oid = file_optout(rh, names=["Public Domain Bear"]).json()["id"]
    scan = sclient.post("/v1/scan/prompt", headers=platform, json={"prompt": "public domain bear"}).json()
    assert scan["decision"] == "block"
    r = sclient.post(
        "/v1/disputes", headers=platform,
        json={"optout_id": oid, "scan_id": scan["scan_id"], "reason": "public domain"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    did = r.json()["id"]
    assert [d["id"] for d in sclient.get("/v1/disputes", headers=rh).json()] == [did]
    other_rh = make_key("rights_holder", org="Someone Else")
    assert sclient.get(f"/v1/disputes/{did}", headers=other_rh).status_code == 404
    assert (
        sclient.post(f"/v1/disputes/{did}/answer", headers=other_rh, json={"answer": "no"}).status_code == 404
    )
    r = sclient.post(f"/v1/disputes/{did}/answer", headers=rh, json={"answer": "we hold the trademark"})
    assert r.json()["status"] == "answered"
    r = sclient.post(
        f"/v1/disputes/{did}/decide", headers=admin, json={"decision": "optout_suspended", "note": "expired"}
    )
    assert r.json()["status"] == "decided" and r.json()["decision"] == "optout_suspended"
    assert sclient.get(f"/v1/optouts/{oid}", headers=rh).json()["status"] == "suspended"
    assert (
        sclient.post(f"/v1/disputes/{did}/decide", headers=admin, json={"decision": "upheld"}).status_code
        == 409
    )
    actions = [
        r["action"]
        for r in conn.execute("SELECT action FROM audit_log WHERE action LIKE 'safety.%' ORDER BY id")
    ]
    assert actions == [
        "safety.optout.create",
        "safety.dispute.file",
        "safety.dispute.answer",
        "safety.optout.suspend",
        "safety.dispute.decide",
    ]
    events = [r["event"] for r in conn.execute("SELECT event FROM outbox ORDER BY created_at, id")]
    assert events == ["dispute.filed", "dispute.answered", "optout.suspended", "dispute.decided"]


def test_a_user_disputes_and_sees_only_their_own_disputes(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut
) -> None:
    oid = file_optout(make_key("rights_holder"), names=["Omega"]).json()["id"]
    alice, bob = make_key("user"), make_key("user")
    r = sclient.post("/v1/disputes", headers=alice, json={"optout_id": oid, "reason": "fan art"})
    assert r.status_code == 201
    assert len(sclient.get("/v1/disputes", headers=alice).json()) == 1
    assert sclient.get("/v1/disputes", headers=bob).json() == []
    assert sclient.get(f"/v1/disputes/{r.json()['id']}", headers=bob).status_code == 404


def test_a_dispute_must_name_a_real_opt_out_and_a_scan_that_matched_it(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut, conn: Conn
) -> None:
    platform = make_key("platform")
    oid = file_optout(make_key("rights_holder"), names=["Kappa"]).json()["id"]
    r = sclient.post(
        "/v1/disputes", headers=platform,
        json={"optout_id": "00000000-0000-0000-0000-000000000001", "reason": "x"},
    )  # fmt: skip
    assert r.status_code == 404 and r.json()["code"] == "optout_not_found"
    r = sclient.post(
        "/v1/disputes", headers=platform,
        json={"optout_id": oid, "scan_id": "00000000-0000-0000-0000-000000000002", "reason": "x"},
    )  # fmt: skip
    assert r.status_code == 404 and r.json()["code"] == "scan_match_not_found"
    row = conn.execute("SELECT count(*) AS n FROM disputes").fetchone()
    assert row is not None and row["n"] == 0
