"""Owners' free-text restrictions: keyword matches (normalised), semantic matches, misses."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from consent import restrictions, service
from gate.auth import Principal
from gate.db import Conn
from perception.registry import Models
from policies.service import ActivePolicy
from tests.conftest import KeyMaker
from tests.consent.conftest import CameoMaker, insert_cameo, subject_of
from tests.pg import one_row


def decide(
    client: TestClient, platform: dict[str, str], requester: uuid.UUID, cameo: uuid.UUID, prompt: str
) -> dict:
    body = {"requester": str(requester), "cameo_ids": [str(cameo)], "prompt": prompt}
    resp = client.post("/v1/consent/check", json=body, headers=platform)
    assert resp.status_code == 200, resp.text
    return resp.json()["decisions"][0]


def test_the_framing_of_a_rule_is_not_what_is_matched() -> None:
    rule = restrictions.parse("Don't put me in political videos!")
    assert rule.terms == ["political"] and rule.topic == "political"
    assert restrictions.parse("no alcohol, no smoking").terms == ["alcohol", "smoking"]


@pytest.mark.parametrize(
    "prompt", ["me at a POLITICAL rally", "a p0litical speech", "me at a politicl debate", "political-ads"]
)
def test_a_keyword_in_any_spelling_denies_with_the_rule_named(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker, prompt: str
) -> None:
    owner, other, platform = make_key("user"), make_key("user"), make_key("platform")
    cameo = make_cameo(owner=subject_of(owner), permission="everyone")
    resp = client.post(
        f"/v1/cameos/{cameo}/restrictions", json={"text": "Don't put me in political videos"}, headers=owner
    )
    assert resp.status_code == 201 and resp.json()["terms"] == ["political"]
    d = decide(client, platform, subject_of(other), cameo, prompt)
    assert d["decision"] == "deny" and d["reason"] == "restriction_matched"
    assert d["restriction"] | {"restriction_id": None} == {
        "restriction_id": None, "text": "Don't put me in political videos", "rule": "keyword",
        "term": "political", "score": 1.0, "model_id": None,
    }  # fmt: skip


def test_plural_and_singular_forms_match(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, other, platform = make_key("user"), make_key("user"), make_key("platform")
    cameo = make_cameo(owner=subject_of(owner), permission="everyone")
    client.post(f"/v1/cameos/{cameo}/restrictions", json={"text": "never with weapons"}, headers=owner)
    assert (
        decide(client, platform, subject_of(other), cameo, "holding a weapon")["reason"]
        == "restriction_matched"
    )


def test_an_unrelated_prompt_is_allowed_and_the_owner_is_not_bound(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, other, platform = make_key("user"), make_key("user"), make_key("platform")
    cameo = make_cameo(owner=subject_of(owner), permission="everyone")
    client.post(f"/v1/cameos/{cameo}/restrictions", json={"text": "no political videos"}, headers=owner)
    assert decide(client, platform, subject_of(other), cameo, "baking bread at home")["decision"] == "allow"
    assert (
        decide(client, platform, subject_of(owner), cameo, "my political speech")["reason"] == "allowed_owner"
    )


def test_a_semantic_match_with_the_fake_model_names_rule_and_score(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    # FakeText scores shared words; "election campaign" shares both words but "ad" is too short
    # for the keyword rule (policy: restriction_keyword_min_length), so only the semantic rule fires.
    owner, other, platform = make_key("user"), make_key("user"), make_key("platform")
    cameo = make_cameo(owner=subject_of(owner), permission="everyone")
    client.post(f"/v1/cameos/{cameo}/restrictions", json={"text": "no ad"}, headers=owner)
    d = decide(client, platform, subject_of(other), cameo, "ad")
    assert d["restriction"]["rule"] == "semantic" and d["restriction"]["model_id"] == "fake-text"
    assert d["restriction"]["score"] >= 0.3
    assert decide(client, platform, subject_of(other), cameo, "a quiet garden at dawn")["decision"] == "allow"


def test_a_rule_stored_under_another_model_is_embedded_again_at_check_time(
    client: TestClient, conn: Conn, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    # After a text-model change the stored topic vectors are another model's: the check embeds
    # the topic again with the current model rather than compare vectors from two spaces.
    owner, other, platform = make_key("user"), make_key("user"), make_key("platform")
    cameo = make_cameo(owner=subject_of(owner), permission="everyone")
    client.post(f"/v1/cameos/{cameo}/restrictions", json={"text": "no ad"}, headers=owner)
    with conn.transaction():
        conn.execute(
            "UPDATE cameo_restrictions SET model_id = 'retired-model', embedding = %s WHERE cameo_id = %s",
            (bytes(4 * 384), cameo),  # zeros: compared as stored, nothing would match
        )
    d = decide(client, platform, subject_of(other), cameo, "ad")
    assert d["restriction"]["rule"] == "semantic" and d["restriction"]["model_id"] == "fake-text"


def test_keyword_and_semantic_matches_on_two_cameos_of_one_check(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, other, platform = make_key("user"), make_key("user"), make_key("platform")
    keyword = make_cameo(owner=subject_of(owner), permission="everyone")
    semantic = make_cameo(owner=subject_of(owner), permission="everyone")
    client.post(f"/v1/cameos/{keyword}/restrictions", json={"text": "never with horses"}, headers=owner)
    client.post(f"/v1/cameos/{semantic}/restrictions", json={"text": "no ad"}, headers=owner)
    body = {
        "requester": str(subject_of(other)),
        "cameo_ids": [str(keyword), str(semantic)],
        "prompt": "ad horses",
    }
    resp = client.post("/v1/consent/check", json=body, headers=platform)
    assert resp.status_code == 200 and resp.json()["allowed"] is False and resp.json()["token"] is None
    rules = {d["cameo_id"]: d["restriction"]["rule"] for d in resp.json()["decisions"]}
    assert rules == {str(keyword): "keyword", str(semantic): "semantic"}


def test_restrictions_are_listed_and_removed(
    client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, other, platform = make_key("user"), make_key("user"), make_key("platform")
    cameo = make_cameo(owner=subject_of(owner), permission="everyone")
    rid = client.post(f"/v1/cameos/{cameo}/restrictions", json={"text": "no horses"}, headers=owner).json()[
        "id"
    ]
    assert [r["id"] for r in client.get(f"/v1/cameos/{cameo}/restrictions", headers=owner).json()] == [rid]
    assert decide(client, platform, subject_of(other), cameo, "riding horses")["decision"] == "deny"
    assert client.delete(f"/v1/cameos/{cameo}/restrictions/{rid}", headers=owner).status_code == 204
    assert decide(client, platform, subject_of(other), cameo, "riding horses")["decision"] == "allow"
    again = client.delete(f"/v1/cameos/{cameo}/restrictions/{rid}", headers=owner)
    assert again.status_code == 404 and again.json()["code"] == "restriction_not_found"


@pytest.mark.slow
def test_real_minilm_catches_a_paraphrase_and_passes_an_unrelated_prompt(
    conn: Conn, real_models: Models, settings
) -> None:
    from policies.service import load_file

    policy: ActivePolicy = load_file(settings.policy_file)
    cameo = insert_cameo(conn, permission="everyone")
    owner = one_row(conn.execute("SELECT owner_id FROM cameos WHERE id = %s", (cameo,)))["owner_id"]
    principal = Principal("k", "user", owner)
    service.add_restriction(
        conn, policy=policy, models=real_models, principal=principal, cameo_id=cameo,
        text="Don't put me in political videos", hooks=[],
    )  # fmt: skip
    other = uuid.uuid4()
    conn.execute("INSERT INTO subjects (id) VALUES (%s)", (other,))

    def run(prompt: str) -> service.Decision:
        return service.check_consent(
            conn, policy=policy, models=real_models, settings=settings, requester_id=other,
            cameo_ids=[cameo], prompt=prompt, platform_key_id=None,
        ).decisions[0]  # fmt: skip

    breach = run("me giving a campaign speech at an election rally")
    assert breach.reason == "restriction_matched" and breach.restriction is not None
    assert breach.restriction.rule == "semantic" and breach.restriction.model_id == real_models.text.model_id
    assert run("me surfing a big wave at sunset").decision == "allow"
