"""Permission levels through the API: only_me, approved, mutuals (with the follow graph), everyone."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.conftest import KeyMaker
from tests.consent.conftest import CameoMaker, subject_of


def check(client: TestClient, platform: dict[str, str], requester: uuid.UUID, cameo: uuid.UUID) -> dict:
    resp = client.post(
        "/v1/consent/check",
        json={"requester": str(requester), "cameo_ids": [str(cameo)], "prompt": "dancing on a beach"},
        headers=platform,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_only_me_allows_the_owner_and_nobody_else(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, other, platform = make_key("user"), make_key("user"), make_key("platform")
    cameo = make_cameo(owner=subject_of(owner), permission="only_me")
    mine = check(client, platform, subject_of(owner), cameo)
    assert mine["allowed"] and mine["token"] and mine["decisions"][0]["reason"] == "allowed_owner"
    theirs = check(client, platform, subject_of(other), cameo)
    assert not theirs["allowed"] and theirs["token"] is None
    expected = {"cameo_id": str(cameo), "decision": "deny", "reason": "only_me", "restriction": None}
    assert theirs["decisions"][0] | {"policy_version": None} == expected | {"policy_version": None}
    assert theirs["decisions"][0]["policy_version"] == theirs["policy_version"] != ""


def test_everyone_allows_any_known_subject(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, other, platform = make_key("user"), make_key("user"), make_key("platform")
    cameo = make_cameo(owner=subject_of(owner), permission="everyone")
    out = check(client, platform, subject_of(other), cameo)
    assert out["allowed"] and out["decisions"][0]["reason"] == "allowed_everyone"


def test_an_unverified_cameo_is_denied_even_to_everyone(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, other, platform = make_key("user"), make_key("user"), make_key("platform")
    for status in ("pending", "review", "rejected"):
        cameo = make_cameo(owner=subject_of(owner), permission="everyone", status=status)
        out = check(client, platform, subject_of(other), cameo)
        assert not out["allowed"] and out["decisions"][0]["reason"] == "cameo_not_verified"


def test_approved_allows_exactly_the_approved_people(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, friend, stranger, platform = (
        make_key("user"),
        make_key("user"),
        make_key("user"),
        make_key("platform"),
    )
    cameo = make_cameo(owner=subject_of(owner))
    resp = client.put(f"/v1/cameos/{cameo}/permission", json={"permission": "approved"}, headers=owner)
    assert resp.status_code == 200 and resp.json()["permission"] == "approved"
    assert check(client, platform, subject_of(friend), cameo)["decisions"][0]["reason"] == "not_approved"
    resp = client.post(
        f"/v1/cameos/{cameo}/approvals", json={"subject_id": str(subject_of(friend))}, headers=owner
    )
    assert resp.status_code == 201 and resp.json()["status"] == "approved"
    assert check(client, platform, subject_of(friend), cameo)["decisions"][0]["reason"] == "allowed_approved"
    assert not check(client, platform, subject_of(stranger), cameo)["allowed"]


def test_mutuals_needs_both_follows_and_ends_when_either_unfollows(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, fan, platform = make_key("user"), make_key("user"), make_key("platform")
    o, f = subject_of(owner), subject_of(fan)
    cameo = make_cameo(owner=o, permission="mutuals")
    assert client.post(f"/v1/subjects/{o}/follows", json={}, headers=fan).status_code == 201
    assert check(client, platform, f, cameo)["decisions"][0]["reason"] == "not_mutuals"  # one way only
    # A platform follows on behalf of its user.
    resp = client.post(f"/v1/subjects/{f}/follows", json={"follower": str(o)}, headers=platform)
    assert resp.status_code == 201 and resp.json() == {
        "follower": str(o),
        "followee": str(f),
        "created": True,
    }
    allowed = check(client, platform, f, cameo)
    assert allowed["decisions"][0]["reason"] == "allowed_mutuals"
    resp = client.delete(f"/v1/subjects/{o}/follows", headers=fan)
    assert resp.status_code == 200 and resp.json()["revoked_cameo_ids"] == [str(cameo)]
    assert check(client, platform, f, cameo)["decisions"][0]["reason"] == "not_mutuals"
    # The token issued while they were mutuals is dead too.
    resp = client.post(
        "/v1/consent/tokens/verify",
        json={
            "token": allowed["token"],
            "requester": str(f),
            "cameo_ids": [str(cameo)],
            "prompt": "dancing on a beach",
        },
        headers=platform,
    )
    assert resp.status_code == 403 and resp.json()["code"] == "consent_revoked"


def test_a_user_cannot_follow_on_behalf_of_someone_else(client: TestClient, make_key: KeyMaker) -> None:
    a, b, c = make_key("user"), make_key("user"), make_key("user")
    resp = client.post(
        f"/v1/subjects/{subject_of(b)}/follows", json={"follower": str(subject_of(c))}, headers=a
    )
    assert resp.status_code == 403 and resp.json()["code"] == "acting_for_another_subject"
    resp = client.post(f"/v1/subjects/{subject_of(a)}/follows", json={}, headers=a)
    assert resp.status_code == 409 and resp.json()["code"] == "self_follow"
    resp = client.delete(f"/v1/subjects/{subject_of(b)}/follows", headers=a)
    assert resp.status_code == 404 and resp.json()["code"] == "follow_not_found"


def test_several_cameos_need_every_one_to_allow_for_a_token(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    a, b, requester, platform = make_key("user"), make_key("user"), make_key("user"), make_key("platform")
    open_cameo = make_cameo(owner=subject_of(a), permission="everyone")
    closed = make_cameo(owner=subject_of(b), permission="only_me")
    resp = client.post(
        "/v1/consent/check",
        json={
            "requester": str(subject_of(requester)),
            "cameo_ids": [str(open_cameo), str(closed)],
            "prompt": "hi",
        },
        headers=platform,
    )
    body = resp.json()
    assert [d["decision"] for d in body["decisions"]] == ["allow", "deny"]
    assert body["allowed"] is False and body["token"] is None


def test_every_check_is_in_the_audit_log(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker, conn
) -> None:
    owner, other, platform = make_key("user"), make_key("user"), make_key("platform")
    cameo = make_cameo(owner=subject_of(owner))
    check(client, platform, subject_of(other), cameo)
    row = conn.execute("SELECT * FROM audit_log WHERE action = 'consent.check'").fetchone()
    assert row["subject_id"] == subject_of(other) and row["role"] == "platform"
    assert row["details"]["decisions"][0]["reason"] == "only_me" and row["details"]["allowed"] is False
    assert row["policy_version"] and len(row["details"]["prompt_sha256"]) == 64
