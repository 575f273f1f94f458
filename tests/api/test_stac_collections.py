"""Collection search on /collections: bbox, datetime, q, filter, sortby, fields, limit and paging links."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import AUTH

PREFIX = "stac-csearch"
SPECS = [  # id suffix, bbox, interval, keywords
    ("alpha", [0, 40, 10, 50], ["2020-01-01T00:00:00Z", "2020-12-31T00:00:00Z"], ["glacier"]),
    ("bravo", [100, -10, 110, 0], ["2021-01-01T00:00:00Z", "2021-12-31T00:00:00Z"], ["mangrove"]),
    ("charlie", [-70, -20, -60, -10], ["2022-01-01T00:00:00Z", None], ["glacier", "andes"]),
]


@pytest.fixture(scope="module")
def collections(services) -> list[str]:
    with httpx.Client(base_url=services.url, headers=AUTH, timeout=60) as client:
        out = []
        for suffix, bbox, interval, keywords in SPECS:
            cid = f"{PREFIX}-{suffix}"
            client.delete(f"/collections/{cid}")
            r = client.post("/collections", json={
                "id": cid, "title": f"Collection {suffix}", "description": f"{suffix} test collection",
                "keywords": keywords, "license": "CC0-1.0",
                "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [interval]}}})
            assert r.status_code == 201, r.text
            out.append(cid)
    return out


def found(http, **params) -> list[str]:
    r = http.get("/collections", params={"limit": 100, **params})
    assert r.status_code == 200, r.text
    return sorted(c["id"] for c in r.json()["collections"] if c["id"].startswith(PREFIX))


def test_bbox_datetime_q_filter(http, collections):
    assert found(http, bbox="-1,39,11,51") == [f"{PREFIX}-alpha"]
    assert found(http, datetime="2021-06-01T00:00:00Z") == [f"{PREFIX}-bravo"]
    assert found(http, datetime="2023-01-01T00:00:00Z/..") == [f"{PREFIX}-charlie"]
    assert found(http, q="glacier") == [f"{PREFIX}-alpha", f"{PREFIX}-charlie"]
    assert found(http, filter=f"id = '{PREFIX}-bravo'") == [f"{PREFIX}-bravo"]


def test_sortby_and_fields(http, collections):
    r = http.get("/collections", params={"q": "glacier", "sortby": "-id", "fields": "id,title"}).json()
    ids = [c["id"] for c in r["collections"] if c["id"].startswith(PREFIX)]
    assert ids == [f"{PREFIX}-charlie", f"{PREFIX}-alpha"]
    assert "extent" not in r["collections"][0] and r["collections"][0]["title"]


def test_paging_follows_next_links_to_the_end(http, collections):
    url: str | None = f"{http.base_url}/api/v2/collections?limit=1&q=glacier"
    seen: list[str] = []
    while url:
        doc = http.get(url).json()
        assert doc["numberReturned"] <= 1
        seen += [c["id"] for c in doc["collections"]]
        nxt = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else None
    assert sorted(seen) == [f"{PREFIX}-alpha", f"{PREFIX}-charlie"]


@pytest.mark.parametrize("query", ["limit=0", "bbox=1,2", "datetime=soon", "offset=-1", "filter=id ==", "sortby=-"])
def test_malformed_collection_search_is_400(http, collections, query):
    assert http.get(f"/collections?{query}").status_code == 400


def test_every_collection_carries_its_kind_links(http, db, collections):
    cid = collections[0]
    db.execute("INSERT INTO data.collection_links (kind, rel, path, type, ord) VALUES "
               "('stac', 'test-rel', 'collections/{id}/test', 'application/json', 99) ON CONFLICT DO NOTHING")
    try:
        links = {link["rel"]: link["href"] for link in http.get(f"/collections/{cid}").json()["links"]}
        assert links["test-rel"].endswith(f"/collections/{cid}/test")
        assert links["items"].endswith(f"/collections/{cid}/items")
    finally:
        db.execute("DELETE FROM data.collection_links WHERE rel = 'test-rel'")
