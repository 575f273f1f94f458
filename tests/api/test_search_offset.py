"""offset= on /search (GET and POST) and /collections/{id}/items, for STAC items and features: the page starts
after `offset` matches, its self link repeats the request exactly (offset included), and its next/prev links
(tokens) continue from its last/first item, so that following links gives the same pages as asking directly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import AUTH

STAC = "offset-scenes"
FEATURES = "offset-parcels"
N = 9


def scene(i: int) -> dict[str, Any]:
    x = 10.0 + i * 0.1
    return {"type": "Feature", "stac_version": "1.0.0", "id": f"s-{i:02d}", "collection": STAC,
            "geometry": {"type": "Point", "coordinates": [x, 45]}, "bbox": [x, 45, x, 45],
            "properties": {"datetime": f"2024-05-{i + 1:02d}T10:00:00Z"}, "assets": {}, "links": []}


def parcel(i: int) -> dict[str, Any]:
    return {"type": "Feature", "id": f"p-{i:02d}", "properties": {"n": i},
            "geometry": {"type": "Point", "coordinates": [10 + i / 10, 45]}}


@pytest.fixture(scope="module")
def api(services) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=services.url, timeout=60) as client:
        for cid in (STAC, FEATURES):
            client.delete(f"/collections/{cid}", headers=AUTH)
        assert client.post("/collections", headers=AUTH, json={
            "id": STAC, "description": "offset paging", "license": "CC0-1.0",
            "extent": {"spatial": {"bbox": [[10, 45, 11, 45]]},
                       "temporal": {"interval": [["2024-05-01T00:00:00Z", None]]}}}).status_code == 201
        assert client.post(f"/collections/{STAC}/items", headers=AUTH, json={
            "type": "FeatureCollection", "features": [scene(i) for i in range(N)]}).status_code == 201
        assert client.post(f"/collections/{FEATURES}/features:upload", headers=AUTH, json={
            "type": "FeatureCollection", "features": [parcel(i) for i in range(N)]}).status_code == 201
        yield client
        for cid in (STAC, FEATURES):
            client.delete(f"/collections/{cid}", headers=AUTH)


# (how the first page is asked, collection)
WAYS = [("search-get", STAC), ("search-post", STAC), ("items-get", STAC),
        ("search-get", FEATURES), ("search-post", FEATURES), ("items-get", FEATURES)]


def ask(api: httpx.Client, way: str, cid: str, **params: Any) -> dict[str, Any]:
    if way == "search-post":
        r = api.post("/search", json={"collections": [cid], **params})
    elif way == "search-get":
        r = api.get("/search", params={"collections": cid, **params})
    else:
        r = api.get(f"/collections/{cid}/items", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def link(page: dict[str, Any], rel: str) -> dict[str, Any] | None:
    return next((x for x in page["links"] if x["rel"] == rel), None)


def follow(api: httpx.Client, target: dict[str, Any]) -> dict[str, Any]:
    if target.get("method") == "POST":
        r = api.post(target["href"], json=target["body"])
    else:
        r = api.get(target["href"])
    assert r.status_code == 200, (target, r.text)
    return r.json()


def ids(page: dict[str, Any]) -> list[str]:
    return [f["id"] for f in page["features"]]


@pytest.mark.parametrize(("way", "cid"), WAYS)
def test_offset_pages_and_their_links_round_trip(api: httpx.Client, way: str, cid: str) -> None:
    everything = ids(ask(api, way, cid, limit=100))
    assert len(everything) == N
    page = ask(api, way, cid, limit=2, offset=3)
    assert ids(page) == everything[3:5]
    # self is the request as made: the same page, with the same links
    self_link = link(page, "self")
    assert self_link is not None
    again = follow(api, self_link)
    assert ids(again) == ids(page) and again["links"] == page["links"]
    if way == "search-post":
        assert self_link["method"] == "POST" and self_link["body"]["offset"] == 3
    else:
        assert "offset=3" in self_link["href"]
    # next pages continue after the page's last item; prev pages end before its first
    forward, current = [], page
    while (nxt := link(current, "next")) is not None:
        assert "offset=" not in nxt["href"] and "offset" not in nxt.get("body", {})
        current = follow(api, nxt)
        assert ids(follow(api, link(current, "self"))) == ids(current)   # a token page's self, too
        forward += ids(current)
    assert forward == everything[5:]
    backward, current = [], page
    while (prev := link(current, "prev")) is not None:
        current = follow(api, prev)
        backward = ids(current) + backward
    assert backward == everything[:3]


@pytest.mark.parametrize(("way", "cid"), WAYS)
def test_offset_at_and_beyond_the_end(api: httpx.Client, way: str, cid: str) -> None:
    last = ask(api, way, cid, limit=5, offset=N - 1)
    assert len(last["features"]) == 1 and link(last, "next") is None and link(last, "prev") is not None
    assert ask(api, way, cid, limit=5, offset=N + 5)["features"] == []


@pytest.mark.parametrize("value", ["-1", "x", "1.5"])
def test_offset_must_be_a_natural_number(api: httpx.Client, value: str) -> None:
    for r in (api.get("/search", params={"collections": STAC, "offset": value}),
              api.post("/search", json={"collections": [STAC], "offset": value}),
              api.get(f"/collections/{FEATURES}/items", params={"offset": value})):
        assert r.status_code == 400 and "offset" in r.json()["description"], r.text
