"""The migration runner against a real, empty PostgreSQL."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from gate.db import connect
from gate.migrate import MIGRATIONS_DIR, MigrationError, discover, migrate


def test_every_migration_applies_to_an_empty_database_once(empty_db_url: str) -> None:
    applied = migrate(empty_db_url)
    assert applied == [m.name for m in discover()]
    assert migrate(empty_db_url) == []  # second run: nothing to do
    with connect(empty_db_url) as conn:
        rows = conn.execute("SELECT name FROM schema_migrations ORDER BY version").fetchall()
        assert [r["name"] for r in rows] == applied
        tables = {
            r["table_name"]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
            )
        }
    assert {"api_keys", "audit_log", "subjects", "cameos", "clips"} <= tables


def test_an_edited_applied_migration_is_refused(empty_db_url: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    migrate(empty_db_url, directory=copy)
    first = sorted(copy.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- a quiet edit\n")
    with pytest.raises(MigrationError, match="was edited"):
        migrate(empty_db_url, directory=copy)


def test_a_failing_migration_leaves_nothing_half_applied(empty_db_url: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    (copy / "9999_broken.sql").write_text("CREATE TABLE half_done (id int);\nSELECT no_such_function();\n")
    with pytest.raises(Exception, match="no_such_function"):
        migrate(empty_db_url, directory=copy)
    with connect(empty_db_url) as conn:
        assert conn.execute("SELECT to_regclass('half_done') AS t").fetchone() == {"t": None}
        versions = [r["version"] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert 9999 not in versions and versions  # the good ones before it did apply


def test_two_processes_migrating_at_once_apply_each_file_once(empty_db_url: str) -> None:
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(migrate(empty_db_url))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, len(discover())]
