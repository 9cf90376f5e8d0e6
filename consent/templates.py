"""Biometric templates at rest: embeddings and reference crops, encrypted, never returned by the API.

Templates belong to a cameo or to a protected person. The galleries built from them feed likeness
scans (safety/) and duplicate checks at enrollment; only embeddings made by the same model are
ever compared, so every row records its model id.
"""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidTag

from gate.crypto import Keyring, Sealed
from gate.db import Conn

log = logging.getLogger(__name__)


def _associated(owner_kind: str, owner_ref: uuid.UUID, kind: str, model_id: str) -> bytes:
    return f"{owner_kind}:{owner_ref}:{kind}:{model_id}".encode()


def _to_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _from_bytes(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def store(
    conn: Conn,
    keyring: Keyring,
    *,
    owner_kind: str,
    owner_ref: uuid.UUID,
    kind: str,
    model_id: str,
    array: np.ndarray,
) -> uuid.UUID:
    """Encrypt and store one template (an embedding matrix, or an image crop as uint8)."""
    tid = uuid.uuid4()
    sealed = keyring.seal(_to_bytes(array), _associated(owner_kind, owner_ref, kind, model_id))
    conn.execute(
        """
        INSERT INTO templates (id, owner_kind, owner_ref, kind, model_id, key_id, nonce, ciphertext)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (tid, owner_kind, owner_ref, kind, model_id, sealed.key_id, sealed.nonce, sealed.ciphertext),
    )
    return tid


def load(
    conn: Conn, keyring: Keyring, *, owner_kind: str, owner_ref: uuid.UUID, kind: str
) -> list[np.ndarray]:
    rows = conn.execute(
        """
        SELECT owner_kind, owner_ref, kind, model_id, key_id, nonce, ciphertext FROM templates
        WHERE owner_kind = %s AND owner_ref = %s AND kind = %s ORDER BY created_at
        """,
        (owner_kind, owner_ref, kind),
    ).fetchall()
    return [_open(keyring, r) for r in rows]


def _open(keyring: Keyring, row: dict[str, Any]) -> np.ndarray:
    sealed = Sealed(row["key_id"], bytes(row["nonce"]), bytes(row["ciphertext"]))
    plain = keyring.open(
        sealed, _associated(row["owner_kind"], row["owner_ref"], row["kind"], row["model_id"])
    )
    return _from_bytes(plain)


def reseal(conn: Conn, keyring: Keyring, *, batch: int = 500) -> int:
    """Re-seal, under the keyring's first key, every template sealed under another (a key rotation:
    once none is left, the retired key can leave CAMEOGATE_TEMPLATE_KEYS). Returns how many.
    Batches of `batch` rows in id order, one transaction each. Rows locked elsewhere, and rows
    whose key is no longer in the ring (logged), stay as they are."""
    done, after = 0, uuid.UUID(int=0)
    while True:
        with conn.transaction():
            rows = conn.execute(
                "SELECT id, owner_kind, owner_ref, kind, model_id, key_id, nonce, ciphertext"
                " FROM templates WHERE key_id <> %s AND id > %s ORDER BY id LIMIT %s"
                " FOR UPDATE SKIP LOCKED",
                (keyring.active_id, after, batch),
            ).fetchall()
            for r in rows:
                associated = _associated(r["owner_kind"], r["owner_ref"], r["kind"], r["model_id"])
                sealed = Sealed(r["key_id"], bytes(r["nonce"]), bytes(r["ciphertext"]))
                try:
                    plain = keyring.open(sealed, associated)
                except (KeyError, InvalidTag):
                    log.warning("template %s: key %r cannot open it", r["id"], r["key_id"])
                    continue
                again = keyring.seal(plain, associated)
                conn.execute(
                    "UPDATE templates SET key_id = %s, nonce = %s, ciphertext = %s WHERE id = %s",
                    (again.key_id, again.nonce, again.ciphertext, r["id"]),
                )
                done += 1
        if len(rows) < batch:
            return done
        after = rows[-1]["id"]


def purge(conn: Conn, *, owner_kind: str, owner_ref: uuid.UUID) -> int:
    """Delete every template of one owner at once (cameo deletion, protected person removal)."""
    return conn.execute(
        "DELETE FROM templates WHERE owner_kind = %s AND owner_ref = %s", (owner_kind, owner_ref)
    ).rowcount


@dataclass(frozen=True)
class GalleryEntry:
    owner_kind: str  # 'cameo' or 'protected_person'
    owner_ref: uuid.UUID  # cameo id or protected person id
    subject_id: uuid.UUID | None  # the cameo's owner; None for protected people
    embeddings: np.ndarray  # (n, dim), L2-normalised rows
    model_id: str


def gallery(conn: Conn, keyring: Keyring, *, kind: str, model_id: str) -> list[GalleryEntry]:
    """Every verified cameo's and every protected person's templates of `kind` made by `model_id`."""
    rows = conn.execute(
        """
        SELECT t.owner_kind, t.owner_ref, t.kind, t.model_id, t.key_id, t.nonce, t.ciphertext,
               c.owner_id AS subject_id
        FROM templates t
        LEFT JOIN cameos c ON t.owner_kind = 'cameo' AND c.id = t.owner_ref
        WHERE t.kind = %s AND t.model_id = %s
          AND (t.owner_kind = 'protected_person' OR c.status = 'verified')
        ORDER BY t.owner_kind, t.owner_ref, t.created_at
        """,
        (kind, model_id),
    ).fetchall()
    entries: dict[tuple[str, uuid.UUID], list[np.ndarray]] = {}
    subjects: dict[tuple[str, uuid.UUID], uuid.UUID | None] = {}
    for r in rows:
        key = (r["owner_kind"], r["owner_ref"])
        entries.setdefault(key, []).append(np.atleast_2d(_open(keyring, r)))
        subjects[key] = r["subject_id"]
    return [
        GalleryEntry(k[0], k[1], subjects[k], np.vstack(v).astype(np.float32), model_id)
        for k, v in entries.items()
    ]
