"""PostgreSQL access: the embedded server for machines without one, and the connection pool."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from gate.settings import Settings

log = logging.getLogger(__name__)

Conn = psycopg.Connection[dict[str, Any]]
AsyncConn = psycopg.AsyncConnection[dict[str, Any]]


def embedded_url(data_dir: Path) -> str:
    """Start (or reuse) a private PostgreSQL 16 from the pgserver wheel and return its URL.

    pgserver keeps the server running after this process exits (cleanup_mode=None), so a
    second process or a restart reuses it instead of paying the start-up again.
    """
    import pgserver  # imported here: only machines without CAMEOGATE_DATABASE_URL need it

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    return str(server.get_uri())


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    url = embedded_url(settings.var_dir / "pgdata")
    log.info("using embedded PostgreSQL in %s", settings.var_dir / "pgdata")
    return url


def connect(url: str, **kwargs: Any) -> Conn:
    return psycopg.connect(url, row_factory=dict_row, **kwargs)


def open_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> ConnectionPool[Conn]:
    pool: ConnectionPool[Conn] = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row},
        open=False,
        name="cameogate",
    )
    pool.open(wait=True, timeout=30)
    return pool


async def open_async_pool(
    url: str, *, min_size: int = 1, max_size: int = 10
) -> AsyncConnectionPool[AsyncConn]:
    """Connections for statements run in the event loop itself (the consent check's, issue #4),
    in autocommit mode: each statement is its own transaction. Open it inside the running loop
    that will use it (the app's lifespan)."""
    pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        open=False,
        name="cameogate-async",
    )
    await pool.open(wait=True, timeout=30)
    return pool


@contextmanager
def transaction(pool: ConnectionPool[Conn]) -> Iterator[Conn]:
    """One connection, one transaction: committed on success, rolled back on any exception."""
    with pool.connection() as conn:
        yield conn
