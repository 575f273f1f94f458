"""The Starlette application: middleware, error handlers, and the routes on both surfaces."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES
from starlette.routing import BaseRoute, Mount

from . import db, errors
from .compression import IsalGZipMiddleware
from .routes import MODULES, raster, tiles

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
log = logging.getLogger("api_gateway")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await db.open_pool()
    log.info("database pool open")
    try:
        yield
    finally:
        await db.close_pool()


def all_routes() -> list[BaseRoute]:
    return [route for module in MODULES for route in module.routes]


def create_app() -> Starlette:
    routes = all_routes()
    return Starlette(
        routes=[Mount("/api/v2", routes=routes), *routes],
        lifespan=lifespan,
        middleware=[
            Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"],
                       expose_headers=["ETag", "Link", "Location", "Content-Range", "Preference-Applied",
                                       *raster.EXPOSE_HEADERS]),
            Middleware(raster.TileFastPath),  # PNG tiles: straight to the raster worker (routes/raster.py)
            Middleware(tiles.TileFastPath),   # vector tiles: straight to api.features_tile (routes/tiles.py)
            # Zarr chunks (routes/cube_store.py) are compressed already, and HEAD must tell their true size
            Middleware(IsalGZipMiddleware, minimum_size=1024,
                       exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/octet-stream")),
        ],
        exception_handlers={
            errors.APIError: errors.api_error_handler,
            psycopg.Error: errors.db_error_handler,
            HTTPException: errors.http_exception_handler,
            Exception: errors.unhandled_error_handler,
        },
    )


app = create_app()
