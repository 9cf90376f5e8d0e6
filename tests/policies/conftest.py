"""Fixtures of the policies tests: policies built from the default with overrides, subjects, cameos."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from gate.db import Conn
from gate.settings import Settings
from policies.service import ActivePolicy, parse

DEFAULT_TEXT = Settings().policy_file.read_text()
PolicyMaker = Callable[..., ActivePolicy]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def policy_text(version: str = "test-1", **overrides: Any) -> str:
    doc = _merge(yaml.safe_load(DEFAULT_TEXT), overrides)
    doc["version"] = version
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture
def make_policy() -> PolicyMaker:
    """`make_policy(quotas={...})`: the default policy with sections deep-merged over it."""

    def _make(version: str = "test-1", **overrides: Any) -> ActivePolicy:
        return parse(policy_text(version, **overrides))

    return _make


def new_subject(conn: Conn, age_band: str = "adult") -> uuid.UUID:
    sid = uuid.uuid4()
    conn.execute("INSERT INTO subjects (id, age_band) VALUES (%s, %s)", (sid, age_band))
    return sid


def new_cameo(conn: Conn, owner_id: uuid.UUID, permission: str = "only_me") -> uuid.UUID:
    cid = uuid.uuid4()
    conn.execute(
        "INSERT INTO cameos (id, owner_id, status, permission) VALUES (%s, %s, 'verified', %s)",
        (cid, owner_id, permission),
    )
    return cid


def count(conn: Conn, table: str) -> int:
    row = conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()  # noqa: S608 (test tables)
    assert row is not None
    return int(row["n"])
