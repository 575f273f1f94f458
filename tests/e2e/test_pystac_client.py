"""pystac-client, the reference STAC client, against the live gateway: open, search, page, collection search."""

from __future__ import annotations

import httpx
import pytest
from pystac_client import Client

from tests.conftest import AUTH

CID = "stac-pystac-client"
N = 12


@pytest.fixture(scope="module")
def catalog(services) -> str:
    items = [{"type": "Feature", "stac_version": "1.0.0", "id": f"p-{i:02d}", "collection": CID,
              "geometry": {"type": "Point", "coordinates": [5.0 + i / 10, 45.0]}, "bbox": [5.0 + i / 10, 45, 5.0 + i / 10, 45],
              "properties": {"datetime": f"2023-05-{i + 1:02d}T12:00:00Z", "eo:cloud_cover": i * 8},
              "assets": {"data": {"href": f"https://example.org/p-{i}.tif"}}, "links": []} for i in range(N)]
    with httpx.Client(base_url=services.url, headers=AUTH, timeout=60) as client:
        client.delete(f"/collections/{CID}")
        r = client.post("/collections", json={
            "id": CID, "title": "pystac-client alpine scenes", "description": "Scenes over the Alps",
            "keywords": ["alps"], "license": "CC0-1.0",
            "extent": {"spatial": {"bbox": [[5, 45, 6.2, 45]]},
                       "temporal": {"interval": [["2023-05-01T00:00:00Z", "2023-05-31T00:00:00Z"]]}}})
        assert r.status_code == 201, r.text
        r = client.post(f"/collections/{CID}/items", json={"type": "FeatureCollection", "features": items})
        assert r.status_code == 201, r.text
    return f"{services.url}/"


def test_open_and_search_with_filter_sortby_and_paging(catalog):
    client = Client.open(catalog)
    assert client.conforms_to("ITEM_SEARCH") and client.conforms_to("FILTER") and client.conforms_to("SORT")
    search = client.search(collections=[CID], filter="\"eo:cloud_cover\" < 60", sortby="-properties.eo:cloud_cover",
                           limit=3, method="POST")
    items = list(search.items())
    clouds = [it.properties["eo:cloud_cover"] for it in items]
    assert len(items) == 8 and clouds == sorted(clouds, reverse=True) and max(clouds) < 60
    pages = list(search.pages())
    assert len(pages) == 3
    get_search = client.search(collections=[CID], datetime="2023-05-03T00:00:00Z/2023-05-08T00:00:00Z",
                               sortby="properties.datetime", limit=2, method="GET")
    dates = [it.datetime.isoformat() for it in get_search.items()]
    assert len(dates) == 5 and dates == sorted(dates)
    assert search.matched() == 8


def test_collection_search_and_collection(catalog):
    client = Client.open(catalog)
    found = client.collection_search(q="alps", limit=5)
    assert CID in [c.id for c in found.collections()]
    coll = client.get_collection(CID)
    assert coll.title == "pystac-client alpine scenes"
    assert len(list(coll.get_items())) == N
