"""Raster worker route: register a Zarr store or GeoTIFF files at a server path or URL as a cube (the gateway
checks the token).

    POST /cubes/{collection_id}   {"href": "/data/s2.zarr", "layers": ["B04", "B08"] | null, "all_layers": false,
                                   "force": false, "use_v2": false, "rebuild_rgb_composites": false,
                                   "crs": "EPSG:32644", "title": "...", "description": "..."}
                                  {"href": ["/data/B04.tif", "/data/B08.tif"], "datetime": "2025-06-12T05:36:29Z"}

Runs the same pipeline as `scripts/upload_local_zarr.py` (`raster_worker.ingest`) and registers with
`api.cube_register` as `stapi_writer`, in one transaction.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import psycopg
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import geotiff, layers, store, versions
from .ingest import IngestError, Options, db_check, db_register, ingest
from .source import SourceError

FIELDS = {"href", "layers", "all_layers", "force", "use_v2", "rebuild_rgb_composites", "crs", "title",
          "description", "datetime"}


def data_dir() -> Path:
    return Path(os.environ.get("STAPI_DATA_DIR", Path(__file__).resolve().parent.parent / ".local" / "data"))


def options(collection_id: str, body: dict[str, Any]) -> Options:
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise IngestError(f"unknown field(s) {', '.join(unknown)}; fields: {', '.join(sorted(FIELDS))}")
    href = body.get("href")
    if not (isinstance(href, str) and href) and not (
            isinstance(href, list) and href and all(isinstance(h, str) and h for h in href)):
        raise IngestError("href (the Zarr store's or GeoTIFF's server path or URL, or a list of GeoTIFFs) is "
                          "required")
    wanted = body.get("layers")
    if isinstance(wanted, str):
        wanted = [s.strip() for s in wanted.split(",") if s.strip()]
    if wanted is not None and not (isinstance(wanted, list) and all(isinstance(s, str) for s in wanted)):
        raise IngestError("layers must be a list of variable names")
    return Options(collection_id=collection_id, data_dir=data_dir(), layers=wanted or None,
                   all_layers=bool(body.get("all_layers")), use_v2=bool(body.get("use_v2")),
                   force=bool(body.get("force")), rebuild_rgb_composites=bool(body.get("rebuild_rgb_composites")),
                   crs=body.get("crs"), title=body.get("title"), description=body.get("description"),
                   asset_href=None if geotiff.is_raster(href) else href, datetime=_datetimes(body.get("datetime")))


def _datetimes(value: Any) -> list[str] | None:
    if value is None or value == []:
        return None
    if isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()] or None
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return value
    raise IngestError("datetime must be an RFC 3339 date-time, or a list of them (one per file)")


def registered_stores() -> list[str]:
    """Every registered store path (`api.cube_stores`)."""
    return list((store.query_json("SELECT api.cube_stores('{}'::jsonb)") or {}).values())


def collect_garbage(collection_id: str | None) -> list[Path]:
    """Remove unregistered store versions of a collection (`versions.collect`); None: nothing (the full sweep
    is `scripts/cube_gc.py`: a worker started against another database must not judge this data dir)."""
    if collection_id is None:
        return []
    return versions.collect(data_dir(), registered_stores, collection_id)


def on_cube_change(payload: str | None) -> None:
    """NOTIFY stapi_cubes callback: collect in a thread, so cache invalidation never waits for a removal."""
    if payload:
        threading.Thread(target=_collect_logged, args=(payload,), daemon=True, name="cube-gc").start()


def _collect_logged(collection_id: str) -> None:
    try:
        for path in collect_garbage(collection_id):
            logging.getLogger(__name__).info("removed unregistered store version %s", path)
    except Exception:  # the database or the disk failing here must not disturb serving
        logging.getLogger(__name__).exception("garbage collection of %s failed", collection_id)


def run(collection_id: str, body: dict[str, Any]) -> dict[str, Any]:
    opts = options(collection_id, body)
    with store.pool().connection() as conn:
        result = ingest(body["href"], opts, lambda params: db_register(conn, collection_id, params),
                        check=lambda: db_check(conn, collection_id, opts.force))
    layers.invalidate(collection_id)
    return result


async def register(request: Request) -> Response:
    cid = request.path_params["collection_id"]
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise IngestError("the body must be a JSON object")
        result = await run_in_threadpool(run, cid, body)
    except ValueError as e:  # IngestError, SourceError, JSON decoding
        return JSONResponse({"code": "BadRequest", "description": str(e)}, status_code=400)
    except psycopg.Error as e:
        status = {"23505": 409, "P0002": 404, "42501": 401}.get(e.sqlstate or "", 400 if (e.sqlstate or "")
                                                                   .startswith("22") else 500)
        if status == 500:
            raise
        text = (e.diag.message_primary or str(e)) + (f". Hint: {e.diag.message_hint}" if e.diag.message_hint else "")
        return JSONResponse({"code": {409: "Conflict", 404: "NotFound", 401: "Unauthorized"}.get(status, "BadRequest"),
                             "description": text}, status_code=status)
    return JSONResponse(result, status_code=201)


routes: list[BaseRoute] = [Route("/cubes/{collection_id}", register, methods=["POST"])]

__all__ = ["routes", "IngestError", "SourceError"]
