"""The review queue: a capture that passed its liveness checks but looks like a protected person
is held for an admin, who approves it (the cameo is verified from the kept capture) or rejects it
(the owner may try again). Real media and the real offline models, as in the attack suite."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from consent import templates
from gate.db import connect
from gate.settings import Settings
from gate.web import AppContext
from perception.registry import Models
from tests.conftest import KeyMaker
from tests.enrollment.conftest import Captures, Enrollee, enrolled_face, start_enrollment, upload


@dataclass(frozen=True)
class Held:
    """A genuine capture held for review: it matched the face stored as a protected person's."""

    owner: Enrollee
    person: uuid.UUID
    admin: dict[str, str]  # an admin key's headers
    review: dict  # as the queue lists it


@pytest.fixture
def held(
    real_client: TestClient,
    make_key: KeyMaker,
    db_url: str,
    captures: Captures,
    settings: Settings,
    real_models: Models,
) -> Held:
    person = uuid.uuid4()
    with connect(db_url) as c:
        templates.store(
            c, settings.keyring(), owner_kind="protected_person", owner_ref=person, kind="face",
            model_id=real_models.face_embedder.model_id, array=enrolled_face(real_models, captures),
        )  # fmt: skip
    who = start_enrollment(real_client, make_key, db_url)
    r = upload(real_client, who, captures.genuine.read_bytes())
    assert r.status_code == 200 and r.json()["status"] == "review", r.text
    admin = make_key("admin")
    [review] = _queue(real_client, admin)
    return Held(who, person, admin, review)


def _queue(client: TestClient, admin: dict[str, str]) -> list[dict]:
    r = client.get("/v1/reviews", headers=admin)
    assert r.status_code == 200, r.text
    return r.json()


def test_an_approved_review_verifies_the_cameo_from_its_kept_capture(
    real_client: TestClient,
    ctx: AppContext,
    db_url: str,
    captures: Captures,
    held: Held,
) -> None:
    who, admin, review = held.owner, held.admin, held.review
    assert review["cameo_id"] == who.cameo_id and review["reason"] == "protected_person"
    assert review["match_kind"] == "protected_person" and review["match_ref"] == str(held.person)
    assert set(review) == {
        "id",
        "cameo_id",
        "capture_id",
        "reason",
        "match_kind",
        "match_ref",
        "score",
        "created_at",
    }
    with connect(db_url) as c:
        [kept] = c.execute(
            "SELECT media_digest FROM enrollment_captures WHERE cameo_id = %s", (who.cameo_id,)
        ).fetchall()
    assert kept["media_digest"] is not None and ctx.store.exists(kept["media_digest"])
    # The reviewer watches the capture itself; the viewing is audited.
    watched = real_client.get(f"/v1/reviews/{review['id']}/capture", headers=admin)
    assert watched.status_code == 200 and watched.headers["content-type"] == "video/mp4"
    assert watched.content == captures.genuine.read_bytes()
    with connect(db_url) as c:
        assert c.execute(
            "SELECT details FROM audit_log WHERE action = 'cameos.review_capture' AND target_id = %s",
            (who.cameo_id,),
        ).fetchone() == {"details": {"review_id": review["id"], "capture_id": review["capture_id"]}}

    r = real_client.post(
        f"/v1/reviews/{review['id']}/decision", headers=admin,
        json={"decision": "approve", "note": "the owner is the protected person; ID checked"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json() == {
        "cameo_id": who.cameo_id, "status": "verified", "decision": "approve", "review_ids": [review["id"]]
    }  # fmt: skip

    # The owner sees a verified cameo, no longer in review, and was told.
    cameo = real_client.get(f"/v1/cameos/{who.cameo_id}", headers=who.headers).json()
    assert cameo["status"] == "verified" and cameo["in_review"] is False and cameo["verified_at"]
    events = real_client.get("/v1/notifications", headers=who.headers).json()
    assert [e["event"] for e in events][:1] == ["cameo.reviewed"]
    assert _queue(real_client, admin) == []
    with connect(db_url) as c:
        kinds = {
            r["kind"]
            for r in c.execute("SELECT kind FROM templates WHERE owner_ref = %s", (who.cameo_id,)).fetchall()
        }
        assert kinds == {"face", "voice", "face_crop"}
        # The kept capture is gone once verified (enrollment.keep_capture: until_verified).
        assert not ctx.store.exists(kept["media_digest"])
        entry = c.execute(
            "SELECT actor, details FROM audit_log WHERE action = 'cameos.review' AND target_id = %s",
            (who.cameo_id,),
        ).fetchone()
        assert entry is not None and entry["actor"].startswith("key:")
        assert entry["details"]["note"] == "the owner is the protected person; ID checked"
        assert entry["details"]["review_ids"] == [review["id"]]

    # A second decision on the same review changes nothing.
    again = real_client.post(
        f"/v1/reviews/{review['id']}/decision", headers=admin, json={"decision": "reject", "note": "late"}
    )
    assert again.status_code == 409 and again.json()["code"] == "review_resolved", again.text
    assert real_client.get(f"/v1/cameos/{who.cameo_id}", headers=who.headers).json()["status"] == "verified"


def test_a_rejected_review_lets_the_owner_try_again_and_only_admins_decide(
    real_client: TestClient,
    make_key: KeyMaker,
    db_url: str,
    held: Held,
) -> None:
    who, admin, review = held.owner, held.admin, held.review
    decision = f"/v1/reviews/{review['id']}/decision"

    # The owner, a platform and another person can neither read the queue nor decide.
    for headers in (who.headers, make_key("platform"), make_key("user")):
        assert real_client.get("/v1/reviews", headers=headers).status_code == 403
        assert real_client.get(f"/v1/reviews/{review['id']}/capture", headers=headers).status_code == 403
        r = real_client.post(decision, headers=headers, json={"decision": "approve", "note": "mine"})
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json", r.text
    # Bad input: no note, an unknown decision, an unknown review, a malformed id.
    for body in (
        {"decision": "approve"},
        {"decision": "approve", "note": ""},
        {"decision": "ok", "note": "x"},
        {"decision": "reject", "note": "x", "extra": 1},
    ):
        r = real_client.post(decision, headers=admin, json=body)
        assert r.status_code == 422 and r.json()["code"] == "validation_failed", r.text
    # A NUL character cannot be stored (the note goes to the audit log): 422, and nothing decided.
    r = real_client.post(decision, headers=admin, json={"decision": "reject", "note": "bad\u0000note"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_text", r.text
    r = real_client.post(
        f"/v1/reviews/{uuid.uuid4()}/decision", headers=admin, json={"decision": "reject", "note": "x"}
    )
    assert r.status_code == 404 and r.json()["code"] == "review_not_found"
    assert real_client.post("/v1/reviews/nope/decision", headers=admin, json={}).status_code == 422
    assert real_client.get("/v1/reviews?limit=0", headers=admin).status_code == 422
    assert _queue(real_client, admin) == [review]  # none of that decided anything

    r = real_client.post(decision, headers=admin, json={"decision": "reject", "note": "not the person shown"})
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    assert _queue(real_client, admin) == []
    # The capture is no longer shown once decided (it stays kept, for an appeal).
    watched = real_client.get(f"/v1/reviews/{review['id']}/capture", headers=admin)
    assert watched.status_code == 409 and watched.json()["code"] == "review_resolved"
    events = real_client.get("/v1/notifications", headers=who.headers).json()
    assert events[0]["event"] == "cameo.reviewed" and events[0]["payload"]["status"] == "rejected"
    with connect(db_url) as c:
        assert c.execute(
            "SELECT count(*) AS n FROM templates WHERE owner_ref = %s", (who.cameo_id,)
        ).fetchone() == {"n": 0}
        entries = c.execute(
            "SELECT details FROM audit_log WHERE action = 'cameos.review' AND target_id = %s", (who.cameo_id,)
        ).fetchall()
        assert [(e["details"]["decision"], e["details"]["note"]) for e in entries] == [
            ("reject", "not the person shown")
        ]
    # Rejected is not final: the owner asks for a fresh challenge and may try again.
    assert real_client.post(f"/v1/cameos/{who.cameo_id}/challenge", headers=who.headers).status_code == 201


def test_a_review_without_its_capture_cannot_be_approved_and_deletion_withdraws_it(
    real_client: TestClient,
    ctx: AppContext,
    db_url: str,
    held: Held,
) -> None:
    who, admin, review = held.owner, held.admin, held.review

    def not_kept() -> None:
        r = real_client.post(
            f"/v1/reviews/{review['id']}/decision",
            headers=admin,
            json={"decision": "approve", "note": "looks fine"},
        )
        assert r.status_code == 409 and r.json()["code"] == "capture_not_kept", r.text
        watched = real_client.get(f"/v1/reviews/{review['id']}/capture", headers=admin)
        assert watched.status_code == 404 and watched.json()["code"] == "capture_not_kept"
        assert _queue(real_client, admin) == [review]

    with connect(db_url) as c:
        [kept] = c.execute(
            "SELECT media_digest FROM enrollment_captures WHERE cameo_id = %s", (who.cameo_id,)
        ).fetchall()
    assert ctx.store.delete(kept["media_digest"])  # the file lost, its row still naming it
    not_kept()
    with connect(db_url) as c:  # as under enrollment.keep_capture: never
        c.execute("UPDATE enrollment_captures SET media_digest = NULL WHERE cameo_id = %s", (who.cameo_id,))
    not_kept()
    assert real_client.get(f"/v1/cameos/{who.cameo_id}", headers=who.headers).json()["status"] == "review"

    # The owner deletes the cameo: nothing is left to review.
    assert real_client.delete(f"/v1/cameos/{who.cameo_id}", headers=who.headers).status_code == 200
    assert _queue(real_client, admin) == []
    r = real_client.post(
        f"/v1/reviews/{review['id']}/decision", headers=admin, json={"decision": "reject", "note": "gone"}
    )
    assert r.status_code == 409 and r.json()["code"] == "review_resolved", r.text


def test_two_decisions_at_once_one_wins(real_client: TestClient, db_url: str, held: Held) -> None:
    """An approval (seconds: it decodes the capture and computes templates) and a rejection sent
    together: the cameo's row lock orders them, and the second finds the review decided."""
    decision = f"/v1/reviews/{held.review['id']}/decision"
    answers: dict[str, int] = {}

    def send(choice: str) -> None:
        r = real_client.post(decision, headers=held.admin, json={"decision": choice, "note": choice})
        answers[choice] = r.status_code
        assert r.status_code in (200, 409) and (r.status_code == 200 or r.json()["code"] == "review_resolved")

    threads = [threading.Thread(target=send, args=(choice,)) for choice in ("approve", "reject")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers.values()) == [200, 409], answers
    winner = next(choice for choice, status in answers.items() if status == 200)
    status = real_client.get(f"/v1/cameos/{held.owner.cameo_id}", headers=held.owner.headers).json()["status"]
    assert status == {"approve": "verified", "reject": "rejected"}[winner]
    with connect(db_url) as c:
        assert c.execute(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'cameos.review' AND target_id = %s",
            (held.owner.cameo_id,),
        ).fetchone() == {"n": 1}
