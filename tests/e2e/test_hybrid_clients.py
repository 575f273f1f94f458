"""A real hybrid (the demo: Zarr cube + field parcels) through independent STAC clients.

/collections/{hybrid}/items lists the parcels (features); the cube's time slices are pgSTAC items that /search
returns. Their self links (/collections/{hybrid}/items/{slice id}) must resolve, and pystac-client's
`get_item(slice id)` must find them: an item GET on a hybrid answers the feature of that id, else the time slice.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from pystac_client import Client

from scripts import demo_cube
from tests.conftest import AUTH

HYBRID = demo_cube.COLLECTION


@pytest.fixture(scope="module")
def hybrid(services, database_url: str) -> Iterator[str]:
    demo_cube.load(database_url, services.data_dir)
    yield f"{services.url}/"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET search_path = pgstac, public")  # pgstac's delete trigger needs it
        conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (HYBRID,))


def test_search_self_links_of_time_slices_resolve(hybrid: str, http: httpx.Client) -> None:
    found = http.get("/search", params={"collections": HYBRID, "limit": 50}).json()["features"]
    assert len(found) == 18 and all(item["id"].startswith(f"{HYBRID}-2025") for item in found)
    for item in found:
        self_href = next(link["href"] for link in item["links"] if link["rel"] == "self")
        r = httpx.get(self_href, timeout=30)
        assert r.status_code == 200, (self_href, r.text)
        got = r.json()
        assert got["id"] == item["id"] and got["properties"]["datetime"] == item["properties"]["datetime"]
        assert got["assets"] == item["assets"] and got["collection"] == HYBRID
    # on the /api/v2 surface too
    r = http.get(f"/api/v2/collections/{HYBRID}/items/{found[0]['id']}")
    assert r.status_code == 200 and "/api/v2/collections/" in r.json()["links"][0]["href"]


def test_item_get_prefers_features_and_still_404s(hybrid: str, http: httpx.Client) -> None:
    parcel = http.get(f"/collections/{HYBRID}/items", params={"limit": 1}).json()["features"][0]
    r = http.get(f"/collections/{HYBRID}/items/{parcel['id']}", params={"properties": "crop"})
    assert r.status_code == 200 and r.json()["properties"] == {"crop": parcel["properties"]["crop"]}
    r = http.get(f"/collections/{HYBRID}/items/no-such-item")
    assert r.status_code == 404 and "no-such-item" in r.json()["description"]


def test_pystac_client_gets_time_slices_and_parcels(hybrid: str) -> None:
    client = Client.open(hybrid)
    collection = client.get_collection(HYBRID)
    slices = list(client.search(collections=[HYBRID], limit=7).items())
    assert len(slices) == 18
    for item in (slices[0], slices[-1]):
        got = collection.get_item(item.id)
        assert got is not None and got.id == item.id and got.datetime == item.datetime
    parcels = list(collection.get_items())
    assert len(parcels) == 36
    assert collection.get_item(parcels[3].id).properties["crop"] == parcels[3].properties["crop"]


def test_hybrid_extent_spans_time_slices_and_parcels(hybrid: str, http: httpx.Client) -> None:
    """STAC clients (browsers, pystac-client's search defaults) read the extent: it covers both sides."""
    extent = http.get(f"/collections/{HYBRID}").json()["extent"]
    (x0, y0, x1, y1), (t0, t1) = extent["spatial"]["bbox"][0], extent["temporal"]["interval"][0]
    slices = http.get("/search", params={"collections": HYBRID, "limit": 50}).json()["features"]
    parcels = http.get(f"/collections/{HYBRID}/items", params={"limit": 100}).json()["features"]
    times = [f["properties"]["datetime"] for f in slices + parcels if f["properties"].get("datetime")]
    assert len(times) > len(slices) and t0 == min(times) and t1 == max(times) == slices[0]["properties"]["datetime"]
    for f in slices + parcels:
        bx0, by0, bx1, by1 = f["bbox"]
        assert x0 <= bx0 and y0 <= by0 and bx1 <= x1 and by1 <= y1, f["id"]


def _slice_and_parcel(http: httpx.Client) -> tuple[dict, dict]:
    time_slice = http.get("/search", params={"collections": HYBRID, "limit": 1}).json()["features"][0]
    parcel = http.get(f"/collections/{HYBRID}/items", params={"limit": 1}).json()["features"][0]
    return time_slice, parcel


def _feature(fid: str) -> dict:
    return {"type": "Feature", "id": fid, "properties": {"crop": "test"},
            "geometry": {"type": "Point", "coordinates": [78.5, 17.5]}}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_writes_to_a_time_slice_are_refused(hybrid: str, http: httpx.Client, method: str) -> None:
    """Time slices are derived from the cube: PUT/PATCH/DELETE through /items is a 409 saying so, and leaves the
    slice as it was (no feature of its id shadows it)."""
    time_slice, _ = _slice_and_parcel(http)
    url = f"/collections/{HYBRID}/items/{time_slice['id']}"
    body = {"PUT": _feature(time_slice["id"]), "PATCH": {"properties": {"crop": "x"}}, "DELETE": None}[method]
    r = http.request(method, url, json=body, headers=AUTH)
    assert r.status_code == 409, r.text
    error = r.json()
    assert error["code"] == "Conflict" and "time slice" in error["description"]
    assert time_slice["id"] in error["description"] and method.lower().replace("put", "replace") in error["description"]
    after = http.get(url).json()
    assert after["id"] == time_slice["id"] and after["assets"] == time_slice["assets"]
    assert http.get(f"/collections/{HYBRID}/items", params={"ids": time_slice["id"]}).json()["numberMatched"] == 0


def test_creating_a_feature_with_a_time_slices_id_is_refused(hybrid: str, http: httpx.Client) -> None:
    time_slice, _ = _slice_and_parcel(http)
    before = http.get(f"/collections/{HYBRID}/items", params={"limit": 1}).json()["numberMatched"]
    url = f"/collections/{HYBRID}/items"
    r = http.post(url, json=_feature(time_slice["id"]), headers=AUTH)
    assert r.status_code == 409 and "time slice" in r.json()["description"], r.text
    # one such id in a FeatureCollection refuses the whole request: nothing is stored
    r = http.post(url, json={"type": "FeatureCollection",
                             "features": [_feature("hybrid-ok-1"), _feature(time_slice["id"])]}, headers=AUTH)
    assert r.status_code == 409 and time_slice["id"] in r.json()["description"], r.text
    assert http.get(url, params={"limit": 1}).json()["numberMatched"] == before
    assert http.get(f"{url}/{time_slice['id']}").json()["assets"] == time_slice["assets"]


def test_features_of_a_hybrid_stay_writable(hybrid: str, http: httpx.Client) -> None:
    url = f"/collections/{HYBRID}/items"
    assert http.post(url, json=_feature("hybrid-write-test"), headers=AUTH).status_code == 201
    r = http.patch(f"{url}/hybrid-write-test", json={"properties": {"crop": "patched"}}, headers=AUTH)
    assert r.status_code == 204, r.text
    assert http.get(f"{url}/hybrid-write-test").json()["properties"]["crop"] == "patched"
    assert http.delete(f"{url}/hybrid-write-test", headers=AUTH).status_code == 204
    assert http.get(f"{url}/hybrid-write-test").status_code == 404
