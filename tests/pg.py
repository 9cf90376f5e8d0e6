"""Test databases on a real PostgreSQL: one migrated template per migration set, one clone per test.

The server is CAMEOGATE_TEST_DATABASE_URL when set, else the one on 127.0.0.1:5432 when it
answers, else an embedded pgserver under var/ (the same engine the service embeds).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import TypeVar

import psycopg
from psycopg.conninfo import make_conninfo

from gate.db import embedded_url
from gate.migrate import MIGRATIONS_DIR, migrate
from gate.settings import PROJECT_ROOT

TEMPLATE_LOCK = 7_216_400_099

Row = TypeVar("Row")


def one_row(cursor: psycopg.Cursor[Row]) -> Row:
    """The row of a query that must find one (`.fetchone()` without the None)."""
    row = cursor.fetchone()
    assert row is not None, "the query found no row"
    return row


def admin_url() -> str:
    configured = os.environ.get("CAMEOGATE_TEST_DATABASE_URL")
    if configured:
        return configured
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        psycopg.connect(local, connect_timeout=2).close()
        return local
    except psycopg.OperationalError:
        return embedded_url(PROJECT_ROOT / "var" / "test-pgdata")


def url_for(admin: str, dbname: str) -> str:
    return make_conninfo(admin, dbname=dbname)


def template_name() -> str:
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        digest.update(path.name.encode() + path.read_bytes())
    return f"cameogate_tpl_{digest.hexdigest()[:16]}"


def ensure_template(admin: str) -> str:
    """The migrated template for the current migrations, built once (under a lock across workers)."""
    name = template_name()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (TEMPLATE_LOCK,))
        try:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                building = f"{name}_building"
                conn.execute(f'DROP DATABASE IF EXISTS "{building}"')
                conn.execute(f'CREATE DATABASE "{building}"')
                migrate(url_for(admin, building))
                conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (TEMPLATE_LOCK,))
    return name


def create_clone(admin: str, template: str) -> str:
    name = f"cameogate_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def create_empty(admin: str) -> str:
    name = f"cameogate_e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
