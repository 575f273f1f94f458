"""Strict, consistent validation where independent clients and fuzzers probe: typed ?queryable=value
parameters, unknown parameters on the items of every kind of collection; the same on `/` and `/api/v2/`."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import AUTH

FEAT, STAC = "strict-features", "strict-stac"
SURFACES = ["", "/api/v2"]

FEATURES = [
    {"type": "Feature", "id": "a", "geometry": {"type": "Point", "coordinates": [7, 50]},
     "properties": {"crop": "wheat", "ph": 6.5, "n": 3, "sowing_date": "2024-04-01",
                    "seen": "2024-04-01T10:00:00Z", "organic": True}},
    {"type": "Feature", "id": "b", "geometry": {"type": "Point", "coordinates": [7.1, 50.1]},
     "properties": {"crop": "maize", "ph": 7, "n": 4, "sowing_date": "2024-05-01",
                    "seen": "2024-05-01T10:00:00+02:00", "organic": False}},
]


def _stac_item(i: int, props: dict) -> dict:
    return {"type": "Feature", "stac_version": "1.0.0", "id": f"s{i}", "collection": STAC,
            "geometry": {"type": "Point", "coordinates": [i, i]}, "bbox": [i, i, i, i],
            "properties": {"datetime": f"2024-01-0{i + 1}T00:00:00Z", **props}, "assets": {}, "links": []}


@pytest.fixture(scope="module")
def loaded(services) -> None:
    with httpx.Client(base_url=services.url, timeout=60) as client:
        r = client.post(f"/collections/{FEAT}/features:upload", params={"force": "true"}, headers=AUTH,
                        json={"type": "FeatureCollection", "features": FEATURES})
        assert r.status_code == 201, r.text
        client.delete(f"/collections/{STAC}", headers=AUTH)
        r = client.post("/collections", headers=AUTH, json={
            "id": STAC, "type": "Collection", "description": STAC, "license": "CC0-1.0",
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                       "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]}}})
        assert r.status_code == 201, r.text
        items = [_stac_item(0, {"cloud": 1}), _stac_item(1, {"cloud": 2})]
        r = client.post(f"/collections/{STAC}/items", headers=AUTH,
                        json={"type": "FeatureCollection", "features": items})
        assert r.status_code == 201, r.text


def _ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return sorted(f["id"] for f in r.json()["features"])


def _is_400(r: httpx.Response, *words: str) -> str:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "BadRequest" and all(w in body["description"] for w in words), body
    return str(body["description"])


# 1. ?queryable=value is checked against the queryable's type (as /api declares it) and compared by that type

@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("name,value,expected", [
    ("sowing_date", "AAA", "date"), ("sowing_date", "2024-02-30", "date"),
    ("sowing_date", "2024-04-01T00:00:00Z", "date"), ("ph", "abc", "number"), ("ph", "NaN", "number"),
    ("n", "1.5", "integer"), ("n", "x", "integer"), ("organic", "maybe", "true or false"),
    ("seen", "yesterday", "date-time"),
])
def test_a_queryable_value_of_the_wrong_type_is_a_400(http, loaded, surface, name, value, expected):
    r = http.get(f"{surface}/collections/{FEAT}/items", params={name: value})
    _is_400(r, name, value, expected)


def test_the_declared_types_are_the_ones_checked(http, loaded):
    params = {p["name"]: p["schema"] for p in http.get("/api").json()["paths"][f"/collections/{FEAT}/items"]
              ["get"]["parameters"] if p.get("in") == "query"}
    assert params["ph"] == {"type": "number"} and params["n"] == {"type": "integer"}
    assert params["organic"] == {"type": "boolean"}
    assert params["sowing_date"] == {"type": "string", "format": "date"}
    assert params["seen"] == {"type": "string", "format": "date-time"}


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("query,expected", [
    ({"crop": "wheat"}, ["a"]), ({"crop": "1"}, []),           # strings stay strings
    ({"ph": "7"}, ["b"]), ({"ph": "7.0"}, ["b"]), ({"ph": "6.50"}, ["a"]), ({"ph": "65e-1"}, ["a"]),
    ({"n": "4"}, ["b"]), ({"organic": "true"}, ["a"]), ({"organic": "FALSE"}, ["b"]),
    ({"sowing_date": "2024-04-01"}, ["a"]),
    ({"seen": "2024-05-01T08:00:00Z"}, ["b"]), ({"seen": "2024-05-01T10:00:00+02:00"}, ["b"]),
])
def test_a_queryable_value_matches_by_its_type(http, loaded, surface, query, expected):
    assert _ids(http.get(f"{surface}/collections/{FEAT}/items", params=query)) == expected


# unknown parameters: a 400 on the items of every kind of collection

@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("cid", [FEAT, STAC])
def test_an_unknown_items_parameter_is_a_400(http, loaded, surface, cid):
    _is_400(http.get(f"{surface}/collections/{cid}/items", params={"nosuch": "1"}), "nosuch", "allowed")


def test_a_property_of_stac_items_is_filtered_with_filter_not_a_parameter(http, loaded):
    _is_400(http.get(f"/collections/{STAC}/items", params={"cloud": "1"}), "cloud", "filter")
    assert _ids(http.get(f"/collections/{STAC}/items", params={"filter": "cloud = 1"})) == ["s0"]
    r = http.get(f"/collections/{STAC}/items", params={"limit": "1", "f": "json", "collections": STAC})
    assert len(_ids(r)) == 1


# 2. collection search: an unknown sortby field or parameter is a 400 listing what is accepted

@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("sortby", ["nosuch", "-extent", "id,properties.nosuch"])
def test_collection_search_sortby_on_an_unknown_field_is_a_400(http, loaded, surface, sortby):
    _is_400(http.get(f"{surface}/collections", params={"sortby": sortby}), "cannot sort collections",
            "sortable fields", "title", "datetime")


@pytest.mark.parametrize("sortby", ["id", "-title", "properties.id", "datetime", "-end_datetime", "license"])
def test_collection_search_sorts_by_its_sortable_fields(http, loaded, sortby):
    r = http.get("/collections", params={"sortby": sortby})
    assert r.status_code == 200, r.text
    ids = [c["id"] for c in r.json()["collections"]]
    if sortby in ("id", "properties.id"):
        assert ids == sorted(ids)


def test_collection_search_refuses_unknown_parameters(http, loaded):
    _is_400(http.get("/api/v2/collections", params={"nosuch": "1"}), "nosuch", "allowed", "sortby")


def test_collection_search_fields_of_an_absent_member_add_no_null(http, loaded):
    r = http.get("/collections", params={"fields": "id,nosuch", "limit": "100"})
    assert r.status_code == 200, r.text
    assert all("nosuch" not in c and "id" in c for c in r.json()["collections"])


# 4. STAC item queryables are typed from all the values, of every batch; booleans are queryables

MIXED = "strict-stac-mixed"


def _mixed_collection(client: httpx.Client, *batches: list[dict]) -> None:
    client.delete(f"/collections/{MIXED}", headers=AUTH)
    r = client.post("/collections", headers=AUTH, json={
        "id": MIXED, "type": "Collection", "description": MIXED, "license": "CC0-1.0",
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                   "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]}}})
    assert r.status_code == 201, r.text
    for batch in batches:
        items = [_stac_item(i, p) | {"id": f"m{i}", "collection": MIXED} for i, p in batch]
        r = client.post(f"/collections/{MIXED}/items", headers=AUTH,
                        json={"type": "FeatureCollection", "features": items})
        assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def mixed(services) -> None:
    with httpx.Client(base_url=services.url, timeout=60) as client:
        _mixed_collection(client, [
            (0, {"strict_ints": 1, "strict_mix": 1, "strict_flag": True, "strict_late": 5}),
            (1, {"strict_ints": 2.5, "strict_mix": "x", "strict_flag": False, "strict_late": 7}),
            (2, {"strict_ints": 3, "strict_mix": 3, "strict_flag": True}),
        ], [(3, {"strict_late": "late", "strict_flag": True})])


def test_queryable_types_cover_all_values(http, mixed):
    props = http.get(f"/collections/{MIXED}/queryables").json()["properties"]
    assert props["strict_ints"]["type"] == "number"
    assert props["strict_flag"]["type"] == "boolean"
    assert sorted(props["strict_mix"]["type"]) == ["number", "string"]
    assert sorted(props["strict_late"]["type"]) == ["number", "string"]  # a later batch widened it
    sortable = http.get(f"/collections/{MIXED}/sortables").json()["properties"]
    assert {"strict_ints", "strict_flag"} <= set(sortable)
    assert "strict_mix" not in sortable and "strict_late" not in sortable


@pytest.mark.parametrize("field", ["strict_mix", "strict_late"])
def test_a_property_of_several_types_is_no_sortable_that_fails(http, mixed, field):
    _is_400(http.get(f"/collections/{MIXED}/items", params={"sortby": field}), field, "sortable")
    r = http.get(f"/collections/{MIXED}/items", params={"filter": f"{field} = 'x'"})
    assert r.status_code == 200, r.text
    assert http.get(f"/collections/{MIXED}/items", params={"sortby": "-strict_ints"}).status_code == 200


@pytest.mark.parametrize("flt,expected", [("strict_flag = true", ["m0", "m2", "m3"]), ("strict_flag = false", ["m1"]),
                                          ("strict_ints > 2", ["m1", "m2"]), ("strict_mix = 'x'", ["m1"])])
def test_filters_on_booleans_and_numbers_of_stac_items(http, mixed, flt, expected):
    assert _ids(http.get(f"/api/v2/collections/{MIXED}/items", params={"filter": flt})) == expected
    assert _ids(http.post("/search", json={"collections": [MIXED], "filter": flt, "filter-lang": "cql2-text"})) \
        == expected


def test_booleans_sort_false_first(http, mixed):
    r = http.get(f"/collections/{MIXED}/items", params={"sortby": "strict_flag,id"})
    assert [f["id"] for f in r.json()["features"]] == ["m1", "m0", "m2", "m3"]


# 5. the same CQL2 geometry literals on STAC items and feature collections: BBOX, ENVELOPE, mixed GEOMETRYCOLLECTION

def _literals(x: float, y: float, d: float) -> list[tuple[str, int | None]]:
    """Filters around two points (x, y) and (x + d, y + d), and which of them matches (None: neither)."""
    box = f"{x - d / 2} {y - d / 2}, {x + d / 2} {y - d / 2}, {x + d / 2} {y + d / 2}, {x - d / 2} {y + d / 2}, " \
          f"{x - d / 2} {y - d / 2}"
    env = f"{x - d / 2},{y - d / 2},{x + d / 2},{y + d / 2}"
    far = f"LINESTRING({x + 5 * d} {y + 5 * d}, {x + 6 * d} {y + 6 * d})"
    return [
        (f"S_INTERSECTS(geometry, ENVELOPE({env}))", 0),
        (f"S_INTERSECTS(geometry, BBOX({env}))", 0),
        (f"S_WITHIN(geometry, ENVELOPE({env}))", 0),
        (f"S_CONTAINS(ENVELOPE({env}), geometry)", 0),
        (f"S_WITHIN(geometry, GEOMETRYCOLLECTION(POLYGON(({box})), {far}))", 0),
        (f"S_CONTAINS(GEOMETRYCOLLECTION(POLYGON(({box})), {far}), geometry)", 0),
        (f"S_INTERSECTS(geometry, GEOMETRYCOLLECTION(POINT({x + d} {y + d}), {far}))", 1),
        (f"S_DISJOINT(geometry, GEOMETRYCOLLECTION(POINT({x + d} {y + d}), {far}))", 0),
        (f"S_EQUALS(geometry, GEOMETRYCOLLECTION(POINT({x + d} {y + d}), {far}))", None),
    ]


KINDS = {STAC: (0.0, 0.0, 1.0, ["s0", "s1"]), FEAT: (7.0, 50.0, 0.1, ["a", "b"])}


@pytest.mark.parametrize("cid", [STAC, FEAT])
@pytest.mark.parametrize("n", range(9))
def test_geometry_literals_mean_the_same_on_both_kinds(http, loaded, cid, n):
    x, y, d, ids = KINDS[cid]
    flt, match = _literals(x, y, d)[n]
    r = http.get(f"/collections/{cid}/items", params={"filter": flt})
    assert _ids(r) == ([] if match is None else [ids[match]]), flt


@pytest.mark.parametrize("cid", [STAC, FEAT])
def test_an_envelope_of_three_numbers_is_a_400_on_both_kinds(http, loaded, cid):
    _is_400(http.get(f"/api/v2/collections/{cid}/items", params={"filter": "S_INTERSECTS(geometry, ENVELOPE(1,2,3))"}),
            "4 or 6 numbers")


def test_post_search_reads_envelope_and_mixed_collections_too(http, loaded):
    flt = "S_WITHIN(geometry, GEOMETRYCOLLECTION(POLYGON((-0.5 -0.5, 0.5 -0.5, 0.5 0.5, -0.5 0.5, -0.5 -0.5)), " \
          "POINT(9 9)))"
    assert _ids(http.post("/search", json={"collections": [STAC], "filter": flt, "filter-lang": "cql2-text"})) == ["s0"]
    assert _ids(http.post("/search", json={"collections": [FEAT], "filter": "S_INTERSECTS(geometry, "
                                           "ENVELOPE(6.95,49.95,7.05,50.05))", "filter-lang": "cql2-text"})) == ["a"]
