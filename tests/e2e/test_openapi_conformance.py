"""Schema-driven testing by independent tools, on both surfaces (`/` and `/api/v2/`).

1. openapi-core validates representative responses (landing page, conformance, collections and one collection
   of each kind, items, item, GET/POST /search, errors) against the STAC API v1.0.0 OpenAPI documents
   (../shared/testdata/stac-api-openapi/bundled: core, collections, ogcapi-features, item-search).
2. schemathesis generates requests (seeded, derandomized, a few per operation and mode) from those documents
   and from our own (`/api`), and checks every answer: no 5xx, a status code, media type, headers and body
   the document declares. Our document declares error bodies as {"code", "description"}.

`make fuzz` runs part 2 with many more examples (STAPI_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from scripts import demo_cube, demo_stac
from tests.conftest import AUTH
from tests.conftest import testdata as shared_path

EXAMPLES = int(os.environ.get("STAPI_FUZZ_EXAMPLES", "3"))
SEED = os.environ.get("STAPI_FUZZ_SEED")   # unset: derandomized (the same cases every run)
SURFACES = ["", "/api/v2"]
DOCS = ["core", "collections", "ogcapi-features", "item-search"]
FEATURES = "schema-rivers"
STAC, HYBRID = demo_stac.COLLECTION_ID, demo_cube.COLLECTION
# RFC 3986 characters, and RFC 6570 {variables}: web-map-links `xyz` hrefs are templated URIs (".../{z}/{x}/{y}.png")
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]|\{[A-Za-z0-9_]+\})*$")


def stac_doc(name: str) -> dict[str, Any]:
    return yaml.safe_load(shared_path("stac-api-openapi", "bundled", f"{name}.yaml").read_text())


def collection_ids(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM pgstac.collections")}


def delete_collections(url: str, ids: set[str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET search_path = pgstac, public")  # pgstac's delete trigger needs it
        conn.execute("DELETE FROM pgstac.collections WHERE id = ANY(%s)", (sorted(ids),))


@pytest.fixture(scope="module")
def dataset(services, database_url: str) -> Iterator[dict[str, str]]:
    """One collection of each kind: STAC (the demo scenes), hybrid (the demo cube + parcels), features
    (Natural Earth rivers). Every collection the fuzzing creates (writes are fuzzed with the token) goes too."""
    before = collection_ids(database_url)
    demo_stac.load(database_url)
    demo_cube.load(database_url, services.data_dir)
    rivers = json.loads(shared_path("cql2", "geojson", "ne_110m_rivers_lake_centerlines.geojson").read_text())
    r = httpx.post(f"{services.url}/collections/{FEATURES}/features:upload?force=true", json=rivers,
                   headers=AUTH, timeout=120)
    assert r.status_code == 201, r.text
    yield {"stac": STAC, "hybrid": HYBRID, "features": FEATURES}
    delete_collections(database_url, collection_ids(database_url) - before | {STAC, HYBRID, FEATURES})


# 1. Representative responses against the STAC API documents (openapi-core) ---------------------------------

def representative_requests(base: str, ids: dict[str, str]) -> list[tuple[str, str, Any]]:
    """(method, path, JSON body): everything the STAC API documents describe, for each kind of collection."""
    out: list[tuple[str, str, Any]] = [("GET", "/", None), ("GET", "/conformance", None),
                                       ("GET", "/collections", None), ("GET", "/collections?limit=1", None),
                                       ("GET", "/collections/no-such-collection", None),
                                       ("GET", "/collections/no-such-collection/items", None)]
    for cid in ids.values():
        first = httpx.get(f"{base}/collections/{cid}/items", params={"limit": 1}).json()["features"][0]["id"]
        out += [("GET", f"/collections/{cid}", None), ("GET", f"/collections/{cid}/items", None),
                ("GET", f"/collections/{cid}/items?limit=2&bbox=-180,-90,180,90", None),
                ("GET", f"/collections/{cid}/items?datetime=2000-01-01T00:00:00Z/..", None),
                ("GET", f"/collections/{cid}/items/{first}", None),
                ("GET", f"/collections/{cid}/items/no-such-item", None)]
    out += [("GET", "/search", None), ("GET", f"/search?collections={STAC}&limit=2", None),
            ("GET", "/search?bbox=6,45,9,47&datetime=2024-06-01T00:00:00Z/..", None),
            ("GET", f"/search?ids=demo-scene-1,demo-scene-2&collections={STAC}", None),
            ("GET", "/search?intersects=" + json.dumps({"type": "Point", "coordinates": [7.5, 46]}), None),
            ("GET", "/search?bbox=1,2", None), ("GET", "/search?datetime=yesterday", None),
            ("POST", "/search", {}), ("POST", "/search", {"collections": [STAC], "limit": 2}),
            ("POST", "/search", {"intersects": {"type": "Polygon", "coordinates": [[[6, 45], [9, 45], [9, 47],
                                                                                   [6, 47], [6, 45]]]}}),
            ("POST", "/search", {"bbox": [6, 45, 9]}), ("POST", "/search", {"limit": "ten"})]
    return out


def openapi_core(doc: dict[str, Any], base: str) -> OpenAPI:
    """openapi-core for one document served at `base`; GeoJSON is JSON, and link hrefs are checked as URIs
    (openapi-core has no `uri` format checker of its own)."""
    spec = {**doc, "servers": [{"url": base}]}
    return OpenAPI.from_dict(spec, config=Config(
        extra_media_type_deserializers={"application/geo+json": json.loads},
        extra_format_validators={"uri": lambda value: bool(URI.match(value))}))


def operations(doc: dict[str, Any]) -> list[tuple[str, re.Pattern[str]]]:
    """(METHOD, path regex) of every operation of a document."""
    return [(method.upper(), re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"))
            for path, item in doc["paths"].items() for method in item if method in ("get", "post")]


def describes(doc: dict[str, Any], method: str, path: str) -> bool:
    return any(m == method and pattern.match(path.split("?")[0]) for m, pattern in operations(doc))


@pytest.mark.parametrize("surface", SURFACES)
def test_responses_validate_against_the_stac_api_documents(services, dataset, surface):
    base = services.url + surface
    docs = {name: stac_doc(name) for name in DOCS}
    validators = {name: openapi_core(doc, base) for name, doc in docs.items()}
    with requests.Session() as session:
        for method, path, body in representative_requests(base, dataset):
            r = session.request(method, base + path, json=body, timeout=60)
            assert r.status_code < 500, (method, path, r.text)
            names = [name for name, doc in docs.items() if describes(doc, method, path)]
            assert names, f"{method} {path}: no STAC API document describes it"
            for name in names:
                try:
                    validators[name].validate_response(RequestsOpenAPIRequest(r.request), RequestsOpenAPIResponse(r))
                except Exception as e:  # openapi-core's errors chain the schema errors as __cause__
                    cause = getattr(e.__cause__, "schema_errors", None) or [e.__cause__ or e]
                    pytest.fail(f"{name}: {method} {surface}{path} -> {r.status_code}: "
                                f"{[str(c)[:300] for c in cause]}\n{r.text[:500]}")


# 2. Generated requests (schemathesis), checked against the document they come from -------------------------

# Not run, on purpose: positive_data_acceptance and unsupported_method. The first fails on answers that are right:
# the documents type bbox, datetime and filter loosely, and the prose constraints a 400 is required for (the STAC
# API's "bbox or intersects, not both", miny <= maxy and latitudes within [-90, 90], RFC 3339 datetimes, CQL2
# grammar, tile x and y below 2^z) are not in their schemas. The second expects 405 for the POST/PUT/PATCH/DELETE
# the STAC API documents leave out, which this server implements (Transaction extension); our own document
# declares them, and tests/api/test_schema_findings.py checks 405 + Allow for methods no route has.
RESPONSE_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
                   response_headers_conformance, response_schema_conformance]
# Answers the tools flag although they are right, each for a stated reason (matched on the failure report).
KNOWN: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Schema-violating request accepted.*\n.*\n.*limit.*greater than maximum", re.S),
     "a limit above the documented maximum is clamped, not rejected: OGC API Features requires that "
     "(/req/core/fc-limit-response-1); the STAC documents' `maximum: 10000` cannot say it"),
    (re.compile(r"Schema-violating request accepted.*Invalid component: in body.*(collections|ids)", re.S),
     "collections (or ids) as one string in a POST /search body is read as a list of one: stac-api-validator "
     "sends it so in its sort checks and expects a 200"),
    (re.compile(r"Schema-violating request accepted.*Invalid component: parameter "
                r"`(collections|ids|fields|sortby|properties|layers)` in query - violates `(anyOf|enum)`", re.S),
     "a schemathesis false positive: the 'invalid' items it makes for a comma-separated list of strings (numbers, "
     "booleans, nested lists) reach the server as text, that is as valid strings"),
    (re.compile(r'/tiles/W\w* \.\.\. is not a "uri"|\{z\}/\{x\}/\{y\}\.png[^"]*" is not a "uri"'),  # value cut short
     "a cube's `xyz` web map link (web-map-links extension) is a templated URI, .../{z}/{x}/{y}.png (RFC 6570), "
     "which the documents' link `href: format: uri` predates; openapi-core above checks it as one"),
]


def known_deviation(report: str) -> str | None:
    return next((why for pattern, why in KNOWN if pattern.search(report)), None)


def fuzz(schema: schemathesis.BaseSchema, base: str, fixed_ids: list[dict[str, str]],
         headers: dict[str, str] | None = None, examples: int = EXAMPLES) -> list[str]:
    """Every operation of `schema`, in positive and negative mode, `examples` seeded cases each, many of them with
    path parameters of real collections (a random id only reaches the 404). The failures, as text."""
    failures: list[str] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            names = re.findall(r"{(\w+)}", operation.path)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategies = [operation.as_strategy(mode)]
                if mode is GenerationMode.POSITIVE and names:
                    strategies += [operation.as_strategy(mode, path_parameters={k: ids[k] for k in names if k in ids})
                                   for ids in fixed_ids]
                checks = RESPONSE_CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
                failures += run_cases(st.one_of(strategies), base, session, headers or {}, checks, examples)
    return failures


@pytest.mark.parametrize("surface", SURFACES)
def test_generated_requests_conform_to_the_stac_api_documents(services, dataset, surface):
    ids = [{"collectionId": STAC, "featureId": "demo-scene-1"}, {"collectionId": HYBRID},
           {"collectionId": FEATURES}]
    failures = []
    for name in DOCS:
        failures += fuzz(schemathesis.openapi.from_dict(stac_doc(name)), services.url + surface, ids)
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("surface", SURFACES)
def test_generated_requests_conform_to_our_openapi_document(services, dataset, surface):
    """Reads, and writes with the token (on real collections too; DELETE only without the token: a 401)."""
    doc = httpx.get(f"{services.url}{surface}/api").json()
    schema = schemathesis.openapi.from_dict(doc)
    ids = [{"collectionId": STAC, "itemId": "demo-scene-1"}, {"collectionId": HYBRID, "tilesetId": "WebMercatorQuad"},
           {"collectionId": FEATURES, "tilesetId": "WebMercatorQuad-Vector", "styleId": "default"},
           {"tileMatrixSetId": "WebMercatorQuad"}]
    failures = fuzz(schema.exclude(method="DELETE"), services.url + surface, ids, AUTH)
    failures += fuzz(schema.include(method="DELETE"), services.url + surface, ids)
    assert not failures, "\n\n".join(failures)


def run_cases(strategy: st.SearchStrategy, base: str, session: requests.Session, headers: dict[str, str],
              checks: list[Any], examples: int) -> list[str]:
    failures: list[str] = []

    @given(case=strategy)
    @settings(max_examples=examples, derandomize=SEED is None, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @seed(int(SEED or 0))
    def one(case: schemathesis.Case) -> None:
        response = case.call(base_url=base, session=session, headers=headers, timeout=60)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (AssertionError, BaseExceptionGroup) as e:  # a schemathesis Failure or FailureGroup
            report = str(e)
            if not known_deviation(report):
                failures.append(f"{case.operation.label} (STAPI_FUZZ_SEED={SEED}): {report[:1500]}")

    try:
        one()
    except Unsatisfiable:  # negative mode for an operation without parameters or body: nothing can be invalid
        pass
    return failures
