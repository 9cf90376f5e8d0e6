"""Enrollment flow on the real database with fake models: challenges, hostile uploads, status,
deletion. The challenge checks run before any model, so fakes lose nothing here."""

from __future__ import annotations

import uuid

import numpy as np
from fastapi.testclient import TestClient

from consent import templates
from gate.db import connect
from gate.web import AppContext
from perception.fakes import FakeSpeech
from policies.service import ActivePolicy, PolicyHolder
from tests.conftest import KeyMaker
from tests.enrollment import media as M
from tests.enrollment.conftest import Captures, start_enrollment, upload


def _tiny_capture(tmp_path, digits: str = "305172") -> bytes:
    return M.no_face_video(tmp_path / "tiny.mp4", FakeSpeech.tones(digits), seconds=2.5).read_bytes()


def _count(db_url: str, table: str) -> int:
    with connect(db_url) as c:
        row = c.execute(f"SELECT count(*) AS n FROM {table}").fetchone()  # noqa: S608 (fixed names)
        assert row is not None
        return int(row["n"])


def test_creating_a_cameo_issues_a_fresh_random_challenge(
    fake_client: TestClient, make_key: KeyMaker
) -> None:
    headers = make_key("user")
    a = fake_client.post("/v1/cameos", headers=headers).json()
    b = fake_client.post("/v1/cameos", headers=headers).json()
    assert a["status"] == "pending" and a["owner_id"] == headers["X-Test-Subject"]
    for body in (a, b):
        ch = body["challenge"]
        assert len(ch["digits"]) == 6 and ch["digits"].isdigit()
        assert len(ch["moves"]) == 3 and all(
            x != y for x, y in zip(ch["moves"], ch["moves"][1:], strict=False)
        )
    assert a["challenge"]["id"] != b["challenge"]["id"]
    status = fake_client.get(f"/v1/cameos/{a['id']}", headers=headers).json()
    assert status["challenge"]["id"] == a["challenge"]["id"]


def test_an_expired_challenge_is_rejected(
    fake_client: TestClient, make_key: KeyMaker, db_url: str, tmp_path
) -> None:
    who = start_enrollment(fake_client, make_key, db_url)
    with connect(db_url) as c:
        c.execute(
            "UPDATE enrollment_challenges SET expires_at = now() - interval '1 second' WHERE id = %s",
            (who.challenge_id,),
        )
    body = upload(fake_client, who, _tiny_capture(tmp_path)).json()
    assert body["status"] == "rejected" and body["verification"]["reason"] == "challenge_expired"
    assert all(c["passed"] is None for c in body["verification"]["checks"][3:])  # models never ran


def test_a_used_challenge_cannot_be_used_again(
    fake_client: TestClient, make_key: KeyMaker, db_url: str, tmp_path
) -> None:
    who = start_enrollment(fake_client, make_key, db_url)
    first = upload(fake_client, who, _tiny_capture(tmp_path)).json()
    assert first["status"] == "rejected"  # no face in the tiny capture
    fresh = fake_client.post(f"/v1/cameos/{who.cameo_id}/challenge", headers=who.headers)
    assert fresh.status_code == 201
    again = upload(fake_client, who, _tiny_capture(tmp_path, "111111")).json()
    assert again["verification"]["reason"] == "challenge_used"


def test_another_cameos_challenge_is_rejected(
    fake_client: TestClient, make_key: KeyMaker, db_url: str, tmp_path
) -> None:
    who = start_enrollment(fake_client, make_key, db_url)
    second = fake_client.post("/v1/cameos", headers=who.headers).json()
    body = upload(fake_client, who, _tiny_capture(tmp_path), challenge_id=second["challenge"]["id"]).json()
    assert body["verification"]["reason"] == "challenge_not_owned"
    unknown = start_enrollment(fake_client, make_key, db_url)
    body = upload(
        fake_client, unknown, _tiny_capture(tmp_path, "222222"), challenge_id=str(uuid.uuid4())
    ).json()
    assert body["verification"]["reason"] == "challenge_unknown"


def test_hostile_uploads_are_refused_and_nothing_is_stored(
    fake_client: TestClient, make_key: KeyMaker, db_url: str, ctx: AppContext, captures: Captures
) -> None:
    who = start_enrollment(fake_client, make_key, db_url)
    genuine = captures.genuine.read_bytes()
    cases = {
        "empty": (b"", 422, "empty_upload"),
        "not media": (b"hello, I am a text file\n" * 50, 415, "unsupported_media"),
        "an image": ((M.SHARED / "faces" / "obama" / "1.jpg").read_bytes(), 415, "unsupported_media"),
        "corrupt": (
            genuine[:32] + bytes(np.random.default_rng(1).integers(0, 255, 50_000, dtype=np.uint8)),
            None,
            None,
        ),
        "truncated": (genuine[: len(genuine) // 3], None, None),
    }
    for name, (data, status, code) in cases.items():
        r = upload(fake_client, who, data)
        assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), name
        if status:
            assert (r.status_code, r.json()["code"]) == (status, code), name
    # Oversized: a policy whose capture limit is smaller than the real capture.
    active = ctx.policies.current
    e = active.policy.enrollment.model_copy(update={"capture_max_bytes": 100_000})
    small = active.policy.model_copy(update={"enrollment": e})
    ctx.policies = PolicyHolder(ActivePolicy(small, active.sha256, active.source))
    r = upload(fake_client, who, genuine)
    assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")
    assert _count(db_url, "enrollment_captures") == 0 and _count(db_url, "enrollment_fingerprints") == 0
    with connect(db_url) as c:
        ch = c.execute(
            "SELECT used_at FROM enrollment_challenges WHERE id = %s", (who.challenge_id,)
        ).fetchone()
        assert ch == {"used_at": None}
        assert c.execute("SELECT status FROM cameos WHERE id = %s", (who.cameo_id,)).fetchone() == {
            "status": "pending"
        }
    assert not any(p.is_file() for p in ctx.store.root.rglob("*"))


def test_other_people_cannot_see_capture_or_delete_a_cameo(
    fake_client: TestClient, make_key: KeyMaker, db_url: str, tmp_path
) -> None:
    who = start_enrollment(fake_client, make_key, db_url)
    stranger = make_key("user")
    assert fake_client.get(f"/v1/cameos/{who.cameo_id}", headers=stranger).status_code == 404
    assert fake_client.delete(f"/v1/cameos/{who.cameo_id}", headers=stranger).status_code == 404
    r = fake_client.post(
        f"/v1/cameos/{who.cameo_id}/capture", headers=stranger,
        files={"video": ("c.mp4", _tiny_capture(tmp_path), "video/mp4")},
        data={"challenge_id": who.challenge_id},
    )  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (404, "cameo_not_found")
    admin = fake_client.get(f"/v1/cameos/{who.cameo_id}", headers=make_key("admin")).json()
    assert admin["status"] == "pending" and admin["challenge"] is None  # the challenge is the owner's
    assert fake_client.get(f"/v1/cameos/{who.cameo_id}", headers=make_key("platform")).status_code == 403


def test_deleting_a_cameo_purges_templates_captures_and_hashes_and_is_audited(
    fake_client: TestClient,
    make_key: KeyMaker,
    db_url: str,
    ctx: AppContext,
    settings,
    tmp_path,
) -> None:
    who = start_enrollment(fake_client, make_key, db_url)
    assert (
        upload(fake_client, who, _tiny_capture(tmp_path)).json()["status"] == "rejected"
    )  # kept until verified
    with connect(db_url) as c:
        templates.store(
            c, settings.keyring(), owner_kind="cameo", owner_ref=uuid.UUID(who.cameo_id), kind="face",
            model_id="fake-face-embedder", array=np.ones((1, 128), np.float32),
        )  # fmt: skip
    assert any(p.is_file() for p in ctx.store.root.rglob("*"))
    r = fake_client.delete(f"/v1/cameos/{who.cameo_id}", headers=who.headers)
    assert r.status_code == 200 and r.json() == {
        "cameo_id": who.cameo_id,
        "templates": 1,
        "captures": 1,
        "fingerprints": r.json()["fingerprints"],
    }
    assert r.json()["fingerprints"] >= 1
    assert not any(p.is_file() for p in ctx.store.root.rglob("*"))
    assert _count(db_url, "templates") == 0 and _count(db_url, "enrollment_fingerprints") == 0
    with connect(db_url) as c:
        entry = c.execute("SELECT details FROM audit_log WHERE action = 'cameos.delete'").fetchone()
        assert entry is not None and entry["details"]["purged"]["templates"] == 1
    assert fake_client.get(f"/v1/cameos/{who.cameo_id}", headers=who.headers).status_code == 404


def test_a_near_duplicate_is_a_replay_across_cameos_but_not_a_retry_of_the_same_cameo(
    fake_client: TestClient,
    make_key: KeyMaker,
    db_url: str,
    tmp_path,
) -> None:
    first = tmp_path / "first.mp4"
    first.write_bytes(_tiny_capture(tmp_path))
    copy = M.reencoded(first, tmp_path / "copy.mp4").read_bytes()
    who = start_enrollment(fake_client, make_key, db_url)
    assert upload(fake_client, who, first.read_bytes()).json()["status"] == "rejected"  # no face
    retry = fake_client.post(f"/v1/cameos/{who.cameo_id}/challenge", headers=who.headers).json()
    same = upload(fake_client, who, copy, challenge_id=retry["id"]).json()
    assert [c["passed"] for c in same["verification"]["checks"][:3]] == [True, True, True]
    other = start_enrollment(fake_client, make_key, db_url)
    recopy = tmp_path / "recopy.mp4"
    M._ffmpeg(["-i", str(first), "-crf", "30"], recopy)
    body = upload(fake_client, other, recopy.read_bytes()).json()
    assert body["verification"]["reason"] == "capture_near_duplicate", body
