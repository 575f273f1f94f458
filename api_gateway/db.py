"""The one way the gateway talks to PostgreSQL: a pooled transaction with role and request context set."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.pq import TransactionStatus
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
                                kwargs={"autocommit": True, "prepare_threshold": 5}, configure=_least_privilege)
    await _pool.open(wait=True, timeout=30)
    return _pool


async def _least_privilege(conn: AsyncConnection) -> None:
    """Every pooled connection runs as stapi_anon unless a transaction sets another role (`call`)."""
    await conn.execute("SET ROLE stapi_anon")


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


# The request context in one statement: set_config('role', ..., true) is SET LOCAL ROLE.
_CONTEXT = ("SELECT set_config('role', %s, true), set_config('request.base_url', %s, true), "
            "set_config('request.method', %s, true)")


async def call(request: Request, query: sql.Composable | str, params: tuple[Any, ...] = (),
               write: bool = False) -> Any:
    """Run one statement in a transaction as the request's role; return the first column of the first row.

    The statement is one call of a published function, e.g. ``SELECT api.landing(%s)::text``.
    Returning ``::text`` lets the gateway pass the database's JSON through without re-encoding it.
    BEGIN, the role and request context, the statement and COMMIT go out in one pipeline: one network
    round trip instead of five (what a vector tile at zoom 14 costs in the database is less than that).
    """
    context = (role_for(request, write), base_url(request), request.method)
    if write:
        return await _call_unpipelined(context, query, params)
    async with pool().connection() as conn:
        try:
            async with conn.pipeline() as pipeline:
                await conn.execute("BEGIN")
                await conn.execute(_CONTEXT, context)
                cur = await conn.execute(query, params)
                await conn.execute("COMMIT")
                await pipeline.sync()
                row = await cur.fetchone()
        except BaseException:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                await conn.rollback()
            raise
    return None if row is None else row[0]


async def _call_unpipelined(context: tuple[str, str, str], query: sql.Composable | str,
                            params: tuple[Any, ...]) -> Any:
    """Writes go without pipeline mode: a large parameter (a bulk upload of 10+ MB) deadlocks psycopg's
    pipeline (psycopg/psycopg#685: the server waits in ClientRead forever). Writes are not latency-bound."""
    async with pool().connection() as conn, conn.transaction():
        await conn.execute(_CONTEXT, context)
        cur = await conn.execute(query, params)
        row = await cur.fetchone()
    return None if row is None else row[0]


async def read(query: str, params: tuple[Any, ...]) -> Any:
    """One read-only statement outside a transaction block, as stapi_anon (each pooled connection's own role):
    one statement and one round trip, no BEGIN, context or COMMIT to run. Only for functions that need no
    request context (no `request.base_url`: they build no links), e.g. a vector tile. Results come in binary
    (a bytea as its bytes, not as hex text to decode)."""
    async with pool().connection() as conn:
        cur = await conn.execute(query, params, binary=True)
        row = await cur.fetchone()
    return None if row is None else row[0]


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value)
