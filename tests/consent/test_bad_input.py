"""Hostile and malformed requests to the consent routes: 4xx problem+json, stable codes, nothing stored."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from consent.api import CHECK_BODY_LIMIT
from gate import auth
from gate.db import Conn
from gate.web import AppContext
from tests.conftest import KeyMaker
from tests.consent.conftest import CameoMaker, subject_of
from tests.pg import one_row


def audit_and_outbox(conn: Conn) -> tuple[int, int]:
    a = one_row(conn.execute("SELECT count(*) AS n FROM audit_log WHERE action LIKE 'consent.%'"))["n"]
    o = one_row(conn.execute("SELECT count(*) AS n FROM outbox"))["n"]
    return a, o


@pytest.fixture
def parties(client: TestClient, make_key: KeyMaker, make_cameo: CameoMaker) -> dict:
    owner, other, platform = make_key("user"), make_key("user"), make_key("platform")
    return {
        "owner": owner, "other": other, "platform": platform,
        "cameo": make_cameo(owner=subject_of(owner), permission="everyone"),
    }  # fmt: skip


def post_check(client: TestClient, headers: dict[str, str], body: object) -> dict:
    resp = client.post("/v1/consent/check", json=body, headers=headers)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return {"status": resp.status_code, **resp.json()}


def test_an_unknown_cameo_is_404(client: TestClient, parties: dict, conn: Conn) -> None:
    missing = str(uuid.uuid4())
    who = str(subject_of(parties["other"]))
    body = {"requester": who, "cameo_ids": [str(parties["cameo"]), missing], "prompt": "x"}
    out = post_check(client, parties["platform"], body)
    assert (out["status"], out["code"], out["cameo_ids"]) == (404, "cameo_not_found", [missing])
    assert audit_and_outbox(conn) == (0, 0)


def test_the_check_looks_keys_up_in_the_event_loop_and_refuses_a_key_revoked_elsewhere(
    client: TestClient, ctx: AppContext, parties: dict
) -> None:
    """A key not in the process's cache is looked up on the hot path's asyncio pool: checks go on
    while every synchronous connection is taken (by slow routes, say), and a key revoked by
    another process is refused within KEY_CACHE_TTL_SECONDS."""
    body = {
        "requester": str(subject_of(parties["other"])),
        "cameo_ids": [str(parties["cameo"])],
        "prompt": "x",
    }
    key_id = parties["platform"]["Authorization"].split("_")[1]
    held = [ctx.pool.getconn() for _ in range(ctx.pool.max_size)]
    try:
        resp = client.post("/v1/consent/check", json=body, headers=parties["platform"])
        assert resp.status_code == 200 and resp.json()["allowed"] is True
        held[0].execute("UPDATE api_keys SET revoked_at = now() WHERE id = %s", (key_id,))
        held[0].commit()
        time.sleep(auth.KEY_CACHE_TTL_SECONDS)
        out = post_check(client, parties["platform"], body)
        assert (out["status"], out["code"]) == (401, "invalid_api_key")
    finally:
        for c in held:
            ctx.pool.putconn(c)


def test_an_unknown_requester_is_404(client: TestClient, parties: dict) -> None:
    out = post_check(
        client,
        parties["platform"],
        {"requester": str(uuid.uuid4()), "cameo_ids": [str(parties["cameo"])], "prompt": "x"},
    )
    assert (out["status"], out["code"]) == (404, "subject_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"requester": "not-a-uuid", "cameo_ids": [], "prompt": "x"},
        {"requester": str(uuid.uuid4()), "cameo_ids": ["12345"], "prompt": "x"},
        {"requester": str(uuid.uuid4()), "cameo_ids": "abc", "prompt": "x"},
        {"requester": str(uuid.uuid4()), "cameo_ids": [], "prompt": "x"},
        {"requester": str(uuid.uuid4()), "cameo_ids": [str(uuid.uuid4())], "prompt": 7},
        {"requester": str(uuid.uuid4()), "cameo_ids": [str(uuid.uuid4())]},
        {"requester": str(uuid.uuid4()), "cameo_ids": [str(uuid.uuid4())], "prompt": "x", "extra": 1},
        [],
        "prompt",
    ],
)
def test_malformed_bodies_are_422(client: TestClient, parties: dict, conn: Conn, body: object) -> None:
    out = post_check(client, parties["platform"], body)
    assert (out["status"], out["code"]) == (422, "validation_failed")
    assert audit_and_outbox(conn) == (0, 0)


def test_truncated_and_empty_json_are_422(client: TestClient, parties: dict) -> None:
    for raw in (b'{"requester": "', b"", b"\x00\xff"):
        resp = client.post(
            "/v1/consent/check",
            content=raw,
            headers={**parties["platform"], "Content-Type": "application/json"},
        )
        assert resp.status_code == 422 and resp.json()["code"] == "validation_failed"


def test_the_check_reads_only_json_bodies_within_its_limit(
    client: TestClient, parties: dict, conn: Conn
) -> None:
    """The route reads its own body (gate.web.json_body): the same 422 shape as every route, with
    the failing field named, a body not sent as JSON refused, and one past CHECK_BODY_LIMIT
    refused with 413 before the rest is read; a caller without a key is refused before its body
    is parsed at all."""
    body = {"requester": str(uuid.uuid4()), "cameo_ids": ["12345"], "prompt": "x"}
    out = post_check(client, parties["platform"], body)
    assert out["errors"][0]["field"] == "body.cameo_ids.0"
    good = {
        "requester": str(subject_of(parties["other"])),
        "cameo_ids": [str(parties["cameo"])],
        "prompt": "x",
    }
    as_text = client.post(
        "/v1/consent/check",
        content=json.dumps(good),
        headers={**parties["platform"], "Content-Type": "text/plain"},
    )
    assert as_text.status_code == 422 and as_text.json()["code"] == "validation_failed"
    with_charset = client.post(
        "/v1/consent/check",
        content=json.dumps(good),
        headers={**parties["platform"], "Content-Type": "application/json; charset=utf-8"},
    )
    assert with_charset.status_code == 200 and with_charset.json()["allowed"] is True
    huge = client.post(
        "/v1/consent/check",
        content=b'{"prompt": "' + b"x" * (CHECK_BODY_LIMIT + 1) + b'"}',
        headers={**parties["platform"], "Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["code"] == "payload_too_large"
    assert huge.headers["content-type"].startswith("application/problem+json")
    chunked = client.post(  # no Content-Length: counted as it arrives
        "/v1/consent/check",
        content=iter([b'{"prompt": "', b"x" * CHECK_BODY_LIMIT, b'"}']),
        headers={**parties["platform"], "Content-Type": "application/json"},
    )
    assert chunked.status_code == 413 and chunked.json()["code"] == "payload_too_large"
    anonymous = client.post(
        "/v1/consent/check", content=b'{"requester": ', headers={"Content-Type": "application/json"}
    )
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "missing_api_key"
    assert audit_and_outbox(conn) == (1, 0)  # the one check that was allowed


def test_the_check_documents_its_body_and_answer(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/consent/check"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"requester", "cameo_ids", "prompt"}
    assert schema["additionalProperties"] is False
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/ConsentCheckOut"}


def test_a_user_key_acting_for_another_subject_is_403(client: TestClient, parties: dict, conn: Conn) -> None:
    body = {
        "requester": str(subject_of(parties["owner"])),
        "cameo_ids": [str(parties["cameo"])],
        "prompt": "x",
    }
    out = post_check(client, parties["other"], body)
    assert (out["status"], out["code"]) == (403, "acting_for_another_subject")
    assert audit_and_outbox(conn) == (0, 0)
    mine = client.post("/v1/consent/check", json=body, headers=parties["owner"])  # for itself: fine
    assert mine.status_code == 200 and mine.json()["allowed"]


def test_an_oversized_prompt_and_too_many_cameos_are_refused(
    client: TestClient, parties: dict, conn: Conn
) -> None:
    who = str(subject_of(parties["other"]))
    out = post_check(
        client,
        parties["platform"],
        {"requester": who, "cameo_ids": [str(parties["cameo"])], "prompt": "x" * 4001},
    )
    assert (out["status"], out["code"]) == (422, "prompt_too_long")
    out = post_check(
        client,
        parties["platform"],
        {"requester": who, "cameo_ids": [str(parties["cameo"])], "prompt": "x" * 200_000},
    )
    assert (out["status"], out["code"]) == (422, "validation_failed")
    many = [str(uuid.uuid4()) for _ in range(9)]
    out = post_check(client, parties["platform"], {"requester": who, "cameo_ids": many, "prompt": "x"})
    assert (out["status"], out["code"]) == (422, "too_many_cameos")
    assert audit_and_outbox(conn) == (0, 0)


def test_owner_routes_refuse_bad_values(client: TestClient, parties: dict, conn: Conn) -> None:
    cameo, owner = parties["cameo"], parties["owner"]
    cases = [
        (client.put(f"/v1/cameos/{cameo}/permission", json={"permission": "friends"}, headers=owner), 422),
        (client.put("/v1/cameos/nope/permission", json={"permission": "everyone"}, headers=owner), 422),
        (client.post(f"/v1/cameos/{cameo}/restrictions", json={"text": ""}, headers=owner), 422),
        (client.post(f"/v1/cameos/{cameo}/restrictions", json={"text": "x" * 501}, headers=owner), 422),
        (
            client.post(
                f"/v1/cameos/{cameo}/approvals", json={"subject_id": str(uuid.uuid4())}, headers=owner
            ),
            404,
        ),
        (client.post(f"/v1/cameos/{uuid.uuid4()}/revoke", headers=owner), 404),
        (client.post("/v1/webhooks", json={"url": "ftp://example.org/x"}, headers=owner), 422),
        (client.post("/v1/webhooks", json={"url": "not a url"}, headers=owner), 422),
    ]
    assert [r.status_code for r, _ in cases] == [s for _, s in cases]
    assert all(r.headers["content-type"].startswith("application/problem+json") for r, _ in cases)
    assert one_row(conn.execute("SELECT count(*) AS n FROM cameo_restrictions"))["n"] == 0
    assert (
        one_row(conn.execute("SELECT permission FROM cameos WHERE id = %s", (cameo,)))["permission"]
        == "everyone"
    )
    assert audit_and_outbox(conn) == (0, 0)
