"""The one way the gateway talks to PostgreSQL: a pooled transaction with role and request context set."""

from __future__ import annotations

import asyncio
import select
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection, pq, sql
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request

from . import config
from .auth import ANON, role_for

_pool: AsyncConnectionPool | None = None
_reads: ReadPool | None = None


async def open_pool(dsn: str | None = None) -> AsyncConnectionPool:
    global _pool, _reads
    _pool = AsyncConnectionPool(dsn or config.DATABASE_URL, min_size=config.POOL_MIN,
                                max_size=config.POOL_MAX, open=False,
                                kwargs={"autocommit": True, "prepare_threshold": 5}, configure=_least_privilege)
    await _pool.open(wait=True, timeout=30)
    _reads = ReadPool(dsn or config.DATABASE_URL, config.POOL_MAX)
    return _pool


async def _least_privilege(conn: AsyncConnection) -> None:
    """Every pooled connection runs as stapi_anon unless a transaction sets another role (`call`)."""
    await conn.execute("SET ROLE stapi_anon")


async def close_pool() -> None:
    if _reads is not None:
        await _reads.close()
    if _pool is not None:
        await _pool.close()


class ReadPool:
    """Connections for single-statement reads (`call` without write, `read`), reused last in, first out: under sequential load one
    connection (one backend, its plans and caches warm) answers; after a burst the extra ones stay idle and
    close after `max_idle` seconds. psycopg_pool hands connections out first in, first out: round robin over
    every connection a burst opened, each cold for its first uses (1 to 2 ms more per tile after a burst).
    Connections open when needed (at most `size` at a time), autocommit, as stapi_anon.
    """

    def __init__(self, dsn: str, size: int, max_idle: float = 300.0):
        self.dsn, self.max_idle = dsn, max_idle
        self.slots = asyncio.Semaphore(size)
        self.idle: list[tuple[AsyncConnection, float]] = []   # (connection, when it was returned), oldest first

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        async with self.slots:
            conn = await self._take()
            try:
                yield conn
            finally:
                if conn.broken or conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
                    await conn.close()   # broken, or left mid-statement (cancelled): never reused
                else:
                    self.idle.append((conn, time.monotonic()))

    async def _take(self) -> AsyncConnection:
        while self.idle and time.monotonic() - self.idle[0][1] > self.max_idle:
            await self.idle.pop(0)[0].close()
        if self.idle:
            return self.idle.pop()[0]
        conn = await AsyncConnection.connect(self.dsn, autocommit=True, prepare_threshold=5)
        await _least_privilege(conn)
        return conn

    async def close(self) -> None:
        while self.idle:
            await self.idle.pop()[0].close()


def pool() -> AsyncConnectionPool:
    if _pool is None:
        raise RuntimeError("database pool is not open")
    return _pool


def read_pool() -> ReadPool:
    if _reads is None:
        raise RuntimeError("database pool is not open")
    return _reads


def base_url(request: Request) -> str:
    """The base URL of the surface this request came in on: '.../' or '.../api/v2/'."""
    root = request.scope.get("app_root_path") or ""
    prefix = "/api/v2" if request.url.path.startswith(f"{root}/api/v2") else ""
    return f"{request.url.scheme}://{request.url.netloc}{root}{prefix}/"


# The request context in one statement: set_config('role', ..., true) is SET LOCAL ROLE.
_CONTEXT = ("SELECT set_config('role', %s, true), set_config('request.base_url', %s, true), "
            "set_config('request.method', %s, true)")
# A read's context, joined to its statement: the FROM subquery (kept apart by OFFSET 0) sets the transaction-local
# settings before the SELECT list, the function call, is evaluated. Reads run as the pooled connection's own role
# (stapi_anon, `_least_privilege`), so they need no SET ROLE and no transaction block: one statement.
_READ_CONTEXT = (" FROM (SELECT set_config('request.base_url', %s, true), set_config('request.method', %s, true)"
                 " OFFSET 0) AS request_context")


def _with_read_context(query: sql.Composable | str) -> sql.Composable | str:
    """``SELECT api.x(...)`` (no FROM: every read the gateway makes) + the request context."""
    if isinstance(query, str):
        return query + _READ_CONTEXT
    return sql.Composed([query, sql.SQL(_READ_CONTEXT)])


async def call(request: Request, query: sql.Composable | str, params: tuple[Any, ...] = (),
               write: bool = False) -> Any:
    """Run one statement as the request's role with the request context; return the first column of the first row.

    The statement is one call of a published function, e.g. ``SELECT api.landing(%s)::text``.
    Returning ``::text`` lets the gateway pass the database's JSON through without re-encoding it.
    A read is ONE statement (its context joined to it, `_with_read_context`) on a `ReadPool` connection: one
    round trip, no BEGIN/COMMIT (what a page of search results costs in the database is a few milliseconds; a
    pipelined BEGIN, SET and COMMIT cost 0.4 ms more), on the warmest backend. A write is a transaction with
    SET LOCAL ROLE stapi_writer on the psycopg_pool connections.
    """
    role = role_for(request, write)
    if write or role != ANON:
        return await _call_unpipelined((role, base_url(request), request.method), query, params)
    async with read_pool().connection() as conn:
        cur = await conn.execute(_with_read_context(query), (*params, base_url(request), request.method))
        row = await cur.fetchone()
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


async def read_bytes(name: bytes, query: bytes, params: tuple[str | int, ...]) -> bytes | None:
    """The one value (a bytea, e.g. a vector tile) of a read-only statement that needs no request context, as
    stapi_anon (the role of every `ReadPool` connection): one round trip, no transaction block.

    `query` is prepared once per connection under `name` (placeholders $1, $2, ...); `params` go as text. The
    answer comes in binary (the bytea's own bytes) and is read at libpq level (`_next_result`): 0.2 ms less than
    psycopg's asynchronous fetch for a 180 KB tile. A database error raises the psycopg error of its SQLSTATE,
    like any other statement.
    """
    async with read_pool().connection() as conn:
        try:
            result = await _run_prepared(conn, name, query, params)
        except (pg_errors.InvalidSqlStatementName, pg_errors.FeatureNotSupported):
            # DEALLOCATE ALL or DISCARD ALL dropped it, or a migration changed the result type of its plan
            # ("cached plan must not change result type"): prepare it anew, once
            _prepared.get(conn, set()).discard(name)
            await _last_result(conn.pgconn, b"DEALLOCATE " + name)
            result = await _run_prepared(conn, name, query, params)
    return result.get_value(0, 0) if result.ntuples else None


async def _run_prepared(conn: AsyncConnection, name: bytes, query: bytes,
                        params: tuple[str | int, ...]) -> pq.abc.PGresult:
    pgconn, prepared = conn.pgconn, _prepared.setdefault(conn, set())
    if name not in prepared:
        pgconn.send_prepare(name, query)
        _check(await _last_result(pgconn))
        prepared.add(name)
    pgconn.send_query_prepared(name, [str(p).encode() for p in params], result_format=1)
    return _check(await _last_result(pgconn))


# The statements `read_bytes` prepared on each connection (a connection that closes leaves this map with it).
_prepared: weakref.WeakKeyDictionary[AsyncConnection, set[bytes]] = weakref.WeakKeyDictionary()
# Once an answer is arriving, how long (ms) to wait for its next piece without going back to the event loop.
_SPIN_MS = 1


def _check(result: pq.abc.PGresult) -> pq.abc.PGresult:
    if result.status == pq.ExecStatus.FATAL_ERROR:
        raise pg_errors.error_from_result(result, encoding="utf-8")
    return result


async def _last_result(pgconn: pq.abc.PGconn, command: bytes | None = None) -> pq.abc.PGresult:
    """The result of the one statement sent on pgconn (or of `command`, sent here), read until libpq has no more
    (the connection is idle again)."""
    if command is not None:
        pgconn.send_query(command)
    while pgconn.flush():   # a few hundred bytes of query: sent at once, unless the socket is full
        await _wait(pgconn.socket, write=True)
    result = await _next_result(pgconn)
    while (more := await _next_result(pgconn)) is not None:
        result = more
    if result is None:
        raise psycopg.OperationalError("the database sent no result")
    return result


async def _next_result(pgconn: pq.abc.PGconn) -> pq.abc.PGresult | None:
    """libpq's next result, waiting for its bytes without blocking the event loop while the database computes.

    PostgreSQL sends nothing until the statement has run (its first bytes are the answer), then writes a large
    value in 8 KB pieces within microseconds. psycopg waits for each piece on the event loop (a future and a
    reader callback: some 30 us of Python each); here, once the answer is arriving, the next piece is waited for
    with poll() for at most _SPIN_MS, and only a longer pause goes back to the event loop.
    """
    fd, arriving = pgconn.socket, False
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        pgconn.consume_input()
        if not pgconn.is_busy():
            return pgconn.get_result()
        if not (arriving and poller.poll(_SPIN_MS)):
            await _wait(fd)
            arriving = True


async def _wait(fd: int, write: bool = False) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    add, remove = (loop.add_writer, loop.remove_writer) if write else (loop.add_reader, loop.remove_reader)
    add(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        remove(fd)


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value)
