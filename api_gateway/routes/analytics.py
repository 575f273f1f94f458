"""Routes: raster analytics (time series, summary statistics, zonal statistics per feature).

The route validates the parameters, asks the database where the cube is and which zones to aggregate over
(`api.analytics_source`), and has the raster worker do the pixel math; its answer (or its 400/413) goes back
as it is. JSON by default, CSV with `f=csv` or `Accept: text/csv`.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from raster_worker import stats, timebins

from .. import config, db, openapi, params, responses, stac_params
from ..errors import APIError, BadRequest
from ..openapi import op

TIMEOUT = httpx.Timeout(600.0, connect=5.0)
_client: httpx.AsyncClient | None = None
COMMON = {"bbox", "layers", "expression", "datetime", "groupby", "filter", "filter-lang", "mask", "f"}
SERIES_KEYS = COMMON | {"aggregation", "resolution"}
SUMMARY_KEYS = COMMON | {"bins", "percentiles"}
MAX_BINS = 1000


def worker() -> httpx.AsyncClient:
    """One HTTP client (connection pool) for all calls to the raster worker."""
    global _client
    if _client is None:
        _client = httpx.AsyncClient(base_url=config.RASTER_WORKER_URL, timeout=TIMEOUT)
    return _client


def _bbox(value: Any) -> list[float] | None:
    box = params.parse_bbox(value)
    if box is None:
        return None
    if len(box) == 6:
        box = [box[0], box[1], box[3], box[4]]
    if box[0] >= box[2] or box[1] >= box[3]:
        raise BadRequest(f"bbox {box} is empty or inverted: it needs minx < maxx and miny < maxy "
                         "(boxes across the antimeridian are not supported here)")
    return box


def _datetime(value: Any) -> list[str | None]:
    """datetime read by the rules of /items (stac_params.parse_datetime), as [start, end] (None: open)."""
    text = stac_params.parse_datetime(value)
    if text is None:
        return [None, None]
    if "/" not in text:
        return [text, text]
    start, end = (p.strip() for p in text.split("/"))
    return [None if start in ("", "..") else start, None if end in ("", "..") else end]


def _aggregation(value: Any) -> list[str]:
    names = params.parse_list(value) or ["mean"]
    try:
        return list(dict.fromkeys(stats.check_aggregation(n.lower()) for n in names))
    except stats.StatError as e:
        raise BadRequest(str(e)) from None


def _resolution(value: Any) -> str:
    try:
        return timebins.parse_duration(str(value or "P1D")).iso
    except timebins.DurationError as e:
        raise BadRequest(str(e)) from None


def _numbers(value: Any, name: str) -> list[float]:
    items = params.parse_list(value) if isinstance(value, str) else value
    try:
        return [float(v) for v in items or []]
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a list of numbers, got {value!r}") from None


def _bins(value: Any) -> int | list[float]:
    """bins=N (equal-width bins between min and max) or bins=e0,e1,... (explicit increasing edges)."""
    if value is None or value == "":
        return 10
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        n = int(value)
        if not 1 <= n <= MAX_BINS:
            raise BadRequest(f"bins must be between 1 and {MAX_BINS}, got {n}")
        return n
    edges = _numbers(value, "bins")
    if len(edges) < 2 or len(edges) > MAX_BINS + 1 or any(b <= a for a, b in itertools.pairwise(edges)):
        raise BadRequest(f"bins as edges must be 2 to {MAX_BINS + 1} strictly increasing numbers, got {value!r}")
    return edges


def _percentiles(value: Any) -> list[float] | None:
    if value is None or value == "":
        return None
    qs = _numbers(value, "percentiles")
    if not qs or any(not 0 <= q <= 100 for q in qs):
        raise BadRequest(f"percentiles must be numbers between 0 and 100, got {value!r}")
    return qs


def _format(request: Request, value: Any) -> str:
    if value in ("csv", "json"):
        return str(value)
    if value not in (None, ""):
        raise BadRequest(f"f={value!r} is not a supported format: use json or csv")
    return "csv" if "text/csv" in request.headers.get("accept", "") else "json"


def _groupby(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if value != "feature":
        raise BadRequest(f"groupby={value!r} is not supported: use groupby=feature (hybrid collections)")
    return "feature"


async def _inputs(request: Request, summary: bool) -> dict[str, Any]:
    """Query string (GET) or JSON body (POST) -> one dict of raw values, unknown names rejected."""
    allowed = SUMMARY_KEYS if summary else SERIES_KEYS
    if request.method == "GET":
        params.reject_unknown(request.query_params, allowed, request.url.path)
        return dict(request.query_params)
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    unknown = sorted(set(body) - allowed - {"intersects"})
    if unknown:
        raise BadRequest(f"unknown member(s) in the request body: {', '.join(unknown)}; "
                         f"allowed: {', '.join(sorted(allowed | {'intersects'}))}")
    return {**body, "f": body.get("f", request.query_params.get("f"))}


def _intersects(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = params.parse_json(value, "intersects")
    if not isinstance(value, dict) or "type" not in value:
        raise BadRequest("intersects must be a GeoJSON geometry object (type, coordinates) in WGS84")
    return value


def parse(request: Request, raw: dict[str, Any], summary: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Raw inputs -> (what the database needs for the zones, what the worker needs for the pixels)."""
    zone_params = {"bbox": _bbox(raw.get("bbox")), "intersects": _intersects(raw.get("intersects")),
                   "groupby": _groupby(raw.get("groupby")),
                   "filter": params.parse_filter(raw.get("filter"), raw.get("filter-lang"))}
    work: dict[str, Any] = {
        "layers": params.parse_list(raw.get("layers")) or [],
        "expression": (str(raw["expression"]).strip() or None) if raw.get("expression") is not None else None,
        "datetime": _datetime(raw.get("datetime")),
        "groupby": zone_params["groupby"],
        "mask": str(raw.get("mask") or "auto").strip(),
        "format": _format(request, raw.get("f")),
    }
    if summary:
        work["bins"] = _bins(raw.get("bins"))
        if (qs := _percentiles(raw.get("percentiles"))) is not None:
            work["percentiles"] = qs
    else:
        work["aggregation"] = _aggregation(raw.get("aggregation"))
        work["resolution"] = _resolution(raw.get("resolution"))
    return {k: v for k, v in zone_params.items() if v is not None}, work


def default_layers(source: dict[str, Any]) -> list[str]:
    """No layers= and no expression=: the cube's first index layer, else its first band (so that the bare
    links in the collection document answer something useful)."""
    for kind in ("index", "band"):
        for layer in source.get("layers", []):
            if layer.get("kind") == kind:
                return [str(layer["name"])]
    raise BadRequest("name the layers to aggregate (layers=NDVI,EVI) and/or a band-math expression=")


def _links(request: Request, collection_id: str) -> list[dict[str, str]]:
    base = db.base_url(request)
    return [{"rel": "self", "href": str(request.url), "type": "application/json"},
            {"rel": "collection", "href": f"{base}collections/{collection_id}", "type": "application/json"}]


async def _ask_worker(path: str, body: dict[str, Any]) -> httpx.Response:
    try:
        return await worker().post(path, content=json.dumps(body), headers={"content-type": "application/json"})
    except httpx.TimeoutException:
        raise APIError(504, "the raster worker did not answer in time") from None
    except httpx.HTTPError as e:
        raise APIError(502, f"the raster worker is not reachable: {e.__class__.__name__}") from None


async def _aggregate(request: Request, summary: bool) -> Response:
    collection_id = request.path_params["collectionId"]
    zone_params, work = parse(request, await _inputs(request, summary), summary)
    text = await db.call(request, "SELECT api.analytics_source(%s, %s::jsonb)::text",
                         (collection_id, db.jsonb(zone_params)))
    source = json.loads(text)
    if not work["layers"] and not work["expression"]:
        work["layers"] = default_layers(source)
    work.update(collection=collection_id, zones=source.pop("zones"), source=source,
                links=_links(request, collection_id))
    answer = await _ask_worker("/analytics/summary" if summary else "/analytics/time-series", work)
    media = answer.headers.get("content-type", responses.JSON)
    if answer.status_code >= 500:
        raise APIError(502, "the raster worker failed on this request")
    return responses.document(request, answer.content, media_type=media, status=answer.status_code)


async def time_series(request: Request) -> Response:
    return await _aggregate(request, summary=False)


async def summary(request: Request) -> Response:
    return await _aggregate(request, summary=True)


routes: list[BaseRoute] = [
    Route("/collections/{collectionId}/aggregate/time-series", time_series, methods=["GET", "POST"]),
    Route("/collections/{collectionId}/aggregate/summary", summary, methods=["GET", "POST"]),
]

_SERIES_PARAMS = ["collectionId", "bbox", "layers", "expression", "datetime", "aggregation", "resolution",
                  "groupby", "filter", "filter-lang", "mask", "f"]
_SUMMARY_PARAMS = ["collectionId", "bbox", "layers", "expression", "datetime", "bins", "percentiles",
                   "groupby", "filter", "filter-lang", "mask", "f"]
_TOO_LARGE = {"413": {"description": "The request would read or hold more values than the configured limit",
                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
_CSV: dict[str, Any] = {"text/csv": {}}


def _op(summary_text: str, names: list[str], body: bool = False) -> dict[str, Any]:
    operation = op(summary_text, "Analytics", params=None if body else names, body=body)
    operation["responses"].update(_TOO_LARGE)
    operation["responses"]["200"]["content"].update(_CSV)
    if body:
        operation["parameters"] = op("", "", params=["collectionId"])["parameters"]
        members = {name: openapi.parameter(name)["schema"] for name in names if name != "collectionId"}
        members["intersects"] = {"type": "object", "required": ["type"]}
        operation["requestBody"]["content"]["application/json"]["schema"] = {
            "type": "object", "properties": members, "additionalProperties": False}
    return operation


OPENAPI: dict[str, Any] = {
    "/collections/{collectionId}/aggregate/time-series": {
        "get": _op("Time series of layer statistics over a bbox, per calendar step (resolution=P1D, P1W, P1M, ...)",
                   _SERIES_PARAMS),
        "post": _op("Time series of layer statistics over a GeoJSON geometry (intersects) or per feature",
                    _SERIES_PARAMS, body=True),
    },
    "/collections/{collectionId}/aggregate/summary": {
        "get": _op("Summary statistics, percentiles and histogram of layers over a bbox and datetime range",
                   _SUMMARY_PARAMS),
        "post": _op("Summary statistics over a GeoJSON geometry (intersects) or per feature", _SUMMARY_PARAMS,
                    body=True),
    },
}
