"""Approvals: direct approval, requests the owner grants or denies, removal, and who may do what."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gate.db import Conn
from tests.conftest import KeyMaker
from tests.consent.conftest import CameoMaker, subject_of


def allowed(client: TestClient, platform: dict[str, str], requester: str, cameo: object) -> bool:
    body = {"requester": requester, "cameo_ids": [str(cameo)], "prompt": "a walk in the park"}
    return bool(client.post("/v1/consent/check", json=body, headers=platform).json()["allowed"])


def test_a_request_notifies_the_owner_who_grants_it(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker, conn: Conn
) -> None:
    owner, fan, platform = make_key("user"), make_key("user"), make_key("platform")
    cameo = make_cameo(owner=subject_of(owner), permission="approved")
    resp = client.post(f"/v1/cameos/{cameo}/approval-requests", json={}, headers=fan)
    assert resp.status_code == 201 and resp.json()["status"] == "requested"
    assert not allowed(client, platform, str(subject_of(fan)), cameo)  # asking is not being allowed
    event = conn.execute("SELECT event, subject_id, payload FROM outbox").fetchone()
    assert event == {
        "event": "approval.requested",
        "subject_id": subject_of(owner),
        "payload": {"cameo_id": str(cameo), "requester_id": str(subject_of(fan))},
    }
    listed = client.get(f"/v1/cameos/{cameo}/approvals", headers=owner).json()
    assert [(a["subject_id"], a["status"]) for a in listed] == [(str(subject_of(fan)), "requested")]
    resp = client.post(
        f"/v1/cameos/{cameo}/approvals", json={"subject_id": str(subject_of(fan))}, headers=owner
    )
    assert resp.status_code == 201 and resp.json()["status"] == "approved"
    assert allowed(client, platform, str(subject_of(fan)), cameo)


def test_a_denied_request_stays_denied_and_is_listed(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker, conn: Conn
) -> None:
    owner, fan, platform = make_key("user"), make_key("user"), make_key("platform")
    cameo = make_cameo(owner=subject_of(owner), permission="approved")
    # A platform asks for its user.
    resp = client.post(
        f"/v1/cameos/{cameo}/approval-requests", json={"requester": str(subject_of(fan))}, headers=platform
    )
    assert resp.status_code == 201
    resp = client.post(f"/v1/cameos/{cameo}/approval-requests/{subject_of(fan)}/deny", headers=owner)
    assert resp.status_code == 200 and resp.json()["status"] == "denied"
    # Asking again does not turn a denial back into a request, nor pester the owner.
    assert (
        client.post(f"/v1/cameos/{cameo}/approval-requests", json={}, headers=fan).json()["status"]
        == "denied"
    )
    assert conn.execute("SELECT count(*) AS n FROM outbox").fetchone() == {"n": 1}
    assert not allowed(client, platform, str(subject_of(fan)), cameo)
    assert [a["status"] for a in client.get(f"/v1/cameos/{cameo}/approvals", headers=owner).json()] == [
        "denied"
    ]


def test_removing_an_approval_denies_the_next_check(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, friend, platform = make_key("user"), make_key("user"), make_key("platform")
    cameo = make_cameo(owner=subject_of(owner), permission="approved")
    client.post(f"/v1/cameos/{cameo}/approvals", json={"subject_id": str(subject_of(friend))}, headers=owner)
    assert allowed(client, platform, str(subject_of(friend)), cameo)
    resp = client.delete(f"/v1/cameos/{cameo}/approvals/{subject_of(friend)}", headers=owner)
    assert resp.status_code == 200 and resp.json()["revoked_cameo_ids"] == [str(cameo)]
    assert not allowed(client, platform, str(subject_of(friend)), cameo)
    again = client.delete(f"/v1/cameos/{cameo}/approvals/{subject_of(friend)}", headers=owner)
    assert again.status_code == 404 and again.json()["code"] == "approval_not_found"


def test_only_the_owner_manages_a_cameo(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, intruder = make_key("user"), make_key("user")
    cameo = make_cameo(owner=subject_of(owner), permission="approved")
    attempts = [
        client.post(
            f"/v1/cameos/{cameo}/approvals", json={"subject_id": str(subject_of(intruder))}, headers=intruder
        ),
        client.put(f"/v1/cameos/{cameo}/permission", json={"permission": "everyone"}, headers=intruder),
        client.get(f"/v1/cameos/{cameo}/approvals", headers=intruder),
        client.post(f"/v1/cameos/{cameo}/restrictions", json={"text": "no cats"}, headers=intruder),
        client.post(f"/v1/cameos/{cameo}/revoke", headers=intruder),
        client.get(f"/v1/cameos/{cameo}/appearances", headers=intruder),
    ]
    assert [(r.status_code, r.json()["code"]) for r in attempts] == [(403, "not_cameo_owner")] * len(attempts)


def test_requests_for_unknown_or_unverified_cameos_are_refused(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, fan = make_key("user"), make_key("user")
    pending = make_cameo(owner=subject_of(owner), status="pending")
    resp = client.post(f"/v1/cameos/{pending}/approval-requests", json={}, headers=fan)
    assert resp.status_code == 409 and resp.json()["code"] == "cameo_not_verified"
    resp = client.post(
        "/v1/cameos/00000000-0000-0000-0000-000000000001/approval-requests", json={}, headers=fan
    )
    assert resp.status_code == 404 and resp.json()["code"] == "cameo_not_found"
    mine = make_cameo(owner=subject_of(owner))
    resp = client.post(f"/v1/cameos/{mine}/approval-requests", json={}, headers=owner)
    assert resp.status_code == 409 and resp.json()["code"] == "owner_needs_no_approval"
