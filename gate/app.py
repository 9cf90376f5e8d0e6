"""The app factory: middleware, the problem+json error model, and every domain's routes."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gate import logs
from gate.db import database_url, open_pool
from gate.errors import PROBLEM_JSON, Problem, problem_body
from gate.media import ContentStore
from gate.settings import Settings
from gate.web import AppContext
from policies.service import PolicyHolder, load_file

log = logging.getLogger(__name__)
# No route accepts more than this (the policy's largest upload limit sits below it).
MAX_BODY_BYTES = 256 * 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def build_context(settings: Settings) -> AppContext:
    """Open the process's long-lived resources. The caller closes `ctx.pool` at shutdown."""
    from gate.migrate import migrate

    url = database_url(settings)
    migrate(url)
    pool = open_pool(url, min_size=settings.pool_min_size, max_size=settings.pool_max_size)
    policies = PolicyHolder(load_file(settings.policy_file))
    ctx = AppContext(settings=settings, pool=pool, policies=policies, store=ContentStore(settings.media_dir))
    from gate.startup import start_domains

    start_domains(ctx)
    return ctx


def problem_response(
    request: Request, status: int, code: str, title: str, detail: str, **extra: Any
) -> JSONResponse:
    body = problem_body(
        status, code, title, detail, instance=request.url.path, request_id=logs.request_id.get(), **extra
    )
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        resp = problem_response(request, exc.status, exc.code, exc.title, exc.detail, **exc.extra)
        resp.headers.update(exc.headers)
        return resp

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Field locations and messages only: echoing the input back could reflect secrets.
        errors = [
            {"field": ".".join(str(p) for p in err.get("loc", ())), "reason": err.get("msg", "")}
            for err in exc.errors()
        ]
        return problem_response(
            request, 422, "validation_failed", "The request is not valid", "see errors", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        code = codes.get(exc.status_code, "http_error")
        return problem_response(request, exc.status_code, code, str(exc.detail), str(exc.detail))

    @app.exception_handler(psycopg.DataError)
    async def _unstorable(request: Request, exc: psycopg.DataError) -> JSONResponse:
        # Text PostgreSQL cannot hold reaches it from any free-text field: a NUL character,
        # refused by psycopg before sending (no sqlstate), or "\u0000" inside JSON, refused by
        # jsonb (22P05). The transaction is rolled back: nothing is stored. Any other data error
        # is this service's own and stays a 500.
        if exc.sqlstate == "22P05" or (exc.sqlstate is None and "NUL" in str(exc)):
            return problem_response(
                request,
                422,
                "invalid_text",
                "The request is not valid",
                "text may not contain NUL characters",
            )
        log.error("unhandled data error", exc_info=exc)
        return problem_response(
            request, 500, "internal_error", "Internal error", "an unexpected error was logged"
        )

    @app.exception_handler(psycopg.OperationalError)
    async def _db_down(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        log.error("database unavailable: %s", exc)
        return problem_response(
            request, 503, "database_unavailable", "Service unavailable", "the database cannot be reached"
        )


class RequestContext:
    """Every request: its id (the caller's X-Request-ID when well-formed, else a new one) in the
    logs, in the X-Request-ID response header and in problem bodies; a declared body over
    MAX_BODY_BYTES refused before a byte of it is read (routes cap what they read as well); an
    unhandled error answered as a 500 problem, its trace logged under the request id; one log
    line per request.

    Plain ASGI rather than Starlette's `@app.middleware("http")` (BaseHTTPMiddleware), which
    re-streams every response through a memory channel and wraps each read of the body in a task
    group: the consent check, which reads a body, paid for that twice (issue #4; docs/CONSENT.md).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        incoming = headers.get("x-request-id", "")
        rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        try:
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                await problem_response(
                    Request(scope), 413, "payload_too_large", "The upload is too large",
                    f"request bodies are limited to {MAX_BODY_BYTES} bytes",
                )(scope, receive, send_with_id)  # fmt: skip
                return
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                # The trace goes to the log under the request id, never to the client.
                log.exception("unhandled error")
                if status:
                    raise  # the answer has begun: the server can only cut the connection
                await problem_response(
                    Request(scope), 500, "internal_error", "Internal error", "an unexpected error was logged"
                )(scope, receive, send_with_id)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        finally:
            logs.request_id.reset(token)


def create_app(settings: Settings, ctx: AppContext | None = None) -> FastAPI:
    """An app over `ctx` (tests pass their own) or over resources opened at start-up."""
    owns_context = ctx is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from gate.startup import astart_domains, astop_domains, stop_domains

        if app.state.ctx is None:
            app.state.ctx = build_context(settings)
        # The domains' event-loop resources belong to this loop, whoever opened the context.
        await astart_domains(app.state.ctx)
        try:
            yield
        finally:
            await astop_domains(app.state.ctx)
        if owns_context:
            stop_domains(app.state.ctx)
            app.state.ctx.pool.close()

    app = FastAPI(
        title="cameogate",
        version="0.1.0",
        summary="Consent, IP opt-outs and C2PA provenance in front of an AI video generator.",
        lifespan=lifespan,
        # Counted as the body arrives: a chunked upload declares no length, and without this it
        # would be read in full (the form parser spooling it to disk) before a route saw its size.
        # Past the limit the route's read fails with 413 (payload_too_large) and the rest of the
        # body is never read (tests/test_errors_and_ops.py).
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.ctx = ctx

    app.add_middleware(RequestContext)
    _install_error_handlers(app)
    from gate.routes import include_all

    include_all(app)
    return app
