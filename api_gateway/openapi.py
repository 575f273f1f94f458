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


def build(base_url: str, modules: list[Any],
          collection_parameters: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The document; `collection_parameters` ({collection id: [query parameter]}) adds, for each feature
    collection, its own items path whose parameters are the generic items path's plus its queryables."""
    paths: dict[str, Any] = {}
    for module in modules:
        for path, item in getattr(module, "OPENAPI", {}).items():
            paths.setdefault(path, {}).update(item)
    for cid, extra in (collection_parameters or {}).items():
        paths[f"/collections/{cid}/items"] = {"get": _collection_items(paths, cid, extra)}
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
                for name in ("BadRequest", "NotFound", "Unauthorized", "Conflict", "PayloadTooLarge")
            },
        },
    }


_LIST = {"schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": False}
_NATURAL = {"type": "integer", "minimum": 0}
# Query and path parameters by name: their schema (a string when not named here) and serialization.
PARAMETERS: dict[str, dict[str, Any]] = {
    "limit": {"schema": {"type": "integer", "minimum": 1}},   # above the server's maximum: clamped (OGC)
    "offset": {"schema": _NATURAL},
    "bbox": {"schema": {"type": "array", "items": {"type": "number"},
                        "anyOf": [{"minItems": 4, "maxItems": 4}, {"minItems": 6, "maxItems": 6}]},
             "style": "form", "explode": False},
    "filter-crs": {"schema": {"type": "string", "enum": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                                                         "http://www.opengis.net/def/crs/EPSG/0/4326"]}},
    "z": {"schema": _NATURAL}, "x": {"schema": _NATURAL}, "y": {"schema": _NATURAL},
    # the two CQL2 encodings, and "cql-text", the name the drafts of OGC API Features Part 3 gave CQL2 text, which
    # GDAL's OAPIF driver (3.12) looks for in this enum before it sends an attribute filter to the server (read as
    # cql2-text: api_gateway/params.py)
    "filter-lang": {"schema": {"type": "string", "enum": ["cql2-text", "cql2-json", "cql-text"]}},
    "force": {"schema": {"type": "boolean"}},
    "width": {"schema": {"type": "integer", "minimum": 1, "maximum": 2048}},
    "height": {"schema": {"type": "integer", "minimum": 1, "maximum": 2048}},
    **{name: _LIST for name in ("collections", "ids", "fields", "sortby", "properties", "layers")},
}
PATH_PARAMETERS = {"z", "x", "y", "tileMatrixSetId"}
NOT_EMPTY = {"limit", "offset"}   # the only query parameters whose empty value is a 400, not "absent"


def parameter(name: str) -> dict[str, Any]:
    in_path = name.endswith("Id") or name in PATH_PARAMETERS
    empty = {} if in_path or name in NOT_EMPTY else {"allowEmptyValue": True}
    return {"name": name, "in": "path" if in_path else "query", "required": in_path, "schema": {"type": "string"},
            **empty, **PARAMETERS.get(name, {})}


def _collection_items(paths: dict[str, Any], cid: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    generic = paths["/collections/{collectionId}/items"]["get"]
    return {**generic, "summary": f"Features of collection {cid}; a queryable property as a query parameter "
                                  "(?name=value) selects the features whose property equals the value",
            "operationId": f"getFeatures.{cid}",
            "parameters": [p for p in generic.get("parameters", []) if p["in"] != "path"]
            + [{"allowEmptyValue": True, **p} for p in extra]}


def op(summary: str, tag: str, *, params: list[str] | None = None, body: bool = False, write: bool = False,
       media: str = "application/json", extra: dict[str, Any] | None = None, status: int = 200
       ) -> dict[str, Any]:
    """A compact operation object: a summary, named parameters, the usual error responses. `status`: the
    success status (201 Created, 204 No Content); writes may also answer 401, 409 and 413."""
    ok = {"description": "No Content"} if status == 204 else {"description": "OK", "content": {media: {}}}
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {
            str(status): ok,
            "400": {"$ref": "#/components/responses/BadRequest"},
            "404": {"$ref": "#/components/responses/NotFound"},
        },
    }
    if params:
        operation["parameters"] = [parameter(p) for p in params]
    if body:
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": {"type": "object"}}}}
    if write:
        operation["security"] = [{"bearerAuth": []}]
        operation["responses"].update({code: {"$ref": f"#/components/responses/{name}"} for code, name in
                                       (("401", "Unauthorized"), ("409", "Conflict"), ("413", "PayloadTooLarge"))})
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
