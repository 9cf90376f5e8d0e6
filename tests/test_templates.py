"""Biometric templates: encrypted at rest, bound to their row, readable after key rotation."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest
from cryptography.exceptions import InvalidTag

from consent import templates
from gate import auth
from gate.crypto import Keyring
from gate.db import Conn


def _cameo(conn: Conn, status: str = "verified") -> uuid.UUID:
    owner = auth.ensure_subject(conn)
    cid = uuid.uuid4()
    conn.execute("INSERT INTO cameos (id, owner_id, status) VALUES (%s, %s, %s)", (cid, owner, status))
    return cid


def test_a_template_is_stored_encrypted_and_reads_back(conn: Conn) -> None:
    ring = Keyring({"k1": os.urandom(32)})
    cid = _cameo(conn)
    emb = np.random.default_rng(0).standard_normal((3, 128)).astype(np.float32)
    templates.store(conn, ring, owner_kind="cameo", owner_ref=cid, kind="face", model_id="m1", array=emb)
    raw = conn.execute("SELECT ciphertext FROM templates").fetchone()
    assert raw is not None and emb.tobytes()[:64] not in bytes(raw["ciphertext"])
    (back,) = templates.load(conn, ring, owner_kind="cameo", owner_ref=cid, kind="face")
    np.testing.assert_array_equal(back, emb)


def test_rotation_keeps_old_templates_readable(conn: Conn) -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    cid = _cameo(conn)
    templates.store(
        conn,
        Keyring({"old": old_key}),
        owner_kind="cameo",
        owner_ref=cid,
        kind="voice",
        model_id="v",
        array=np.ones(4),
    )
    rotated = Keyring({"new": new_key, "old": old_key})
    templates.store(
        conn, rotated, owner_kind="cameo", owner_ref=cid, kind="voice", model_id="v", array=np.zeros(4)
    )
    assert len(templates.load(conn, rotated, owner_kind="cameo", owner_ref=cid, kind="voice")) == 2
    with pytest.raises(KeyError, match="old"):
        templates.load(conn, Keyring({"new": new_key}), owner_kind="cameo", owner_ref=cid, kind="voice")


def test_a_template_moved_to_another_cameo_does_not_decrypt(conn: Conn) -> None:
    ring = Keyring({"k": os.urandom(32)})
    a, b = _cameo(conn), _cameo(conn)
    templates.store(conn, ring, owner_kind="cameo", owner_ref=a, kind="face", model_id="m", array=np.ones(8))
    conn.execute("UPDATE templates SET owner_ref = %s", (b,))
    with pytest.raises(InvalidTag):
        templates.load(conn, ring, owner_kind="cameo", owner_ref=b, kind="face")


def test_the_gallery_holds_verified_cameos_of_one_model_only(conn: Conn) -> None:
    ring = Keyring({"k": os.urandom(32)})
    verified, pending = _cameo(conn), _cameo(conn, "pending")
    for cid in (verified, pending):
        templates.store(
            conn, ring, owner_kind="cameo", owner_ref=cid, kind="face", model_id="m", array=np.ones((1, 4))
        )
    templates.store(
        conn,
        ring,
        owner_kind="cameo",
        owner_ref=verified,
        kind="face",
        model_id="other",
        array=np.ones((1, 4)),
    )
    entries = templates.gallery(conn, ring, kind="face", model_id="m")
    assert [e.owner_ref for e in entries] == [verified] and entries[0].embeddings.shape == (1, 4)
    assert templates.purge(conn, owner_kind="cameo", owner_ref=verified) == 2
    assert templates.gallery(conn, ring, kind="face", model_id="m") == []
