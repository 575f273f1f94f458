"""Where cubes are and what they mean (asked of the database), and the opened datasets (cached)."""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Any

import psycopg
import xarray as xr
from psycopg_pool import ConnectionPool

_pool: ConnectionPool | None = None
_lock = threading.Lock()


def database_url() -> str:
    return os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5439/stapi")


def pool() -> ConnectionPool:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ConnectionPool(database_url(), min_size=1, max_size=8, open=True,
                                   kwargs={"autocommit": True})
    return _pool


def close() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.close()
            _pool = None


def query_json(sql: str, params: tuple[Any, ...] = ()) -> Any:
    """One read-only call as the anonymous role; the first column of the first row."""
    with pool().connection() as conn, conn.transaction():
        conn.execute("SET LOCAL ROLE stapi_anon")
        row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


@lru_cache(maxsize=64)
def open_cube(store_path: str, version: str = "") -> xr.Dataset:
    """Open a served Zarr store once per (path, version); `version` changes when the cube is replaced."""
    return xr.open_zarr(store_path, consolidated=None, chunks=None)


__all__ = ["open_cube", "query_json", "pool", "close", "psycopg"]
