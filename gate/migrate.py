"""Forward-only SQL migrations: numbered files in migrations/, applied once each, in order.

Each file runs in its own transaction with lock and statement timeouts, under a session
advisory lock so that two processes starting at once do not both apply it. An applied file
whose bytes changed is refused: the fix for a shipped migration is a new migration.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from gate.db import Conn, connect
from gate.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
ADVISORY_LOCK_KEY = 7_216_400_001  # arbitrary, fixed: "cameogate migrations"
FILE_PATTERN = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = FILE_PATTERN.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.sql")
        found.append(Migration(int(match.group(1)), path.name, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a number")
    return found


def _ensure_table(conn: Conn) -> None:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    conn.commit()


def _applied(conn: Conn) -> dict[int, dict]:
    rows = conn.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
    return {r["version"]: r for r in rows}


def pending(conn: Conn, migrations: list[Migration]) -> list[Migration]:
    """Migrations not yet applied; raises if an applied one was edited or removed."""
    applied = _applied(conn)
    known = {m.version: m for m in migrations}
    for version, row in applied.items():
        mig = known.get(version)
        if mig is None:
            raise MigrationError(f"applied migration {row['name']} is missing from migrations/")
        if mig.checksum != row["checksum"]:
            raise MigrationError(
                f"applied migration {row['name']} was edited (checksum differs); "
                "write a new migration instead of changing a shipped one"
            )
    return [m for m in migrations if m.version not in applied]


def migrate(url: str, *, directory: Path = MIGRATIONS_DIR, lock_timeout: str = "10s") -> list[str]:
    """Apply every pending migration; return the names applied."""
    migrations = discover(directory)
    done: list[str] = []
    with connect(url, autocommit=False) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        conn.commit()
        try:
            _ensure_table(conn)
            for mig in pending(conn, migrations):
                with conn.transaction():
                    conn.execute(f"SET LOCAL lock_timeout = '{lock_timeout}'")
                    conn.execute("SET LOCAL statement_timeout = '300s'")
                    conn.execute(mig.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (mig.version, mig.name, mig.checksum),
                    )
                conn.commit()
                log.info("applied migration %s", mig.name)
                done.append(mig.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
            conn.commit()
    return done


def is_current(conn: Conn, directory: Path = MIGRATIONS_DIR) -> bool:
    try:
        return not pending(conn, discover(directory))
    except Exception:  # no table yet, or an edited file: either way not current
        return False
