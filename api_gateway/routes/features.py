"""Feature collections: upload (create or replace a collection from a GeoJSON FeatureCollection) and aggregations.

The items, item and queryables routes of feature collections are the STAC module's routes; its SQL dispatchers
hand 'features' and 'hybrid' collections to api.features_list / api.feature_get / api.features_queryables.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from psycopg.types.json import Jsonb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import db, openapi, params, stac_params
from ..auth import role_for
from ..errors import BadRequest
from ..responses import document

UPLOAD_PARAMS = {"crs", "force", "datetime_property", "end_datetime_property"}


def _filter_params(request: Request) -> dict[str, Any]:
    """bbox, datetime and filter parsed as /items parses them (stac_params: a datetime needs a time zone);
    every raw query parameter under "query" (the SQL checks the rest)."""
    q = request.query_params
    return {
        "bbox": params.parse_bbox(q.get("bbox")),
        "datetime": stac_params.parse_datetime(q.get("datetime")),
        "filter": params.parse_filter(stac_params.normalize_cql2(q.get("filter")), q.get("filter-lang"),
                                      q.get("filter-crs")),
        "query": dict(q.items()),
    }


async def aggregate(request: Request) -> Response:
    body = await db.call(request, "SELECT api.features_aggregate(%s, %s::jsonb)::text",
                         (request.path_params["collectionId"], Jsonb(_filter_params(request))))
    return document(request, body)


def _upload_params(request: Request) -> dict[str, Any]:
    params.reject_unknown(request.query_params, UPLOAD_PARAMS, "features:upload")
    out: dict[str, Any] = {k: v for k, v in request.query_params.items() if k != "force"}
    force = request.query_params.get("force", "false").lower()
    if force not in ("true", "false", "1", "0"):
        raise BadRequest(f"force must be true or false, got {force!r}")
    out["force"] = force in ("true", "1")
    return out


async def upload(request: Request) -> Response:
    role_for(request, write=True)  # 401 before the body is read
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"the body is not valid JSON: {e}") from None
    doc = await db.call(request, "SELECT api.features_upload(%s, %s::jsonb, %s::jsonb)::text",
                        (request.path_params["collectionId"], Jsonb(body), Jsonb(_upload_params(request))),
                        write=True)
    location = db.base_url(request) + "collections/" + quote(request.path_params["collectionId"], safe="")
    return document(request, doc, status=201, headers={"Location": location})


routes: list[BaseRoute] = [
    Route("/collections/{collectionId}/aggregate", aggregate, methods=["GET"]),
    Route("/collections/{collectionId}/features:upload", upload, methods=["POST"]),
]

OPENAPI: dict[str, Any] = {
    "/collections/{collectionId}/aggregate": {
        "get": openapi.op("Property aggregations of a feature collection: groupby=crop&metrics=count,sum(area),"
                          "avg(ph),min(x),max(x), honouring bbox, datetime and filter", "Features",
                          params=["collectionId", "groupby", "metrics", "bbox", "datetime", "filter",
                                  "filter-lang"])},
    "/collections/{collectionId}/features:upload": {
        "post": openapi.op("Create (force=true: replace) a feature collection from a GeoJSON FeatureCollection, "
                           "in one transaction; crs=EPSG:n (or the body's crs member) is the source CRS",
                           "Features", params=["collectionId", "crs", "force", "datetime_property"],
                           body=True, write=True, status=201)},
}
