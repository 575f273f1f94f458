"""The one way the gateway talks to PostgreSQL: a pooled transaction with role and request context set."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request

from . import config
from .auth import role_for

_pool: AsyncConnectionPool | None = None


async def open_pool(dsn: str | None = None) -> AsyncConnectionPool:
    global _pool
    _pool = AsyncConnectionPool(dsn or config.DATABASE_URL, min_size=config.POOL_MIN,
                                max_size=config.POOL_MAX, open=False,
                                kwargs={"autocommit": True, "prepare_threshold": 5})
    await _pool.open(wait=True, timeout=30)
    return _pool


async def close_pool() -> None:
    if _pool is not None:
        await _pool.close()


def pool() -> AsyncConnectionPool:
    if _pool is None:
        raise RuntimeError("database pool is not open")
    return _pool


def base_url(request: Request) -> str:
    """The base URL of the surface this request came in on: '.../' or '.../api/v2/'."""
    root = request.scope.get("app_root_path") or ""
    prefix = "/api/v2" if request.url.path.startswith(f"{root}/api/v2") else ""
    return f"{request.url.scheme}://{request.url.netloc}{root}{prefix}/"


async def _prepare(conn: psycopg.AsyncConnection, request: Request, write: bool) -> None:
    role = role_for(request, write)
    await conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
    await conn.execute("SELECT set_config('request.base_url', %s, true), set_config('request.method', %s, true)",
                       (base_url(request), request.method))


async def call(request: Request, query: sql.Composable | str, params: tuple[Any, ...] = (),
               write: bool = False) -> Any:
    """Run one statement in a transaction as the request's role; return the first column of the first row.

    The statement is one call of a published function, e.g. ``SELECT api.landing(%s)::text``.
    Returning ``::text`` lets the gateway pass the database's JSON through without re-encoding it.
    """
    async with pool().connection() as conn:
        async with conn.transaction():
            await _prepare(conn, request, write)
            cur = await conn.execute(query, params)
            row = await cur.fetchone()
    return None if row is None else row[0]


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value)
