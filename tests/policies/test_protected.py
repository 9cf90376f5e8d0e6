"""Protected people: admin-managed names and reference faces; prompts naming them and faces
matching them are blocked unless the person appears through their own consented cameo."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from consent import templates
from gate.db import Conn, connect
from gate.settings import Settings
from gate.web import AppContext
from perception.fakes import FakeText
from perception.registry import Models
from policies import protected, rules
from tests.conftest import SHARED_DATA, KeyMaker
from tests.policies.conftest import PolicyMaker, count, new_cameo, new_subject

FACES = SHARED_DATA / "faces"


def _person(
    conn: Conn, make_policy: PolicyMaker, name: str, aliases: list[str], subject: uuid.UUID | None = None
):
    return protected.create(
        conn, policy=make_policy(), actor="test", name=name, aliases=aliases, subject_id=subject
    )


def test_a_prompt_naming_a_protected_person_is_blocked_however_it_is_spelled(
    conn: Conn, make_policy: PolicyMaker
) -> None:
    policy = make_policy()
    obama = _person(conn, make_policy, "Barack Obama", ["Obama", "President Obama"])
    for prompt in [
        "barack obama dancing",
        "B4rack  0bama on a horse",
        "a video of Barak Obama",
        "OBAMA sings",
    ]:
        [hit] = protected.match_prompt(conn, policy=policy, prompt=prompt)
        assert hit.person_id == obama.id, prompt
        result = rules.evaluate_prompt(conn, policy=policy, text_model=FakeText(), prompt=prompt)
        assert result.decision == "block"
        assert [r.rule for r in result.fired] == ["protected_person.name"]
    assert protected.match_prompt(conn, policy=policy, prompt="a bamboo forest at dawn") == []
    # One letter off a five-letter alias is another name, not a typo.
    assert protected.match_prompt(conn, policy=policy, prompt="a documentary about Osama") == []


def test_the_names_follow_every_change_to_the_list_at_the_next_prompt(
    conn: Conn, make_policy: PolicyMaker, db_url: str
) -> None:
    """The process keeps the list's names indexed (migration 0601's version); a change committed
    by another connection, an alias added or a person removed, shows at the very next prompt."""
    policy = make_policy()
    prompt = "a video of Nova Prime singing"
    assert protected.match_prompt(conn, policy=policy, prompt=prompt) == []
    with connect(db_url) as other:
        person = _person(other, make_policy, "Stella Nova", [])
    assert protected.match_prompt(conn, policy=policy, prompt="stella nova singing")[0].person_id == person.id
    assert protected.match_prompt(conn, policy=policy, prompt=prompt) == []
    with connect(db_url) as other:
        protected.update(other, policy=policy, actor="test", person_id=person.id, aliases=["Nova Prime"])
    [hit] = protected.match_prompt(conn, policy=policy, prompt=prompt)
    assert (hit.person_id, hit.phrase) == (person.id, "Nova Prime")
    with connect(db_url) as other:
        protected.delete(other, policy=policy, actor="test", person_id=person.id)
    assert protected.match_prompt(conn, policy=policy, prompt=prompt) == []


def test_a_protected_person_may_appear_through_their_own_consented_cameo(
    conn: Conn, make_policy: PolicyMaker
) -> None:
    policy = make_policy()
    own = new_subject(conn)
    _person(conn, make_policy, "Joe Biden", ["Biden"], subject=own)
    prompt = "biden eating ice cream"
    blocked = rules.evaluate_prompt(conn, policy=policy, text_model=FakeText(), prompt=prompt)
    assert blocked.decision == "block"
    someone_else = rules.evaluate_prompt(
        conn, policy=policy, text_model=FakeText(), prompt=prompt, consented_subject_ids={new_subject(conn)}
    )
    assert someone_else.decision == "block"
    allowed = rules.evaluate_prompt(
        conn, policy=policy, text_model=FakeText(), prompt=prompt, consented_subject_ids={own}
    )
    assert allowed.decision == "allow"
    [rule] = [r for r in allowed.rules if r.rule == "protected_person.name"]
    assert rule.details["covered"][0]["name"] == "Joe Biden"


def test_name_blocking_can_be_turned_off_by_policy(conn: Conn, make_policy: PolicyMaker) -> None:
    _person(conn, make_policy, "Barack Obama", [])
    off = make_policy(protected_people={"block_names_in_prompts": False})
    assert (
        rules.evaluate_prompt(conn, policy=off, text_model=FakeText(), prompt="barack obama").decision
        == "allow"
    )


def test_the_protected_list_is_admin_managed_over_the_api(
    client: TestClient, conn: Conn, make_key: KeyMaker
) -> None:
    admin = make_key("admin")
    url = "/v1/policy/protected-people"
    resp = client.post(url, json={"name": "Barack Obama", "aliases": ["Obama", "obama"]}, headers=admin)
    assert resp.status_code == 201, resp.text
    person = resp.json()
    assert person["aliases"] == ["Obama"] and person["photos"] == 0
    again = client.post("/v1/policy/protected-people", json={"name": "Barack Obama"}, headers=admin)
    assert again.status_code == 409 and again.json()["code"] == "protected_person_exists"
    missing = client.post(url, json={"name": "X Y", "subject_id": str(uuid.uuid4())}, headers=admin)
    assert missing.status_code == 404 and missing.json()["code"] == "subject_not_found"
    assert client.post("/v1/policy/protected-people", json={"name": "!!!"}, headers=admin).status_code == 409
    assert (
        client.post("/v1/policy/protected-people", json={"name": "A", "extra": 1}, headers=admin).status_code
        == 422
    )
    assert client.post("/v1/policy/protected-people", content=b"{not json", headers={
        **admin, "Content-Type": "application/json"}).status_code == 422  # fmt: skip
    own = new_subject(conn)
    conn.commit()
    pid = person["id"]
    linked = client.patch(f"/v1/policy/protected-people/{pid}", json={"subject_id": str(own)}, headers=admin)
    assert linked.status_code == 200 and linked.json()["subject_id"] == str(own)
    unlinked = client.patch(
        f"/v1/policy/protected-people/{pid}", json={"unlink_subject": True}, headers=admin
    )
    assert unlinked.status_code == 200 and unlinked.json()["subject_id"] is None
    nobody = client.patch(f"/v1/policy/protected-people/{uuid.uuid4()}", json={"name": "Q"}, headers=admin)
    assert nobody.status_code == 404 and nobody.json()["code"] == "protected_person_not_found"
    listed = client.get("/v1/policy/protected-people", headers=make_key("auditor")).json()
    assert [p["name"] for p in listed] == ["Barack Obama"]
    assert client.delete(f"/v1/policy/protected-people/{pid}", headers=admin).status_code == 204
    gone = client.get(f"/v1/policy/protected-people/{pid}", headers=admin)
    assert gone.status_code == 404 and gone.json()["code"] == "protected_person_not_found"


# --- faces, with the real detector and embedder ---------------------------------------------------


@pytest.fixture
def face_ctx(ctx: AppContext, real_models: Models) -> AppContext:
    ctx.services["models"] = real_models
    return ctx


def _upload(client: TestClient, headers: dict[str, str], pid: str, data: bytes, name: str = "p.jpg"):
    return client.post(
        f"/v1/policy/protected-people/{pid}/photos",
        files={"file": (name, data, "image/jpeg")},
        headers=headers,
    )


def _embed(models: Models, path: Path) -> np.ndarray:
    rgb = np.asarray(Image.open(path).convert("RGB"))
    faces = models.face_detector.detect(rgb)
    return models.face_embedder.embed(rgb, faces)


@pytest.mark.slow
def test_reference_photos_are_stored_encrypted_and_faces_match_the_right_person(
    client: TestClient, face_ctx: AppContext, conn: Conn, make_key: KeyMaker, real_models: Models,
    make_policy: PolicyMaker, settings: Settings,
) -> None:  # fmt: skip
    admin = make_key("admin")
    ids = {}
    for name, photo in [("Barack Obama", "obama/1.jpg"), ("Joe Biden", "biden/1.jpg")]:
        pid = client.post("/v1/policy/protected-people", json={"name": name}, headers=admin).json()["id"]
        resp = _upload(client, admin, pid, (FACES / photo).read_bytes())
        assert resp.status_code == 201, resp.text
        assert resp.json()["model_id"] == real_models.face_embedder.model_id
        ids[name] = uuid.UUID(pid)
    row = conn.execute(
        "SELECT ciphertext FROM templates WHERE owner_ref = %s", (ids["Barack Obama"],)
    ).fetchone()
    assert row is not None and b"NUMPY" not in bytes(row["ciphertext"])  # encrypted, not a raw .npy
    [stored] = templates.load(
        conn, settings.keyring(), owner_kind="protected_person", owner_ref=ids["Barack Obama"], kind="face"
    )
    assert stored.shape == (1, real_models.face_embedder.dim)

    policy = make_policy()
    model_id = real_models.face_embedder.model_id
    threshold = protected.face_threshold(policy, model_id)
    probe = _embed(real_models, FACES / "obama" / "2.jpg")  # another photo of him
    matches = protected.match_faces(
        conn, keyring=settings.keyring(), embedder_model_id=model_id, embeddings=probe, threshold=threshold
    )
    assert [m.name for m in matches] == ["Barack Obama"]
    stranger = _embed(real_models, FACES / "rose_leslie" / "1.jpg")
    assert (
        protected.match_faces(
            conn,
            keyring=settings.keyring(),
            embedder_model_id=model_id,
            embeddings=stranger,
            threshold=threshold,
        )
        == []
    )
    # The face rule blocks unless his own cameo is consented for this output.
    [_, face_rule] = rules.protected_people_rule(policy, faces=matches)
    assert face_rule.fired and face_rule.effect == "block"
    conn.execute(
        "UPDATE protected_people SET subject_id = %s WHERE id = %s", (new_subject(conn), ids["Barack Obama"])
    )
    conn.commit()  # changes to the list are serialised (migration 0601): the API's delete below waits for it
    linked = protected.match_faces(
        conn, keyring=settings.keyring(), embedder_model_id=model_id, embeddings=probe, threshold=threshold
    )
    [_, covered] = rules.protected_people_rule(
        policy, faces=linked, consented_subject_ids={m.subject_id for m in linked if m.subject_id}
    )
    assert not covered.fired
    # The one-call form the output scan uses, at the policy's threshold for this embedder.
    rule = rules.evaluate_faces(
        conn, policy=policy, keyring=settings.keyring(), embedder_model_id=model_id, embeddings=probe
    )
    assert rule.fired and rule.details["matches"][0]["name"] == "Barack Obama"
    # Removing the person removes their templates.
    assert client.delete(f"/v1/policy/protected-people/{ids['Joe Biden']}", headers=admin).status_code == 204
    assert conn.execute(
        "SELECT count(*) AS n FROM templates WHERE owner_ref = %s", (ids["Joe Biden"],)
    ).fetchone() == {"n": 0}


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make_body", "status", "code"),
    [
        (lambda: (FACES / "multi" / "obama_and_biden.jpg").read_bytes(), 422, "several_faces"),
        (lambda: _png(np.full((200, 200, 3), 128, np.uint8)), 422, "no_face"),
        (lambda: b"", 422, "empty_upload"),
        (lambda: b"this is not an image at all", 415, "unsupported_media"),
        (lambda: (FACES / "obama" / "2.jpg").read_bytes()[:60000], 422, "corrupt_media"),
        (lambda: b"\x89PNG\r\n\x1a\n" + b"\0" * 10_000_001, 413, "payload_too_large"),
    ],
)
def test_bad_reference_photos_are_refused_and_nothing_is_stored(
    client: TestClient,
    face_ctx: AppContext,
    conn: Conn,
    make_key: KeyMaker,
    make_body,
    status: int,
    code: str,
) -> None:
    admin = make_key("admin")
    pid = client.post("/v1/policy/protected-people", json={"name": "Barack Obama"}, headers=admin).json()[
        "id"
    ]
    resp = _upload(client, admin, pid, make_body())
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == code
    assert count(conn, "templates") == 0


def test_a_photo_for_an_unknown_person_is_404(
    client: TestClient, ctx: AppContext, make_key: KeyMaker
) -> None:
    ctx.services["models"] = Models(Settings(), text=FakeText())
    resp = _upload(client, make_key("admin"), str(uuid.uuid4()), b"\xff\xd8\xff" + b"0" * 100)
    assert resp.status_code == 404 and resp.json()["code"] == "protected_person_not_found"


def test_a_protected_person_is_covered_only_by_a_cameo_of_their_own(
    conn: Conn, make_policy: PolicyMaker
) -> None:
    own_subject, stranger = new_subject(conn), new_subject(conn)
    obama = _person(conn, make_policy, "Barack Obama", [], subject=own_subject)
    _person(conn, make_policy, "Joe Biden", [])
    own_cameo, other_cameo = new_cameo(conn, own_subject), new_cameo(conn, stranger)
    assert protected.people_covered_by_cameos(conn, consented_cameo_ids={own_cameo, other_cameo}) == {
        obama.id
    }
    assert protected.people_covered_by_cameos(conn, consented_cameo_ids={other_cameo}) == set()
    assert protected.people_covered_by_cameos(conn, consented_cameo_ids=set()) == set()
