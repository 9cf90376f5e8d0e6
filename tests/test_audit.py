"""The audit log: append-only in the database itself, hash-chained, verifiable, readable by auditors."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from gate import audit
from gate.cli import main
from gate.db import Conn
from tests.conftest import KeyMaker


def _append(conn: Conn, n: int) -> list[int]:
    ids = [
        audit.record(conn, actor="test", action=f"thing.step{i}", policy_version="v1", details={"i": i})
        for i in range(n)
    ]
    conn.commit()
    return ids


def test_a_fresh_chain_verifies(conn: Conn) -> None:
    _append(conn, 5)
    report = audit.verify_chain(conn)
    assert report.ok and report.checked == 5


def test_update_and_delete_are_refused_by_the_database(conn: Conn) -> None:
    ids = _append(conn, 2)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE audit_log SET action = 'x' WHERE id = %s", (ids[0],))
    conn.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM audit_log WHERE id = %s", (ids[1],))
    conn.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("TRUNCATE audit_log")
    conn.rollback()


def test_tampering_with_one_row_is_found_and_named(conn: Conn, settings, capsys) -> None:
    ids = _append(conn, 6)
    # A superuser can switch the trigger off; the chain still tells.
    conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
    conn.execute("""UPDATE audit_log SET details = '{"i": 99}' WHERE id = %s""", (ids[3],))
    conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
    conn.commit()
    report = audit.verify_chain(conn)
    assert not report.ok and report.first_broken_id == ids[3]

    import os

    os.environ["CAMEOGATE_DATABASE_URL"] = settings.database_url
    try:
        assert main(["audit", "verify"]) == 1
    finally:
        del os.environ["CAMEOGATE_DATABASE_URL"]
    assert f"BROKEN at entry {ids[3]}" in capsys.readouterr().err


def test_deleting_a_row_breaks_the_link_after_it(conn: Conn) -> None:
    ids = _append(conn, 4)
    conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
    conn.execute("DELETE FROM audit_log WHERE id = %s", (ids[1],))
    conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
    conn.commit()
    report = audit.verify_chain(conn)
    assert report.first_broken_id == ids[2]


def test_auditors_page_and_filter_the_log(client: TestClient, make_key: KeyMaker) -> None:
    admin = make_key("admin")
    for _ in range(3):
        assert client.post("/v1/subjects", json={}, headers=admin).status_code == 201
    auditor = make_key("auditor")
    page = client.get("/v1/audit", params={"action": "subjects", "limit": 2}, headers=auditor).json()
    assert [e["action"] for e in page["entries"]] == ["subjects.create", "subjects.create"]
    rest = client.get(
        "/v1/audit", params={"action": "subjects", "after_id": page["next_after_id"]}, headers=auditor
    ).json()
    assert len(rest["entries"]) == 1 and rest["next_after_id"] is None
    sid = rest["entries"][0]["subject_id"]
    only = client.get("/v1/audit", params={"subject_id": sid}, headers=auditor).json()["entries"]
    assert [e["subject_id"] for e in only] == [sid]
    assert client.get("/v1/audit/verify", headers=auditor).json()["ok"] is True
