"""Keyset paging of feature collections: next/prev tokens instead of offsets.

A client following next links while features are written neither sees a feature twice nor misses one that
was there all along: GET /collections/{id}/items (default order, sortby=id, a descending property sort with
ties and NULLs), GET and POST /search of the one collection; prev links give the page before; offset= still
works; a malformed or altered token is a 400 that says so.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import AUTH, Services

CID = "test-features-paging"
# score: ties (3 x4, 1 x2, 2 x2) and NULLs (x3); ids uploaded out of id order
SCORES = {"f-02": 3, "f-03": 1, "f-04": None, "f-05": 3, "f-06": 2, "f-07": None, "f-08": 3, "f-09": 1,
          "f-10": 2, "f-11": None, "f-12": 3}
UPLOAD_ORDER = ["f-08", "f-02", "f-12", "f-05", "f-03", "f-11", "f-09", "f-04", "f-06", "f-10", "f-07"]
LIMIT = 4
SORTS = [None, "id", "-score", "score", "-score,-name"]


def feature(fid: str, score: int | None) -> dict[str, Any]:
    x = 10 + int(fid[2:4]) * 0.01
    return {"type": "Feature", "id": fid, "geometry": {"type": "Point", "coordinates": [x, 45.0]},
            "properties": {"score": score, "name": fid.upper()}}


def expected_order(scores: dict[str, int | None], sortby: str | None) -> list[str]:
    """The order the API promises: sortby's keys (score, name; NULLs last whatever the direction), then id."""
    def value(fid: str, field: str) -> Any:
        return {"score": scores[fid], "name": fid.upper(), "id": fid}[field]

    def compare(a: str, b: str) -> int:
        for term in (sortby or "").split(","):
            if not term:
                continue
            field, sign = term.lstrip("+-"), -1 if term.startswith("-") else 1
            va, vb = value(a, field), value(b, field)
            if va != vb:
                if va is None or vb is None:
                    return 1 if va is None else -1
                return sign * (1 if va > vb else -1)
        return (a > b) - (a < b)

    return sorted(scores, key=functools.cmp_to_key(compare))


@pytest.fixture()
def api(services: Services) -> Iterator[httpx.Client]:
    """The collection uploaded afresh for each test (the tests write to it)."""
    with httpx.Client(base_url=services.url, timeout=60) as client:
        body = {"type": "FeatureCollection", "features": [feature(i, SCORES[i]) for i in UPLOAD_ORDER]}
        r = client.post(f"/collections/{CID}/features:upload", params={"force": "true"}, json=body, headers=AUTH)
        assert r.status_code == 201, r.text
        yield client
        client.delete(f"/collections/{CID}", headers=AUTH)


def ids(page: dict[str, Any]) -> list[str]:
    return [f["id"] for f in page["features"]]


def link(page: dict[str, Any], rel: str) -> dict[str, Any] | None:
    return next((x for x in page["links"] if x["rel"] == rel), None)


def get(api: httpx.Client, url: str, **query: Any) -> dict[str, Any]:
    r = api.get(url, params={k: v for k, v in query.items() if v is not None})
    assert r.status_code == 200, r.text
    return dict(r.json())


def follow(api: httpx.Client, page: dict[str, Any], rel: str) -> dict[str, Any] | None:
    """The page a next/prev link points to, GET or POST (a POST /search link carries the body)."""
    target = link(page, rel)
    if target is None:
        return None
    if target.get("method") == "POST":
        r = api.post(target["href"], json=target["body"])
    else:
        r = api.get(target["href"])
    assert r.status_code == 200, r.text
    return dict(r.json())


def walk(api: httpx.Client, first: dict[str, Any],
         between: Callable[[list[list[str]]], None] = lambda pages: None) -> list[list[str]]:
    """The ids of every page from `first` on, following next links; between(pages read) runs before each next."""
    pages: list[list[str]] = []
    page: dict[str, Any] | None = first
    while page is not None:
        pages.append(ids(page))
        assert len(pages) < 20, "the next links do not end"
        between(pages)
        page = follow(api, page, "next")
    return pages


def items(api: httpx.Client, sortby: str | None = None, **query: Any) -> dict[str, Any]:
    return get(api, f"/collections/{CID}/items", **{"limit": LIMIT, "sortby": sortby, **query})


@pytest.mark.parametrize("sortby", SORTS)
def test_a_walk_over_the_pages_returns_every_feature_once_in_order(api: httpx.Client, sortby: str | None) -> None:
    first = items(api, sortby)
    assert (first["numberMatched"], first["numberReturned"]) == (11, LIMIT)
    assert link(first, "prev") is None
    pages = walk(api, first)
    assert [len(p) for p in pages] == [4, 4, 3]
    assert sum(pages, []) == expected_order(SCORES, sortby)


def test_the_default_order_is_by_id(api: httpx.Client) -> None:
    assert ids(items(api, limit=20)) == sorted(SCORES)


def test_inserting_before_the_cursor_repeats_nothing(api: httpx.Client) -> None:
    """The colleague's case: sortby=id, f-01 inserted between pages made page 2 repeat the last of page 1."""
    def insert(pages: list[list[str]]) -> None:
        if len(pages) == 1:
            r = api.post(f"/collections/{CID}/items", json=feature("f-01", 1), headers=AUTH)
            assert r.status_code == 201, r.text

    pages = walk(api, items(api, "id"), insert)
    assert pages[0] == ["f-02", "f-03", "f-04", "f-05"]
    assert pages[1] == ["f-06", "f-07", "f-08", "f-09"]
    assert sum(pages, []) == sorted(SCORES)


def test_deleting_before_the_cursor_skips_nothing(api: httpx.Client) -> None:
    """The colleague's case: in the default order, a feature deleted between pages made page 2 skip one."""
    def delete(pages: list[list[str]]) -> None:
        if len(pages) == 1:
            assert api.delete(f"/collections/{CID}/items/f-03", headers=AUTH).status_code in (200, 204)

    pages = walk(api, items(api), delete)
    assert pages[1] == ["f-06", "f-07", "f-08", "f-09"]
    assert sum(pages, []) == sorted(SCORES)


@pytest.mark.parametrize("sortby", SORTS)
@pytest.mark.parametrize("write", ["insert", "delete"])
def test_writes_between_pages_neither_repeat_nor_skip(api: httpx.Client, sortby: str | None, write: str) -> None:
    """After every page a feature is written: inserted just after an id already read (a score tie or a NULL),
    or the last (the token's place) or first feature of the page just read deleted. Each feature there all along comes exactly once, in
    the promised order."""
    changed: set[str] = set()

    def write_one(pages: list[list[str]]) -> None:
        n = len(pages)
        if write == "insert":
            fid = f"{pages[0][0]}{'abc'[n - 1]}"
            r = api.post(f"/collections/{CID}/items", json=feature(fid, [None, 3, 1][n % 3]), headers=AUTH)
            assert r.status_code == 201, r.text
        else:   # the page's last feature (the token's place), or its first
            fid = pages[-1][-1 if n % 2 else 0]
            assert api.delete(f"/collections/{CID}/items/{fid}", headers=AUTH).status_code in (200, 204)
        changed.add(fid)

    seen = sum(walk(api, items(api, sortby), write_one), [])
    assert len(seen) == len(set(seen)), f"repeated: {seen}"
    assert [i for i in seen if i not in changed] == [i for i in expected_order(SCORES, sortby) if i not in changed]


@pytest.mark.parametrize("sortby", SORTS)
def test_prev_links_return_the_previous_page(api: httpx.Client, sortby: str | None) -> None:
    order = expected_order(SCORES, sortby)
    page1 = items(api, sortby)
    page2 = follow(api, page1, "next")
    page3 = follow(api, page2, "next")
    assert page3 is not None and link(page3, "next") is None
    back2 = follow(api, page3, "prev")
    assert back2 is not None and ids(back2) == order[4:8]
    back1 = follow(api, back2, "prev")
    assert back1 is not None and ids(back1) == order[:4]
    assert link(back1, "prev") is None
    forward = follow(api, back1, "next")
    assert forward is not None and ids(forward) == order[4:8]


def test_a_prev_page_after_a_delete_is_full(api: httpx.Client) -> None:
    page2 = follow(api, items(api), "next")
    assert api.delete(f"/collections/{CID}/items/f-03", headers=AUTH).status_code in (200, 204)
    back = follow(api, page2, "prev")
    assert back is not None and ids(back) == ["f-02", "f-04", "f-05"]
    assert link(back, "prev") is None and link(back, "next") is not None


def test_offset_is_still_accepted_and_the_links_continue_with_tokens(api: httpx.Client) -> None:
    page = items(api, offset=4)
    assert ids(page) == ["f-06", "f-07", "f-08", "f-09"]
    assert page["numberMatched"] == 11
    nxt, prev = link(page, "next"), link(page, "prev")
    assert nxt is not None and prev is not None
    assert "offset=" not in nxt["href"] and "token=next" in nxt["href"]
    assert "offset=4" in link(page, "self")["href"]
    assert ids(follow(api, page, "next")) == ["f-10", "f-11", "f-12"]
    assert ids(follow(api, page, "prev")) == ["f-02", "f-03", "f-04", "f-05"]
    assert items(api, offset=20)["features"] == []
    r = api.get(f"/collections/{CID}/items", params={"offset": "-1"})
    assert r.status_code == 400 and "offset" in r.json()["description"]


def test_links_repeat_the_request(api: httpx.Client) -> None:
    page = items(api, "-score", filter="score IS NOT NULL OR name = 'F-04'", properties="score")
    assert page["numberMatched"] == 9
    nxt = link(page, "next")
    assert nxt is not None and "sortby=-score" in nxt["href"] and "filter=" in nxt["href"]
    pages = walk(api, page)
    assert sum(pages, []) == [i for i in expected_order(SCORES, "-score") if i not in ("f-07", "f-11")]


@pytest.mark.parametrize("sortby", [None, "-score"])
def test_get_search_walks_the_features(api: httpx.Client, sortby: str | None) -> None:
    first = get(api, "/search", collections=CID, limit=LIMIT, sortby=sortby)
    assert first["numberMatched"] == 11
    pages = walk(api, first)
    assert sum(pages, []) == expected_order(SCORES, sortby)
    last = get(api, "/search", collections=CID, limit=LIMIT, sortby=sortby,
               token=_token(follow(api, first, "next")))
    assert ids(follow(api, last, "prev")) == expected_order(SCORES, sortby)[4:8]


def test_post_search_walks_the_features(api: httpx.Client) -> None:
    body = {"collections": [CID], "limit": LIMIT, "sortby": [{"field": "score", "direction": "desc"}]}
    r = api.post("/search", json=body)
    assert r.status_code == 200, r.text
    first = r.json()
    nxt = link(first, "next")
    assert nxt is not None and nxt["method"] == "POST" and nxt["body"]["token"].startswith("next:")
    assert nxt["body"]["sortby"] == body["sortby"]
    pages = walk(api, first)
    assert sum(pages, []) == expected_order(SCORES, "-score")


def _token(page: dict[str, Any]) -> str:
    href = link(page, "next")["href"]
    return str(httpx.URL(href).params["token"])


def _error(api: httpx.Client, **query: Any) -> str:
    r = api.get(f"/collections/{CID}/items", params={k: v for k, v in query.items() if v is not None})
    assert r.status_code == 400, r.text
    return str(r.json()["description"])


def test_malformed_and_altered_tokens_are_400s_naming_the_problem(api: httpx.Client) -> None:
    token = _token(items(api))
    assert "malformed" in _error(api, token="garbage")
    assert "malformed" in _error(api, token="next:abc")
    head, sort, check = token.split(".")
    altered = head[:-2] + ("A" if head[-2] != "A" else "B") + head[-1]
    assert "altered" in _error(api, token=f"{altered}.{sort}.{check}")
    assert "altered" in _error(api, token=f"{head}x.{sort}.{check}")
    assert "altered" in _error(api, token=f"{head}.{sort}.{check[::-1]}")
    assert "another collection or sort order" in _error(api, token=token, sortby="-score")
    # the same token in the request it came from is fine
    assert items(api, token=token)["numberReturned"] == LIMIT


def test_numeric_tokens_of_earlier_links_still_mean_an_offset(api: httpx.Client) -> None:
    assert ids(items(api, token="next:8")) == ["f-10", "f-11", "f-12"]


def test_a_hybrid_collections_features_page_the_same_way(api: httpx.Client, db: psycopg.Connection) -> None:
    db.execute("UPDATE data.collection_meta SET kind = 'hybrid' WHERE collection_id = %s", (CID,))
    first = items(api, "-score")
    assert sum(walk(api, first), []) == expected_order(SCORES, "-score")
    back = follow(api, follow(api, first, "next"), "prev")
    assert back is not None and ids(back) == ids(first)


def test_content_range_counts_from_the_offset(api: httpx.Client) -> None:
    """Prefer: count=exact on an offset page: Content-Range starts at the offset; after a token (a keyset
    page knows no position) the range is '*'."""
    r = api.get(f"/collections/{CID}/items", params={"limit": 3, "offset": 4}, headers={"Prefer": "count=exact"})
    total = r.json()["numberMatched"]
    assert r.headers["content-range"] == f"items 4-6/{total}"
    nxt = link(r.json(), "next")
    assert nxt is not None
    after = api.get(nxt["href"], headers={"Prefer": "count=exact"})
    assert after.headers["content-range"] == f"items */{total}"
