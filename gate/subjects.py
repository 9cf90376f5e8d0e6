"""Subjects: the people cameogate knows by an opaque id (cameo owners, requesters)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg

from gate.db import Conn
from gate.errors import Conflict, NotFound


@dataclass(frozen=True)
class Subject:
    id: uuid.UUID
    external_ref: str | None
    age_band: str
    created_at: datetime


def create(conn: Conn, *, external_ref: str | None = None, age_band: str = "adult") -> Subject:
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO subjects (id, external_ref, age_band) VALUES (%s, %s, %s)"
                " RETURNING id, external_ref, age_band, created_at",
                (uuid.uuid4(), external_ref, age_band),
            ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict("a subject with this external_ref exists", code="subject_exists") from exc
    assert row is not None
    return Subject(**row)


def get(conn: Conn, subject_id: uuid.UUID) -> Subject:
    row = conn.execute(
        "SELECT id, external_ref, age_band, created_at FROM subjects WHERE id = %s", (subject_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no subject {subject_id}", code="subject_not_found")
    return Subject(**row)
