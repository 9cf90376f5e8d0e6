"""Age bands in consent: a minor's cameo is never open to everyone, and an adult may use it only
when the owner approved them explicitly, whatever the level."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from gate import auth
from gate.db import connect
from tests.conftest import KeyMaker
from tests.consent.conftest import CameoMaker, subject_of
from tests.consent.test_levels import check


def _minor(db_url: str, make_key: KeyMaker) -> dict[str, str]:
    with connect(db_url) as conn:
        minor = auth.ensure_subject(conn, uuid.uuid4(), age_band="minor")
    return make_key("user", subject_id=minor)


def test_a_minors_cameo_cannot_be_opened_to_everyone(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker, db_url: str
) -> None:
    teen = _minor(db_url, make_key)
    cameo = make_cameo(owner=subject_of(teen), permission="only_me")
    resp = client.put(f"/v1/cameos/{cameo}/permission", json={"permission": "everyone"}, headers=teen)
    assert resp.status_code == 403 and resp.json()["code"] == "minor_permission_forbidden"
    resp = client.put(f"/v1/cameos/{cameo}/permission", json={"permission": "approved"}, headers=teen)
    assert resp.status_code == 200


def test_an_adult_needs_explicit_approval_even_when_mutuals_would_allow(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker, db_url: str
) -> None:
    teen, adult, platform = _minor(db_url, make_key), make_key("user"), make_key("platform")
    cameo = make_cameo(owner=subject_of(teen), permission="mutuals")
    for follower, followee in ((teen, adult), (adult, teen)):
        resp = client.post(f"/v1/subjects/{subject_of(followee)}/follows", json={}, headers=follower)
        assert resp.status_code == 201, resp.text
    denied = check(client, platform, subject_of(adult), cameo)
    assert not denied["allowed"] and denied["decisions"][0]["reason"] == "minor_needs_explicit_approval"
    approve = {"subject_id": str(subject_of(adult))}
    assert client.post(f"/v1/cameos/{cameo}/approvals", json=approve, headers=teen).status_code == 201
    assert check(client, platform, subject_of(adult), cameo)["allowed"]


def test_another_minor_follows_the_level_as_usual(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker, db_url: str
) -> None:
    teen, friend, platform = _minor(db_url, make_key), _minor(db_url, make_key), make_key("platform")
    cameo = make_cameo(owner=subject_of(teen), permission="mutuals")
    for follower, followee in ((teen, friend), (friend, teen)):
        client.post(f"/v1/subjects/{subject_of(followee)}/follows", json={}, headers=follower)
    assert check(client, platform, subject_of(friend), cameo)["decisions"][0]["reason"] == "allowed_mutuals"
