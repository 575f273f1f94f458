"""STAC request parameters: GET query strings and POST bodies, both into the STAC POST-search shape.

The SQL functions (api.search, api.items_list, api.collections_list) take that one JSON value. GET requests
also pass ``query``, every raw query parameter as a string, which the next/prev links repeat (and which the
features side reads for its own parameters); ``method`` says which kind of paging link to build.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request

from . import params
from .errors import BadRequest

GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                  "GeometryCollection"}
POST_KEYS = {"bbox", "intersects", "datetime", "ids", "collections", "limit", "filter", "filter-lang",
             "filter-crs", "sortby", "fields", "token", "conf"}


def parse_intersects(value: Any) -> dict[str, Any] | None:
    """A GeoJSON geometry object (GET: its JSON text)."""
    if value is None or value == "":
        return None
    geom = params.parse_json(value, "intersects") if isinstance(value, str) else value
    if not isinstance(geom, dict) or geom.get("type") not in GEOMETRY_TYPES:
        raise BadRequest("intersects must be a GeoJSON geometry object, e.g. "
                         '{"type": "Point", "coordinates": [7.1, 50.7]}')
    if geom["type"] == "GeometryCollection":
        if not isinstance(geom.get("geometries"), list):
            raise BadRequest("intersects: a GeometryCollection needs a 'geometries' list")
    elif not isinstance(geom.get("coordinates"), list):
        raise BadRequest(f"intersects: a {geom['type']} needs a 'coordinates' array")
    return geom


def parse_strings(value: Any, name: str) -> list[str] | None:
    """A comma-separated string (GET) or a list of strings (POST)."""
    if value is None:
        return None
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be a list of strings")
    if not isinstance(value, (str, list)):
        raise BadRequest(f"{name} must be a list of strings")
    return params.parse_list(value)


def _common(get: Any) -> dict[str, Any]:
    """The members GET and POST share, read with `get(name)`; None values are left out."""
    if get("bbox") not in (None, "", []) and get("intersects") not in (None, ""):
        raise BadRequest("use bbox or intersects, not both")
    datetime = get("datetime")
    if datetime is not None and not isinstance(datetime, str):
        raise BadRequest("datetime must be a string: an RFC 3339 instant or interval 'start/end'")
    lang, crs = get("filter-lang"), get("filter-crs")
    for name, value in (("filter-lang", lang), ("filter-crs", crs), ("token", get("token"))):
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{name} must be a string")
    out = {
        "bbox": params.parse_bbox(get("bbox")),
        "intersects": parse_intersects(get("intersects")),
        "datetime": params.parse_datetime(datetime),
        "ids": parse_strings(get("ids"), "ids"),
        "collections": parse_strings(get("collections"), "collections"),
        "limit": params.parse_limit(get("limit")),
        "filter": params.parse_filter(get("filter"), lang, crs),
        "sortby": params.parse_sortby(get("sortby")),
        "fields": params.parse_fields(get("fields")),
        "token": get("token") or None,
    }
    if out["filter"] is not None:
        out["filter-lang"] = "cql2-json"
    return {k: v for k, v in out.items() if v is not None}


def search_from_query(query: QueryParams) -> dict[str, Any]:
    """GET /search and GET /collections/{id}/items parameters."""
    if query.get("limit") is not None and isinstance(query.get("limit"), str):
        _check_int(query["limit"], "limit")
    out = _common(query.get)
    out["method"] = "GET"
    out["query"] = {k: v for k, v in query.items() if k != "token"}
    return out


def search_from_body(body: Any) -> dict[str, Any]:
    """POST /search body."""
    if not isinstance(body, dict):
        raise BadRequest("the search body must be a JSON object")
    if "query" in body:
        raise BadRequest("the query extension is not supported: use filter (CQL2)")
    unknown = sorted(set(body) - POST_KEYS)
    if unknown:
        raise BadRequest(f"unknown search member(s): {', '.join(unknown)}; allowed: {', '.join(sorted(POST_KEYS))}")
    if isinstance(body.get("limit"), bool) or not isinstance(body.get("limit", 1), (int, float, str)):
        raise BadRequest(f"limit must be a positive integer, got {body.get('limit')!r}")
    if isinstance(body.get("limit"), str):
        _check_int(body["limit"], "limit")
    out = _common(body.get)
    out["method"] = "POST"
    return out


def collections_from_query(query: QueryParams) -> dict[str, Any]:
    """GET /collections (collection search: bbox, datetime, q, filter, sortby, fields, limit, offset)."""
    if query.get("limit") is not None:
        _check_int(query["limit"], "limit")
    out: dict[str, Any] = {
        "bbox": params.parse_bbox(query.get("bbox")),
        "datetime": params.parse_datetime(query.get("datetime")),
        "q": params.parse_list(query.get("q")),
        "filter": params.parse_filter(query.get("filter"), query.get("filter-lang"), query.get("filter-crs")),
        "sortby": params.parse_sortby(query.get("sortby")),
        "fields": params.parse_fields(query.get("fields")),
        "limit": params.parse_limit(query.get("limit")),
        "offset": _check_int(query.get("offset", "0"), "offset", minimum=0),
    }
    out = {k: v for k, v in out.items() if v is not None}
    out["query"] = {k: v for k, v in query.items() if k != "offset"}
    return out


def _check_int(value: str, name: str, minimum: int = 1) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be an integer, got {value!r}") from None
    if n < minimum:
        raise BadRequest(f"{name} must be at least {minimum}, got {n}")
    return n


def prefer_count(request: Request) -> str | None:
    """`Prefer: count=exact|planned|estimated` (PostgREST's header) -> 'exact' or 'planned'."""
    for part in request.headers.get("prefer", "").replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "count":
            value = value.strip().lower()
            if value == "exact":
                return "exact"
            if value in ("planned", "estimated"):
                return "planned"
    return None
