"""Shared fixtures: a fresh migrated database per test, the app over it, and API keys by role."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gate import auth
from gate.app import create_app
from gate.db import Conn, connect, open_pool
from gate.media import ContentStore
from gate.settings import PROJECT_ROOT, Settings
from gate.web import AppContext
from perception.fakes import FakeText
from perception.registry import Models
from policies.service import PolicyHolder, load_file
from tests import pg

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def pg_admin() -> str:
    return pg.admin_url()


@pytest.fixture(scope="session")
def pg_template(pg_admin: str) -> str:
    return pg.ensure_template(pg_admin)


@pytest.fixture
def db_url(pg_admin: str, pg_template: str) -> Iterator[str]:
    """A database of its own for this test, cloned from the migrated template."""
    name = pg.create_clone(pg_admin, pg_template)
    try:
        yield pg.url_for(pg_admin, name)
    finally:
        pg.drop(pg_admin, name)


@pytest.fixture
def empty_db_url(pg_admin: str) -> Iterator[str]:
    name = pg.create_empty(pg_admin)
    try:
        yield pg.url_for(pg_admin, name)
    finally:
        pg.drop(pg_admin, name)


@pytest.fixture
def conn(db_url: str) -> Iterator[Conn]:
    with connect(db_url) as c:
        yield c


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, var_dir=tmp_path / "var")


@pytest.fixture
def ctx(settings: Settings) -> Iterator[AppContext]:
    assert settings.database_url
    pool = open_pool(settings.database_url, min_size=1, max_size=4)
    context = AppContext(
        settings=settings,
        pool=pool,
        policies=PolicyHolder(load_file(settings.policy_file)),
        store=ContentStore(settings.media_dir),
    )
    try:
        yield context
    finally:
        pool.close()


@pytest.fixture
def client(settings: Settings, ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(settings, ctx), raise_server_exceptions=False) as c:
        yield c


KeyMaker = Callable[..., dict[str, str]]


@pytest.fixture
def make_key(db_url: str) -> KeyMaker:
    """`make_key("user")` → auth headers for a new key; user keys get a new subject unless given."""

    def _make(role: str, *, subject_id: uuid.UUID | None = None, org: str | None = None) -> dict[str, str]:
        with connect(db_url) as c:
            subject = auth.ensure_subject(c, subject_id) if role == "user" or subject_id else None
            org_id = auth.ensure_organisation(c, org or "Test Studio") if role == "rights_holder" else None
            full, _ = auth.create_key(c, role=role, subject_id=subject, organisation_id=org_id)
        headers = {"Authorization": f"Bearer {full}"}
        if subject:
            headers["X-Test-Subject"] = str(subject)  # read by tests, ignored by the service
        return headers

    return _make


@pytest.fixture(scope="session")
def real_models() -> Models:
    """The offline default models, loaded once for the whole run (as a process does)."""
    return Models(Settings())


@pytest.fixture
def fake_models() -> Models:
    return Models(Settings(), text=FakeText())
