"""STAC request parameters: GET query strings and POST bodies, both into the STAC POST-search shape.

The SQL functions (api.search, api.items_list, api.collections_list) take that one JSON value. GET requests
also pass ``query``, every raw query parameter as a string, which the next/prev links repeat (and which the
features side reads for its own parameters); ``method`` says which kind of paging link to build.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request

from . import params
from .errors import BadRequest

GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                  "GeometryCollection"}
POST_KEYS = {"bbox", "intersects", "datetime", "ids", "collections", "limit", "filter", "filter-lang",
             "filter-crs", "sortby", "fields", "token", "conf", "offset"}


def parse_intersects(value: Any) -> dict[str, Any] | None:
    """A GeoJSON geometry object (GET: its JSON text), checked for shape: a malformed one is a 400 saying where."""
    if value is None or value == "":
        return None
    geom = params.parse_json(value, "intersects") if isinstance(value, str) else value
    if not isinstance(geom, dict) or not isinstance(geom.get("type"), str) or geom["type"] not in GEOMETRY_TYPES:
        raise BadRequest("intersects must be a GeoJSON geometry object, e.g. "
                         '{"type": "Point", "coordinates": [7.1, 50.7]}')
    check_geometry(geom, "intersects")
    return geom


# Nesting depth of 'coordinates' per type, and what each level needs (RFC 7946 section 3.1).
_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


def check_geometry(geom: Any, where: str) -> None:
    """RFC 7946 shape of a geometry: positions of 2 or 3 finite numbers, lines of 2+ positions, linear rings
    of 4+ positions whose last equals the first, GeometryCollection members that are geometries."""
    if not isinstance(geom, dict) or not isinstance(geom.get("type"), str) or geom["type"] not in GEOMETRY_TYPES:
        raise BadRequest(f"{where} is not a GeoJSON geometry (a type of {', '.join(sorted(GEOMETRY_TYPES))})")
    kind = geom["type"]
    if kind == "GeometryCollection":
        members = geom.get("geometries")
        if not isinstance(members, list):
            raise BadRequest(f"{where}: a GeometryCollection needs a 'geometries' list")
        for i, member in enumerate(members):
            check_geometry(member, f"{where}.geometries[{i}]")
        return
    coords = geom.get("coordinates")
    if not isinstance(coords, list):
        raise BadRequest(f"{where}: a {kind} needs a 'coordinates' array")
    _check_coordinates(coords, _DEPTH[kind], kind, f"{where}.coordinates")


def _check_coordinates(coords: Any, depth: int, kind: str, where: str) -> None:
    if not isinstance(coords, list):
        raise BadRequest(f"{where} must be an array ({kind} coordinates are nested {_DEPTH[kind] + 1} deep)")
    if depth == 0:
        if coords == [] and kind == "Point":
            return  # an empty point: matches nothing
        if len(coords) not in (2, 3) or not all(
                isinstance(n, (int, float)) and not isinstance(n, bool) and math.isfinite(n) for n in coords):
            raise BadRequest(f"{where} must be a position of 2 or 3 numbers (longitude, latitude[, height]), "
                             f"got {json.dumps(coords)[:80]}")
        return
    for i, part in enumerate(coords):
        _check_coordinates(part, depth - 1, kind, f"{where}[{i}]")
    line = kind in ("LineString", "MultiLineString") and depth == 1
    ring = kind in ("Polygon", "MultiPolygon") and depth == 1
    if line and len(coords) < 2:
        raise BadRequest(f"{where}: a line needs at least 2 positions, got {len(coords)}")
    if ring and (len(coords) < 4 or coords[0][:2] != coords[-1][:2]):
        raise BadRequest(f"{where}: a linear ring needs at least 4 positions and must end where it starts "
                         "(RFC 7946 3.1.6)")


_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_datetime(value: Any) -> str | None:
    """STAC datetime: an RFC 3339 date-time with a time zone, or an interval 'a/b' ('..' or '' = open).
    A date alone (1985-04-12) is a 400, as STAC API says (stac-api-validator checks it)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest("datetime must be a string: an RFC 3339 instant or interval 'start/end'")
    for part in value.strip().split("/"):
        if part.strip() not in ("", "..") and not _INSTANT.match(part.strip()):
            raise BadRequest(f"datetime {part!r} is not an RFC 3339 date-time with a time zone "
                             "(e.g. 2024-06-01T00:00:00Z; a whole day is 2024-06-01T00:00:00Z/2024-06-01T23:59:59Z); "
                             "intervals are 'start/end', '..' for an open end")
    return params.parse_datetime(value)


def normalize_cql2(node: Any) -> Any:
    """Accept the pre-1.0 cql2-json form of BETWEEN ({"args": [prop, [low, high]]}) some clients still send."""
    if isinstance(node, list):
        return [normalize_cql2(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: normalize_cql2(v) for k, v in node.items()}
    args = out.get("args")
    if (str(out.get("op", "")).lower() == "between" and isinstance(args, list) and len(args) == 2
            and isinstance(args[1], list) and len(args[1]) == 2):
        out["args"] = [args[0], *args[1]]
    return out


DEFAULT_FIELDS = ["type", "stac_version", "id", "collection", "geometry", "bbox", "links", "assets",
                  "properties.datetime"]
ALWAYS_FIELDS = ["id", "collection", "type", "links"]


def parse_fields(value: Any) -> dict[str, list[str]] | None:
    """The fields extension, normalised the way the STAC API spec recommends.

    Nothing to include or exclude: the whole item. Only `exclude`: the whole item minus those. `include`
    present but empty or null, with `exclude`: the default set minus those. `include`: those fields plus
    id, collection, type and links; a field both included and excluded (or excluded with an included
    sub-field, e.g. -properties,+properties.eo:cloud_cover) is included.
    """
    include_given = isinstance(value, dict) and "include" in value
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if v is not None}
    fields = params.parse_fields(value)
    if fields is None or not (fields["include"] or fields["exclude"]):
        return None
    include, exclude = fields["include"], fields["exclude"]
    if not include and include_given:
        include = [f for f in DEFAULT_FIELDS if f not in exclude]
    if include:
        include = include + [f for f in ALWAYS_FIELDS if f not in include]
        exclude = [e for e in exclude if not any(i == e or i.startswith(e + ".") for i in include)]
    return {"include": include, "exclude": exclude}


def parse_strings(value: Any, name: str) -> list[str] | None:
    """A comma-separated string (GET) or a list of strings (POST)."""
    if value is None:
        return None
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be a list of strings")
    if not isinstance(value, (str, list)):
        raise BadRequest(f"{name} must be a list of strings")
    return params.parse_list(value)


def parse_offset(value: Any) -> int | None:
    """offset: how many matches to skip before the page (0 or absent: none). The page's next/prev links carry a
    token instead, which continues from the page's last/first item."""
    if value is None:
        return None
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise BadRequest(f"offset must be a non-negative integer, got {value!r}")
    n = int(value)
    if n > 10**12:
        raise BadRequest(f"offset must be a non-negative integer of at most 12 digits, got {value!r}")
    return n or None


def _common(get: Any) -> dict[str, Any]:
    """The members GET and POST share, read with `get(name)`; None values are left out."""
    if get("bbox") not in (None, "", []) and get("intersects") not in (None, ""):
        raise BadRequest("use bbox or intersects, not both")
    lang, crs = get("filter-lang"), get("filter-crs")
    for name, value in (("filter-lang", lang), ("filter-crs", crs), ("token", get("token"))):
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{name} must be a string")
    out = {
        "bbox": params.parse_bbox(get("bbox")),
        "intersects": parse_intersects(get("intersects")),
        "datetime": parse_datetime(get("datetime")),
        "ids": parse_strings(get("ids"), "ids"),
        "collections": parse_strings(get("collections"), "collections"),
        "limit": params.parse_limit(get("limit")),
        "filter": params.parse_filter(normalize_cql2(get("filter")), lang, crs),
        "sortby": params.parse_sortby(get("sortby")),
        "fields": parse_fields(get("fields")),
        "token": get("token") or None,
        "offset": parse_offset(get("offset")),
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
    nulls = sorted(k for k, v in body.items() if v is None)
    if nulls:  # as stac-api-validator expects ({"fields": null} is a 400) and the STAC API schemas say
        raise BadRequest(f"{', '.join(nulls)}: null is no value here; leave the member out")
    bbox = body.get("bbox")
    if bbox is not None and (not isinstance(bbox, list) or not all(
            isinstance(n, (int, float)) and not isinstance(n, bool) for n in bbox)):
        raise BadRequest(f"bbox must be an array of 4 or 6 numbers in a POST body, got {json.dumps(bbox)[:80]}")
    if "fields" in body and not isinstance(body["fields"], dict):
        raise BadRequest('fields must be an object: {"include": [...], "exclude": [...]}')
    if isinstance(body.get("limit"), bool) or not isinstance(body.get("limit", 1), (int, float, str)):
        raise BadRequest(f"limit must be a positive integer, got {body.get('limit')!r}")
    if isinstance(body.get("limit"), str):
        _check_int(body["limit"], "limit")
    out = _common(body.get)
    out["method"] = "POST"
    return out


COLLECTIONS_PARAMS = {"bbox", "datetime", "q", "filter", "filter-lang", "filter-crs", "sortby", "fields", "limit",
                      "offset", "f"}


def collections_from_query(query: QueryParams) -> dict[str, Any]:
    """GET /collections (collection search: bbox, datetime, q, filter, sortby, fields, limit, offset)."""
    params.reject_unknown(query, COLLECTIONS_PARAMS, "GET /collections (collection search)")
    if query.get("limit") is not None:
        _check_int(query["limit"], "limit")
    out: dict[str, Any] = {
        "bbox": params.parse_bbox(query.get("bbox")),
        "datetime": parse_datetime(query.get("datetime")),
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
