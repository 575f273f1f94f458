"""STAC transactions over HTTP: collections and items, the bulk load, tokens, conflicts, all-or-nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import AUTH

CID = "stac-txn-test"


def item(i: int, **props) -> dict:
    return {"type": "Feature", "id": f"t-{i}", "geometry": {"type": "Point", "coordinates": [i, i]},
            "properties": {"datetime": "2024-03-01T00:00:00Z", "n": i, **props}, "assets": {}, "links": []}


@pytest.fixture()
def collection(http) -> str:
    http.delete(f"/collections/{CID}", headers=AUTH)
    r = http.post("/collections", headers=AUTH, json={"id": CID, "description": "transactions", "license": "MIT"})
    assert r.status_code == 201 and r.headers["location"].endswith(f"/collections/{CID}")
    yield CID
    http.delete(f"/collections/{CID}", headers=AUTH)


def count(http, cid: str) -> int:
    return http.get("/search", params={"collections": cid, "limit": 1},
                    headers={"Prefer": "count=exact"}).json()["numberMatched"]


def test_collection_lifecycle(http, db, collection):
    assert db.execute("SELECT kind FROM data.collection_meta WHERE collection_id = %s", (CID,)).fetchone()[0] == "stac"
    assert http.post("/collections", headers=AUTH, json={"id": CID}).status_code == 409
    put = http.put(f"/collections/{CID}", headers=AUTH, json={"id": CID, "description": "replaced", "license": "MIT"})
    assert put.status_code == 204
    assert http.get(f"/collections/{CID}").json()["description"] == "replaced"
    patch = http.patch(f"/collections/{CID}", headers=AUTH, json={"title": "Patched", "license": None})
    assert patch.status_code == 204
    doc = http.get(f"/collections/{CID}").json()
    assert doc["title"] == "Patched" and doc["description"] == "replaced" and doc["license"] == "other"
    assert http.put(f"/collections/{CID}", headers=AUTH, json={"id": "other"}).status_code == 400
    assert http.delete(f"/collections/{CID}", headers=AUTH).status_code == 204
    assert http.get(f"/collections/{CID}").status_code == 404
    assert http.delete(f"/collections/{CID}", headers=AUTH).status_code == 404


def test_writes_without_or_with_a_wrong_token_are_401(http, collection):
    bad = {"Authorization": "Bearer nope"}
    for headers in ({}, bad):
        assert http.post("/collections", headers=headers, json={"id": "x"}).status_code == 401
        assert http.delete(f"/collections/{CID}", headers=headers).status_code == 401
        assert http.post(f"/collections/{CID}/items", headers=headers, json=item(1)).status_code == 401
        assert http.put(f"/collections/{CID}/items/t-1", headers=headers, json=item(1)).status_code == 401
        r = http.post(f"/collections/{CID}/bulk_items", headers=headers, json={"items": [item(1)]})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert http.get(f"/collections/{CID}").status_code == 200


def test_item_lifecycle(http, collection):
    r = http.post(f"/collections/{CID}/items", headers=AUTH, json=item(1))
    assert r.status_code == 201 and r.headers["location"].endswith(f"/collections/{CID}/items/t-1")
    assert r.json()["bbox"] == [1, 1, 1, 1]
    assert http.post(f"/collections/{CID}/items", headers=AUTH, json=item(1)).status_code == 409
    assert http.put(f"/collections/{CID}/items/t-1", headers=AUTH, json=item(1, extra="x")).status_code == 204
    assert http.get(f"/collections/{CID}/items/t-1").json()["properties"]["extra"] == "x"
    assert http.patch(f"/collections/{CID}/items/t-1", headers=AUTH,
                      json={"properties": {"extra": None, "n": 7}}).status_code == 204
    props = http.get(f"/collections/{CID}/items/t-1").json()["properties"]
    assert "extra" not in props and props["n"] == 7
    assert http.put(f"/collections/{CID}/items/t-2", headers=AUTH, json=item(2)).status_code == 404
    assert http.patch(f"/collections/{CID}/items/t-2", headers=AUTH, json={"properties": {}}).status_code == 404
    assert http.put(f"/collections/{CID}/items/t-1", headers=AUTH, json=item(3)).status_code == 400
    assert http.delete(f"/collections/{CID}/items/t-1", headers=AUTH).status_code == 204
    assert http.get(f"/collections/{CID}/items/t-1").status_code == 404
    assert http.delete(f"/collections/{CID}/items/t-1", headers=AUTH).status_code == 204
    assert http.post("/collections/nope/items", headers=AUTH, json=item(1)).status_code == 404


@pytest.mark.parametrize("body", [
    b"{oops", b"", b'"a string"', b'{"type": "Feature", "id": "x"}',
    b'{"type": "Feature", "id": "x", "geometry": {"type": "Point", "coordinates": [0, 0]}, "properties": {}}',
    b'{"type": "Feature", "id": "x", "collection": "elsewhere", "geometry": {"type": "Point", "coordinates": [0, 0]},'
    b' "properties": {"datetime": "2024-01-01T00:00:00Z"}}',
    b'{"type": "Feature", "id": "x", "geometry": {"type": "Point", "coordinates": "nope"},'
    b' "properties": {"datetime": "2024-01-01T00:00:00Z"}}',
])
def test_bad_item_bodies_are_400(http, collection, body):
    r = http.post(f"/collections/{CID}/items", headers={**AUTH, "Content-Type": "application/json"}, content=body)
    assert r.status_code == 400, r.text
    assert count(http, CID) == 0


def test_bulk_load_and_upsert(http, collection):
    items = {f"t-{i}": item(i) for i in range(50)}
    r = http.post(f"/collections/{CID}/bulk_items", headers=AUTH, json={"items": items})
    assert r.status_code == 200 and r.json()["loaded"] == 50
    assert count(http, CID) == 50
    again = http.post(f"/collections/{CID}/bulk_items", headers=AUTH, json={"items": items})
    assert again.status_code == 409
    items["t-0"]["properties"]["n"] = 1000
    up = http.post(f"/collections/{CID}/bulk_items", headers=AUTH, json={"items": items, "method": "upsert"})
    assert up.status_code == 200 and count(http, CID) == 50
    assert http.get(f"/collections/{CID}/items/t-0").json()["properties"]["n"] == 1000


@pytest.mark.parametrize("partition_trunc", [None, "month"])
@pytest.mark.parametrize("broken", ["bad geometry", "no datetime", "duplicate id", "existing id"])
def test_a_failed_bulk_load_leaves_nothing_behind(http, db, collection, broken, partition_trunc):
    """Also with pgSTAC time partitions, where the primary key of a partition cannot see the others' ids."""
    if partition_trunc:
        db.execute("SET search_path = pgstac, public")
        db.execute("UPDATE pgstac.collections SET partition_trunc = %s WHERE id = %s", (partition_trunc, CID))
    assert http.post(f"/collections/{CID}/items", headers=AUTH, json=item(999)).status_code == 201
    items = [item(i) for i in range(20)]
    if broken == "bad geometry":
        items[17]["geometry"] = {"type": "Polygon", "coordinates": [[1, 2]]}
    elif broken == "no datetime":
        del items[17]["properties"]["datetime"]
    elif broken == "duplicate id":
        items[17]["id"] = items[3]["id"]
    else:
        items[17]["id"] = "t-999"
    if partition_trunc:   # a month of its own for the broken item: another partition than t-999's
        items[17]["properties"]["datetime"] = "2024-05-01T00:00:00Z" if "datetime" in items[17]["properties"] else None
    r = http.post(f"/collections/{CID}/bulk_items", headers=AUTH, json={"items": items})
    expected = {"bad geometry": (400, "item #18 (t-17): The 'coordinates'"), "no datetime": (400, "datetime"),
                "duplicate id": (400, "t-3 appears more than once"), "existing id": (409, "t-999 already exists")}
    assert (r.status_code, expected[broken][1] in r.json()["description"]) == (expected[broken][0], True), r.text
    assert count(http, CID) == 1
    rows = db.execute("SELECT count(*) FROM pgstac.items WHERE collection = %s", (CID,)).fetchone()[0]
    assert rows == 1


def test_queryables_survive_a_collection_deleted_behind_our_back(http, db, collection):
    """pgSTAC leaves deleted collections' ids in its queryables; loading into another collection still works."""
    other = f"{CID}-other"
    http.delete(f"/collections/{other}", headers=AUTH)
    assert http.post("/collections", headers=AUTH, json={"id": other}).status_code == 201
    assert http.post(f"/collections/{other}/items", headers=AUTH, json=item(1, only_here=1.5)).status_code == 201
    db.execute("SELECT pgstac.delete_collection(%s)", (other,))
    r = http.post(f"/collections/{CID}/items", headers=AUTH, json=item(2, only_here=2.5))
    assert r.status_code == 201, r.text
    schema = http.get(f"/collections/{CID}/queryables").json()
    assert schema["properties"]["only_here"]["type"] == "number"


def test_a_bulk_load_of_20_mb_goes_through(services, collection):
    """Large write bodies do not go through psycopg's pipeline mode, which deadlocks on them (psycopg#685)."""
    items = [item(i, note="x" * 10_000) for i in range(2_000)]
    with httpx.Client(base_url=services.url, timeout=120) as client:
        r = client.post(f"/collections/{CID}/bulk_items", headers=AUTH, json={"items": items})
        assert r.status_code == 200 and r.json()["loaded"] == 2_000
        assert client.get(f"/collections/{CID}/items/t-1999").json()["properties"]["note"] == "x" * 10_000
