"""Query parameters real clients send, on every way to ask for items: GET and POST /search and
/collections/{id}/items, over a STAC (pgSTAC) collection and a features collection holding the same shapes.

Antimeridian boxes, 3D boxes, malformed boxes, the datetime forms of RFC 3339 (dates, fractions, offsets,
lowercase, open and reversed intervals), limit bounds, ids with collections, intersects with every GeoJSON
geometry type (and broken or self-intersecting ones), unknown collections.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import AUTH

STAC = "edges-stac"
FEAT = "edges-features"


def box(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


# id -> (geometry, datetime, n): east and west of the antimeridian, one near (0, 0), one point.
SHAPES = {
    "east": (box(179.0, -1.0, 179.9, 1.0), "2020-01-01T00:00:00Z", 1),
    "west": (box(-179.9, -1.0, -179.0, 1.0), "2020-06-01T12:30:00.123Z", 2),
    "zero": (box(0.0, 0.0, 1.0, 1.0), "2021-01-01T00:00:00Z", 3),
    "pt": ({"type": "Point", "coordinates": [10.0, 10.0]}, "2022-01-01T23:59:59Z", 10),
}


def _item(fid: str, geom: dict[str, Any], dt: str, n: int) -> dict[str, Any]:
    pts = [geom["coordinates"]] if geom["type"] == "Point" else geom["coordinates"][0]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return {"type": "Feature", "stac_version": "1.0.0", "id": fid, "collection": STAC, "geometry": geom,
            "bbox": [min(xs), min(ys), max(xs), max(ys)], "properties": {"datetime": dt, "n": n},
            "assets": {}, "links": []}


@pytest.fixture(scope="module")
def loaded(services) -> None:
    with httpx.Client(base_url=services.url, timeout=60) as client:
        client.delete(f"/collections/{STAC}", headers=AUTH)
        r = client.post("/collections", headers=AUTH, json={
            "type": "Collection", "stac_version": "1.0.0", "id": STAC, "description": "edges", "license": "CC0-1.0",
            "links": [], "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                    "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]}}})
        assert r.status_code == 201, r.text
        items = [_item(k, *v) for k, v in SHAPES.items()]
        r = client.post(f"/collections/{STAC}/items", headers=AUTH,
                        json={"type": "FeatureCollection", "features": items})
        assert r.status_code == 201, r.text
        features = [{"type": "Feature", "id": k, "geometry": g, "properties": {"datetime": dt, "n": n}}
                    for k, (g, dt, n) in SHAPES.items()]
        r = client.post(f"/collections/{FEAT}/features:upload", params={"force": "true"}, headers=AUTH,
                        json={"type": "FeatureCollection", "features": features})
        assert r.status_code == 201, r.text


# Every way to ask: (method, path, collection). GET params and POST bodies are built from one dict.
WAYS = [("GET", "/search", STAC), ("POST", "/search", STAC), ("GET", "/collections/{c}/items", STAC),
        ("GET", "/search", FEAT), ("POST", "/search", FEAT), ("GET", "/collections/{c}/items", FEAT)]
WAY_IDS = [f"{m} {p.split('/')[1]} {c.split('-')[1]}" for m, p, c in WAYS]


def ask(http: httpx.Client, way: tuple[str, str, str], **query: Any) -> httpx.Response:
    method, path, cid = way
    if method == "POST":
        return http.post(path, json={"collections": [cid], **query})
    get = {k: (",".join(map(str, v)) if isinstance(v, list) else json.dumps(v) if isinstance(v, dict) else v)
           for k, v in query.items()}
    if path == "/search":
        get["collections"] = cid
    return http.get(path.format(c=cid), params=get)


def found(r: httpx.Response) -> set[str]:
    assert r.status_code == 200, r.text[:300]
    doc = r.json()
    assert doc["numberMatched"] == len(doc["features"])
    return {f["id"] for f in doc["features"]}


@pytest.mark.parametrize("way", WAYS, ids=WAY_IDS)
def test_bbox_forms(http, loaded, way):
    assert found(ask(http, way, bbox=[178, -5, -178, 5])) == {"east", "west"}      # across the antimeridian
    assert found(ask(http, way, bbox=[179.5, -5, -179.5, 5])) == {"east", "west"}
    assert found(ask(http, way, bbox=[178, -5, -100, -178, 5, 100])) == {"east", "west"}  # 3D
    assert found(ask(http, way, bbox=[-1, -1, 2, 2])) == {"zero"}
    assert found(ask(http, way, bbox=[-180, -90, 180, 90])) == set(SHAPES)


@pytest.mark.parametrize("way", WAYS, ids=WAY_IDS)
@pytest.mark.parametrize(("bbox", "says"), [
    ([1, 2, 3], "4 or 6 numbers"), ([0, 0, 1, 1, 2], "4 or 6 numbers"), (["a", "b", "c", "d"], "numbers"),
    ([0, 5, 1, 2], "miny"), ([0, -95, 1, 2], "latitudes")])
def test_bad_bbox_is_400_saying_why(http, loaded, way, bbox, says):
    r = ask(http, way, bbox=bbox)
    assert r.status_code == 400 and says in r.json()["description"], r.text[:300]


@pytest.mark.parametrize("bbox", [[True, 0, 1, 1], ["0", "0", "1", "1"], "0,0,1,1"])
def test_post_bbox_must_be_numbers(http, loaded, bbox):
    r = http.post("/search", json={"collections": [STAC], "bbox": bbox})
    assert r.status_code == 400 and "numbers" in r.json()["description"]


@pytest.mark.parametrize("way", WAYS, ids=WAY_IDS)
@pytest.mark.parametrize(("dt", "ids"), [
    ("2020-01-01T00:00:00Z", {"east"}),
    ("../2020-01-01T00:00:00Z", {"east"}),
    ("2020-01-01T00:00:00Z/..", set(SHAPES)),
    ("/2020-06-01T12:30:00.123Z", {"east", "west"}),
    ("2021-01-01T00:00:00Z/", {"zero", "pt"}),
    ("2020-06-01T12:30:00.123Z", {"west"}),                  # fractional seconds
    ("2020-06-01T18:00:00.123+05:30", {"west"}),             # an offset
    ("2020-06-01T12:30:00.123-00:00", {"west"}),
    ("2020-06-01t12:30:00.123z", {"west"}),                  # lowercase t and z
    ("2020-01-02T00:00:00Z/2021-01-01T00:00:00Z", {"west", "zero"}),
    ("2020-06-01T12:30:00.124Z/2020-12-31T23:59:59.999999Z", set()),
])
def test_datetime_forms(http, loaded, way, dt, ids):
    assert found(ask(http, way, datetime=dt)) == ids


# stac-api-validator's own lists (validations.py: valid_datetimes, invalid_datetimes), on every way to ask
VALID_DATETIMES = ["1985-04-12T23:20:50.52Z", "1996-12-19T16:39:57-00:00", "1996-12-19T16:39:57+08:00",
                   "/1985-04-12T23:20:50.52Z", "1985-04-12T23:20:50.52Z/",
                   "1985-04-12T23:20:50.52-01:00/1986-04-12T23:20:50.52-01:00", "1937-01-01T12:00:27.8710+01:00",
                   "1985-04-12t23:20:50.000z", "2020-07-23T00:00:00.012345678Z"]
INVALID_DATETIMES = [
    ("/", "closed end"), ("../..", "closed end"), ("/..", "closed end"), ("../", "closed end"),
    ("/1984-04-12T23:20:50.52Z/1985-04-12T23:20:50.52Z", "start/end"),
    ("1984-04-12T23:20:50.52Z/1985-04-12T23:20:50.52Z/", "start/end"),
    ("1985-04-12", "RFC 3339"), ("1937-01-01T12:00:27.87+0100", "RFC 3339"), ("37-01-01T12:00:27.87Z", "RFC 3339"),
    ("1985-12-12T23:20:50.52", "time zone"), ("21985-12-12T23:20:50.52Z", "RFC 3339"),
    ("1985-13-12T23:20:50.52Z", "not a valid"), ("1985-12-32T23:20:50.52Z", "not a valid"),
    ("1985-12-01T25:20:50.52Z", "not a valid"), ("1985-12-01T00:60:50.52Z", "not a valid"),
    ("1985-12-01T00:06:61.52Z", "not a valid"), ("1985-04-12T23:20:50.Z", "RFC 3339"),
    ("1985-04-12T23:20:50,Z", "RFC 3339"), ("1990-12-31T23:59:61Z", "not a valid"),
    ("1986-04-12T23:20:50.52Z/1985-04-12T23:20:50.52Z", "ends before"), ("1985-04-12T23:20:50,52Z", "RFC 3339"),
    ("2020-02-30T00:00:00Z", "not a valid"), ("yesterday", "RFC 3339")]


@pytest.mark.parametrize("way", WAYS, ids=WAY_IDS)
def test_datetimes_stac_api_validator_lists(http, loaded, way):
    for dt in VALID_DATETIMES:
        assert ask(http, way, datetime=dt).status_code == 200, dt
    for dt, says in INVALID_DATETIMES:
        r = ask(http, way, datetime=dt)
        assert r.status_code == 400 and says in r.json()["description"], (dt, r.text[:300])


@pytest.mark.parametrize("way", WAYS, ids=WAY_IDS)
def test_limit_bounds(http, loaded, way):
    for bad in (0, -1):
        r = ask(http, way, limit=bad)
        assert r.status_code == 400 and "limit" in r.json()["description"]
    assert len(found(ask(http, way, limit=10 ** 30))) == 4     # above the maximum: clamped, as STAC says
    r = ask(http, way, limit=1)
    assert r.status_code == 200 and len(r.json()["features"]) == 1 and r.json()["numberMatched"] == 4


@pytest.mark.parametrize("way", WAYS, ids=WAY_IDS)
def test_ids(http, loaded, way):
    assert found(ask(http, way, ids=["east", "zero", "nope"])) == {"east", "zero"}
    assert found(ask(http, way, ids=["east"], datetime="2021-01-01T00:00:00Z")) == set()


def test_collections_and_ids_across_collections(http, loaded):
    # ids without collections: every collection's items of that id (pgSTAC items)
    assert found(http.post("/search", json={"ids": ["east", "west"]})) == {"east", "west"}
    # an unknown collection matches nothing (the STAC API spec names no error); alongside a known one it adds none
    assert found(http.get("/search", params={"collections": "no-such-collection"})) == set()
    assert found(http.get("/search", params={"collections": f"{STAC},no-such-collection"})) == set(SHAPES)
    assert found(http.post("/search", json={"collections": [STAC, "no-such-collection"], "ids": ["pt"]})) == {"pt"}
    assert http.get("/collections/no-such-collection/items").status_code == 404


POLY_AM = {"type": "MultiPolygon", "coordinates": [box(178, -5, 180, 5)["coordinates"],
                                                   box(-180, -5, -178, 5)["coordinates"]]}
INTERSECTS = {
    "Point": ({"type": "Point", "coordinates": [179.5, 0]}, {"east"}),
    "Point 3D": ({"type": "Point", "coordinates": [0.5, 0.5, 120.0]}, {"zero"}),
    "MultiPoint": ({"type": "MultiPoint", "coordinates": [[179.5, 0], [0.5, 0.5]]}, {"east", "zero"}),
    "LineString": ({"type": "LineString", "coordinates": [[-1, 0.5], [2, 0.5]]}, {"zero"}),
    "MultiLineString": ({"type": "MultiLineString", "coordinates": [[[179.2, -2], [179.2, 2]],
                                                                    [[9, 9], [11, 11]]]}, {"east", "pt"}),
    "Polygon": (box(9, 9, 11, 11), {"pt"}),
    "MultiPolygon across the antimeridian": (POLY_AM, {"east", "west"}),
    "Polygon beyond 180": (box(179.5, -1, 180.5, 1), {"east", "west"}),   # wraps to the other side
    "GeometryCollection": ({"type": "GeometryCollection", "geometries": [
        {"type": "Point", "coordinates": [0.5, 0.5]}, box(178, -5, 179.5, 5)]}, {"zero", "east"}),
    "self-intersecting Polygon (repaired)": (
        {"type": "Polygon", "coordinates": [[[-1, -1], [2, 2], [2, -1], [-1, 2], [-1, -1]]]}, {"zero"}),
    "empty GeometryCollection": ({"type": "GeometryCollection", "geometries": []}, set()),
}


@pytest.mark.parametrize("way", WAYS, ids=WAY_IDS)
@pytest.mark.parametrize("name", list(INTERSECTS))
def test_intersects_every_geometry_type(http, loaded, way, name):
    geom, ids = INTERSECTS[name]
    assert found(ask(http, way, intersects=geom)) == ids


BAD_INTERSECTS = {
    "unclosed ring": ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "linear ring"),
    "ring of 3": ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}, "linear ring"),
    "strings": ({"type": "Point", "coordinates": ["a", "b"]}, "2 or 3 numbers"),
    "too shallow": ({"type": "Polygon", "coordinates": [[0, 0], [1, 1]]}, "must be an array"),
    "one-point line": ({"type": "LineString", "coordinates": [[0, 0]]}, "at least 2 positions"),
    "null member": ({"type": "GeometryCollection", "geometries": [None]}, "geometries[0]"),
    "a Feature": ({"type": "Feature", "geometry": None, "properties": {}}, "geometry"),
    "no coordinates": ({"type": "Point"}, "coordinates"),
}


@pytest.mark.parametrize("way", WAYS, ids=WAY_IDS)
@pytest.mark.parametrize("name", list(BAD_INTERSECTS))
def test_malformed_intersects_is_400_saying_where(http, loaded, way, name):
    geom, says = BAD_INTERSECTS[name]
    r = ask(http, way, intersects=geom)
    assert r.status_code == 400 and says in r.json()["description"], r.text[:300]


def test_sortby_and_fields_on_stac_items(http, loaded):
    for sortby in ("-properties.n", "-n"):
        doc = http.get("/search", params={"collections": STAC, "sortby": sortby}).json()
        assert [f["id"] for f in doc["features"]] == ["pt", "zero", "west", "east"]
    doc = http.post("/search", json={"collections": [STAC], "sortby": [{"field": "n"}]}).json()
    assert [f["id"] for f in doc["features"]] == ["east", "west", "zero", "pt"]
    doc = http.post("/search", json={"collections": [STAC], "fields": {"include": ["properties.n"],
                                                                       "exclude": ["geometry"]}}).json()
    first = doc["features"][0]
    assert "geometry" not in first and first["properties"]["n"] == 10 and first["id"] == "pt"
    r = http.post("/search", json={"collections": [STAC], "sortby": [{"field": "n", "direction": "up"}]})
    assert r.status_code == 400 and "direction" in r.json()["description"]
