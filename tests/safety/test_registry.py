"""The opt-out registry: filing, listing, detail, update, withdraw, suspend, audit, hostile input."""

from __future__ import annotations

import io
import struct
import zlib

from fastapi.testclient import TestClient
from PIL import Image

from eval.art import logo
from gate.db import Conn
from tests.conftest import KeyMaker
from tests.safety.conftest import FileOptOut, png


def _count(conn: Conn, table: str) -> int:
    row = conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()  # noqa: S608
    assert row is not None
    return int(row["n"])


def test_rights_holder_files_an_opt_out_with_reference_media_and_sees_it(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut, conn: Conn
) -> None:
    rh = make_key("rights_holder", org="Sponge Studio")
    r = file_optout(rh, [png(logo(1))], names=["SpongeBob", "Sponge Bob"], keywords=["bikini bottom"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["references"] == 1 and body["status"] == "active" and body["action"] == "block"
    listed = sclient.get("/v1/optouts", headers=rh).json()
    assert [o["id"] for o in listed] == [body["id"]]
    detail = sclient.get(f"/v1/optouts/{body['id']}", headers=rh).json()
    assert detail["names"] == ["SpongeBob", "Sponge Bob"] and detail["matches"] == {}
    audit = conn.execute("SELECT action, details FROM audit_log WHERE action LIKE 'safety.%'").fetchall()
    assert [a["action"] for a in audit] == ["safety.optout.create"]
    assert audit[0]["details"]["organisation_id"] == body["organisation_id"]


def test_another_organisation_cannot_see_or_change_an_opt_out(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut
) -> None:
    mine = file_optout(make_key("rights_holder", org="A"), names=["Alpha Hero"]).json()
    theirs = make_key("rights_holder", org="B")
    assert sclient.get(f"/v1/optouts/{mine['id']}", headers=theirs).status_code == 404
    assert sclient.post(f"/v1/optouts/{mine['id']}/withdraw", headers=theirs).status_code == 404
    assert sclient.get("/v1/optouts", headers=theirs).json() == []


def test_update_withdraw_and_admin_suspend_are_audited_with_the_organisation(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut, conn: Conn
) -> None:
    rh = make_key("rights_holder", org="Studio")
    oid = file_optout(rh, names=["Captain Zed"]).json()["id"]
    r = sclient.patch(
        f"/v1/optouts/{oid}", headers=rh, json={"names": ["Captain Zed", "Cpt Zed"], "action": "flag"}
    )
    assert r.status_code == 200 and r.json()["action"] == "flag"
    admin = make_key("admin")
    r = sclient.post(f"/v1/optouts/{oid}/suspend", headers=admin, json={"reason": "not the filer's work"})
    assert r.json()["status"] == "suspended"
    r = sclient.post(
        f"/v1/optouts/{oid}/suspend", headers=admin, json={"suspended": False, "reason": "reviewed"}
    )
    assert r.json()["status"] == "active"
    assert sclient.post(f"/v1/optouts/{oid}/withdraw", headers=rh).json()["status"] == "withdrawn"
    assert sclient.post(f"/v1/optouts/{oid}/withdraw", headers=rh).status_code == 409
    rows = conn.execute(
        "SELECT action, details FROM audit_log WHERE target_id = %s ORDER BY id", (oid,)
    ).fetchall()
    assert [r["action"] for r in rows] == [
        "safety.optout.create",
        "safety.optout.update",
        "safety.optout.suspend",
        "safety.optout.reinstate",
        "safety.optout.withdraw",
    ]
    org = rows[0]["details"]["organisation_id"]
    assert all(r["details"]["organisation_id"] == org for r in rows)


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims giant dimensions."""
    head = b"\x89PNG\r\n\x1a\n"
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat_data = zlib.compress(b"\x00" * 1000)
    idat = (
        struct.pack(">I", len(idat_data))
        + b"IDAT"
        + idat_data
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat_data))
    )
    return head + chunk + idat


def test_hostile_reference_uploads_are_refused_and_nothing_is_stored(
    sclient: TestClient, make_key: KeyMaker, file_optout: FileOptOut, conn: Conn
) -> None:
    rh = make_key("rights_holder")
    good = png(logo(3))
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, format="PNG")
    cases = {
        "not media": b"%PDF-1.7 definitely not an image",
        "truncated": good[: len(good) // 3],
        "zero bytes": b"",
        "giant dimensions": _bomb_png(100_000, 100_000),
    }
    for name, data in cases.items():
        r = file_optout(rh, [good, data], names=["Some Name"])
        assert 400 <= r.status_code < 500, (name, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json"), name
        assert r.json()["code"], name
    r = sclient.post("/v1/optouts", headers=rh, data={"metadata": "{not json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_metadata"
    r = sclient.post("/v1/optouts", headers=rh, data={"metadata": '{"title": "x", "surprise": 1}'})
    assert r.status_code == 422
    assert _count(conn, "optouts") == 0 and _count(conn, "optout_references") == 0
    assert _count(conn, "optout_changes") == 0


def test_an_opt_out_must_say_what_it_protects(make_key: KeyMaker, file_optout: FileOptOut) -> None:
    r = file_optout(make_key("rights_holder"))
    assert r.status_code == 422 and r.json()["code"] == "optout_empty"
