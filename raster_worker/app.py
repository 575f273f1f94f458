"""The raster worker's own ASGI app (a separate uvicorn process the gateway routes raster requests to).

Route modules: `tiles` (PNG tiles, TileJSON helpers), `maps` (PNG maps of a whole cube: thumbnails) and
`analytics` (time series, statistics).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import analytics, maps, store, tiles, uploads


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    store.listen(uploads.on_cube_change)  # removes a collection's old store versions when its cube changes
    try:
        yield
    finally:
        store.close()


app = Starlette(routes=[Route("/healthz", healthz), *tiles.routes, *maps.routes, *analytics.routes], lifespan=lifespan)
