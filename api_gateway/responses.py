"""Responses: pass the database's document through, with ETag, Cache-Control and conditional GETs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from . import config

GEOJSON = "application/geo+json"
JSON = "application/json"
SCHEMA_JSON = "application/schema+json"
MVT = "application/vnd.mapbox-vector-tile"
PNG = "image/png"


def etag_for(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def document(request: Request, body: str | bytes | None, media_type: str = JSON, status: int = 200,
             headers: Mapping[str, str] | None = None, max_age: int | None = None) -> Response:
    """A response for a document the database (or the raster worker) built.

    GET/HEAD answers carry a strong ETag and Cache-Control; a matching If-None-Match gets a 304.
    """
    data = b"" if body is None else body.encode() if isinstance(body, str) else body
    out = dict(headers or {})
    if request.method in ("GET", "HEAD") and status == 200:
        tag = etag_for(data)
        out["ETag"] = tag
        out.setdefault("Cache-Control", f"public, max-age={config.CACHE_MAX_AGE if max_age is None else max_age}")
        inm = request.headers.get("if-none-match")
        if inm and (inm.strip() == "*" or tag in [t.strip() for t in inm.split(",")]):
            return Response(status_code=304, headers=out)
    return Response(data, status_code=status, media_type=media_type, headers=out)
