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
