"""Consent test helpers: verified cameos inserted directly (enrollment lives on another branch),
and the app context with the deterministic text model."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from gate import auth
from gate.db import Conn, connect
from gate.web import AppContext
from perception.fakes import FakeText
from perception.registry import Models

CameoMaker = Callable[..., uuid.UUID]


def insert_cameo(
    conn: Conn, *, owner: uuid.UUID | None = None, permission: str = "only_me", status: str = "verified"
) -> uuid.UUID:
    owner = auth.ensure_subject(conn, owner)
    cameo_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO cameos (id, owner_id, status, permission, verified_at)"
        " VALUES (%s, %s, %s, %s, CASE WHEN %s = 'verified' THEN now() END)",
        (cameo_id, owner, status, permission, status),
    )
    return cameo_id


@pytest.fixture
def make_cameo(db_url: str) -> CameoMaker:
    """`make_cameo(owner=subject, permission="everyone")` → a committed cameo id (verified by default)."""

    def _make(**kwargs: object) -> uuid.UUID:
        with connect(db_url) as c:
            return insert_cameo(c, **kwargs)  # type: ignore[arg-type]

    return _make


@pytest.fixture
def ctx(ctx: AppContext) -> AppContext:
    ctx.services["models"] = Models(ctx.settings, text=FakeText())
    ctx.services["revocation_hooks"] = []
    return ctx


def subject_of(headers: dict[str, str]) -> uuid.UUID:
    return uuid.UUID(headers["X-Test-Subject"])
