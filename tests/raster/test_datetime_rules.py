"""datetime on PNG tiles and raster analytics is read by the rules of /items and /search (RFC 3339 date-times
with a time zone, intervals with `..` open ends; a reversed interval, a date alone, a time without a zone or
garbage is a 400 naming the parameter), on `/` and `/api/v2/`; the tiles' nearest/interval/latest stays."""

from __future__ import annotations

import math

import psycopg
import pytest

from tests.raster.analytics_cubes import synthetic

CID = "datetime-rules-cube"
SURFACES = ["", "/api/v2"]
BAD = ["2024-01-03", "2024-01-03T10:00:00", "2024-01-03 10:00:00Z", "2024-02-30T00:00:00Z", "yesterday",
       "../..", "2024-02-01T00:00:00Z/2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z/2024-02-01", "a/b/c",
       "2024-01-01T00:00:00Z/2024-02-01T00:00:00Z/2024-03-01T00:00:00Z"]
GOOD = ["2024-01-03T10:00:00Z", "2024-01-03T12:00:00+02:00", "2024-01-03t10:00:00.5z",
        "2024-01-01T00:00:00Z/..", "../2024-02-01T00:00:00Z", "2024-01-01T00:00:00Z/2024-02-01T00:00:00Z"]


@pytest.fixture(scope="module")
def cube(database_url: str, tmp_path_factory: pytest.TempPathFactory, services) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET search_path = pgstac, public")  # pgstac's delete trigger needs it
        conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))
        synthetic(conn, tmp_path_factory.mktemp("cubes"), CID)
    return CID


def _tile(lon: float = 10.02, lat: float = 44.99, z: int = 12) -> str:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return f"{z}/{x}/{y}"


def _urls(surface: str) -> list[str]:
    return [f"{surface}/collections/{CID}/tiles/WebMercatorQuad/{_tile()}.png",
            f"{surface}/collections/{CID}/aggregate/time-series", f"{surface}/collections/{CID}/aggregate/summary"]


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("value", BAD)
def test_what_search_refuses_tiles_and_analytics_refuse(http, cube, surface, value):
    assert http.get("/search", params={"datetime": value}).status_code == 400
    for url in _urls(surface):
        r = http.get(url, params={"layers": "NDVI", "datetime": value})
        assert r.status_code == 400, (url, value, r.text)
        body = r.json()
        assert body["code"] == "BadRequest" and "datetime" in body["description"], body


@pytest.mark.parametrize("value", GOOD)
def test_what_search_accepts_tiles_and_analytics_accept(http, cube, value):
    assert http.get("/search", params={"datetime": value}).status_code == 200
    for url in _urls("/api/v2"):
        r = http.get(url, params={"layers": "NDVI", "datetime": value})
        assert r.status_code == 200, (url, value, r.text)


def test_analytics_post_reads_datetime_by_the_same_rules(http, cube):
    url = f"/collections/{CID}/aggregate/time-series"
    assert http.post(url, json={"layers": ["NDVI"], "datetime": "2024-01-03"}).status_code == 400
    assert http.post(url, json={"layers": ["NDVI"], "datetime": 2024}).status_code == 400
    r = http.post(url, json={"layers": ["NDVI"], "datetime": "2024-01-01T00:00:00Z/.."})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("value,match,when", [
    ("2024-01-03T10:00:00Z", "exact", "2024-01-03T10:00:00Z"),
    ("2024-01-03T12:00:00+02:00", "exact", "2024-01-03T10:00:00Z"),
    ("2024-01-04T00:00:00Z", "nearest", "2024-01-03T10:00:00Z"),
    ("2024-01-01T00:00:00Z/2024-02-01T00:00:00Z", "interval", "2024-02-01T00:00:00Z"),
    ("../2024-01-02T00:00:00Z", "interval", "2024-01-01T00:30:00Z"),
    (None, "latest", "2024-04-15T10:00:00Z"),
])
def test_tile_datetime_semantics_stay(http, cube, value, match, when):
    query = {"layers": "NDVI"} | ({"datetime": value} if value else {})
    r = http.get(_urls("")[0], params=query)
    assert r.status_code == 200, r.text
    assert (r.headers["x-cube-datetime-match"], r.headers["x-cube-datetime"]) == (match, when)
