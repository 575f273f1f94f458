"""STAC API 1.0 over pgSTAC: collections, items, search, queryables, sortables, transactions.

Each route parses its parameters (api_gateway.stac_params) and makes one call of an `api.*` SQL function
that returns the whole document. The items routes serve every kind of collection: the SQL dispatchers
(api.items_list, api.item_get, ...) hand 'features' and 'hybrid' collections to the features functions.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg.types.json import Jsonb
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import db, openapi, stac_params
from ..auth import role_for
from ..errors import BadRequest
from ..responses import GEOJSON, JSON, SCHEMA_JSON, document


def _path(request: Request, name: str) -> str:
    return str(request.path_params[name])


async def _body_text(request: Request, write: bool = True) -> str:
    """The request body as text for a `%s::jsonb` parameter (PostgreSQL rejects what is not JSON: 400). For a
    write, a missing or wrong token is the 401 before the body is looked at."""
    if write:
        role_for(request, write=True)
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("the request body is empty: send a JSON document")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the request body is not UTF-8 encoded JSON") from None


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await _body_text(request, write=False))
    except json.JSONDecodeError as e:
        raise BadRequest(f"the request body is not valid JSON: {e}") from None


def _count_headers(body: str, count: str | None, start: int | None) -> dict[str, str]:
    """`Prefer: count=...` is answered with Content-Range: items first-last/total (PostgREST's way); start: the
    position of the page's first item (None after a paging token: a keyset page does not know it)."""
    if count is None:
        return {}
    doc = json.loads(body)
    total = doc.get("numberMatched", "*")
    returned = int(doc.get("numberReturned", len(doc.get("features", []))))
    span = f"{start}-{start + returned - 1}" if returned and start is not None else "*"
    return {"Content-Range": f"items {span}/{total}", "Preference-Applied": f"count={count}"}


def _page_start(search: dict[str, Any]) -> int | None:
    """0, or the `offset=` of a features page; None when the page follows a token."""
    if "token" in search:
        return None
    return int(search.get("offset", 0))


async def _search(request: Request, sql: str, args: tuple[Any, ...], search: dict[str, Any]) -> Response:
    search["count"] = stac_params.prefer_count(request)
    body = await db.call(request, sql, (*args, Jsonb(search)))
    headers = _count_headers(body, search["count"], _page_start(search))
    return document(request, body, media_type=GEOJSON, headers=headers)


async def search_get(request: Request) -> Response:
    return await _search(request, "SELECT api.search(%s::jsonb)::text", (),
                         stac_params.search_from_query(request.query_params))


async def search_post(request: Request) -> Response:
    return await _search(request, "SELECT api.search(%s::jsonb)::text", (),
                         stac_params.search_from_body(await _json_body(request)))


def _check_items_collections(query: QueryParams, collection_id: str) -> None:
    """`collections` is an item-search parameter (/search); OGC API Features answers a parameter /items does not
    define with a 400. Naming this very collection is accepted: pystac-client sends ?collections=<id> here."""
    named = stac_params.parse_strings(query.get("collections"), "collections")
    if "collections" in query and named != [collection_id]:
        raise BadRequest(f"collections is a /search parameter: /collections/{collection_id}/items holds the items "
                         f"of {collection_id} only; to search {', '.join(named or ['(none)'])} use "
                         "GET /search?collections=...")


async def items_list(request: Request) -> Response:
    collection_id = _path(request, "collectionId")
    _check_items_collections(request.query_params, collection_id)
    return await _search(request, "SELECT api.items_list(%s, %s::jsonb)::text", (collection_id,),
                         stac_params.search_from_query(request.query_params))


async def item_get(request: Request) -> Response:
    query = {"query": dict(request.query_params.items())}
    body = await db.call(request, "SELECT api.item_get(%s, %s, %s::jsonb)::text",
                         (_path(request, "collectionId"), _path(request, "itemId"), Jsonb(query)))
    return document(request, body, media_type=GEOJSON)


async def collections_list(request: Request) -> Response:
    params = stac_params.collections_from_query(request.query_params)
    return document(request, await db.call(request, "SELECT api.collections_list(%s::jsonb)::text", (Jsonb(params),)))


async def collection_get(request: Request) -> Response:
    query = {"query": dict(request.query_params.items())}
    return document(request, await db.call(request, "SELECT api.collection_get(%s, %s::jsonb)::text",
                                           (_path(request, "collectionId"), Jsonb(query))))


async def queryables(request: Request) -> Response:
    return document(request, await db.call(request, "SELECT api.queryables()::text"), media_type=SCHEMA_JSON)


async def collections_queryables(request: Request) -> Response:
    query = {"query": dict(request.query_params.items())}
    body = await db.call(request, "SELECT api.collections_queryables(%s::jsonb)::text", (Jsonb(query),))
    return document(request, body, media_type=SCHEMA_JSON)


async def collection_queryables(request: Request) -> Response:
    query = {"query": dict(request.query_params.items())}
    body = await db.call(request, "SELECT api.collection_queryables(%s, %s::jsonb)::text",
                         (_path(request, "collectionId"), Jsonb(query)))
    return document(request, body, media_type=SCHEMA_JSON)


async def collection_sortables(request: Request) -> Response:
    query = {"query": dict(request.query_params.items())}
    body = await db.call(request, "SELECT api.collection_sortables(%s, %s::jsonb)::text",
                         (_path(request, "collectionId"), Jsonb(query)))
    return document(request, body, media_type=SCHEMA_JSON)


def _self_href(body: str) -> str | None:
    links = json.loads(body).get("links", [])
    return next((link["href"] for link in links if link.get("rel") == "self"), None)


async def collection_create(request: Request) -> Response:
    body = await db.call(request, "SELECT api.collection_create(%s::jsonb)::text",
                         (await _body_text(request),), write=True)
    href = _self_href(body)
    return document(request, body, status=201, headers={"Location": href} if href else None)


async def items_create(request: Request) -> Response:
    body = await db.call(request, "SELECT api.items_create(%s, %s::jsonb)::text",
                         (_path(request, "collectionId"), await _body_text(request)), write=True)
    href = _self_href(body)
    return document(request, body, media_type=GEOJSON, status=201, headers={"Location": href} if href else None)


async def items_load(request: Request) -> Response:
    body = await db.call(request, "SELECT api.items_load(%s, %s::jsonb)::text",
                         (_path(request, "collectionId"), await _body_text(request)), write=True)
    return document(request, body)


async def _no_content(request: Request, sql: str, args: tuple[Any, ...]) -> Response:
    await db.call(request, sql, args, write=True)
    return Response(status_code=204)


async def collection_write(request: Request) -> Response:
    cid = _path(request, "collectionId")
    if request.method == "DELETE":
        return await _no_content(request, "SELECT api.collection_delete(%s)::text", (cid,))
    sql = ("SELECT api.collection_replace(%s, %s::jsonb)::text" if request.method == "PUT"
           else "SELECT api.collection_patch(%s, %s::jsonb)::text")
    return await _no_content(request, sql, (cid, await _body_text(request)))


async def item_write(request: Request) -> Response:
    cid, iid = _path(request, "collectionId"), _path(request, "itemId")
    if request.method == "DELETE":
        return await _no_content(request, "SELECT api.item_delete(%s, %s)::text", (cid, iid))
    sql = ("SELECT api.item_replace(%s, %s, %s::jsonb)::text" if request.method == "PUT"
           else "SELECT api.item_patch(%s, %s, %s::jsonb)::text")
    return await _no_content(request, sql, (cid, iid, await _body_text(request)))


async def collection(request: Request) -> Response:
    return await (collection_get(request) if request.method == "GET" else collection_write(request))


async def item(request: Request) -> Response:
    return await (item_get(request) if request.method == "GET" else item_write(request))


async def items(request: Request) -> Response:
    return await (items_list(request) if request.method == "GET" else items_create(request))


async def collections(request: Request) -> Response:
    return await (collections_list(request) if request.method == "GET" else collection_create(request))


async def search(request: Request) -> Response:
    return await (search_get(request) if request.method == "GET" else search_post(request))


routes: list[BaseRoute] = [
    Route("/search", search, methods=["GET", "POST"]),
    Route("/queryables", queryables, methods=["GET"]),
    Route("/collection-queryables", collections_queryables, methods=["GET"]),
    Route("/collections", collections, methods=["GET", "POST"]),
    Route("/collections/{collectionId}", collection, methods=["GET", "PUT", "PATCH", "DELETE"]),
    Route("/collections/{collectionId}/queryables", collection_queryables, methods=["GET"]),
    Route("/collections/{collectionId}/sortables", collection_sortables, methods=["GET"]),
    Route("/collections/{collectionId}/bulk_items", items_load, methods=["POST"]),
    Route("/collections/{collectionId}/items", items, methods=["GET", "POST"]),
    Route("/collections/{collectionId}/items/{itemId}", item, methods=["GET", "PUT", "PATCH", "DELETE"]),
]

SEARCH_PARAMS = ["bbox", "intersects", "datetime", "ids", "collections", "limit", "filter", "filter-lang",
                 "filter-crs", "sortby", "fields", "token", "offset"]
ITEM = ["collectionId", "itemId"]
_STRINGS = {"type": "array", "items": {"type": "string"}}
SEARCH_BODY = {"type": "object", "properties": {
    "bbox": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
    "intersects": {"type": "object", "required": ["type"]}, "datetime": {"type": "string"},
    "ids": {"oneOf": [_STRINGS, {"type": "string"}]}, "collections": {"oneOf": [_STRINGS, {"type": "string"}]},
    "limit": {"type": "integer", "minimum": 1},
    "filter-lang": {"type": "string", "enum": ["cql2-json", "cql2-text"]}, "filter-crs": {"type": "string"},
    "token": {"type": "string"}, "conf": {"type": "object"}, "offset": {"type": "integer", "minimum": 0},
    "filter": {"oneOf": [{"type": "object"}, {"type": "string"}]},
    "sortby": {"type": "array", "items": {"type": "object", "required": ["field"]}}, "fields": {"type": "object"}},
    "additionalProperties": False}
_op = openapi.op
OPENAPI: dict[str, Any] = {
    "/search": {
        "get": _op("STAC item search", "STAC", params=SEARCH_PARAMS, media=GEOJSON),
        "post": _op("STAC item search (the body is the search; next/prev links are POST links)", "STAC",
                    body=True, media=GEOJSON, extra={"requestBody": {"required": True, "content": {
                        "application/json": {"schema": SEARCH_BODY}}}}),
    },
    "/queryables": {"get": _op("Queryables for /search filters (JSON Schema)", "STAC", media=SCHEMA_JSON)},
    "/collection-queryables": {
        "get": _op("Queryables for collection search filters (GET /collections?filter=; JSON Schema)", "STAC",
                   media=SCHEMA_JSON),
    },
    "/collections": {
        "get": _op("Collections of every kind (collection search: bbox, datetime, q, filter, sortby, fields)",
                   "STAC", params=["bbox", "datetime", "q", "filter", "filter-lang", "sortby", "fields", "limit",
                                   "offset"], media=JSON),
        "post": _op("Create a STAC collection", "STAC", body=True, write=True, status=201),
    },
    "/collections/{collectionId}": {
        "get": _op("A collection", "STAC", params=["collectionId"]),
        "put": _op("Replace a collection (204)", "STAC", params=["collectionId"], body=True, write=True, status=204),
        "patch": _op("Merge-patch a collection (RFC 7396; 204)", "STAC", params=["collectionId"], body=True,
                     write=True, status=204),
        "delete": _op("Delete a collection and everything in it (204)", "STAC", params=["collectionId"],
                      write=True, status=204),
    },
    "/collections/{collectionId}/queryables": {
        "get": _op("Queryables of a collection (JSON Schema)", "STAC", params=["collectionId"], media=SCHEMA_JSON),
    },
    "/collections/{collectionId}/sortables": {
        "get": _op("Sortables of a collection: the fields sortby accepts on its items (JSON Schema; any other "
                   "field is a 400)", "STAC", params=["collectionId"], media=SCHEMA_JSON),
    },
    "/collections/{collectionId}/bulk_items": {
        "post": _op("Bulk item load, all or nothing: {\"items\": {id: item} | [item], \"method\": insert|upsert}",
                    "STAC", params=["collectionId"], body=True, write=True),
    },
    "/collections/{collectionId}/items": {
        "get": _op("Items (STAC) or features (features/hybrid collections; these page by key: follow the "
                   "next/prev links, whose token names the last/first feature; offset=n is accepted too)", "STAC",
                   params=["collectionId", *(p for p in SEARCH_PARAMS if p != "collections")],
                   media=GEOJSON),
        "post": _op("Add an item or an ItemCollection (201)", "STAC", params=["collectionId"], body=True,
                    write=True, media=GEOJSON, status=201),
    },
    "/collections/{collectionId}/items/{itemId}": {
        "get": _op("An item", "STAC", params=ITEM, media=GEOJSON),
        "put": _op("Replace an item (204)", "STAC", params=ITEM, body=True, write=True, status=204),
        "patch": _op("Merge-patch an item (RFC 7396; 204)", "STAC", params=ITEM, body=True, write=True, status=204),
        "delete": _op("Delete an item (204; idempotent)", "STAC", params=ITEM, write=True, status=204),
    },
}
