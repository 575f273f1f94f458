"""The gateway's pool for single-statement reads (api_gateway/db.py ReadPool): last in, first out, bounded,
as stapi_anon, idle connections closed, broken ones never reused. Real connections to the test database."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from api_gateway import db


async def backend(reads: db.ReadPool, sleep: float = 0.0) -> tuple[int, str]:
    async with reads.connection() as conn:
        cur = await conn.execute("SELECT pg_backend_pid(), current_user::text, pg_sleep(%s)", (sleep,))
        pid, user, _ = await cur.fetchone()
    return pid, user


def test_the_last_returned_connection_is_reused_first(database_url):
    async def run() -> tuple[list, list, int]:
        reads = db.ReadPool(database_url, size=4)
        try:
            burst = await asyncio.gather(*(backend(reads, 0.05) for _ in range(4)))   # four at once
            after = [await backend(reads) for _ in range(8)]
            return burst, after, len(reads.idle)
        finally:
            await reads.close()

    burst, after, idle = asyncio.run(run())
    assert len({pid for pid, _ in burst}) == 4 and idle == 4
    # one after another: always the same (warm) connection, never a round robin over the four
    assert len({pid for pid, _ in after}) == 1 and after[0][0] in {pid for pid, _ in burst}
    assert {user for _, user in burst + after} == {"stapi_anon"}


def test_size_bounds_the_connections_and_idle_ones_close(database_url):
    async def run() -> tuple[set, set]:
        reads = db.ReadPool(database_url, size=2)
        try:
            burst = {pid for pid, _ in await asyncio.gather(*(backend(reads, 0.05) for _ in range(5)))}
            reads.max_idle = 0.0   # every idle connection is now too old: the next read opens a new one
            return burst, {(await backend(reads))[0]}
        finally:
            await reads.close()

    burst, later = asyncio.run(run())
    assert len(burst) == 2 and not later & burst


def test_a_failed_statement_keeps_the_pool_working_and_a_broken_connection_is_dropped(database_url):
    async def run() -> tuple[int, int, int, int]:
        reads = db.ReadPool(database_url, size=2)
        try:
            first, _ = await backend(reads)
            with pytest.raises(psycopg.errors.DivisionByZero):
                async with reads.connection() as conn:
                    await conn.execute("SELECT 1 / 0")
            again, _ = await backend(reads)
            with psycopg.connect(database_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (again,))
            with pytest.raises(psycopg.OperationalError):
                await backend(reads)
            return first, again, (await backend(reads))[0], len(reads.idle)
        finally:
            await reads.close()

    first, again, fresh, idle = asyncio.run(run())
    assert again == first and fresh != first and idle == 1


def with_pool(database_url: str, body):
    """Run `body()` (a coroutine function) with the gateway's pools open on the test database."""
    async def run():
        await db.open_pool(database_url)
        try:
            return await body()
        finally:
            await db.close_pool()
    return asyncio.run(run())


def test_read_bytes_returns_large_values_whole_and_null_as_none(database_url):
    """A value of several MB arrives in many pieces (read at libpq level): every byte, in order."""
    query = b"SELECT CASE WHEN $1::int = 0 THEN NULL ELSE decode(repeat(md5($1::text), $1::int), 'hex') END"

    async def body():
        return [await db.read_bytes(b"t_big", query, (n,)) for n in (200_000, 0, 3, 200_000)]

    big, null, small, again = with_pool(database_url, body)
    expected = bytes.fromhex(__import__("hashlib").md5(b"200000").hexdigest() * 200_000)
    assert len(big) == 3_200_000 and big == expected and again == big
    assert null is None and small == bytes.fromhex(__import__("hashlib").md5(b"3").hexdigest() * 3)


def test_read_bytes_raises_the_error_of_its_sqlstate_and_the_connection_stays_usable(database_url):
    async def body():
        with pytest.raises(psycopg.errors.DivisionByZero):
            await db.read_bytes(b"t_div", b"SELECT int4send(1 / $1::int)", (0,))
        with pytest.raises(psycopg.errors.UndefinedFunction):   # the PREPARE itself fails
            await db.read_bytes(b"t_nofn", b"SELECT no_such_function($1)", (0,))
        return await db.read_bytes(b"t_div", b"SELECT int4send(1 / $1::int)", (1,)), len(db.read_pool().idle)

    value, idle = with_pool(database_url, body)
    assert value == b"\x00\x00\x00\x01" and idle == 1


def test_read_bytes_prepares_again_after_deallocate_all(database_url):
    """DEALLOCATE ALL (or DISCARD ALL) on a pooled connection drops the prepared statement: it is prepared anew."""
    async def body():
        first = await db.read_bytes(b"t_pid", b"SELECT int4send(pg_backend_pid())", ())
        async with db.read_pool().connection() as conn:
            await conn.execute("DEALLOCATE ALL")
        return first, await db.read_bytes(b"t_pid", b"SELECT int4send(pg_backend_pid())", ())

    first, second = with_pool(database_url, body)
    assert first == second   # the same (last returned) connection, its statement prepared again


def test_a_cancelled_read_bytes_closes_its_connection(database_url):
    """A read cancelled while the database computes (server shutdown, a timeout) leaves the connection
    mid-statement: it is closed, never handed out again."""
    async def body():
        task = asyncio.create_task(db.read_bytes(b"t_sleep", b"SELECT int4send(1) FROM pg_sleep($1)", (5,)))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        idle = len(db.read_pool().idle)
        return idle, await db.read_bytes(b"t_one", b"SELECT int4send(1)", ())

    idle, value = with_pool(database_url, body)
    assert idle == 0 and value == b"\x00\x00\x00\x01"
