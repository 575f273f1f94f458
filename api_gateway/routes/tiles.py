"""Routes: OGC API Tiles (vector tiles, tileset lists and metadata, tile matrix sets), TileJSON, MapLibre styles.

Each route calls one SQL function; a vector tile is `api.features_tile(...)`, built entirely in PostGIS.
Raster PNG tiles (`.../WebMercatorQuad/{z}/{x}/{y}.png`) belong to the raster module, matched before this one.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
import psycopg
from isal import igzip
from psycopg import sql
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import config, db, errors, openapi, params
from ..errors import APIError, BadRequest, NotFound
from ..responses import JSON, MVT, document, etag_for

TILE_PARAMS = {"properties", "filter", "filter-lang", "filter-crs", "f"}
TILE_SUFFIXES = ("", ".mvt", ".pbf")
STYLE = "application/vnd.mapbox.style+json"


def tile_params(query: QueryParams) -> dict[str, Any]:
    """The tile query (properties, filter) as the JSON value the SQL functions take."""
    params.reject_unknown(query, TILE_PARAMS, "tiles")
    if query.get("f") not in (None, "", "mvt", "pbf"):
        raise BadRequest(f"f={query.get('f')} is not a tile format here; vector tiles are f=mvt")
    out: dict[str, Any] = {}
    names = params.parse_list(query.get("properties"))
    if names is not None:
        out["properties"] = names
    expr = params.parse_filter(query.get("filter"), query.get("filter-lang"), query.get("filter-crs"))
    if expr is not None:
        out["filter"] = expr
    return out


@lru_cache(maxsize=1024)
def tile_query_json(query_string: str, tileset: str) -> str:
    """The validated tile query as the JSON text `api.features_tile` takes, cached per raw query string: a map
    client sends the same query with every tile. A malformed one raises BadRequest each time (not cached)."""
    return json.dumps(tile_params(QueryParams(query_string)) | {"tileset": tileset})


def tile_number(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {value!r}") from None


def tile_address(request: Request) -> tuple[int, int, int]:
    """z/x/y from the path; y may end in .mvt or .pbf."""
    path = request.path_params
    y, dot, suffix = path["y"].partition(".")
    if dot + suffix not in TILE_SUFFIXES:
        raise NotFound(f"vector tiles end in .mvt, .pbf or nothing, not .{suffix}; "
                       f"PNG tiles are served only for collections with raster data")
    return tile_number(path["z"], "z (tile matrix)"), tile_number(path["x"], "x (tile column)"), \
        tile_number(y, "y (tile row)")


async def vector_tile(request: Request) -> Response:
    """The routed endpoint (HEAD, and paths the fast path leaves alone); the same answer as `TileFastPath`."""
    z, x, y = tile_address(request)
    status, headers, body = await tile_answer(
        request.path_params["collection_id"], request.path_params["tileset_id"], z, x, y,
        request.scope["query_string"].decode("latin-1"), request.headers.get("accept-encoding", ""),
        request.headers.get("if-none-match", ""))
    return Response(body, status_code=status, headers={k.decode(): v.decode() for k, v in headers})


TILE_STATEMENT = b"stapi_features_tile"   # its name when prepared (`db.read_bytes`)
TILE_SQL = b"SELECT api.features_tile($1, $2::int, $3::int, $4::int, $5::jsonb)"
INT4_MAX = 2 ** 31 - 1
Headers = list[tuple[bytes, bytes]]


async def tile_answer(collection_id: str, tileset: str, z: int, x: int, y: int, query_string: str,
                      accept_encoding: str, if_none_match: str) -> tuple[int, Headers, bytes]:
    """A vector tile as (status, headers, body): 200 with the tile (gzipped when accepted), 204 when it is
    empty, 304 when If-None-Match holds its ETag. One SQL statement, no transaction block (`db.read_bytes`)."""
    if max(z, x, y) > INT4_MAX:   # beyond every tile matrix, and beyond the SQL function's int arguments
        raise NotFound(f"tile {z}/{x}/{y} is outside the tile matrix set (z 0 to 24, x and y 0 to 2^z - 1)")
    tile = await db.read_bytes(TILE_STATEMENT, TILE_SQL,
                               (collection_id, z, x, y, tile_query_json(query_string, tileset)))
    cache = (b"cache-control", f"public, max-age={config.CACHE_MAX_AGE}".encode())
    if not tile:
        # An empty tile: 204 No Content (MapLibre and OpenLayers draw nothing), cacheable like any tile.
        return 204, [cache], b""
    data, gzipped = await compressed(tile, accept_encoding)
    tag = etag_for(data)
    headers = [cache, (b"etag", tag.encode()), (b"vary", b"Accept-Encoding")]
    if if_none_match and (if_none_match.strip() == "*" or tag in [t.strip() for t in if_none_match.split(",")]):
        return 304, headers, b""
    if gzipped:
        headers.append((b"content-encoding", b"gzip"))
    return 200, [(b"content-type", MVT.encode()), *headers], data


GZIP_MIN = 1024              # smaller tiles go as they are: gzip would save at most a few hundred bytes
GZIP_OFF_LOOP = 512 * 1024   # bigger tiles (low zooms of dense data) are compressed in a worker thread


async def compressed(tile: bytes, accept_encoding: str) -> tuple[bytes, bool]:
    """The tile gzipped when the client accepts it, by ISA-L (`isal`, level 1): a standard gzip stream at the
    compression of zlib's level 1 (tiles shrink to about 45-65 %), four times faster (0.5 ms instead of 2.1 ms
    for a 215 KB tile). The GZip middleware leaves responses that carry a Content-Encoding alone."""
    if len(tile) < GZIP_MIN or "gzip" not in accept_encoding:
        return tile, False
    if len(tile) < GZIP_OFF_LOOP:
        return igzip.compress(tile, 1, mtime=0), True
    return await anyio.to_thread.run_sync(lambda: igzip.compress(tile, 1, mtime=0)), True


class TileFastPath:
    """ASGI middleware: a GET of a vector tile (`[/api/v2]/collections/{id}/tiles/{tileset}/{z}/{x}/{y}[.mvt|.pbf]`)
    is answered by `tile_answer` directly, skipping the router (dozens of path patterns on two surfaces), the
    GZip and exception middlewares and Starlette's request/response objects. The same answer as the routed
    endpoint: same validation, SQL, headers, 204/304; errors through the same handlers (JSON 400/404).
    Mounted inside the CORS middleware, so CORS headers stay the same. Anything else goes down the stack.
    """

    PATH = re.compile(r"^(?:/api/v2)?/collections/([^/]+)/tiles/([^/]+)/(\d+)/(\d+)/(\d+)(?:\.mvt|\.pbf)?$")

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = self.PATH.match(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            status, answer, body = await tile_answer(
                match[1], match[2], int(match[3]), int(match[4]), int(match[5]),
                scope["query_string"].decode("latin-1"), headers.get(b"accept-encoding", b"").decode("latin-1"),
                headers.get(b"if-none-match", b"").decode("latin-1"))
        except (APIError, psycopg.Error) as e:
            handler = errors.api_error_handler if isinstance(e, APIError) else errors.db_error_handler
            await (await handler(Request(scope), e))(scope, receive, send)
            return
        if status == 200:
            answer.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": answer})
        await send({"type": "http.response.body", "body": body})


async def tilejson(request: Request) -> Response:
    query = tile_params(request.query_params)
    kept = [(k, v) for k, v in request.query_params.multi_items() if k in TILE_PARAMS - {"f"}]
    query["query"] = urlencode(kept)
    body = await db.call(request, "SELECT api.collection_tilejson(%s, %s, %s::jsonb)::text",
                         (request.path_params["collection_id"], request.path_params["tileset_id"],
                          db.jsonb(query)))
    return document(request, body)


async def json_call(request: Request, function: str, *args: str, media_type: str = JSON) -> Response:
    params.reject_unknown(request.query_params, {"f"}, request.url.path)
    arguments = [sql.Placeholder()] * len(args) + [sql.SQL("%s::jsonb")]
    query = sql.SQL("SELECT {}({})::text").format(sql.Identifier("api", function), sql.SQL(", ").join(arguments))
    body = await db.call(request, query, (*args, db.jsonb({})))
    return document(request, body, media_type=media_type)


async def tile_matrix_sets(request: Request) -> Response:
    return await json_call(request, "tile_matrix_sets")


async def tile_matrix_set(request: Request) -> Response:
    return await json_call(request, "tile_matrix_set", request.path_params["tms_id"])


async def tilesets(request: Request) -> Response:
    return await json_call(request, "collection_tilesets", request.path_params["collection_id"])


async def tileset(request: Request) -> Response:
    return await json_call(request, "collection_tileset", request.path_params["collection_id"],
                           request.path_params["tileset_id"])


async def style(request: Request) -> Response:
    return await json_call(request, "collection_style", request.path_params["collection_id"],
                           request.path_params["style_id"], media_type=STYLE)


TILES = "/collections/{collection_id}/tiles"

routes: list[BaseRoute] = [
    Route("/tileMatrixSets", tile_matrix_sets, methods=["GET"]),
    Route("/tileMatrixSets/{tms_id}", tile_matrix_set, methods=["GET"]),
    Route(TILES, tilesets, methods=["GET"]),
    Route(TILES + "/{tileset_id}", tileset, methods=["GET"]),
    Route(TILES + "/{tileset_id}/tilejson.json", tilejson, methods=["GET"]),
    Route(TILES + "/{tileset_id}/{z}/{x}/{y}", vector_tile, methods=["GET"]),
    Route("/collections/{collection_id}/styles/{style_id}", style, methods=["GET"]),
]

_TILE_QUERY = ["properties", "filter", "filter-lang", "filter-crs"]
OPENAPI: dict[str, Any] = {
    "/tileMatrixSets": {"get": openapi.op("Tile matrix sets (WebMercatorQuad)", "Tiles")},
    "/tileMatrixSets/{tileMatrixSetId}": {"get": openapi.op(
        "A tile matrix set definition (OGC 2D TMS 2.0)", "Tiles", params=["tileMatrixSetId"])},
    "/collections/{collectionId}/tiles": {"get": openapi.op(
        "Tilesets of a collection: vector (features), map/PNG (cubes), both (hybrids)", "Tiles",
        params=["collectionId"])},
    "/collections/{collectionId}/tiles/{tilesetId}": {"get": openapi.op(
        "Tileset metadata (OGC API Tiles)", "Tiles", params=["collectionId", "tilesetId"])},
    "/collections/{collectionId}/tiles/{tilesetId}/tilejson.json": {"get": openapi.op(
        "TileJSON 3.0 of a tileset (vector_layers with field types)", "Tiles",
        params=["collectionId", "tilesetId", *_TILE_QUERY])},
    "/collections/{collectionId}/tiles/{tilesetId}/{z}/{x}/{y}": {"get": openapi.op(
        "A Mapbox vector tile (y may end in .mvt or .pbf); 204 when the tile is empty", "Tiles",
        media=MVT, extra={"responses": {"200": {"description": "MVT", "content": {MVT: {}}},
                             "204": {"description": "empty tile"},
                             "400": {"$ref": "#/components/responses/BadRequest"},
                             "404": {"$ref": "#/components/responses/NotFound"}},
               "parameters": [openapi.parameter(p) for p in ("collectionId", "tilesetId", "z", "x")]
               + [{**openapi.parameter("y"), "schema": {"type": "string", "pattern": r"^[0-9]+(\.mvt|\.pbf)?$"}}]
               + [openapi.parameter(p) for p in _TILE_QUERY]})},
    "/collections/{collectionId}/styles/{styleId}": {"get": openapi.op(
        "MapLibre GL style of a collection (styleId: default)", "Tiles", params=["collectionId", "styleId"],
        media=STYLE)},
}
