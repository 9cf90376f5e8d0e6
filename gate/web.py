"""Request-scoped dependencies shared by every domain's routes.

Routes receive what they need explicitly (a connection, the active policy, the app context);
nothing is looked up from globals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ValidationError

from gate.db import Conn
from gate.errors import PayloadTooLarge
from gate.settings import Settings
from policies.service import ActivePolicy, PolicyHolder

if TYPE_CHECKING:
    from gate.auth import KeyCache
    from gate.media import ContentStore


def _key_cache() -> KeyCache:
    from gate.auth import KeyCache  # gate.auth imports this module

    return KeyCache()


@dataclass
class AppContext:
    """What a running process holds: settings, pool, policy, content store, models, indexes.

    `services` carries the domains' long-lived objects (model registry, FAISS indexes, signer)
    under names the domains choose; each domain documents its own key.
    """

    settings: Settings
    pool: ConnectionPool[Conn]
    policies: PolicyHolder
    store: ContentStore
    services: dict[str, Any] = field(default_factory=dict)
    # name → check returning None when ready or a reason when not; /readyz runs them all.
    readiness: dict[str, Callable[[], str | None]] = field(default_factory=dict)
    # API keys this process authenticated recently (gate/auth.py: KEY_CACHE_TTL_SECONDS).
    key_cache: KeyCache = field(default_factory=_key_cache)


def context_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


# The dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in a
# worker thread, and each such trip costs a GIL hand-over and a wake-up (issue #4).


async def get_context(request: Request) -> AppContext:
    return context_of(request)


def get_conn(request: Request) -> Iterator[Conn]:
    """One pooled connection per request, one transaction: committed when the route returns
    without error (before the response is sent), rolled back otherwise."""
    with context_of(request).pool.connection() as conn:
        yield conn


async def get_policy(request: Request) -> ActivePolicy:
    """The policy snapshot for this request: every decision in it reads the same version."""
    cached = getattr(request.state, "policy", None)
    if cached is None:
        cached = context_of(request).policies.current
        request.state.policy = cached
    return cached


DbConn = Annotated[Conn, Depends(get_conn, scope="function")]
Ctx = Annotated[AppContext, Depends(get_context)]
CurrentPolicy = Annotated[ActivePolicy, Depends(get_policy)]


# --- JSON bodies read by the route itself ------------------------------------------------------
# For a route on the hot path (the consent check) that takes the raw Request instead of letting
# FastAPI parse its body: FastAPI decodes the JSON to Python objects, validates them, solves each
# dependency, then validates the returned model again before serialising it; pydantic validating
# the bytes and serialising the answer in one call each costs the event loop much less
# (docs/CONSENT.md). Errors keep the shape every other route gives (gate.app's handlers).

M = TypeVar("M", bound=BaseModel)


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a request body the route reads with `json_body`."""
    schema = model.model_json_schema()
    if "$defs" in schema:  # they would need a place under the document's components
        raise ValueError(f"{model.__name__}: json_body_doc documents models without nested models")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def read_body(request: Request, *, max_bytes: int) -> bytes:
    """The whole body, refused with 413 payload_too_large once past `max_bytes`: up front when
    its declared length is, else as it arrives (the rest is never read)."""

    def too_large() -> PayloadTooLarge:  # built only when refused: this runs on the hot path
        return PayloadTooLarge(f"this route reads at most {max_bytes} bytes", limit=max_bytes)

    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_large()
    return bytes(body)


async def json_body(request: Request, model: type[M], *, max_bytes: int) -> M:
    """The request's JSON body as `model`. Past `max_bytes` (declared, or as it arrives), 413
    payload_too_large before the rest is read. A body not sent as JSON (by its Content-Type, as
    FastAPI's strict rule), not well-formed or not fitting the model raises
    RequestValidationError: a 422 validation_failed, fields under `body.`."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if not (media == "application/json" or (media.startswith("application/") and media.endswith("+json"))):
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "send the body as JSON (Content-Type: application/json)"}]
        )
    try:
        return model.model_validate_json(await read_body(request, max_bytes=max_bytes))
    except ValidationError as exc:
        raise RequestValidationError(
            [{"loc": ("body", *err["loc"]), "msg": err["msg"]} for err in exc.errors(include_url=False)]
        ) from None


def json_response(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")
