"""What schema-driven testing (schemathesis, openapi-core against the STAC API documents and our own) found,
one regression test per finding: each failed before its fix. The fuzzing itself is tests/e2e/test_openapi_conformance.py.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import AUTH

URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")  # RFC 3986 characters


@pytest.mark.parametrize("method, path", [("TRACE", "/"), ("DELETE", "/search"), ("PUT", "/api/v2/conformance"),
                                          ("POST", "/collections/x/items/y")])
def test_405_names_the_allowed_methods(http, method, path):
    """RFC 9110: a 405 carries Allow. Our error handler dropped the header Starlette put on the exception."""
    r = http.request(method, path)
    assert r.status_code == 405
    allowed = {m.strip() for m in r.headers["allow"].split(",")}
    assert "GET" in allowed and method not in allowed
    assert r.json()["code"] == "MethodNotAllowed" and method in r.json()["description"]


@pytest.mark.parametrize("prefix", ["", "/api/v2"])
def test_landing_page_links_are_uris(http, prefix):
    """The STAC API documents declare link hrefs `format: uri`: URI templates ({collectionId}) are not URIs."""
    for link in http.get(prefix + "/").json()["links"]:
        assert URI.match(link["href"]), link


@pytest.mark.parametrize("q", ['"abc', "a or (", "\U0001b12b\"o\U000824dbR!", "&", "!!"])
def test_collection_search_q_that_tsquery_cannot_read_is_400(http, q):
    """pgSTAC builds a tsquery from q; what to_tsquery cannot parse was a 500 (SQLSTATE 42601)."""
    r = http.get("/collections", params={"q": q})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert "q is not a free-text query" in r.json()["description"]


def test_cube_registration_with_an_odd_collection_id_is_4xx(http):
    """The id went into the raster worker's URL unquoted: a control character made httpx raise (500)."""
    r = http.post("/collections/d%0Cy%20z/cube", json={}, headers=AUTH)
    assert r.status_code == 400 and "href" in r.json()["description"]


@pytest.mark.parametrize("path", ["/collections/%00", "/collections/a%00b/items", "/api/v2/collections/x/items/%00"])
def test_nul_character_in_the_path_is_400(http, path):
    """psycopg refuses text holding NUL before sending the query (a DataError without SQLSTATE): was a 500."""
    r = http.get(path)
    assert r.status_code == 400 and "NUL" in r.json()["description"]


@pytest.mark.parametrize("method, path", [("POST", "/collections"), ("PUT", "/collections/x"),
                                          ("POST", "/collections/x/bulk_items"), ("PATCH", "/collections/x/items/y")])
def test_nul_character_in_a_write_body_is_400(http, method, path):
    r = http.request(method, path, content=b"\x00", headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("expr", ["abc", "abc AND id='x'", "NOT abc", "id='x' OR (abc)", "5", "'text'"])
def test_filter_that_is_no_condition_is_400(http, expr):
    """cql2-text parses a bare property where a condition belongs; pgSTAC put it into SQL as a column: 500."""
    for path in ("/search", "/collections/demo-stac/items"):
        r = http.get(path, params={"filter": expr})
        assert r.status_code in (400, 404), r.text
        if r.status_code == 400:
            assert "not a condition" in r.json()["description"] or "not valid CQL2" in r.json()["description"]
    r = http.post("/search", json={"filter": {"op": "and", "args": [{"property": "abc"}, True]}})
    assert r.status_code == 400 and "not valid CQL2" in r.json()["description"]  # cql2-json: the JSON Schema


def test_conditions_still_pass(http):
    for expr in ("id='x' AND NOT (id='y')", "TRUE", "id IN ('a','b') OR id IS NULL"):
        assert http.get("/search", params={"filter": expr}).status_code == 200, expr


@pytest.mark.parametrize("path", ["/search", "/collections", "/collections/demo-stac/items"])
def test_unsupported_filter_lang_is_400_even_without_a_filter(http, path):
    r = http.get(path, params={"filter-lang": "AAA"})
    assert r.status_code in (400, 404) and (r.status_code == 404 or "filter-lang" in r.json()["description"])


@pytest.mark.parametrize("geometry", [{"type": ["Point"]}, {"type": {"a": 1}}, {"type": "GeometryCollection",
                                                                                "geometries": [{"type": [1]}]}])
def test_intersects_with_a_type_that_is_no_string_is_400(http, geometry):
    """`type in GEOMETRY_TYPES` raised TypeError for a list: a 500."""
    r = http.post("/search", json={"intersects": geometry})
    assert r.status_code == 400 and "GeoJSON geometry" in r.json()["description"]


def test_openapi_document_declares_types_and_statuses(http):
    """What schemathesis checks answers against: typed parameters, 201/204 for writes, 409/413 for conflicts."""
    paths = http.get("/api").json()["paths"]
    limit = next(p for p in paths["/search"]["get"]["parameters"] if p["name"] == "limit")
    bbox = next(p for p in paths["/search"]["get"]["parameters"] if p["name"] == "bbox")
    assert limit["schema"]["type"] == "integer" and bbox["schema"]["type"] == "array" and bbox["explode"] is False
    assert set(paths["/collections"]["post"]["responses"]) >= {"201", "400", "401", "409", "413"}
    for method in ("put", "patch", "delete"):
        assert "204" in paths["/collections/{collectionId}/items/{itemId}"][method]["responses"]
    y = next(p for p in paths["/collections/{collectionId}/tiles/{tilesetId}/{z}/{x}/{y}"]["get"]["parameters"]
             if p["name"] == "y")
    assert y["schema"]["pattern"].startswith("^[0-9]+")


@pytest.mark.parametrize("method, path", [("POST", "/collections"), ("PUT", "/collections/x"),
                                          ("PATCH", "/collections/x/items/y"), ("POST", "/collections/x/items"),
                                          ("POST", "/collections/x/bulk_items"),
                                          ("POST", "/collections/x/features:upload")])
def test_write_without_token_is_401_before_the_body_is_read(http, method, path):
    """An empty or malformed body from a client without the token was a 400 that hid the missing token."""
    r = http.request(method, path)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and r.json()["code"] == "Unauthorized"


@pytest.mark.parametrize("body", [{"fields": None}, {"bbox": None}, {"ids": None, "limit": 1}])
def test_null_in_a_search_body_is_400(http, body):
    """null is no value (stac-api-validator expects {"fields": null} to be a 400; the STAC API schemas agree)."""
    r = http.post("/search", json=body)
    assert r.status_code == 400 and "null" in r.json()["description"], r.text


def test_collections_as_a_string_in_a_search_body_is_read(http):
    """Not what the item-search schema says (an array), but what stac-api-validator sends and expects a 200 for."""
    assert http.post("/search", json={"collections": "no-such", "ids": "a"}).status_code == 200


@pytest.mark.parametrize("kind, body", [
    *((kind, body) for kind in ("summary", "time-series")
      for body in ({"bbox": 0.85}, {"bbox": True}, {"layers": 5}, {"layers": [1, {"a": 2}]})),
    ("time-series", {"aggregation": 5}), ("summary", {"bins": {"a": 1}})])
def test_analytics_body_members_of_the_wrong_type_are_400(http, kind, body):
    """A number where the bbox or a list of names belongs made parse_bbox / parse_list raise TypeError: a 500."""
    r = http.post(f"/collections/any-cube/aggregate/{kind}", json=body)
    assert r.status_code == 400 and r.json()["code"] == "BadRequest", r.text


@pytest.mark.parametrize("path", ["/search", "/collections"])
def test_empty_query_parameters_are_absent_as_the_document_says(http, path):
    """An empty value is read as no value (fields=, filter-lang=, datetime=, ...) except limit= and offset=;
    the document says so with allowEmptyValue, which schemathesis honours (filter-lang= was 'invalid data
    accepted')."""
    params = http.get("/api").json()["paths"][path]["get"]["parameters"]
    for p in params:
        r = http.get(path, params={p["name"]: ""})
        assert r.status_code == (200 if p.get("allowEmptyValue") else 400), (p, r.text)
    assert {p["name"] for p in params if not p.get("allowEmptyValue")} <= {"limit", "offset"}
