"""The OpenAPI 3.0 document, assembled from the `OPENAPI` path items each route module declares."""

from __future__ import annotations

import html
from typing import Any

from . import __doc__ as summary

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "description"],
    "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
}


def build(base_url: str, modules: list[Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for module in modules:
        for path, item in getattr(module, "OPENAPI", {}).items():
            paths.setdefault(path, {}).update(item)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Spatio-Temporal API",
            "version": "0.1.0",
            "description": (summary or "").strip() + " Every path is served on the legacy surface (`/`) "
            "and on `/api/v2/`.",
            "license": {"name": "MIT"},
        },
        "servers": [{"url": base_url.rstrip("/") or "/"}],
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "responses": {
                name: {"description": name,
                       "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                for name in ("BadRequest", "NotFound", "Unauthorized", "Conflict")
            },
        },
    }


def op(summary: str, tag: str, *, params: list[str] | None = None, body: bool = False, write: bool = False,
       media: str = "application/json", extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A compact operation object: a summary, named parameters, the usual error responses."""
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {
            "200": {"description": "OK", "content": {media: {}}},
            "400": {"$ref": "#/components/responses/BadRequest"},
            "404": {"$ref": "#/components/responses/NotFound"},
        },
    }
    if params:
        operation["parameters"] = [
            {"name": p, "in": "path" if p.endswith("Id") or p in ("z", "x", "y", "tileMatrixSetId") else "query",
             "required": p.endswith("Id") or p in ("z", "x", "y", "tileMatrixSetId"),
             "schema": {"type": "string"}} for p in params
        ]
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {}}}}
    if write:
        operation["security"] = [{"bearerAuth": []}]
        operation["responses"]["401"] = {"$ref": "#/components/responses/Unauthorized"}
    if extra:
        operation.update(extra)
    return operation


def to_html(doc: dict[str, Any]) -> str:
    rows = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(operation.get('summary', ''))}</td></tr>")
    server = html.escape(doc["servers"][0]["url"])
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Spatio-Temporal API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:.2em .8em;border-bottom:1px solid #ddd}</style>"
        f"</head><body><h1>{html.escape(doc['info']['title'])}</h1><p>{html.escape(doc['info']['description'])}</p>"
        f"<p>Server: <code>{server}</code>. Machine-readable: <a href='api'>OpenAPI 3.0 JSON</a>.</p>"
        f"<table>{''.join(rows)}</table></body></html>"
    )
