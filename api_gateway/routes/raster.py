"""Routes: DataCubes: PNG tiles (proxied to the raster worker), capabilities, raster TileJSON, registration.

    GET  /collections/{id}/tiles/WebMercatorQuad/{z}/{x}/{y}.png   ?layers= &datetime= &colormap= &rescale=
                                                                    &expression=
    GET  /collections/{id}/tiles/{tilesetId}/tilejson.json          (raster params; vector ones go to tiles.py)
    GET  /collections/{id}/capabilities                             api.cube_capabilities
    GET  /collections/{id}/map     ?width= &height= + the tile params  PNG of the whole cube (thumbnails)
    POST /collections/{id}/cube   (write token)                     register a Zarr store (server path or URL)

Matched before the vector tile routes. Tiles are proxied over one persistent HTTP/1.1 connection pool to the
worker, which caches everything it needs (no database call per warm tile).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import deque
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import config, db, openapi, params, stac_params
from ..auth import role_for
from ..errors import APIError, BadRequest
from ..responses import PNG, document

TILE_PARAMS = {"layers", "datetime", "colormap", "rescale", "expression"}
PASS_HEADERS = ("x-cube-datetime", "x-cube-datetime-match", "x-cube-version", "x-cube-level")
EXPOSE_HEADERS = ["X-Cube-Datetime", "X-Cube-Datetime-Match", "X-Cube-Version", "X-Cube-Level"]  # CORS: map JS
MAX_ZOOM = 24

_client: httpx.AsyncClient | None = None


def client() -> httpx.AsyncClient:
    global _client
    if _client is None:
        _client = httpx.AsyncClient(base_url=config.RASTER_WORKER_URL, timeout=httpx.Timeout(30.0, connect=5.0),
                                    limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
    return _client


class WorkerConnections:
    """A minimal HTTP/1.1 keep-alive GET client for the raster worker (the tile hot path).

    httpx costs about 1.5 ms per request on top of the socket round trip; tiles need less. Idle connections are
    reused; a connection the worker closed meanwhile (uvicorn drops idle ones after 5 s) is replaced and the GET
    retried once (GETs are idempotent). Responses must carry Content-Length (the worker's always do).
    """

    def __init__(self, base_url: str, size: int = 32):
        url = urlsplit(base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self.size = size

    async def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        for attempt in (0, 1):
            reused = bool(self.idle)
            conn = self.idle.pop() if reused else await asyncio.open_connection(self.host, self.port)
            try:
                status, headers, body = await self._exchange(conn, path)
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                conn[1].close()
                if reused and attempt == 0:
                    while self.idle:   # as old as the one the worker closed, or older: closed too (after a burst)
                        self.idle.pop()[1].close()
                    continue
                raise
            if headers.get("connection", "").lower() == "close" or len(self.idle) >= self.size:
                conn[1].close()
            else:
                self.idle.append(conn)
            return status, headers, body
        raise ConnectionError("the raster worker closed the connection")

    async def _exchange(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: str
                        ) -> tuple[int, dict[str, str], bytes]:
        reader, writer = conn
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        return status, headers, await reader.readexactly(int(headers.get("content-length", "0")))


_worker: WorkerConnections | None = None


def worker() -> WorkerConnections:
    global _worker
    if _worker is None:
        _worker = WorkerConnections(config.RASTER_WORKER_URL)
    return _worker


def tile_query(request: Request) -> dict[str, str]:
    """Validated raster parameters, as the worker takes them."""
    return validated_query(request.query_params)


@lru_cache(maxsize=256)
def worker_query(query_string: str) -> str:
    """The validated, normalised query string the worker gets for a raw one (cached: a map client asks every
    tile with the same query; a malformed one raises BadRequest each time, exceptions are not cached)."""
    return urlencode(validated_query(QueryParams(query_string)))


def validated_query(query: QueryParams) -> dict[str, str]:
    params.reject_unknown(query, TILE_PARAMS | {"f"}, "raster tiles")
    out: dict[str, str] = {}
    names = params.parse_list(query.get("layers"))
    if names is not None:
        if len(names) not in (1, 3):
            raise BadRequest(f"layers takes one layer (or composite) or three layers for RGB, got {len(names)}")
        out["layers"] = ",".join(names)
    if query.get("expression"):
        if names:
            raise BadRequest("use either layers or expression, not both")
        if len(query["expression"]) > 500:
            raise BadRequest("expression is longer than 500 characters")
        out["expression"] = query["expression"]
    if query.get("datetime"):
        out["datetime"] = stac_params.parse_datetime(query["datetime"]) or ""  # the rules of /items
    if query.get("colormap"):
        out["colormap"] = query["colormap"]
    if query.get("rescale"):
        out["rescale"] = ",".join(str(v) for v in parse_rescale(query["rescale"]))
    return out


def parse_rescale(value: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise BadRequest(f"rescale must be 'min,max' (two numbers), got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo == hi:
        raise BadRequest(f"rescale needs two different finite numbers, got {value!r}")
    return lo, hi


def tile_address(request: Request) -> tuple[int, int, int]:
    p = request.path_params
    z, x, y = p["z"], p["x"], p["y"]
    if not 0 <= z <= MAX_ZOOM:
        raise BadRequest(f"z must be within 0..{MAX_ZOOM}, got {z}")
    if not (0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise BadRequest(f"x and y must be within 0..{2 ** z - 1} at zoom {z}")
    return z, x, y


async def png_tile(request: Request) -> Response:
    z, x, y = tile_address(request)
    query = tile_query(request)
    status, answer_headers, body = await fetch_tile(request.path_params["collection_id"], z, x, y,
                                                    urlencode(query))
    if status != 200:
        _relay_error(status, body)
    headers = {k: answer_headers[k] for k in PASS_HEADERS if k in answer_headers}
    return document(request, body, media_type=PNG, headers=headers)


async def fetch_tile(collection_id: str, z: int, x: int, y: int, query: str) -> tuple[int, dict[str, str], bytes]:
    path = f"/tiles/{quote(collection_id, safe='')}/{z}/{x}/{y}.png" + (f"?{query}" if query else "")
    try:
        return await worker().get(path)
    except (ConnectionError, OSError, asyncio.IncompleteReadError) as e:
        raise APIError(502, f"the raster worker did not answer ({type(e).__name__}); is it running?") from None


class TileFastPath:
    """ASGI middleware: a PNG tile request goes straight to `png_tile`'s steps, skipping the router (dozens of
    path patterns on two surfaces), the GZip and exception middlewares (PNG is never gzipped); about 0.1 ms
    less per tile, more on a busy machine. Same validation, same worker call, same response (ETag, 304,
    pass-through headers). Anything but a 200 (a bad parameter, a worker error) is handed to the full stack,
    which answers it as always. Mounted inside the CORS middleware, so CORS headers stay the same.
    """

    PATH = re.compile(r"^(?:/api/v2)?/collections/([^/]+)/tiles/WebMercatorQuad/(\d+)/(\d+)/(\d+)\.png$")

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = self.PATH.match(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        response = await self._tile(scope, match) if match else None
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)

    async def _tile(self, scope: Scope, match: re.Match[str]) -> Response | None:
        cid, z, x, y = match.group(1), int(match.group(2)), int(match.group(3)), int(match.group(4))
        request = Request({**scope, "path_params": {"collection_id": cid, "z": z, "x": x, "y": y}})
        try:
            tile_address(request)
            query = worker_query(scope["query_string"].decode("latin-1"))
            status, answer_headers, body = await fetch_tile(cid, z, x, y, query)
        except APIError:
            return None
        if status != 200:
            return None
        headers = {k: answer_headers[k] for k in PASS_HEADERS if k in answer_headers}
        return document(request, body, media_type=PNG, headers=headers)


def _relay_error(status: int, body: bytes) -> None:
    import json

    try:
        description = str(json.loads(body).get("description"))
    except (ValueError, AttributeError):
        description = body[:300].decode("utf-8", "replace")
    code = status if status < 500 else 502
    raise APIError(code, description if code < 500 else f"the raster worker failed: {description}")


async def tilejson(request: Request) -> Response:
    """Raster TileJSON through the vtiles dispatcher (api.collection_tilejson); vector queries go to tiles.py."""
    from . import tiles

    if set(request.query_params) & {"properties", "filter", "filter-lang", "filter-crs"}:
        return await tiles.tilejson(request)
    query: dict[str, Any] = dict(tile_query(request))
    query["query"] = urlencode([(k, query[k]) for k in ("layers", "expression", "datetime", "colormap", "rescale")
                                if k in query])
    if "layers" in query:
        query["layers"] = query["layers"].split(",")
    body = await db.call(request, "SELECT api.collection_tilejson(%s, %s, %s::jsonb)::text",
                         (request.path_params["collection_id"], request.path_params["tileset_id"],
                          db.jsonb(query)))
    return document(request, body)


MAP_SIZE = {"width", "height"}
MAX_MAP = 2048


async def map_png(request: Request) -> Response:
    """GET /collections/{id}/map: a PNG of the cube's whole extent (the time slices' thumbnails), rendered by
    the worker (raster_worker/maps.py) with the tile parameters plus width/height."""
    query = request.query_params
    params.reject_unknown(query, TILE_PARAMS | MAP_SIZE | {"f"}, "maps")
    out = validated_query(QueryParams([(k, v) for k, v in query.multi_items() if k not in MAP_SIZE]))
    for name in sorted(MAP_SIZE & {k for k, v in query.items() if v != ""}):
        if not query[name].isdigit() or not 1 <= int(query[name]) <= MAX_MAP:
            raise BadRequest(f"{name} must be an integer from 1 to {MAX_MAP} (pixels), got {query[name]!r}")
        out[name] = query[name]
    path = f"/maps/{quote(request.path_params['collection_id'], safe='')}.png?{urlencode(out)}"
    try:
        status, answer_headers, body = await worker().get(path)
    except (ConnectionError, OSError, asyncio.IncompleteReadError) as e:
        raise APIError(502, f"the raster worker did not answer ({type(e).__name__}); is it running?") from None
    if status != 200:
        _relay_error(status, body)
    headers = {k: answer_headers[k] for k in PASS_HEADERS if k in answer_headers}
    return document(request, body, media_type=PNG, headers=headers)


async def capabilities(request: Request) -> Response:
    params.reject_unknown(request.query_params, {"f"}, "capabilities")
    body = await db.call(request, "SELECT api.cube_capabilities(%s, %s::jsonb)::text",
                         (request.path_params["collection_id"], db.jsonb({})))
    return document(request, body)


async def register(request: Request) -> Response:
    role_for(request, write=True)  # 401 before any work
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("the body must be JSON: {\"href\": \"/path/to/store.zarr\", ...}") from None
    try:
        answer = await client().post(f"/cubes/{quote(request.path_params['collection_id'], safe='')}", json=body,
                                     timeout=httpx.Timeout(3600.0, connect=5.0))
    except httpx.HTTPError as e:
        raise APIError(502, f"the raster worker did not answer ({type(e).__name__})") from None
    if answer.status_code != 201:
        _relay_error(answer.status_code, answer.content)
    return Response(answer.content, status_code=201, media_type="application/json",
                    headers={"Location": db.base_url(request) + "collections/"
                             + quote(request.path_params["collection_id"], safe="")})


TILES = "/collections/{collection_id}/tiles"

routes: list[BaseRoute] = [
    Route(TILES + "/WebMercatorQuad/{z:int}/{x:int}/{y:int}.png", png_tile, methods=["GET"]),
    Route(TILES + "/{tileset_id}/tilejson.json", tilejson, methods=["GET"]),
    Route("/collections/{collection_id}/capabilities", capabilities, methods=["GET"]),
    Route("/collections/{collection_id}/map", map_png, methods=["GET"]),
    Route("/collections/{collection_id}/cube", register, methods=["POST"]),
]

_RASTER = ["layers", "datetime", "colormap", "rescale", "expression"]
OPENAPI: dict[str, Any] = {
    TILES.replace("collection_id", "collectionId") + "/WebMercatorQuad/{z}/{x}/{y}.png": {"get": openapi.op(
        "PNG tile of a DataCube layer, composite, three layers (RGB) or band-math expression", "DataCubes",
        params=["collectionId", "z", "x", "y", *_RASTER], media=PNG)},
    "/collections/{collectionId}/map": {"get": openapi.op(
        "PNG map of a DataCube's whole extent (EPSG:3857, longest side 512 px unless width/height say otherwise): "
        "the time slices' thumbnails", "DataCubes", params=["collectionId", *_RASTER, "width", "height"],
        media=PNG)},
    "/collections/{collectionId}/capabilities": {"get": openapi.op(
        "DataCube capabilities: layers, time steps, WGS84 bbox, native CRS and resolution", "DataCubes",
        params=["collectionId"])},
    "/collections/{collectionId}/cube": {"post": openapi.op(
        "Register a Zarr store or GeoTIFF / COG files at a server path or http(s) URL as this collection's "
        "DataCube (body: href, layers, force, datetime ...)",
        "DataCubes", params=["collectionId"], body=True, write=True, status=201)},
}
