"""Errors are problem+json with a stable code and the request id; operations endpoints answer."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.testclient import TestClient

from gate.app import create_app
from gate.settings import Settings
from gate.web import AppContext
from tests.conftest import KeyMaker


def _is_problem(resp, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["code"] == code and body["status"] == status
    assert body["request_id"] == resp.headers["x-request-id"]
    return body


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    _is_problem(client.get("/v1/nothing-here"), 404, "not_found")


def test_request_validation_errors_name_the_field(client: TestClient, make_key: KeyMaker) -> None:
    body = _is_problem(
        client.post("/v1/subjects", json={"age_band": "ancient"}, headers=make_key("admin")),
        422,
        "validation_failed",
    )
    assert body["errors"][0]["field"] == "body.age_band"


def test_malformed_json_is_a_422_problem(client: TestClient, make_key: KeyMaker) -> None:
    headers = {**make_key("admin"), "content-type": "application/json"}
    _is_problem(client.post("/v1/subjects", content=b"{not json", headers=headers), 422, "validation_failed")


def test_unknown_fields_are_refused(client: TestClient, make_key: KeyMaker) -> None:
    _is_problem(
        client.post("/v1/subjects", json={"nmae": "x"}, headers=make_key("admin")), 422, "validation_failed"
    )


def test_an_unexpected_error_is_500_without_trace(settings: Settings, ctx: AppContext) -> None:
    app = create_app(settings, ctx)
    boom = APIRouter()

    @boom.get("/boom")
    def _boom() -> None:
        raise RuntimeError("SELECT secret FROM internals")

    app.include_router(boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        resp = c.get("/boom", headers={"X-Request-ID": "trace-me-1"})
    body = _is_problem(resp, 500, "internal_error")
    assert body["request_id"] == "trace-me-1"
    assert "SELECT" not in resp.text and "Traceback" not in resp.text


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["migrations"] == "ok"


def test_readyz_says_not_ready_when_a_check_fails(client: TestClient, ctx: AppContext) -> None:
    ctx.readiness["models"] = lambda: "face model not loaded"
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["checks"]["models"] == "face model not loaded"


def test_openapi_is_served(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "cameogate"
