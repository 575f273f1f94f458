"""STAC API over HTTP: collections, items, search, paging, filters, errors, transactions."""

from __future__ import annotations

import json

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


@pytest.mark.parametrize("count", [None, "exact"])
def test_number_matched_is_the_total_on_every_page(http, loaded, count):
    """numberMatched counts every match, not the page: on the first page, on next pages and on a prev page
    (one scan gives count and page, libs.stac_search_page), and when the first page holds everything."""
    headers = {"Prefer": f"count={count}"} if count else {}
    params = {"collections": loaded, "limit": 5, "filter": "cloud >= 20"}
    expected = sum(1 for i in range(N) if i * 4 % 100 >= 20)
    first = http.get("/search", params=params, headers=headers).json()
    nxt = next(link for link in first["links"] if link["rel"] == "next")
    second = http.get(nxt["href"], headers=headers).json()
    prev = next(link for link in second["links"] if link["rel"] == "prev")
    back = http.get(prev["href"], headers=headers).json()
    assert [d["numberMatched"] for d in (first, second, back)] == [expected] * 3
    assert ids(back) == ids(first) and not set(ids(first)) & set(ids(second))
    whole = http.get("/search", params={**params, "limit": 100}, headers=headers).json()
    assert whole["numberMatched"] == whole["numberReturned"] == expected


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


def test_get_and_post_search_agree(http, loaded):
    get = http.get("/search", params={"collections": loaded, "bbox": "-100,-5,100,5",
                                      "datetime": "2024-01-05T00:00:00Z/2024-01-20T00:00:00Z", "limit": 50}).json()
    post = http.post("/search", json={"collections": [loaded], "bbox": [-100, -5, 100, 5],
                                      "datetime": "2024-01-05T00:00:00Z/2024-01-20T00:00:00Z", "limit": 50}).json()
    assert ids(get) == ids(post) and 0 < len(ids(get)) < N


@pytest.mark.parametrize("datetime,expected", [
    ("2024-01-03T00:00:00Z", ["item-002"]),
    ("../2024-01-02T00:00:00Z", ["item-000", "item-001"]),
    ("2024-01-22T00:00:00Z/..", ["item-021", "item-022"]),
    ("2024-01-22T00:00:00Z/", ["item-021", "item-022"]),
])
def test_datetime_instants_and_open_intervals(http, loaded, datetime, expected):
    doc = http.get("/search", params={"collections": loaded, "datetime": datetime}).json()
    assert sorted(ids(doc)) == expected


def test_six_number_bbox_and_intersects(http, loaded):
    six = http.get("/search", params={"collections": loaded, "bbox": "-176,-3,-100,-170,3,100"}).json()
    assert sorted(ids(six)) == ["item-000"]
    geom = {"type": "Polygon", "coordinates": [[[-176, -3], [-170, -3], [-170, 3], [-176, 3], [-176, -3]]]}
    post = http.post("/search", json={"collections": [loaded], "intersects": geom}).json()
    assert ids(post) == ["item-000"]


@pytest.mark.parametrize("flt,lang", [
    ("S_INTERSECTS(geometry, POLYGON((-176 -3, -170 -3, -170 3, -176 3, -176 -3)))", "cql2-text"),
    ("S_INTERSECTS(geometry, MULTIPOINT((-175 -2), (0 50)))", "cql2-text"),
    ("S_INTERSECTS(geometry, LINESTRING(-176 -2, -174 -2))", "cql2-text"),
    ("S_INTERSECTS(geometry, POINT(-175 -2))", "cql2-text"),
    ("S_INTERSECTS(geometry, BBOX(-176, -3, -174, 3))", "cql2-text"),
    ('{"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [-175, -2]}]}',
     "cql2-json"),
])
def test_spatial_filters(http, loaded, flt, lang):
    doc = http.get("/search", params={"collections": loaded, "filter": flt, "filter-lang": lang}).json()
    assert ids(doc) == ["item-000"], doc


def test_filter_text_and_json_in_post(http, loaded):
    text = http.post("/search", json={"collections": [loaded], "filter-lang": "cql2-text", "limit": 50,
                                      "filter": "platform = 'sentinel-2a' AND cloud BETWEEN 10 AND 40"}).json()
    js = http.post("/search", json={"collections": [loaded], "limit": 50, "filter": {"op": "and", "args": [
        {"op": "=", "args": [{"property": "platform"}, "sentinel-2a"]},
        {"op": "between", "args": [{"property": "cloud"}, 10, 40]}]}}).json()
    assert ids(text) == ids(js) and len(ids(text)) > 0
    assert all(f["properties"]["platform"] == "sentinel-2a" for f in text["features"])
    crs = http.get("/search", params={"collections": loaded, "filter": "cloud < 10",
                                      "filter-crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"})
    assert crs.status_code == 200 and len(ids(crs.json())) == 3


def test_filter_and_or_with_one_argument_means_that_argument(http, loaded):
    """STAC Browser sends its "match all filters" list as an `and` even when it holds one filter (the CQL2 schema
    asks for two or more args): accepted, in POST and GET /search and in the items of a collection."""
    one = {"op": "<", "args": [{"property": "cloud"}, 10]}
    expected = ids(http.post("/search", json={"collections": [loaded], "limit": 50, "filter": one}).json())
    assert len(expected) == 3
    for op in ("and", "or"):
        wrapped = {"op": op, "args": [{"op": "and", "args": [one]}]}
        post = http.post("/search", json={"collections": [loaded], "limit": 50, "filter-lang": "cql2-json",
                                          "filter": wrapped})
        assert post.status_code == 200 and ids(post.json()) == expected, post.text
        get = http.get("/search", params={"collections": loaded, "limit": 50, "filter-lang": "cql2-json",
                                          "filter": json.dumps(wrapped)})
        assert get.status_code == 200 and ids(get.json()) == expected, get.text
        items = http.get(f"/collections/{loaded}/items", params={"limit": 50, "filter": json.dumps(wrapped)})
        assert items.status_code == 200 and sorted(ids(items.json())) == sorted(expected), items.text
    empty = http.post("/search", json={"collections": [loaded], "filter": {"op": "and", "args": []}})
    assert empty.status_code == 400 and "CQL2" in empty.json()["description"]


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sortby_numeric_property_both_ways(http, loaded, direction):
    sign = "-" if direction == "desc" else "+"
    get = http.get("/search", params={"collections": loaded, "sortby": f"{sign}cloud", "limit": 50}).json()
    post = http.post("/search", json={"collections": [loaded], "limit": 50,
                                      "sortby": [{"field": "properties.cloud", "direction": direction}]}).json()
    clouds = [f["properties"]["cloud"] for f in get["features"]]
    assert clouds == sorted(clouds, reverse=direction == "desc") and len(clouds) == N
    assert [f["properties"]["cloud"] for f in post["features"]] == clouds


def test_fields_include_and_exclude(http, loaded):
    inc = http.post("/search", json={"collections": [loaded], "limit": 1,
                                     "fields": {"include": ["properties.cloud"]}}).json()["features"][0]
    assert set(inc) <= {"id", "collection", "type", "links", "properties"} and inc["properties"] == {"cloud": inc["properties"]["cloud"]}
    exc = http.get("/search", params={"collections": loaded, "limit": 1, "fields": "-assets,-properties.platform"})
    feature = exc.json()["features"][0]
    assert "assets" not in feature and "platform" not in feature["properties"] and "geometry" in feature


def test_prefer_planned_count_and_no_prefer(http, loaded):
    r = http.get(f"/collections/{loaded}/items", params={"limit": 2}, headers={"Prefer": "count=planned"})
    assert r.status_code == 200 and r.headers["preference-applied"] == "count=planned"
    assert r.headers["content-range"].startswith("items 0-1/")
    assert "content-range" not in http.get("/search", params={"limit": 2}).headers


def test_limit_is_clamped_not_rejected(http, loaded):
    r = http.get("/search", params={"collections": loaded, "limit": 1_000_000})
    assert r.status_code == 200 and r.json()["numberReturned"] == N


@pytest.mark.parametrize("body", [
    b"{not json", b"[1, 2]", b'{"bbox": "1,2,3,4"}', b'{"limit": 0}', b'{"limit": "ten"}', b'{"fields": null}',
    b'{"datetime": "2024-13-01T00:00:00Z"}', b'{"sortby": [{"field": "x", "direction": "sideways"}]}',
    b'{"filter": {"op": "nope"}}', b'{"intersects": {"type": "Point"}}', b'{"query": {"a": {"eq": 1}}}',
    b'{"filter": "cloud < 10", "filter-crs": "EPSG:3857"}', b'{"filter": "x = 1", "filter-lang": "cql3"}',
])
def test_malformed_post_bodies_are_400(http, loaded, body):
    r = http.post("/search", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text[:300]
    assert r.json()["code"] == "BadRequest" and r.json()["description"]


def test_items_paging_links_stay_on_the_items_path(http, loaded):
    doc = http.get(f"/api/v2/collections/{loaded}/items", params={"limit": 20}).json()
    nxt = [link["href"] for link in doc["links"] if link["rel"] == "next"][0]
    assert f"/api/v2/collections/{loaded}/items?" in nxt
    second = http.get(nxt).json()
    assert second["numberReturned"] == N - 20
    prev = [link["href"] for link in second["links"] if link["rel"] == "prev"][0]
    assert ids(http.get(prev).json()) == ids(doc)


def test_queryables(http, loaded):
    for path in ("/queryables", f"/collections/{loaded}/queryables"):
        r = http.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/schema+json")
        schema = r.json()
        assert schema["$schema"] == "https://json-schema.org/draft/2019-09/schema"
        assert schema["$id"] == f"{http.base_url}{path}".replace("//q", "/q").replace("//c", "/c")
        assert schema["type"] == "object" and "cloud" in schema["properties"]
    assert http.get("/collections/nope/queryables").status_code == 404


def test_items_routes_dispatch_features_collections(http, db):
    """A 'features' collection's /items (and /search of it alone) are its vector features, not pgSTAC items."""
    fid = "stac-dispatch-features"
    db.execute("SET search_path = pgstac, public")
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (fid,))
    db.execute("SELECT pgstac.create_collection(%s::jsonb)", (f'{{"id": "{fid}", "description": "vectors"}}',))
    db.execute("INSERT INTO data.collection_meta (collection_id, kind) VALUES (%s, 'features')", (fid,))
    db.execute("INSERT INTO data.features (collection_id, id, geom, properties) VALUES "
               "(%s, 'f1', ST_SetSRID(ST_MakePoint(1, 2), 4326), '{\"name\": \"one\"}')", (fid,))
    try:
        doc = http.get(f"/collections/{fid}/items").json()
        assert [f["id"] for f in doc["features"]] == ["f1"]
        assert http.get(f"/collections/{fid}/items/f1").json()["properties"]["name"] == "one"
        assert http.get(f"/collections/{fid}/queryables").status_code == 200
        # a search of exactly that one features collection searches its features (libs.features_search)
        assert [f["id"] for f in http.get("/search", params={"collections": fid}).json()["features"]] == ["f1"]
    finally:
        db.execute("DELETE FROM pgstac.collections WHERE id = %s", (fid,))
