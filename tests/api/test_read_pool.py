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
