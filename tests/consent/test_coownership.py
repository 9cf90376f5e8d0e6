"""Co-ownership: every clip featuring a cameo lists its owner, who sees it and can take it down."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from consent import service
from gate.db import Conn
from gate.web import AppContext
from tests.conftest import KeyMaker
from tests.consent.conftest import CameoMaker, subject_of
from tests.pg import one_row


def make_clip(
    conn: Conn, ctx: AppContext, *, status: str, platform_key_id: str | None, cameos: list
) -> tuple:
    clip = uuid.uuid4()
    digest = ctx.store.put(b"fake mp4 bytes " + clip.bytes)
    conn.execute(
        "INSERT INTO clips (id, status, platform_key_id, media_sha256) VALUES (%s, %s, %s, %s)",
        (clip, status, platform_key_id, digest),
    )
    service.record_appearances(conn, clip_id=clip, cameo_ids=cameos)
    conn.commit()
    return clip, digest


def platform_key_id(conn: Conn) -> str:
    return one_row(conn.execute("SELECT id FROM api_keys WHERE role = 'platform'"))["id"]


def test_every_featured_owner_co_owns_and_is_told_once(
    conn: Conn, ctx: AppContext, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    a, b = make_key("user"), make_key("user")
    ca, cb = make_cameo(owner=subject_of(a)), make_cameo(owner=subject_of(b))
    clip, _ = make_clip(conn, ctx, status="draft", platform_key_id=None, cameos=[ca, cb, ca])
    owners = conn.execute("SELECT owner_id FROM clip_coowners WHERE clip_id = %s ORDER BY owner_id", (clip,))
    assert sorted(r["owner_id"] for r in owners) == sorted([subject_of(a), subject_of(b)])
    assert service.record_appearances(conn, clip_id=clip, cameo_ids=[ca, cb]) == []  # again: no-op
    events = conn.execute("SELECT event, subject_id FROM outbox ORDER BY id").fetchall()
    assert sorted((e["event"], e["subject_id"]) for e in events) == sorted(
        [("cameo.used", subject_of(a)), ("cameo.used", subject_of(b))]
    )


def test_appearances_list_drafts_published_and_removed_clips(
    client: TestClient, conn: Conn, ctx: AppContext, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner = make_key("user")
    cameo = make_cameo(owner=subject_of(owner))
    other_cameo = make_cameo()
    ids = {
        s: make_clip(conn, ctx, status=s, platform_key_id=None, cameos=[cameo])[0]
        for s in ("draft", "published")
    }
    make_clip(conn, ctx, status="published", platform_key_id=None, cameos=[other_cameo])  # not theirs
    listed = client.get(f"/v1/cameos/{cameo}/appearances", headers=owner).json()
    assert sorted((x["clip_id"], x["status"]) for x in listed) == sorted((str(v), k) for k, v in ids.items())


def test_a_co_owner_takes_a_clip_down(
    client: TestClient, conn: Conn, ctx: AppContext, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, costar = make_key("user"), make_key("user")
    make_key("platform")  # the key the clip was made with
    cameo, costar_cameo = make_cameo(owner=subject_of(owner)), make_cameo(owner=subject_of(costar))
    pkey = platform_key_id(conn)
    clip, digest = make_clip(
        conn, ctx, status="published", platform_key_id=pkey, cameos=[cameo, costar_cameo]
    )
    assert ctx.store.exists(digest)
    resp = client.post(
        f"/v1/cameos/{cameo}/appearances/{clip}/takedown", json={"note": "not me"}, headers=owner
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "removed" and body["removal_reason"] == "removed by co-owner"
    assert body["removed_by"] == str(subject_of(owner)) and body["removed_at"]
    assert not ctx.store.exists(digest)  # the bytes are gone
    row = conn.execute("SELECT status, media_sha256 FROM clips WHERE id = %s", (clip,)).fetchone()
    assert row == {"status": "removed", "media_sha256": digest}  # the tombstone keeps the row and hash
    events = conn.execute(
        "SELECT subject_id, platform_key_id FROM outbox WHERE event = 'clip.removed' ORDER BY id"
    ).fetchall()
    assert {(e["subject_id"], e["platform_key_id"]) for e in events} == {
        (None, pkey), (subject_of(owner), None), (subject_of(costar), None),
    }  # fmt: skip
    audit = conn.execute("SELECT details FROM audit_log WHERE action = 'consent.take_down'").fetchone()
    assert audit is not None
    assert audit["details"] == {"clip_id": str(clip), "previous": "published", "note": "not me"}
    # Again: nothing more happens.
    again = client.post(f"/v1/cameos/{cameo}/appearances/{clip}/takedown", json={}, headers=owner)
    assert again.status_code == 200 and again.json()["status"] == "removed"
    assert one_row(conn.execute("SELECT count(*) AS n FROM outbox WHERE event = 'clip.removed'"))["n"] == 3
    # The listing still shows it, as removed.
    listed = client.get(f"/v1/cameos/{cameo}/appearances", headers=owner).json()
    assert [(x["clip_id"], x["status"]) for x in listed] == [(str(clip), "removed")]


def test_only_a_co_owner_can_take_a_clip_down(
    client: TestClient, conn: Conn, ctx: AppContext, make_key: KeyMaker, make_cameo: CameoMaker
) -> None:
    owner, stranger = make_key("user"), make_key("user")
    cameo, strangers_cameo = make_cameo(owner=subject_of(owner)), make_cameo(owner=subject_of(stranger))
    clip, digest = make_clip(conn, ctx, status="published", platform_key_id=None, cameos=[cameo])
    resp = client.post(f"/v1/cameos/{cameo}/appearances/{clip}/takedown", json={}, headers=stranger)
    assert resp.status_code == 403 and resp.json()["code"] == "not_cameo_owner"
    resp = client.post(f"/v1/cameos/{strangers_cameo}/appearances/{clip}/takedown", json={}, headers=stranger)
    assert resp.status_code == 404 and resp.json()["code"] == "clip_not_found"
    assert ctx.store.exists(digest)
    assert one_row(conn.execute("SELECT status FROM clips WHERE id = %s", (clip,)))["status"] == "published"
