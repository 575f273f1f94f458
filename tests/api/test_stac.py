"""STAC API over HTTP: collections, items, search, paging, filters, errors, transactions."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import AUTH

CID = "stac-api-test"
N = 23


def make_item(i: int, x: float = 0.0, y: float = 0.0, cid: str = CID) -> dict:
    return {"type": "Feature", "stac_version": "1.0.0", "id": f"item-{i:03d}", "collection": cid,
            "geometry": {"type": "Point", "coordinates": [x, y]}, "bbox": [x, y, x, y],
            "properties": {"datetime": f"2024-01-{1 + i % 28:02d}T00:00:00Z", "cloud": i * 4 % 100,
                           "platform": "sentinel-2a" if i % 2 else "sentinel-2b"},
            "assets": {"data": {"href": f"https://example.org/{i}.tif"}}, "links": []}


@pytest.fixture(scope="module")
def loaded(services) -> str:
    with httpx.Client(base_url=services.url, timeout=60) as client:
        client.delete(f"/collections/{CID}", headers=AUTH)
        r = client.post("/collections", headers=AUTH, json={
            "id": CID, "type": "Collection", "title": "STAC API test", "description": "items for tests",
            "license": "CC-BY-4.0", "keywords": ["test", "points"],
            "extent": {"spatial": {"bbox": [[-180, -10, 180, 10]]},
                       "temporal": {"interval": [["2024-01-01T00:00:00Z", "2024-01-31T00:00:00Z"]]}}})
        assert r.status_code == 201, r.text
        items = [make_item(i, -175.0 + i * 15.0, (i % 5) - 2.0) for i in range(N - 2)]
        items += [make_item(N - 2, 179.5, 0.5), make_item(N - 1, -179.5, -0.5)]
        r = client.post(f"/collections/{CID}/items", headers=AUTH,
                        json={"type": "FeatureCollection", "features": items})
        assert r.status_code == 201, r.text
    return CID


def ids(doc: dict) -> list[str]:
    return [f["id"] for f in doc["features"]]


def test_collection_and_items(http, loaded):
    coll = http.get(f"/collections/{loaded}")
    assert coll.status_code == 200
    assert {"self", "root", "parent", "items"} <= {link["rel"] for link in coll.json()["links"]}
    items = http.get(f"/collections/{loaded}/items", params={"limit": 5})
    assert items.status_code == 200 and items.headers["content-type"].startswith("application/geo+json")
    assert items.json()["numberReturned"] == 5 and items.json()["numberMatched"] == N
    one = http.get(f"/collections/{loaded}/items/item-003")
    assert one.status_code == 200 and one.json()["properties"]["cloud"] == 12
    assert one.json()["links"][0]["href"].endswith(f"/collections/{loaded}/items/item-003")


@pytest.mark.parametrize("prefix", ["", "/api/v2"])
def test_get_paging_follows_next_links_to_the_end(http, loaded, prefix):
    url: str | None = f"{http.base_url}{prefix}/search?collections={loaded}&limit=5"
    seen: list[str] = []
    while url:
        doc = http.get(url).json()
        seen += ids(doc)
        nxt = [link for link in doc["links"] if link["rel"] == "next"]
        assert all(f"{prefix}/search?" in link["href"] for link in nxt)
        url = nxt[0]["href"] if nxt else None
    assert len(seen) == N and len(set(seen)) == N


def test_post_paging_follows_next_links_to_the_end(http, loaded):
    body: dict | None = {"collections": [loaded], "limit": 7}
    seen: list[str] = []
    while body is not None:
        doc = http.post("/search", json=body).json()
        seen += ids(doc)
        nxt = [link for link in doc["links"] if link["rel"] == "next"]
        if nxt:
            assert nxt[0]["method"] == "POST" and nxt[0]["href"].endswith("/search")
            body = nxt[0]["body"]
        else:
            body = None
    assert len(seen) == N and len(set(seen)) == N


def test_antimeridian_bbox(http, loaded):
    doc = http.get("/search", params={"collections": loaded, "bbox": "179,-1,-179,1"}).json()
    assert sorted(ids(doc)) == [f"item-{N - 2:03d}", f"item-{N - 1:03d}"]


def test_prefer_count_answers_with_content_range(http, loaded):
    r = http.get("/search", params={"collections": loaded, "limit": 4}, headers={"Prefer": "count=exact"})
    assert r.headers["content-range"] == f"items 0-3/{N}"
    assert r.headers["preference-applied"] == "count=exact"


def test_filter_sortby_fields(http, loaded):
    doc = http.get("/search", params={"collections": loaded, "filter": "cloud >= 60", "sortby": "-cloud",
                                      "fields": "id,properties.cloud,-geometry"}).json()
    clouds = [f["properties"]["cloud"] for f in doc["features"]]
    assert clouds == sorted(clouds, reverse=True) and min(clouds) >= 60
    assert "geometry" not in doc["features"][0]


@pytest.mark.parametrize("query", ["bbox=1,2,3", "datetime=yesterday", "limit=0", "limit=-3", "filter=cloud >",
                                   "sortby=-", "intersects={bad", "bbox=0,0,1,1&intersects={}"])
def test_malformed_parameters_are_400(http, loaded, query):
    r = http.get(f"/search?{query}")
    assert r.status_code == 400, r.text[:300]
    assert r.json()["code"] == "BadRequest"


def test_unknown_collection_and_item_are_404(http, loaded):
    assert http.get("/collections/nope").status_code == 404
    assert http.get("/collections/nope/items").status_code == 404
    assert http.get(f"/collections/{loaded}/items/nope").status_code == 404


def test_writes_need_a_token_and_duplicates_conflict(http, loaded):
    item = make_item(999)
    assert http.post(f"/collections/{loaded}/items", json=item).status_code == 401
    assert http.post(f"/collections/{loaded}/items", json=item,
                     headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert http.post(f"/collections/{loaded}/items", json=item, headers=AUTH).status_code == 201
    assert http.post(f"/collections/{loaded}/items", json=item, headers=AUTH).status_code == 409
    assert http.delete(f"/collections/{loaded}/items/item-999", headers=AUTH).status_code == 204
    assert http.get(f"/collections/{loaded}/items/item-999").status_code == 404
