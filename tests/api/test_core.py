"""Landing page, conformance, OpenAPI, errors and HTTP niceties on both surfaces."""

import pytest


@pytest.mark.parametrize("prefix", ["", "/api/v2"])
def test_landing_links_point_at_the_surface(http, prefix):
    r = http.get(prefix + "/")
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "Catalog" and body["stac_version"] == "1.0.0"
    assert "https://api.stacspec.org/v1.0.0/core" in body["conformsTo"]
    links = {link["rel"]: link["href"] for link in body["links"]}
    assert links["self"] == f"{http.base_url}{prefix}/".replace("//api", "/api")
    assert links["conformance"].endswith(f"{prefix}/conformance")
    assert links["service-desc"].endswith(f"{prefix}/api")


def test_conformance_lists_core(http):
    r = http.get("/conformance")
    assert r.status_code == 200
    assert "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core" in r.json()["conformsTo"]


def test_openapi_document_is_3_0_and_lists_paths(http):
    r = http.get("/api/v2/api")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    doc = r.json()
    assert doc["openapi"].startswith("3.0")
    assert "/conformance" in doc["paths"]
    assert doc["servers"][0]["url"].endswith("/api/v2")
    page = http.get("/api.html")
    assert page.status_code == 200 and "/conformance" in page.text


def test_unknown_path_is_a_json_404(http):
    r = http.get("/no/such/path")
    assert r.status_code == 404
    assert r.json()["code"] == "NotFound" and "/no/such/path" in r.json()["description"]


def test_etag_and_conditional_get(http):
    r = http.get("/conformance")
    tag = r.headers["etag"]
    assert "max-age" in r.headers["cache-control"]
    again = http.get("/conformance", headers={"If-None-Match": tag})
    assert again.status_code == 304


def test_gzip_is_a_standard_stream_and_small_answers_stay_plain(services):
    """The ISA-L gzip (api_gateway/compression.py) inflates with zlib to exactly the identity body; answers
    under 1 KB and clients that do not accept gzip get identity."""
    import gzip

    import httpx

    with httpx.Client(base_url=services.url) as client:
        plain = client.get("/api/v2/", headers={"Accept-Encoding": "identity"})
        packed = client.get("/api/v2/", headers={"Accept-Encoding": "gzip"})
        small = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers and len(plain.content) > 1024
    assert packed.headers["content-encoding"] == "gzip" and "Accept-Encoding" in packed.headers["vary"]
    assert gzip.decompress(_raw_bytes(services.url, "/api/v2/")) == plain.content
    assert "content-encoding" not in small.headers


def _raw_bytes(base: str, path: str) -> bytes:
    """The gzip bytes of a response as sent (urllib does not inflate)."""
    import urllib.request

    req = urllib.request.Request(base + path, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        return r.read()


def test_cors_and_gzip(http):
    r = http.get("/", headers={"Origin": "http://example.org", "Accept-Encoding": "gzip"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers.get("content-encoding") == "gzip"
    pre = http.options("/collections", headers={"Origin": "http://example.org",
                                                 "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 200
