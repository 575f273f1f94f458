"""Routes: OGC API Tiles (vector tiles, tileset lists and metadata, tile matrix sets), TileJSON, MapLibre styles.

Each route calls one SQL function; a vector tile is `api.features_tile(...)`, built entirely in PostGIS.
Raster PNG tiles (`.../WebMercatorQuad/{z}/{x}/{y}.png`) belong to the raster module, matched before this one.
"""

from __future__ import annotations

import gzip
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from psycopg import sql
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import config, db, openapi, params
from ..errors import BadRequest, NotFound
from ..responses import JSON, MVT, document

TILE_PARAMS = {"properties", "filter", "filter-lang", "filter-crs", "f"}
TILE_SUFFIXES = ("", ".mvt", ".pbf")
STYLE = "application/vnd.mapbox.style+json"


def tile_params(request: Request) -> dict[str, Any]:
    """The tile query (properties, filter) as the JSON value the SQL functions take."""
    query = request.query_params
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
    z, x, y = tile_address(request)
    query = tile_params(request) | {"tileset": request.path_params["tileset_id"]}
    body = await db.call(request, "SELECT api.features_tile(%s, %s, %s, %s, %s::jsonb)",
                         (request.path_params["collection_id"], z, x, y, db.jsonb(query)))
    if not body:
        # An empty tile: 204 No Content (MapLibre and OpenLayers draw nothing), cacheable like any tile.
        return Response(status_code=204, headers={"Cache-Control": f"public, max-age={config.CACHE_MAX_AGE}"})
    data, headers = await compressed(request, bytes(body))
    return document(request, data, media_type=MVT, headers=headers)


async def compressed(request: Request, body: bytes) -> tuple[bytes, dict[str, str]]:
    """A tile gzipped at level 1 when the client accepts it: 2x faster than the gateway's level 5 for a
    tile about 10 % larger (the GZip middleware leaves responses that carry a Content-Encoding alone)."""
    if len(body) < 1024 or "gzip" not in request.headers.get("accept-encoding", ""):
        return body, {"Vary": "Accept-Encoding"}
    if len(body) < 128 * 1024:
        data = gzip.compress(body, compresslevel=1, mtime=0)
    else:   # big tiles: off the event loop
        data = await anyio.to_thread.run_sync(lambda: gzip.compress(body, compresslevel=1, mtime=0))
    return data, {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}


async def tilejson(request: Request) -> Response:
    query = tile_params(request)
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
        params=["collectionId", "tilesetId", "z", "x", "y", *_TILE_QUERY], media=MVT,
        extra={"responses": {"200": {"description": "MVT", "content": {MVT: {}}},
                             "204": {"description": "empty tile"},
                             "400": {"$ref": "#/components/responses/BadRequest"},
                             "404": {"$ref": "#/components/responses/NotFound"}}})},
    "/collections/{collectionId}/styles/{styleId}": {"get": openapi.op(
        "MapLibre GL style of a collection (styleId: default)", "Tiles", params=["collectionId", "styleId"],
        media=STYLE)},
}
