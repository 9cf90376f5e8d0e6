"""The migration runner against a real, empty PostgreSQL."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import psycopg
import pytest

from gate import territories
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


def test_the_territory_and_review_cleanups_mend_rows_written_before_them(
    empty_db_url: str, tmp_path: Path
) -> None:
    """0101 withdraws open reviews of cameos deleted before deletion did so itself; 0501 puts
    opt-outs' territories as codes, or everywhere (never fewer places) when a value is not one."""
    later = {
        "0101_withdraw_reviews_of_deleted_cameos.sql",
        "0501_territories.sql",
        "0601_protected_people_version.sql",
    }
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.name not in later:
            shutil.copy(path, earlier / path.name)
    migrate(empty_db_url, directory=earlier)
    with connect(empty_db_url) as c:
        owner = c.execute("INSERT INTO subjects (id) VALUES (gen_random_uuid()) RETURNING id").fetchone()
        org = c.execute(
            "INSERT INTO organisations (id, name) VALUES (gen_random_uuid(), 'o') RETURNING id"
        ).fetchone()
        assert owner is not None and org is not None
        for status in ("deleted", "review"):
            cameo = c.execute(
                "INSERT INTO cameos (id, owner_id, status, permission)"
                " VALUES (gen_random_uuid(), %s, %s, 'only_me') RETURNING id",
                (owner["id"], status),
            ).fetchone()
            assert cameo is not None
            capture = c.execute(
                "INSERT INTO enrollment_captures (id, cameo_id, sha256, outcome, checks, model_ids,"
                " policy_version, elapsed_ms)"
                " VALUES (gen_random_uuid(), %s, 'x', 'review', '[]', '{}', 'v', 1) RETURNING id",
                (cameo["id"],),
            ).fetchone()
            assert capture is not None
            c.execute(
                "INSERT INTO enrollment_reviews (id, cameo_id, capture_id, reason, match_kind, match_ref,"
                " score) VALUES (gen_random_uuid(), %s, %s, 'protected_person', 'protected_person',"
                " gen_random_uuid(), 0.9)",
                (cameo["id"], capture["id"]),
            )
        filed = [
            ("codes", ["fr", "DE", "FR"]), ("reserved", ["uk", "EL"]), ("mixed", ["FR", "Germany"]),
            ("group", ["EU"]), ("null", ["FR", None]), ("none", []),
        ]  # fmt: skip
        for title, territories in filed:
            c.execute(
                "INSERT INTO optouts (id, organisation_id, title, action, territories, notes)"
                " VALUES (gen_random_uuid(), %s, %s, 'block', %s, 'filed notes')",
                (org["id"], title, territories),
            )
    migrate(empty_db_url)
    with connect(empty_db_url) as c:
        reviews = c.execute(
            "SELECT c.status, r.resolution FROM enrollment_reviews r"
            " JOIN cameos c ON c.id = r.cameo_id ORDER BY 1"
        ).fetchall()
        assert [(r["status"], r["resolution"]) for r in reviews] == [
            ("deleted", "withdrawn"),
            ("review", None),
        ]
        rows = {r["title"]: r for r in c.execute("SELECT title, territories, notes FROM optouts").fetchall()}
        assert rows["codes"]["territories"] == ["DE", "FR"] and rows["codes"]["notes"] == "filed notes"
        assert rows["mixed"]["territories"] == [] and rows["mixed"]["notes"].startswith("filed notes\n")
        assert "as filed: FR, Germany" in rows["mixed"]["notes"]
        assert rows["none"]["territories"] == []
        assert rows["reserved"]["territories"] == ["GB", "GR"]  # the codes assigned for them
        for title in ("group", "null"):  # not countries: everywhere, as filed kept
            assert rows[title]["territories"] == [] and "as filed:" in rows[title]["notes"], title
        with pytest.raises(psycopg.errors.CheckViolation):
            c.execute("UPDATE optouts SET territories = '{fr}'")


def test_the_territory_migration_knows_the_same_codes_as_the_service() -> None:
    """0501 carries its own copy of the assigned codes (a migration cannot import the service's):
    the two lists must be the same 249."""
    sql = (MIGRATIONS_DIR / "0501_territories.sql").read_text()
    listed = sql.split("regexp_split_to_table('", 1)[1].split("'", 1)[0].split()
    assert len(listed) == len(set(listed)) == 249 and set(listed) == territories.ASSIGNED
