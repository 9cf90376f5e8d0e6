"""Building blocks for generation tests: jobs inserted straight into the queue."""

from __future__ import annotations

import uuid

from gate import auth
from gate.db import Conn
from generation import store


def queue_job(
    conn: Conn, *, prompt: str = "a ball on a beach", max_attempts: int = 3, **extra: object
) -> store.Job:
    requester = auth.ensure_subject(conn)
    clip_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO clips (id, status, requester_id, platform_key_id) VALUES (%s, 'draft', %s, 'k')",
        (clip_id, requester),
    )
    fields = {
        "id": uuid.uuid4(),
        "clip_id": clip_id,
        "requester_id": requester,
        "platform_key_id": "k",
        "prompt": prompt,
        "cameo_ids": [],
        "consent_token": None,
        "input_sha256": None,
        "input_kind": None,
        "remix_of": None,
        "duration_s": 1.0,
        "width": 160,
        "height": 120,
        "fps": 8,
        "seed": 1,
        "max_attempts": max_attempts,
        "policy_version": "test",
        "territory": None,
        **extra,
    }
    job = store.insert_job(conn, **fields)
    conn.commit()
    return job
