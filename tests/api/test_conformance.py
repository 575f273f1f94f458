"""/conformance is exactly the list below, and every class on it is backed by a request that works.

Clients and validators choose what to test and use from conformsTo, so each URI is checked letter for
letter against the document that defines it (see db/migrations/150_conformance_stac.sql and
250_conformance_features.sql for the authorities), and CHECKS holds one working request (or a few) per class:
adding a class without a check fails test_every_declared_class_has_a_check. The list is the whole API's, so
the CQL2 classes are checked on item search over a STAC collection (pgSTAC) and on a feature collection.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from tests.conftest import AUTH

STAC, FEAT, CUBE, TXN = "conf-stac", "conf-feat", "conf-cube", "conf-txn"
OGC = "http://www.opengis.net/spec/"
STACSPEC = "https://api.stacspec.org/"
CQL2 = OGC + "cql2/1.0/conf/"
EXPECTED = {
    OGC + "ogcapi-common-1/1.0/conf/core", OGC + "ogcapi-common-1/1.0/conf/landing-page",
    OGC + "ogcapi-common-1/1.0/conf/json", OGC + "ogcapi-common-1/1.0/conf/oas30",
    OGC + "ogcapi-common-2/1.0/conf/collections", OGC + "ogcapi-common-2/1.0/conf/simple-query",
    OGC + "ogcapi-common-3/1.0/conf/sortables", OGC + "ogcapi-features-5/1.0/conf/sortables",
    OGC + "ogcapi-features-1/1.0/conf/core", OGC + "ogcapi-features-1/1.0/conf/geojson",
    OGC + "ogcapi-features-1/1.0/conf/oas30",
    OGC + "ogcapi-features-3/1.0/conf/filter", OGC + "ogcapi-features-3/1.0/conf/features-filter",
    OGC + "ogcapi-features-3/1.0/conf/queryables", OGC + "ogcapi-features-3/1.0/conf/queryables-query-parameters",
    OGC + "ogcapi-features-4/1.0/conf/create-replace-delete", OGC + "ogcapi-features-4/1.0/conf/update",
    *(CQL2 + c for c in ("cql2-text", "cql2-json", "basic-cql2", "advanced-comparison-operators",
                         "case-insensitive-comparison", "accent-insensitive-comparison", "basic-spatial-functions",
                         "basic-spatial-functions-plus", "spatial-functions", "temporal-functions",
                         "array-functions", "property-property")),
    *(OGC + "ogcapi-tiles-1/1.0/conf/" + c for c in ("core", "tileset", "tilesets-list", "geodata-tilesets",
                                                       "mvt", "png", "oas30")),
    *(OGC + "tms/2.0/conf/" + c for c in ("tilematrixset", "json-tilematrixset", "tilesetmetadata",
                                          "json-tilesetmetadata")),
    STACSPEC + "v1.0.0/core", STACSPEC + "v1.0.0/collections", STACSPEC + "v1.0.0/ogcapi-features",
    STACSPEC + "v1.0.0/item-search", STACSPEC + "v1.0.0/item-search#filter", STACSPEC + "v1.0.0/item-search#sort",
    STACSPEC + "v1.0.0/item-search#fields", STACSPEC + "v1.0.0/ogcapi-features#fields",
    STACSPEC + "v1.0.0/ogcapi-features#sort", STACSPEC + "v1.0.0/collections/extensions/transaction",
    STACSPEC + "v1.0.0/ogcapi-features/extensions/transaction",
    *(STACSPEC + "v1.0.0-rc.1/collection-search" + c for c in ("", "#free-text", "#filter", "#sort", "#fields")),
}
PLATFORMS = ["sentinel-2a", "Sëntinel-2B", "landsat-9"]
TAGS = [["a", "b"], ["b"], ["c"]]


def _props(i: int) -> dict:
    return {"datetime": f"2024-01-0{i + 1}T12:00:00Z", "cloud": [30, 20, 10][i], "cloud2": 25,
            "platform": PLATFORMS[i], "tags": TAGS[i]}


def _feature(cid: str, i: int) -> dict:
    return {"type": "Feature", "id": f"{cid}-{i}", "geometry": {"type": "Point", "coordinates": [i, i]},
            "properties": _props(i)}


def _item(i: int) -> dict:
    return _feature(STAC, i) | {"stac_version": "1.0.0", "collection": STAC, "bbox": [i, i, i, i], "assets": {},
                                "links": []}


def _collection(cid: str) -> dict:
    return {"id": cid, "type": "Collection", "stac_version": "1.0.0", "license": "CC0-1.0",
            "description": f"{cid} conformancewidget", "title": cid, "keywords": ["conformance"],
            "extent": {"spatial": {"bbox": [[0, 0, 2, 2]]},
                       "temporal": {"interval": [["2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z"]]}}}


def _drop(conn: psycopg.Connection, *cids: str) -> None:
    conn.execute("SET search_path = pgstac, public")
    conn.execute("DELETE FROM pgstac.collections WHERE id = ANY(%s)", (list(cids),))


@dataclass
class Cube:
    id: str
    lon: float
    lat: float


@pytest.fixture(scope="module")
def data(services, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cube]:
    """A STAC collection and a feature collection of the same three points, and a small cube."""
    from scripts import upload_local_zarr
    from scripts.telangana_s2 import generate

    with psycopg.connect(database_url, autocommit=True) as conn, \
            httpx.Client(base_url=services.url, timeout=60) as client:
        _drop(conn, STAC, FEAT, CUBE, TXN)
        assert client.post("/collections", headers=AUTH, json=_collection(STAC)).status_code == 201
        r = client.post(f"/collections/{STAC}/items", headers=AUTH,
                        json={"type": "FeatureCollection", "features": [_item(i) for i in range(3)]})
        assert r.status_code == 201, r.text
        r = client.post(f"/collections/{FEAT}/features:upload", params={"force": "true"}, headers=AUTH,
                        json={"type": "FeatureCollection", "features": [_feature(FEAT, i) for i in range(3)]})
        assert r.status_code == 201, r.text
        path = tmp_path_factory.mktemp("conf-cube") / "l2a.zarr"
        generate(path, pixel=4000.0)
        assert upload_local_zarr.main([str(path), "--collection-id", CUBE, "--dsn", database_url,
                                       "--data-dir", str(services.data_dir), "--quiet"]) == 0
        bbox = client.get(f"/collections/{CUBE}").json()["extent"]["spatial"]["bbox"][0]
        yield Cube(CUBE, (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2)
        _drop(conn, STAC, FEAT, CUBE, TXN)


def ok(r: httpx.Response, media: str = "application/json") -> dict:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] == media, r.headers["content-type"]
    return r.json() if "json" in media else {}


def ids(doc: dict) -> list[int]:
    return sorted(int(f["id"].rsplit("-", 1)[1]) for f in doc["features"])


def link(doc: dict, rel: str) -> dict:
    return next(x for x in doc["links"] if x["rel"] == rel)


def matches(http: httpx.Client, text: str, expected: list[int]) -> None:
    """A cql2-text filter picks the same points on /search over the STAC collection and on the features."""
    stac = ok(http.get("/search", params={"collections": STAC, "filter": text, "limit": 10}), "application/geo+json")
    feat = ok(http.get(f"/collections/{FEAT}/items", params={"filter": text}), "application/geo+json")
    assert (ids(stac), ids(feat)) == (expected, expected), text


def sorted_ids(http: httpx.Client, path: str, sortby: str, **extra: str) -> list[int]:
    doc = ok(http.get(path, params={"sortby": sortby, **extra}), "application/geo+json")
    return [int(f["id"].rsplit("-", 1)[1]) for f in doc["features"]]


def check_landing(http: httpx.Client, _: Cube) -> None:
    doc = ok(http.get("/"))
    rels = {x["rel"] for x in doc["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels and doc["conformsTo"]


def check_core_stac(http: httpx.Client, _: Cube) -> None:
    doc = ok(http.get("/"))
    assert doc["type"] == "Catalog" and doc["stac_version"] and {"root", "self"} <= {x["rel"] for x in doc["links"]}


def check_oas30(http: httpx.Client, _: Cube) -> None:
    doc = ok(http.get("/api"), "application/vnd.oai.openapi+json")
    assert doc["openapi"].startswith("3.0.")
    assert {"/", "/conformance", "/collections", "/collections/{collectionId}/items",
            "/collections/{collectionId}/items/{itemId}", "/collections/{collectionId}/sortables"} <= set(doc["paths"])


def check_collections(http: httpx.Client, _: Cube) -> None:
    doc = ok(http.get("/collections", params={"limit": 100}))
    assert {STAC, FEAT} <= {c["id"] for c in doc["collections"]}
    assert ok(http.get(f"/collections/{STAC}"))["type"] == "Collection"


def check_simple_query(http: httpx.Client, _: Cube) -> None:
    def found(**q: str) -> set[str]:
        return {c["id"] for c in ok(http.get("/collections", params={"limit": 100, **q}))["collections"]}
    assert STAC in found(bbox="1,1,3,3") and STAC not in found(bbox="100,10,101,11")
    assert STAC in found(datetime="2024-01-02T00:00:00Z") and STAC not in found(datetime="2020-01-01T00:00:00Z")
    assert len(ok(http.get("/collections", params={"limit": 1}))["collections"]) == 1


def check_sortables(http: httpx.Client, cube: Cube) -> None:
    for cid in (STAC, FEAT, cube.id):
        href = link(ok(http.get(f"/collections/{cid}")), "http://www.opengis.net/def/rel/ogc/1.0/sortables")["href"]
        doc = ok(http.get(href), "application/schema+json")
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema" and doc["type"] == "object"
        assert doc["$id"] == href and doc["additionalProperties"] is False
        assert all(p["type"] not in ("object", "array") for p in doc["properties"].values())


def check_stac_features(http: httpx.Client, _: Cube) -> None:
    doc = ok(http.get(f"/collections/{STAC}/items"), "application/geo+json")
    assert ids(doc) == [0, 1, 2] and doc["features"][0]["stac_version"]
    assert ok(http.get(f"/collections/{STAC}/items/{STAC}-1"), "application/geo+json")["id"] == f"{STAC}-1"


def check_item_search(http: httpx.Client, _: Cube) -> None:
    assert ids(ok(http.get("/search", params={"collections": STAC, "bbox": "0.5,0.5,3,3"}),
                  "application/geo+json")) == [1, 2]
    r = http.post("/search", json={"collections": [STAC], "datetime": "2024-01-01T00:00:00Z/2024-01-02T00:00:00Z"})
    assert ids(ok(r, "application/geo+json")) == [0]


def check_item_search_filter(http: httpx.Client, _: Cube) -> None:
    assert ids(ok(http.get("/search", params={"collections": STAC, "filter": "cloud < 25"}),
                  "application/geo+json")) == [1, 2]
    r = http.post("/search", json={"collections": [STAC], "filter-lang": "cql2-json",
                                   "filter": {"op": "=", "args": [{"property": "cloud"}, 20]}})
    assert ids(ok(r, "application/geo+json")) == [1]
    assert "properties" in ok(http.get("/queryables"), "application/schema+json")


def check_item_search_sort(http: httpx.Client, _: Cube) -> None:
    assert sorted_ids(http, "/search", "cloud", collections=STAC) == [2, 1, 0]
    r = http.post("/search", json={"collections": [STAC], "sortby": [{"field": "cloud", "direction": "desc"}]})
    assert ids(ok(r, "application/geo+json")) == [0, 1, 2] and r.json()["features"][0]["id"] == f"{STAC}-0"


def _fields_ok(doc: dict) -> None:
    props = doc["features"][0]["properties"]
    assert "cloud" in props and "platform" not in props, props


def check_item_search_fields(http: httpx.Client, _: Cube) -> None:
    _fields_ok(ok(http.get("/search", params={"collections": STAC, "fields": "properties.cloud,-properties.platform"}),
                  "application/geo+json"))


def check_features_fields(http: httpx.Client, _: Cube) -> None:
    _fields_ok(ok(http.get(f"/collections/{STAC}/items", params={"fields": "properties.cloud,-properties.platform"}),
                  "application/geo+json"))


def check_features_sort(http: httpx.Client, _: Cube) -> None:
    for cid in (STAC, FEAT):
        assert sorted_ids(http, f"/collections/{cid}/items", "-cloud") == [0, 1, 2]
        assert sorted_ids(http, f"/collections/{cid}/items", "+cloud") == [2, 1, 0]


def check_collection_transaction(http: httpx.Client, _: Cube) -> None:
    http.delete(f"/collections/{TXN}", headers=AUTH)
    assert http.post("/collections", headers=AUTH, json=_collection(TXN)).status_code == 201
    assert http.put(f"/collections/{TXN}", headers=AUTH, json=_collection(TXN) | {"title": "T"}).status_code == 204
    assert ok(http.get(f"/collections/{TXN}"))["title"] == "T"
    assert http.delete(f"/collections/{TXN}", headers=AUTH).status_code == 204
    assert http.get(f"/collections/{TXN}").status_code == 404


def _item_cycle(http: httpx.Client, cid: str, body: dict, patch: bool) -> None:
    iid = body["id"]
    r = http.post(f"/collections/{cid}/items", headers=AUTH, json=body)
    assert r.status_code == 201 and r.headers["location"].endswith(f"/collections/{cid}/items/{iid}"), r.text
    body["properties"]["cloud"] = 99
    assert http.put(f"/collections/{cid}/items/{iid}", headers=AUTH, json=body).status_code == 204
    if patch:
        r = http.patch(f"/collections/{cid}/items/{iid}", headers=AUTH, json={"properties": {"cloud": 98}})
        assert r.status_code == 204, r.text
    got = ok(http.get(f"/collections/{cid}/items/{iid}"), "application/geo+json")["properties"]["cloud"]
    assert got == (98 if patch else 99)
    assert http.delete(f"/collections/{cid}/items/{iid}", headers=AUTH).status_code == 204
    assert http.get(f"/collections/{cid}/items/{iid}").status_code == 404


def check_items_transaction(http: httpx.Client, _: Cube) -> None:
    _item_cycle(http, STAC, _item(0) | {"id": f"{STAC}-9"}, patch=True)


def check_features_create(http: httpx.Client, _: Cube) -> None:
    _item_cycle(http, FEAT, _feature(FEAT, 0) | {"id": f"{FEAT}-9"}, patch=False)


def check_features_update(http: httpx.Client, _: Cube) -> None:
    _item_cycle(http, FEAT, _feature(FEAT, 1) | {"id": f"{FEAT}-8"}, patch=True)


def check_collection_search(http: httpx.Client, _: Cube) -> None:
    doc = ok(http.get("/collections", params={"limit": 1}))
    assert len(doc["collections"]) == 1 and link(doc, "next")


def check_free_text(http: httpx.Client, _: Cube) -> None:
    doc = ok(http.get("/collections", params={"q": "conformancewidget", "limit": 100}))
    assert {STAC} <= {c["id"] for c in doc["collections"]} and CUBE not in {c["id"] for c in doc["collections"]}


def check_collection_filter(http: httpx.Client, _: Cube) -> None:
    doc = ok(http.get("/collections", params={"filter": f"id = '{FEAT}'"}))
    assert [c["id"] for c in doc["collections"]] == [FEAT]
    href = link(doc, "http://www.opengis.net/def/rel/ogc/1.0/queryables")["href"]
    assert {"id", "title", "geometry", "datetime"} <= set(ok(http.get(href), "application/schema+json")["properties"])
    for text in ("S_INTERSECTS(geometry, BBOX(1.5, 1.5, 3, 3))", "S_INTERSECTS(POINT(1 1), geometry)",
                 "datetime < DATE('2024-01-02') AND A_CONTAINS(keywords, ('conformance'))"):
        found = {c["id"] for c in ok(http.get("/collections", params={"filter": text, "limit": 100}))["collections"]}
        assert STAC in found and CUBE not in found, text


def check_collection_sort(http: httpx.Client, _: Cube) -> None:
    got = [c["id"] for c in ok(http.get("/collections", params={"sortby": "-id", "limit": 100}))["collections"]]
    assert got == sorted(got, reverse=True) and len(got) >= 3


def check_collection_fields(http: httpx.Client, _: Cube) -> None:
    doc = ok(http.get("/collections", params={"filter": f"id = '{STAC}'", "fields": "id,title,-description"}))
    assert doc["collections"][0]["title"] == STAC and "description" not in doc["collections"][0]


def check_features_core(http: httpx.Client, _: Cube) -> None:
    coll = ok(http.get(f"/collections/{FEAT}"))
    doc = ok(http.get(link(coll, "items")["href"], params={"limit": 2}), "application/geo+json")
    assert doc["type"] == "FeatureCollection" and doc["numberReturned"] == 2 and link(doc, "next")
    assert ids(ok(http.get(f"/collections/{FEAT}/items", params={"bbox": "0.5,0.5,3,3"}),
                  "application/geo+json")) == [1, 2]
    assert ok(http.get(f"/collections/{FEAT}/items/{FEAT}-2"), "application/geo+json")["id"] == f"{FEAT}-2"


def check_features_filter(http: httpx.Client, _: Cube) -> None:
    assert ids(ok(http.get(f"/collections/{FEAT}/items", params={"filter": "cloud >= 20", "filter-lang": "cql2-text"}),
                  "application/geo+json")) == [0, 1]


def check_queryables(http: httpx.Client, _: Cube) -> None:
    for cid in (STAC, FEAT):
        href = link(ok(http.get(f"/collections/{cid}")), "http://www.opengis.net/def/rel/ogc/1.0/queryables")["href"]
        assert "cloud" in ok(http.get(href), "application/schema+json")["properties"]


def check_queryables_parameters(http: httpx.Client, _: Cube) -> None:
    assert ids(ok(http.get(f"/collections/{FEAT}/items", params={"platform": "landsat-9"}),
                  "application/geo+json")) == [2]


def check_cql2_json(http: httpx.Client, _: Cube) -> None:
    expr = json.dumps({"op": "=", "args": [{"property": "cloud"}, 20]})
    for path, extra in (("/search", {"collections": STAC}), (f"/collections/{FEAT}/items", {})):
        doc = http.get(path, params={"filter": expr, "filter-lang": "cql2-json", **extra})
        assert ids(ok(doc, "application/geo+json")) == [1]


CQL2_CASES: dict[str, list[tuple[str, list[int]]]] = {
    "cql2-text": [("cloud = 20", [1])],
    "basic-cql2": [("cloud > 10 AND datetime < DATE('2024-01-03')", [0, 1]), ("NOT (cloud <> 10)", [2]),
                   ("platform IS NULL OR datetime = TIMESTAMP('2024-01-02T12:00:00Z')", [1])],
    "advanced-comparison-operators": [("platform LIKE 'land%'", [2]), ("cloud BETWEEN 15 AND 30", [0, 1]),
                                      ("cloud IN (10, 30)", [0, 2])],
    "case-insensitive-comparison": [("CASEI(platform) = casei('SENTINEL-2A')", [0])],
    "accent-insensitive-comparison": [("ACCENTI(platform) = accenti('Sentinel-2B')", [1])],
    "basic-spatial-functions": [("S_INTERSECTS(geometry, BBOX(-0.5, -0.5, 0.5, 0.5))", [0]),
                                ("S_INTERSECTS(geometry, POINT(1 1))", [1])],
    "basic-spatial-functions-plus": [
        ("S_INTERSECTS(geometry, POLYGON((0.5 0.5, 2.5 0.5, 2.5 2.5, 0.5 2.5, 0.5 0.5)))", [1, 2]),
        ("S_INTERSECTS(geometry, MULTIPOINT((0 0), (2 2)))", [0, 2]),
        ("S_INTERSECTS(geometry, LINESTRING(-1 0, 1 0))", [0]),
        ("S_INTERSECTS(geometry, GEOMETRYCOLLECTION(POINT(0 0), LINESTRING(1 1, 1 2)))", [0, 1])],
    "spatial-functions": [
        ("S_WITHIN(geometry, POLYGON((0.5 0.5, 2.5 0.5, 2.5 2.5, 0.5 2.5, 0.5 0.5)))", [1, 2]),
        ("S_CONTAINS(POLYGON((0.5 0.5, 2.5 0.5, 2.5 2.5, 0.5 2.5, 0.5 0.5)), geometry)", [1, 2]),
        ("S_DISJOINT(geometry, POINT(0 0))", [1, 2]), ("S_EQUALS(geometry, POINT(2 2))", [2]),
        ("S_TOUCHES(geometry, POLYGON((0 0, 1 0, 1 -1, 0 -1, 0 0)))", [0])],
    "temporal-functions": [
        ("T_BEFORE(datetime, TIMESTAMP('2024-01-02T00:00:00Z'))", [0]),
        ("T_AFTER(datetime, DATE('2024-01-02'))", [1, 2]),
        ("T_INTERSECTS(datetime, INTERVAL('2024-01-02T00:00:00Z', '..'))", [1, 2]),
        ("T_DURING(datetime, INTERVAL('2024-01-01T00:00:00Z', '2024-01-02T23:00:00Z'))", [0, 1])],
    "array-functions": [("A_CONTAINS(tags, ('b'))", [0, 1]), ("A_CONTAINEDBY(tags, ('b', 'c'))", [1, 2]),
                        ("A_OVERLAPS(tags, ('a', 'c'))", [0, 2]), ("A_EQUALS(tags, ('c'))", [2])],
    "property-property": [("cloud > cloud2", [0]), ("cloud2 > cloud", [1, 2])],
}


def _cql2_check(name: str) -> Callable[[httpx.Client, Cube], None]:
    def check(http: httpx.Client, _: Cube) -> None:
        for text, expected in CQL2_CASES[name]:
            matches(http, text, expected)
    return check


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def check_tiles_core(http: httpx.Client, _: Cube) -> None:
    r = http.get(f"/collections/{FEAT}/tiles/WebMercatorQuad/0/0/0")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile", r.text
    assert r.content


def check_tileset(http: httpx.Client, _: Cube) -> None:
    doc = ok(http.get(f"/collections/{FEAT}/tiles/WebMercatorQuad"))
    assert doc["dataType"] == "vector" and doc["crs"] and doc["tileMatrixSetURI"]
    assert any(x["rel"] == "item" and "{tileMatrix}" in x["href"] for x in doc["links"])


def check_tilesets_list(http: httpx.Client, _: Cube) -> None:
    assert ok(http.get(f"/collections/{FEAT}/tiles"))["tilesets"]


def check_geodata_tilesets(http: httpx.Client, cube: Cube) -> None:
    for cid, rel in ((FEAT, "tilesets-vector"), (cube.id, "tilesets-map")):
        href = link(ok(http.get(f"/collections/{cid}")), f"http://www.opengis.net/def/rel/ogc/1.0/{rel}")["href"]
        assert ok(http.get(href))["tilesets"]


def check_png(http: httpx.Client, cube: Cube) -> None:
    x, y = _tile_of(cube.lon, cube.lat, 8)
    r = http.get(f"/collections/{cube.id}/tiles/WebMercatorQuad/8/{x}/{y}.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG", r.text


def check_tiles_oas30(http: httpx.Client, _: Cube) -> None:
    paths = ok(http.get("/api"), "application/vnd.oai.openapi+json")["paths"]
    assert any(p.startswith("/collections/{collectionId}/tiles") or "/tiles/" in p for p in paths)
    assert "/tileMatrixSets/{tileMatrixSetId}" in paths or any(p.startswith("/tileMatrixSets/") for p in paths)


def check_tilematrixset(http: httpx.Client, _: Cube) -> None:
    doc = ok(http.get("/tileMatrixSets/WebMercatorQuad"))
    assert doc["id"] == "WebMercatorQuad" and doc["crs"] and len(doc["tileMatrices"]) > 20
    assert {"id", "scaleDenominator", "cellSize", "pointOfOrigin", "tileWidth", "tileHeight", "matrixWidth",
            "matrixHeight"} <= set(doc["tileMatrices"][0])


CHECKS: dict[str, Callable[[httpx.Client, Cube], None]] = {
    OGC + "ogcapi-common-1/1.0/conf/core": check_landing,
    OGC + "ogcapi-common-1/1.0/conf/landing-page": check_landing,
    OGC + "ogcapi-common-1/1.0/conf/json": check_landing,
    OGC + "ogcapi-common-1/1.0/conf/oas30": check_oas30,
    OGC + "ogcapi-common-2/1.0/conf/collections": check_collections,
    OGC + "ogcapi-common-2/1.0/conf/simple-query": check_simple_query,
    OGC + "ogcapi-common-3/1.0/conf/sortables": check_sortables,
    OGC + "ogcapi-features-5/1.0/conf/sortables": check_sortables,
    OGC + "ogcapi-features-1/1.0/conf/core": check_features_core,
    OGC + "ogcapi-features-1/1.0/conf/geojson": check_features_core,
    OGC + "ogcapi-features-1/1.0/conf/oas30": check_oas30,
    OGC + "ogcapi-features-3/1.0/conf/filter": check_features_filter,
    OGC + "ogcapi-features-3/1.0/conf/features-filter": check_features_filter,
    OGC + "ogcapi-features-3/1.0/conf/queryables": check_queryables,
    OGC + "ogcapi-features-3/1.0/conf/queryables-query-parameters": check_queryables_parameters,
    OGC + "ogcapi-features-4/1.0/conf/create-replace-delete": check_features_create,
    OGC + "ogcapi-features-4/1.0/conf/update": check_features_update,
    CQL2 + "cql2-json": check_cql2_json,
    **{CQL2 + name: _cql2_check(name) for name in CQL2_CASES},
    OGC + "ogcapi-tiles-1/1.0/conf/core": check_tiles_core,
    OGC + "ogcapi-tiles-1/1.0/conf/mvt": check_tiles_core,
    OGC + "ogcapi-tiles-1/1.0/conf/tileset": check_tileset,
    OGC + "ogcapi-tiles-1/1.0/conf/tilesets-list": check_tilesets_list,
    OGC + "ogcapi-tiles-1/1.0/conf/geodata-tilesets": check_geodata_tilesets,
    OGC + "ogcapi-tiles-1/1.0/conf/png": check_png,
    OGC + "ogcapi-tiles-1/1.0/conf/oas30": check_tiles_oas30,
    OGC + "tms/2.0/conf/tilematrixset": check_tilematrixset,
    OGC + "tms/2.0/conf/json-tilematrixset": check_tilematrixset,
    OGC + "tms/2.0/conf/tilesetmetadata": check_tileset,
    OGC + "tms/2.0/conf/json-tilesetmetadata": check_tileset,
    STACSPEC + "v1.0.0/core": check_core_stac,
    STACSPEC + "v1.0.0/collections": check_collections,
    STACSPEC + "v1.0.0/ogcapi-features": check_stac_features,
    STACSPEC + "v1.0.0/item-search": check_item_search,
    STACSPEC + "v1.0.0/item-search#filter": check_item_search_filter,
    STACSPEC + "v1.0.0/item-search#sort": check_item_search_sort,
    STACSPEC + "v1.0.0/item-search#fields": check_item_search_fields,
    STACSPEC + "v1.0.0/ogcapi-features#fields": check_features_fields,
    STACSPEC + "v1.0.0/ogcapi-features#sort": check_features_sort,
    STACSPEC + "v1.0.0/collections/extensions/transaction": check_collection_transaction,
    STACSPEC + "v1.0.0/ogcapi-features/extensions/transaction": check_items_transaction,
    STACSPEC + "v1.0.0-rc.1/collection-search": check_collection_search,
    STACSPEC + "v1.0.0-rc.1/collection-search#free-text": check_free_text,
    STACSPEC + "v1.0.0-rc.1/collection-search#filter": check_collection_filter,
    STACSPEC + "v1.0.0-rc.1/collection-search#sort": check_collection_sort,
    STACSPEC + "v1.0.0-rc.1/collection-search#fields": check_collection_fields,
}


@pytest.mark.parametrize("prefix", ["", "/api/v2"])
def test_conformance_is_exactly_the_declared_list(http, prefix):
    declared = ok(http.get(prefix + "/conformance"))["conformsTo"]
    assert len(declared) == len(set(declared))
    assert set(declared) - EXPECTED == set() and EXPECTED - set(declared) == set()
    assert ok(http.get(prefix + "/"))["conformsTo"] == declared


def test_every_declared_class_has_a_check():
    assert set(CHECKS) == EXPECTED


@pytest.mark.parametrize("uri", sorted(EXPECTED))
def test_declared_class_works(http, data, uri):
    CHECKS[uri](http, data)


def test_stac_filters_pgstac_cannot_answer_are_a_400_naming_them(http, data):
    # (a mixed GEOMETRYCOLLECTION literal in S_WITHIN is answered now: tests/api/test_strict_params.py)
    for text, word in (("cloud % 2 = 0", "%"), ("cloud div 2 = 1", "div")):
        r = http.get("/search", params={"collections": STAC, "filter": text})
        assert r.status_code == 400 and word in r.json()["description"], r.text
    assert ids(ok(http.get(f"/collections/{FEAT}/items", params={"filter": "cloud % 20 = 10"}),
                  "application/geo+json")) == [0, 2]
