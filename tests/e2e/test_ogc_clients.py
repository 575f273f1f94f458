"""OGC API Features clients other than our own: GDAL's OAPIF driver (through pyogrio) and OWSLib.

Both read a feature collection uploaded over HTTP: the layer list, its schema, CRS and feature count
(numberMatched), every feature across pages (next links: keyset tokens for features and STAC items),
bbox filtering, single features, queryables and CQL2 filters.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import AUTH
from tests.e2e.recording_proxy import recording_proxy

pyogrio = pytest.importorskip("pyogrio")
features_api = pytest.importorskip("owslib.ogcapi.features")

CID = "ogc-clients-parcels"
STAC = "ogc-clients-scenes"
N = 23
BBOX = (10.0, 45.0, 10.25, 45.1)


def parcel(i: int) -> dict:
    x, y = 10.0 + (i % 8) * 0.05, 45.0 + (i // 8) * 0.05
    props = {"crop": ["rice", "cotton", "maize"][i % 3], "ph": round(5.5 + i / 10, 1), "plots": i % 4}
    if i % 2 == 0:
        props["datetime"] = f"2025-06-{i + 1:02d}T06:00:00Z"
    return {"type": "Feature", "id": f"p-{i:02d}", "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + .02, y], [x + .02, y + .02],
                                                            [x, y + .02], [x, y]]]}}


def scene(i: int) -> dict:
    x = 10.0 + i * 0.1
    return {"type": "Feature", "stac_version": "1.0.0", "id": f"s-{i:02d}", "collection": STAC,
            "geometry": {"type": "Polygon", "coordinates": [[[x, 45], [x + .1, 45], [x + .1, 45.1], [x, 45.1], [x, 45]]]},
            "bbox": [x, 45, x + .1, 45.1], "properties": {"datetime": f"2024-05-{i + 1:02d}T10:00:00Z"},
            "assets": {}, "links": []}


@pytest.fixture(scope="module")
def root(services) -> Iterator[str]:
    with httpx.Client(base_url=services.url, headers=AUTH, timeout=60) as client:
        for cid in (CID, STAC):
            client.delete(f"/collections/{cid}")
        r = client.post(f"/collections/{CID}/features:upload", json={
            "type": "FeatureCollection", "features": [parcel(i) for i in range(N)],
            "collection": {"title": "OGC client parcels", "description": "parcels for GDAL and OWSLib"}})
        assert r.status_code == 201, r.text
        r = client.post("/collections", json={
            "id": STAC, "description": "scenes for GDAL", "license": "CC0-1.0",
            "extent": {"spatial": {"bbox": [[10, 45, 11, 45.1]]},
                       "temporal": {"interval": [["2024-05-01T00:00:00Z", "2024-05-31T00:00:00Z"]]}}})
        assert r.status_code == 201, r.text
        r = client.post(f"/collections/{STAC}/items",
                        json={"type": "FeatureCollection", "features": [scene(i) for i in range(7)]})
        assert r.status_code == 201, r.text
        yield f"{services.url}/"
        for cid in (CID, STAC):
            client.delete(f"/collections/{cid}")


def ids_of(meta: dict, fields: list) -> list[str]:
    return [str(v) for v in fields[list(meta["fields"]).index("id")]]


def server_ids(http: httpx.Client, cid: str, **params: str) -> list[str]:
    page = http.get(f"/collections/{cid}/items", params={"limit": "1000", **params}).json()
    return sorted(f["id"] for f in page["features"])


def test_gdal_lists_layers_and_reads_schema_crs_and_count(root: str) -> None:
    assert "OAPIF" in pyogrio.list_drivers()
    layers = {str(name) for name, _ in pyogrio.list_layers(f"OAPIF:{root}")}
    assert {CID, STAC} <= layers
    info = pyogrio.read_info(f"OAPIF:{root}collections/{CID}", force_feature_count=True)
    assert info["crs"] == "EPSG:4326" and info["geometry_type"] == "Polygon" and info["features"] == N
    kinds = dict(zip(info["fields"], info["dtypes"]))
    assert kinds["crop"] == "object" and kinds["ph"] == "float64" and kinds["plots"] in ("int32", "int64")
    assert kinds["datetime"].startswith("datetime64")


@pytest.mark.parametrize("cid", [CID, STAC])
def test_gdal_reads_every_feature_across_pages(root: str, http: httpx.Client, cid: str) -> None:
    meta, _, geometry, fields = pyogrio.raw.read(f"OAPIF:{root}collections/{cid}", PAGE_SIZE=4)
    ids = ids_of(meta, fields)
    assert len(ids) == len(set(ids)) == len(geometry) and sorted(ids) == server_ids(http, cid)


def test_gdal_bbox_and_where(root: str, http: httpx.Client) -> None:
    url = f"OAPIF:{root}collections/{CID}"
    meta, _, _, fields = pyogrio.raw.read(url, PAGE_SIZE=3, bbox=BBOX)
    expected = server_ids(http, CID, bbox=",".join(map(str, BBOX)))
    assert 0 < len(expected) < N and sorted(ids_of(meta, fields)) == expected
    meta, _, _, fields = pyogrio.raw.read(url, PAGE_SIZE=5, where="crop = 'rice' AND ph > 6")
    assert sorted(ids_of(meta, fields)) == server_ids(http, CID, filter="crop = 'rice' AND ph > 6")


# OGR SQL where clauses and the same selection in CQL2 text, asked of the server directly
PUSHED_DOWN = [
    ("crop = 'rice' AND ph > 6", "crop = 'rice' AND ph > 6"),
    ("crop ILIKE 'RI%' OR plots = 2", "CASEI(crop) LIKE CASEI('ri%') OR plots = 2"),
    ("NOT (plots <> 1)", "plots = 1"),
    ("ph BETWEEN 6 AND 7", "ph BETWEEN 6 AND 7"),
    ("datetime >= '2025-06-05T00:00:00Z'", "datetime >= TIMESTAMP('2025-06-05T00:00:00Z')"),
]


@pytest.mark.parametrize(("where", "cql2"), PUSHED_DOWN)
def test_gdal_sends_attribute_filters_to_the_server(root: str, http: httpx.Client, services, tmp_path,
                                                    where: str, cql2: str) -> None:
    """GDAL evaluates a where clause on the server when the OpenAPI document declares the collection's items
    path with its queryables and filter-lang's enum names cql-text: a recording proxy sees the filter in every
    request for features after GDAL's unfiltered first page (its schema probe), and only matching features."""
    expected = server_ids(http, CID, filter=cql2)
    assert 0 < len(expected) < N
    with recording_proxy(services.url, tmp_path / "requests.jsonl") as proxy:
        meta, _, _, fields = pyogrio.raw.read(f"OAPIF:{proxy.url}collections/{CID}", PAGE_SIZE=5, where=where,
                                              datetime_as_string=True)
        items = proxy.items_requests(CID)
    assert sorted(ids_of(meta, fields)) == expected
    probe, filtered = items[0], items[1:]
    assert "filter" not in probe.path and filtered
    assert all("filter=" in e.path and "filter-lang=cql-text" in e.path and e.status == 200 for e in filtered)
    assert sum(e.features or 0 for e in filtered) == len(expected)


def test_openapi_declares_each_feature_collections_queryables(root: str, http: httpx.Client) -> None:
    doc = http.get("/api").json()
    op = doc["paths"][f"/collections/{CID}/items"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["crop"]["schema"] == {"type": "string"} and params["ph"]["schema"] == {"type": "number"}
    assert params["plots"]["schema"] == {"type": "integer"} and params["crop"]["in"] == "query"
    assert "datetime" in params and "collectionId" not in params   # the standard one, not the property
    assert params["filter-lang"]["schema"]["enum"] == ["cql2-text", "cql2-json", "cql-text"]
    generic = doc["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    assert "cql-text" in next(p for p in generic if p["name"] == "filter-lang")["schema"]["enum"]
    assert f"/collections/{STAC}/items" not in doc["paths"]   # STAC collections have no derived queryables
    page = http.get(f"/collections/{CID}/items", params={"crop": "maize", "plots": "1", "limit": 50}).json()
    assert page["features"] and all(f["properties"]["crop"] == "maize" and f["properties"]["plots"] == 1
                                    for f in page["features"])


def test_filter_lang_cql_text_reads_the_drafts_ilike(root: str, http: httpx.Client) -> None:
    draft = http.get(f"/collections/{CID}/items",
                     params={"filter": "crop ILIKE 'MA%' AND crop <> 'it''s ILIKE x'", "filter-lang": "cql-text",
                             "limit": 50})
    assert draft.status_code == 200, draft.text
    assert draft.json()["numberMatched"] == len(range(2, N, 3))
    r = http.get(f"/collections/{CID}/items", params={"filter": "crop ILIKE 'MA%'", "filter-lang": "cql2-text"})
    assert r.status_code == 400 and r.json()["code"]


def test_owslib_collections_items_bbox_filter_and_queryables(root: str, http: httpx.Client) -> None:
    api = features_api.Features(root)
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]
    assert CID in [c["id"] for c in api.collections()["collections"]]
    collection = api.collection(CID)
    assert collection["title"] == "OGC client parcels" and len(collection["extent"]["spatial"]["bbox"][0]) == 4
    page = api.collection_items(CID, limit=4, bbox=list(BBOX))
    expected = server_ids(http, CID, bbox=",".join(map(str, BBOX)))
    assert page["numberMatched"] == len(expected) and page["numberReturned"] == 4
    assert any(link["rel"] == "next" for link in page["links"])
    seen = [f["id"] for f in page["features"]]
    while (nxt := next((link["href"] for link in page["links"] if link["rel"] == "next"), None)):
        page = httpx.get(nxt, timeout=30).json()
        seen += [f["id"] for f in page["features"]]
    assert sorted(seen) == expected
    rice = api.collection_items(CID, limit=50, filter="crop = 'rice'")
    assert rice["numberMatched"] == len(range(0, N, 3)) and {f["properties"]["crop"] for f in rice["features"]} == {"rice"}
    assert api.collection_items(CID, limit=50, crop="maize")["numberMatched"] == len(range(2, N, 3))
    queryables = api.collection_queryables(CID)
    assert {"crop", "ph", "plots"} <= set(queryables["properties"])
    assert api.collection_item(CID, "p-05")["properties"]["crop"] == "maize"
