"""A map viewer page: MapLibre GL JS drawing any collection from its generated style.

MapLibre's files come from the local npm install (`make e2e-deps` puts it in .local/e2e) when present,
otherwise the page's browser fetches the same pinned version from the unpkg CDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import openapi
from ..config import ROOT
from ..errors import NotFound

PAGE = Path(__file__).resolve().parent.parent / "static" / "viewer.html"
MAPLIBRE_VERSION = "5.24.1"
LOCAL_DIST = ROOT / ".local" / "e2e" / "node_modules" / "maplibre-gl" / "dist"
ASSETS = {"maplibre-gl.js": "text/javascript", "maplibre-gl.css": "text/css"}


async def viewer(request: Request) -> Response:
    return FileResponse(PAGE, media_type="text/html", headers={"Cache-Control": "public, max-age=300"})


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        raise NotFound(f"no viewer asset {name}; the viewer serves {', '.join(ASSETS)}")
    local = LOCAL_DIST / name
    if local.exists():
        return FileResponse(local, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})
    return RedirectResponse(f"https://unpkg.com/maplibre-gl@{MAPLIBRE_VERSION}/dist/{name}", status_code=302)


routes: list[BaseRoute] = [
    Route("/viewer", viewer, methods=["GET"]),
    Route("/viewer/{name}", asset, methods=["GET"]),
]

OPENAPI: dict[str, Any] = {
    "/viewer": {"get": openapi.op("Map viewer (HTML): pick a collection, a raster layer and a time", "Viewer",
                                  params=["collection"], media="text/html")},
}
