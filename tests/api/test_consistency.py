"""The same question gets the same kind of answer everywhere: sortby, datetime, queryable types,
parameters that belong elsewhere, and exact integers in filters (STAC items and feature collections)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import AUTH

STAC_A, STAC_B, FEAT = "consistency-stac-a", "consistency-stac-b", "consistency-features"


def _item(cid: str, i: int, props: dict) -> dict:
    return {"type": "Feature", "stac_version": "1.0.0", "id": f"{cid}-{i}", "collection": cid,
            "geometry": {"type": "Point", "coordinates": [i, i]}, "bbox": [i, i, i, i],
            "properties": {"datetime": f"2024-01-0{i + 1}T00:00:00Z", **props}, "assets": {}, "links": []}


def _stac_collection(client: httpx.Client, cid: str, items: list[dict]) -> None:
    client.delete(f"/collections/{cid}", headers=AUTH)
    r = client.post("/collections", headers=AUTH, json={
        "id": cid, "type": "Collection", "description": cid, "license": "CC0-1.0",
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                   "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]}}})
    assert r.status_code == 201, r.text
    r = client.post(f"/collections/{cid}/items", headers=AUTH, json={"type": "FeatureCollection", "features": items})
    assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def loaded(services) -> None:
    with httpx.Client(base_url=services.url, timeout=60) as client:
        _stac_collection(client, STAC_A, [_item(STAC_A, i, {"cloud": 10 * (3 - i)}) for i in range(3)])
        _stac_collection(client, STAC_B, [_item(STAC_B, i, {"snow": i}) for i in range(2)])
        features = [{"type": "Feature", "id": f"f{i}", "geometry": {"type": "Point", "coordinates": [i, i]},
                     "properties": {"name": f"n{i}", "datetime": f"2024-01-0{i + 1}T00:00:00Z",
                                    "measure": [1.5e300, 2.5, -0.0][i], "count": [1, 2, 3][i],
                                    "floats": [1.5e300, -0.0, 2.0][i],
                                    "big": [9007199254740993, 9007199254740992, 1][i]}} for i in range(3)]
        r = client.post(f"/collections/{FEAT}/features:upload", params={"force": "true"}, headers=AUTH,
                        json={"type": "FeatureCollection", "features": features})
        assert r.status_code == 201, r.text


def _ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [f["id"] for f in r.json()["features"]]


def _is_400(r: httpx.Response, *words: str) -> str:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "BadRequest" and all(w in body["description"] for w in words), body
    return str(body["description"])


# 1. sortby on an unknown field: a 400 everywhere, naming it and the sortable fields

@pytest.mark.parametrize("how", ["search-get", "search-post", "items"])
def test_unknown_sort_field_is_a_400_on_stac_items(http, loaded, how):
    if how == "search-get":
        r = http.get("/search", params={"collections": STAC_A, "sortby": "-nosuch"})
    elif how == "search-post":
        r = http.post("/search", json={"collections": [STAC_A], "sortby": [{"field": "properties.nosuch"}]})
    else:
        r = http.get(f"/collections/{STAC_A}/items", params={"sortby": "nosuch"})
    text = _is_400(r, "nosuch", "sortable", "cloud", "datetime", "id")
    assert "snow" not in text  # a property of another collection


def test_unknown_sort_field_is_a_400_on_features_too(http, loaded):
    _is_400(http.get(f"/collections/{FEAT}/items", params={"sortby": "nosuch"}), "nosuch")


@pytest.mark.parametrize("field", ["id", "-datetime", "collection", "cloud", "-properties.cloud",
                                   "start_datetime", "end_datetime"])
def test_sortable_fields_still_sort(http, loaded, field):
    r = http.get(f"/collections/{STAC_A}/items", params={"sortby": field})
    assert len(_ids(r)) == 3
    if "cloud" in field:
        clouds = [f["properties"]["cloud"] for f in r.json()["features"]]
        assert clouds == sorted(clouds, reverse=field.startswith("-"))


def test_every_queryable_of_a_collection_is_sortable_but_geometry(http, loaded):
    names = set(http.get(f"/collections/{STAC_A}/queryables").json()["properties"]) - {"geometry"}
    assert {"id", "datetime", "cloud"} <= names
    for name in names:
        assert http.get(f"/collections/{STAC_A}/items", params={"sortby": name}).status_code == 200, name


def test_every_queryable_is_sortable_on_search_and_feature_items(http, loaded):
    for name, schema in http.get("/queryables").json()["properties"].items():
        several = isinstance(schema.get("type"), list)  # values of several types: compared as text, not sortable
        if name != "geometry":
            assert http.get("/search", params={"sortby": name, "limit": 1}).status_code == (400 if several else 200), name
    for name in set(http.get(f"/collections/{FEAT}/queryables").json()["properties"]) - {"geometry"}:
        assert http.get(f"/collections/{FEAT}/items", params={"sortby": f"-{name}"}).status_code == 200, name


def test_multi_collection_search_sorts_by_a_property_of_either(http, loaded):
    both = f"{STAC_A},{STAC_B}"
    assert len(_ids(http.get("/search", params={"collections": both, "sortby": "-snow", "limit": 10}))) == 5
    assert len(_ids(http.post("/search", json={"sortby": [{"field": "cloud", "direction": "desc"}],
                                                "limit": 100}))) >= 5
    _is_400(http.get("/search", params={"collections": both, "sortby": "nosuch"}), "nosuch")
    _is_400(http.get("/search", params={"collections": STAC_B, "sortby": "cloud"}), "cloud")


# 2. /aggregate reads datetime (and filter) exactly as /items does

@pytest.mark.parametrize("value", ["2024-01-01", "2024-01-01T00:00:00", "2024-01-01/2024-01-02",
                                   "2024-01-01T00:00:00/..", "2024-13-01T00:00:00Z"])
def test_aggregate_refuses_the_datetimes_items_refuses(http, loaded, value):
    items = http.get(f"/collections/{FEAT}/items", params={"datetime": value})
    agg = http.get(f"/collections/{FEAT}/aggregate", params={"datetime": value, "metrics": "count"})
    assert _is_400(agg, value.split("/")[0]) == _is_400(items, value.split("/")[0])


def test_aggregate_and_items_agree_on_valid_datetimes(http, loaded):
    for value in ("2024-01-02T00:00:00Z", "2024-01-02T00:00:00+00:00/..", "../2024-01-01T12:00:00Z"):
        items = http.get(f"/collections/{FEAT}/items", params={"datetime": value}).json()["numberMatched"]
        agg = http.get(f"/collections/{FEAT}/aggregate", params={"datetime": value, "metrics": "count"})
        assert agg.status_code == 200, agg.text
        assert agg.json()["numberMatched"] == items


# 5. integer literals beyond 2^53 in CQL2 filters stay exact (the cql2 parser reads numbers as floats)

@pytest.mark.parametrize("flt, expected", [
    ("big = 9007199254740993", ["f0"]),
    ("big = 9007199254740992", ["f1"]),
    ("big > 9007199254740992", ["f0"]),
    ("big IN (9007199254740993, 1)", ["f0", "f2"]),
    ("big = 9007199254740992 AND name <> '9007199254740993'", ["f1"]),
    ('{"op": "=", "args": [{"property": "big"}, 9007199254740993]}', ["f0"]),
])
def test_big_integer_literals_are_exact_in_items_filters(http, loaded, flt, expected):
    assert sorted(_ids(http.get(f"/collections/{FEAT}/items", params={"filter": flt}))) == expected


def test_big_integer_literals_are_exact_in_post_search_and_aggregate(http, loaded):
    body = {"collections": [FEAT], "filter": {"op": "=", "args": [{"property": "big"}, 9007199254740993]}}
    assert _ids(http.post("/search", json=body)) == ["f0"]
    assert _ids(http.post("/search", json={**body, "filter": "big = 9007199254740993",
                                           "filter-lang": "cql2-text"})) == ["f0"]
    agg = http.get(f"/collections/{FEAT}/aggregate", params={"filter": "big = 9007199254740993", "metrics": "count"})
    assert agg.status_code == 200 and agg.json()["numberMatched"] == 1, agg.text


# 3. queryable types: integer only for values written as integers that fit 64 bits

def test_queryable_types_follow_how_numbers_are_written(http, loaded):
    props = http.get(f"/collections/{FEAT}/queryables").json()["properties"]
    assert props["measure"]["type"] == "number"      # 1.5e300, 2.5, -0.0
    assert props["floats"]["type"] == "number"       # 1.5e300, -0.0, 2.0: integral values, written as floats
    assert props["count"]["type"] == "integer" and props["big"]["type"] == "integer"


@pytest.mark.parametrize("value, kind", [(1.5e300, "number"), (-0.0, "number"), (2.0, "number"), (1e20, "number"),
                                         (-(2**63), "integer"), (2**63, "number"), (7, "integer"), (0, "integer")])
def test_each_number_alone_gets_the_kind_users_expect(db, value, kind):
    from psycopg.types.json import Jsonb

    assert db.execute("SELECT libs.jsonb_kind(%s)", (Jsonb(value),)).fetchone()[0] == kind


def test_migration_235_retypes_recorded_integer_kinds(db):
    from tests.conftest import ROOT, empty_feature_collection

    cid = "consistency-kinds-migration"
    empty_feature_collection(db, cid, [0, 0, 1, 1])
    db.execute("INSERT INTO data.features (collection_id, id, geom, properties) VALUES (%s, 'a', "
               "ST_SetSRID(ST_MakePoint(0, 0), 4326), '{\"m\": 1.5e300, \"c\": 3, \"s\": \"x\"}')", (cid,))
    db.execute("UPDATE data.feature_collections SET property_kinds = "
               "'{\"m\": \"integer\", \"c\": \"integer\", \"s\": \"string\"}' WHERE collection_id = %s", (cid,))
    db.execute((ROOT / "db" / "migrations" / "235_property_kinds_numbers.sql").read_text())
    kinds = db.execute("SELECT property_kinds FROM data.feature_collections WHERE collection_id = %s",
                       (cid,)).fetchone()[0]
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))
    assert kinds == {"m": "number", "c": "integer", "s": "string"}


# 4. ?collections= on /collections/{id}/items: a /search parameter, a 400 unless it names this collection

@pytest.mark.parametrize("cid", [STAC_A, FEAT])
@pytest.mark.parametrize("value", [STAC_B, f"{STAC_B},{STAC_A}", ""])
def test_collections_on_items_is_a_400_unless_it_is_this_collection(http, loaded, cid, value):
    _is_400(http.get(f"/collections/{cid}/items", params={"collections": value}), "/search", "collections")


@pytest.mark.parametrize("cid", [STAC_A, FEAT])
def test_collections_naming_this_collection_is_accepted_as_pystac_client_sends_it(http, loaded, cid):
    plain = _ids(http.get(f"/collections/{cid}/items"))
    assert _ids(http.get(f"/collections/{cid}/items", params={"collections": cid})) == plain and plain
