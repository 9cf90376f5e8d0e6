"""Announce an event: one outbox row in the caller's transaction (so it is sent iff the change
commits). consent/notifications.py delivers it as signed webhooks."""

from __future__ import annotations

import json
import uuid
from typing import Any

from gate.db import Conn


def enqueue(
    conn: Conn,
    *,
    event: str,
    payload: dict[str, Any],
    subject_id: uuid.UUID | None = None,
    platform_key_id: str | None = None,
) -> uuid.UUID:
    key = uuid.uuid4()
    conn.execute(
        """
        INSERT INTO outbox (event, idempotency_key, subject_id, platform_key_id, payload)
        VALUES (%s, %s, %s, %s, %s)
        """,
        (event, key, subject_id, platform_key_id, json.dumps(payload, default=str)),
    )
    return key
