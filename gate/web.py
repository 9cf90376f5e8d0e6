"""Request-scoped dependencies shared by every domain's routes.

Routes receive what they need explicitly (a connection, the active policy, the app context);
nothing is looked up from globals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

from gate.db import Conn
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
