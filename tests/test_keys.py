"""API keys: shown once, stored hashed, revocable; roles bind to subjects and organisations."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from gate import auth
from gate.cli import main
from gate.db import Conn, connect
from gate.errors import Unauthorized
from gate.settings import Settings
from tests.conftest import KeyMaker


@pytest.fixture
def cli_env(settings: Settings):
    os.environ["CAMEOGATE_DATABASE_URL"] = settings.database_url or ""
    yield
    del os.environ["CAMEOGATE_DATABASE_URL"]


def test_cli_key_is_shown_once_and_only_its_hash_is_stored(
    cli_env, capsys, conn: Conn, client: TestClient
) -> None:
    assert main(["keys", "create", "--role", "auditor", "--label", "ops"]) == 0
    out = json.loads(capsys.readouterr().out)
    key = out["key"]
    secret = key.split("_", 2)[2]
    row = conn.execute("SELECT * FROM api_keys WHERE id = %s", (out["id"],)).fetchone()
    assert row is not None and secret.encode() not in bytes(row["secret_sha256"])
    assert secret not in json.dumps({k: str(v) for k, v in row.items()})
    assert client.get("/v1/audit", headers={"Authorization": f"Bearer {key}"}).status_code == 200

    assert main(["keys", "list"]) == 0
    assert secret not in capsys.readouterr().out

    assert main(["keys", "revoke", out["id"]]) == 0
    # To the serving process the CLI is another process: it may still accept the key from its
    # cache (filled by the request above) until KEY_CACHE_TTL_SECONDS after the revocation
    # committed, and no longer — the documented bound.
    time.sleep(auth.KEY_CACHE_TTL_SECONDS)
    resp = client.get("/v1/audit", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 401 and resp.json()["code"] == "invalid_api_key"


def test_a_key_revoked_through_the_api_is_refused_at_once_by_the_same_process(
    client: TestClient, make_key: KeyMaker
) -> None:
    admin, auditor = make_key("admin"), make_key("auditor")
    assert client.get("/v1/audit", headers=auditor).status_code == 200  # now in the key cache
    key_id = auditor["Authorization"].split("_")[1]
    assert client.delete(f"/v1/keys/{key_id}", headers=admin).status_code == 204
    resp = client.get("/v1/audit", headers=auditor)
    assert resp.status_code == 401 and resp.json()["code"] == "invalid_api_key"


def test_the_key_cache_keeps_keys_for_its_ttl_only_and_never_accepts_a_wrong_secret() -> None:
    now = [100.0]
    cache = auth.KeyCache(ttl=1.0, clock=lambda: now[0])
    principal = auth.Principal("k1", "platform")
    cache.put("k1", auth._digest("right"), principal, read_at=now[0])
    assert cache.get("cg_k1_right") == principal
    assert cache.get("cg_k1_wrong") is None and cache.get("cg_k2_right") is None
    assert cache.get("xx_k1_right") is None and cache.get("cg_k1_") is None
    now[0] += 0.999
    assert cache.get("cg_k1_right") == principal
    now[0] += 0.001  # the TTL counts from before the row was read
    assert cache.get("cg_k1_right") is None
    cache.put("k1", auth._digest("right"), principal, read_at=now[0])
    cache.drop("k1")
    assert cache.get("cg_k1_right") is None


def test_the_event_loop_lookup_gives_the_same_answers_as_the_threaded_one(
    db_url: str, make_key: KeyMaker
) -> None:
    """authenticate_async (the consent check's, on an asyncio connection) against authenticate
    (every other route's), on the same rows: the same principal or the same refusal, and only a
    key that was accepted is cached."""
    good = make_key("platform")["Authorization"].removeprefix("Bearer ")
    revoked = make_key("auditor")["Authorization"].removeprefix("Bearer ")
    with connect(db_url) as c:
        auth.revoke_key(c, revoked.split("_")[1])
    wrong = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    presented = [good, wrong, revoked, "cg_nosuchkey_secret", "not-a-key", "cg__"]

    async def in_loop(key: str, cache: auth.KeyCache) -> auth.Principal:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True, row_factory=dict_row) as ac:
            return await auth.authenticate_async(ac, key, cache=cache)

    def answer(key: str, lookup: Callable[[str, auth.KeyCache], auth.Principal]) -> tuple[object, bool]:
        cache = auth.KeyCache()
        try:
            result: object = lookup(key, cache)
        except Unauthorized as exc:
            result = exc.code
        return result, cache.get(key) is not None

    with connect(db_url) as conn:
        for key in presented:
            threaded = answer(key, lambda k, cache: auth.authenticate(conn, k, cache=cache))
            assert answer(key, lambda k, cache: asyncio.run(in_loop(k, cache))) == threaded, key
            if key == good:
                assert isinstance(threaded[0], auth.Principal) and threaded[0].role == "platform"
                assert threaded[1], "an accepted key is cached"
            else:
                assert threaded == ("invalid_api_key", False), key


def test_a_right_key_id_with_a_wrong_secret_is_refused(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("auditor")["Authorization"]
    tampered = key[:-3] + ("AAA" if not key.endswith("AAA") else "BBB")
    assert client.get("/v1/audit", headers={"Authorization": tampered}).status_code == 401
    assert client.get("/v1/audit", headers={"X-API-Key": key.removeprefix("Bearer ")}).status_code == 200


def test_user_keys_need_a_subject_and_rights_holder_keys_an_organisation(
    client: TestClient, make_key: KeyMaker
) -> None:
    admin = make_key("admin")
    resp = client.post("/v1/keys", json={"role": "user"}, headers=admin)
    assert resp.status_code == 409 and resp.json()["code"] == "subject_required"
    resp = client.post("/v1/keys", json={"role": "rights_holder"}, headers=admin)
    assert resp.json()["code"] == "organisation_required"
    subject = client.post("/v1/subjects", json={"external_ref": "u-1"}, headers=admin).json()
    made = client.post("/v1/keys", json={"role": "user", "subject_id": subject["id"]}, headers=admin)
    assert made.status_code == 201 and made.json()["key"].startswith("cg_")
    listed = client.get("/v1/keys", headers=admin).json()
    assert all("key" not in k for k in listed)


def test_cli_refuses_unknown_roles(cli_env) -> None:
    with pytest.raises(SystemExit):
        main(["keys", "create", "--role", "superuser"])
