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


def test_reseal_moves_every_template_and_webhook_secret_to_the_new_key(
    conn: Conn, settings, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rotation completes: `cameogate reseal` seals everything again under the first key, after
    which a keyring without the old key reads every template and signs with every secret."""
    import base64

    from consent import notifications
    from gate.cli import main

    old_key, new_key = os.urandom(32), os.urandom(32)
    old = Keyring({"old": old_key})
    cid = _cameo(conn)
    faces = [np.random.default_rng(i).standard_normal((2, 8)).astype(np.float32) for i in range(3)]
    for emb in faces:
        templates.store(conn, old, owner_kind="cameo", owner_ref=cid, kind="face", model_id="m", array=emb)
    secret = os.urandom(32)
    endpoint = uuid.uuid4()
    conn.execute(  # a row as it was before migration 0210: the secret in clear
        "INSERT INTO webhook_endpoints (id, subject_id, url, secret) VALUES (%s, %s, %s, %s)",
        (endpoint, auth.ensure_subject(conn), "https://hooks.example.com/", secret),
    )
    conn.commit()
    assert notifications.seal_secrets(conn, old) == 1  # in clear until the worker's pass: now "old"
    conn.commit()

    def b64(key: bytes) -> str:
        return base64.b64encode(key).decode()

    monkeypatch.setenv("CAMEOGATE_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("CAMEOGATE_TEMPLATE_KEYS", f"new:{b64(new_key)},old:{b64(old_key)}")
    rotated = Keyring({"new": new_key, "old": old_key})
    assert templates.reseal(conn, rotated, batch=2) == 3  # two batches
    conn.commit()
    assert main(["reseal"]) == 0
    assert capsys.readouterr().out.endswith(
        "0 templates, 1 webhook secrets; 0 rows still under another key\n"
    )
    new_only = Keyring({"new": new_key})
    back = templates.load(conn, new_only, owner_kind="cameo", owner_ref=cid, kind="face")
    assert all(np.array_equal(a, b) for a, b in zip(back, faces, strict=True))
    row = conn.execute(
        "SELECT id AS endpoint_id, secret, secret_key_id, secret_nonce FROM webhook_endpoints WHERE id = %s",
        (endpoint,),
    ).fetchone()
    assert row is not None
    assert row["secret_key_id"] == "new" and notifications._open_secret(new_only, row) == secret
    assert main(["reseal"]) == 0  # nothing left: a second run changes nothing
    assert "0 templates, 0 webhook secrets" in capsys.readouterr().out
    # A template under a key that is not in the list: left as it is, and the run says so.
    lost = Keyring({"lost": os.urandom(32)})
    templates.store(conn, lost, owner_kind="cameo", owner_ref=cid, kind="face", model_id="m", array=faces[0])
    conn.commit()
    assert main(["reseal"]) == 1
    assert "0 templates, 0 webhook secrets; 1 rows still under another key (locked" in capsys.readouterr().out
    assert conn.execute("SELECT count(*) AS n FROM templates WHERE key_id = 'lost'").fetchone() == {"n": 1}
