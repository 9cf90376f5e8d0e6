"""Every route declares its roles: 401 without a key, 403 with a role it does not allow."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from gate.auth import ROLES, Allow
from gate.routes import PUBLIC_PATHS
from tests.conftest import KeyMaker


def api_routes(routes: list) -> list[APIRoute]:
    """Every APIRoute, including those of included routers (FastAPI keeps those nested)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(api_routes(route.original_router.routes))
    return found


def _allowed_roles(route: APIRoute) -> frozenset[str] | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Allow):
            return dep.call.roles
        stack.extend(dep.dependencies)
    return None


def _concrete(path: str) -> str:
    # Any well-formed id: authentication must fail before the id is ever looked up.
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)


def test_every_route_is_public_on_purpose_or_declares_roles(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    undeclared = [
        r.path
        for r in app.routes
        if isinstance(r, APIRoute) and r.path not in PUBLIC_PATHS and _allowed_roles(r) is None
    ]
    assert undeclared == []


def test_every_route_answers_401_without_a_key_and_403_with_a_wrong_role(
    client: TestClient, make_key: KeyMaker
) -> None:
    keys = {role: make_key(role) for role in ROLES}
    checked = 0
    app = client.app
    assert isinstance(app, FastAPI)
    for route in api_routes(app.routes):
        if route.path in PUBLIC_PATHS:
            continue
        allowed = _allowed_roles(route)
        assert allowed is not None and route.methods is not None
        for method in route.methods:
            url = _concrete(route.path)
            resp = client.request(method, url)
            assert resp.status_code == 401, (method, url, resp.text)
            assert resp.headers["content-type"].startswith("application/problem+json")
            resp = client.request(method, url, headers={"Authorization": "Bearer cg_nothere_wrong"})
            assert resp.status_code == 401, (method, url)
            for wrong in sorted(set(ROLES) - allowed):
                resp = client.request(method, url, headers=keys[wrong])
                assert resp.status_code == 403, (method, url, wrong, resp.text)
                assert resp.json()["code"] == "role_not_allowed"
            checked += 1
    assert checked >= 5
