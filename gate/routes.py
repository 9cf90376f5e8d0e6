"""Every domain's router, mounted in one place."""

from __future__ import annotations

from fastapi import FastAPI

# Routes that answer without an API key, on purpose. Everything else must declare Allow(...);
# tests/test_route_roles.py fails for any route that is neither.
PUBLIC_PATHS = {
    "/healthz",
    "/readyz",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    # C2PA soft-binding resolution (provenance/api.py says why it is public).
    "/v1/c2pa/services/supportedAlgorithms",
    "/v1/c2pa/matches/byBinding",
    "/v1/c2pa/manifests/{manifest_id}",
}


def include_all(app: FastAPI) -> None:
    from consent.api import router as consent_router
    from gate.api import router as gate_router
    from generation.api import router as generation_router
    from policies.api import router as policies_router
    from provenance.api import router as provenance_router
    from safety.api import router as safety_router

    # Routes are tried in this order: the consent check, the hot path, comes early (issue #4).
    for router in (
        gate_router,
        consent_router,
        policies_router,
        safety_router,
        provenance_router,
        generation_router,
    ):
        app.include_router(router)
