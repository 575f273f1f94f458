"""Where cubes are and what they mean (asked of the database), and the opened datasets (cached)."""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from typing import Any

import psycopg
import psycopg.sql
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


@lru_cache(maxsize=64)
def open_arrays(store_path: str, version: str = "") -> Any:
    """The served store as a read-only `zarr.Group` (the tile hot path reads chunks through it directly)."""
    import zarr

    return zarr.open_group(store_path, mode="r")


CUBES_CHANNEL = "stapi_cubes"
_listener: threading.Thread | None = None
_callbacks: list[Any] = []


def listen(callback: Any, channel: str = CUBES_CHANNEL) -> None:
    """Call `callback(payload)` for each NOTIFY on `channel` (a daemon thread; reconnects on failure).

    `data.cubes` notifies `stapi_cubes` with the collection id whenever a cube is registered, replaced or
    deleted, so caches of source documents can be dropped at once instead of waiting for a TTL. Several
    callbacks may listen (one thread, one connection); each gets None after every (re)connection.
    """
    global _listener
    with _lock:
        if callback not in _callbacks:
            _callbacks.append(callback)
        if _listener is not None:
            return
        _listener = threading.Thread(target=_listen_loop, args=(channel,), daemon=True, name="cube-notify")
        _listener.start()


def _notify(payload: str | None) -> None:
    for callback in list(_callbacks):
        try:
            callback(payload)
        except Exception:  # one listener failing must not starve the others
            logging.getLogger(__name__).exception("NOTIFY callback %r failed", callback)


def _listen_loop(channel: str) -> None:
    import time

    while True:
        try:
            with psycopg.connect(database_url(), autocommit=True) as conn:
                conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel)))
                _notify(None)  # (re)connected: anything cached before may be stale
                for note in conn.notifies():
                    _notify(note.payload)
        except Exception:  # database restarting or unreachable: retry, the TTL still bounds staleness
            time.sleep(2)


__all__ = ["open_cube", "open_arrays", "query_json", "pool", "close", "listen", "psycopg"]
