"""Landing page, conformance, the OpenAPI document and its HTML page."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from .. import db, openapi
from ..responses import document


async def landing(request: Request) -> Response:
    return document(request, await db.call(request, "SELECT api.landing()::text"))


async def conformance(request: Request) -> Response:
    return document(request, await db.call(request, "SELECT api.conformance()::text"))


async def _openapi(request: Request) -> dict[str, Any]:
    """The static document of the route modules plus each feature collection's items path with its queryables."""
    from . import MODULES

    per_collection = json.loads(await db.call(request, "SELECT api.features_openapi_parameters()::text"))
    return openapi.build(db.base_url(request), MODULES, per_collection)


async def service_desc(request: Request) -> Response:
    return document(request, json.dumps(await _openapi(request)),
                    media_type="application/vnd.oai.openapi+json;version=3.0")


async def service_doc(request: Request) -> Response:
    return HTMLResponse(openapi.to_html(await _openapi(request)))


async def healthz(request: Request) -> Response:
    return document(request, await db.call(request, "SELECT json_build_object('status', 'ok')::text"),
                    max_age=0)


routes: list[BaseRoute] = [
    Route("/", landing, methods=["GET"]),
    Route("/conformance", conformance, methods=["GET"]),
    Route("/api", service_desc, methods=["GET"]),
    Route("/api.html", service_doc, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
]

OPENAPI: dict[str, Any] = {
    "/": {"get": openapi.op("Landing page (STAC root catalog)", "Core")},
    "/conformance": {"get": openapi.op("Conformance classes", "Core")},
    "/api": {"get": openapi.op("This OpenAPI document", "Core",
                               media="application/vnd.oai.openapi+json;version=3.0")},
    "/api.html": {"get": openapi.op("API documentation (HTML)", "Core", media="text/html")},
    "/healthz": {"get": openapi.op("Liveness: the gateway reaches the database", "Core")},
}
