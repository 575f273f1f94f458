"""GET /collections/{id}/sortables lists exactly what sortby accepts on that collection's items: every listed
field sorts, anything else (unknown, array, object, geometry) is a 400 that points at the sortables."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import AUTH

STAC, FEAT = "sortables-stac", "sortables-feat"
REL = "http://www.opengis.net/def/rel/ogc/1.0/sortables"


def _props(i: int, mixed: bool = False) -> dict:
    """mixed: a property of numbers and strings (feature collections only: STAC ingest types a queryable from
    its values, and such a one is not sortable)."""
    return {"datetime": f"2024-02-0{i + 1}T00:00:00Z", "cloud": [5.5, 1.5, 3.5][i], "count": [2, 3, 1][i],
            "name": ["b", "c", "a"][i], "flag": [True, False, True][i], "tags": [["x"], ["y"], []][i],
            "meta": {"k": i}} | ({"mixed": [1, "one", 1][i]} if mixed else {})


@pytest.fixture(scope="module")
def loaded(services) -> None:
    with httpx.Client(base_url=services.url, timeout=60) as client:
        for cid in (STAC, FEAT):
            client.delete(f"/collections/{cid}", headers=AUTH)
        r = client.post("/collections", headers=AUTH, json={
            "id": STAC, "type": "Collection", "stac_version": "1.0.0", "description": STAC, "license": "CC0-1.0",
            "extent": {"spatial": {"bbox": [[0, 0, 2, 2]]}, "temporal": {"interval": [[None, None]]}}})
        assert r.status_code == 201, r.text
        items = [{"type": "Feature", "stac_version": "1.0.0", "id": f"s{i}", "collection": STAC,
                  "geometry": {"type": "Point", "coordinates": [i, i]}, "bbox": [i, i, i, i],
                  "properties": _props(i), "assets": {}, "links": []} for i in range(3)]
        r = client.post(f"/collections/{STAC}/items", headers=AUTH,
                        json={"type": "FeatureCollection", "features": items})
        assert r.status_code == 201, r.text
        feats = [{"type": "Feature", "id": f"f{i}", "geometry": {"type": "Point", "coordinates": [i, i]},
                  "properties": _props(i, mixed=True)} for i in range(3)]
        r = client.post(f"/collections/{FEAT}/features:upload", params={"force": "true"}, headers=AUTH,
                        json={"type": "FeatureCollection", "features": feats})
        assert r.status_code == 201, r.text
    yield
    with httpx.Client(base_url=services.url, timeout=60) as client:
        for cid in (STAC, FEAT):
            client.delete(f"/collections/{cid}", headers=AUTH)


def sortables(http: httpx.Client, cid: str, prefix: str = "") -> dict:
    coll = http.get(f"{prefix}/collections/{cid}").json()
    href = next(x["href"] for x in coll["links"] if x["rel"] == REL)
    r = http.get(href)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/schema+json"), r.text
    doc = r.json()
    assert doc["$id"] == href
    return doc


@pytest.mark.parametrize("cid", [STAC, FEAT])
def test_sortables_is_a_2020_12_schema_of_scalar_fields(http, loaded, cid):
    doc = sortables(http, cid)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["type"] == "object" and doc["additionalProperties"] is False
    props = doc["properties"]
    # booleans are no STAC queryables (the ingest registers numbers, strings, dates, arrays): not sortable there
    assert {"id", "datetime", "cloud", "count", "name", *(["flag"] if cid == FEAT else [])} <= set(props), props
    assert not {"tags", "meta", "geometry"} & set(props), props
    assert all(p["type"] in ("string", "number", "integer", "boolean") for p in props.values()), props
    assert props["cloud"]["type"] == "number" and props["datetime"]["format"] == "date-time"


def test_mixed_types_are_not_sortable_on_features(http, loaded):
    assert "mixed" not in sortables(http, FEAT)["properties"]


@pytest.mark.parametrize("cid", [STAC, FEAT])
def test_every_sortable_sorts_items_both_ways(http, loaded, cid):
    for name in sortables(http, cid)["properties"]:
        for sign in ("+", "-"):
            r = http.get(f"/collections/{cid}/items", params={"sortby": sign + name})
            assert r.status_code == 200, (name, r.text)


def test_sort_order_follows_the_sortable_type(http, loaded):
    for cid, prefix in ((STAC, "s"), (FEAT, "f")):
        r = http.get(f"/collections/{cid}/items", params={"sortby": "-count,name"})
        assert [f["id"] for f in r.json()["features"]] == [prefix + "1", prefix + "0", prefix + "2"], r.text


def test_every_stac_sortable_sorts_a_post_search(http, loaded):
    for name in sortables(http, STAC)["properties"]:
        r = http.post("/search", json={"collections": [STAC], "sortby": [{"field": name, "direction": "desc"}]})
        assert r.status_code == 200, (name, r.text)


@pytest.mark.parametrize("cid", [STAC, FEAT])
@pytest.mark.parametrize("field", ["nosuch", "tags", "meta", "geometry", "properties.tags"])
def test_an_unlisted_field_is_a_400_pointing_at_the_sortables(http, loaded, cid, field):
    r = http.get(f"/collections/{cid}/items", params={"sortby": field})
    assert r.status_code == 400, r.text
    text = r.json()["description"]
    assert field in text and f"{http.base_url}/collections/{cid}/sortables".replace("//c", "/c") in text, text


def test_mixed_property_sortby_is_a_400_on_features(http, loaded):
    r = http.get(f"/collections/{FEAT}/items", params={"sortby": "mixed"})
    assert r.status_code == 400 and "sortables" in r.json()["description"], r.text


def test_sortables_on_the_v2_surface_link_there(http, loaded):
    doc = sortables(http, FEAT, "/api/v2")
    assert "/api/v2/collections/" in doc["$id"]


def test_sortables_of_an_unknown_collection_is_a_404_and_parameters_are_checked(http, loaded):
    assert http.get("/collections/no-such-collection/sortables").status_code == 404
    assert http.get(f"/collections/{STAC}/sortables", params={"foo": "1"}).status_code == 400


def test_openapi_lists_sortables(http):
    op = http.get("/api").json()["paths"]["/collections/{collectionId}/sortables"]["get"]
    assert "application/schema+json" in op["responses"]["200"]["content"]


def test_stac_common_metadata_sorts_stac_items(http, loaded):
    """title, created and updated (STAC common metadata; STAC Browser's sort menu) are sortables of every STAC
    collection: the items here have none, so each sort is accepted and the tie-breakers (datetime, id, in the
    sort's direction) decide."""
    assert {"title", "created", "updated"} <= set(sortables(http, STAC)["properties"])
    for field in ("title", "created", "updated"):
        r = http.get(f"/collections/{STAC}/items", params={"sortby": f"-{field}"})
        assert r.status_code == 200 and [f["id"] for f in r.json()["features"]] == ["s2", "s1", "s0"], r.text
