"""Feature collections over HTTP: upload, items (OGC API Features Part 1 + 3), facets, aggregate, writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pyproj import Transformer

from tests.conftest import AUTH, Services

CID = "test-features-fields"


def _field(i: int, crop: str, farmer: str, area: float, ph: float, x: float, y: float, day: int) -> dict[str, Any]:
    ring = [[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]
    return {"type": "Feature", "id": f"f{i}", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"crop": crop, "farmer": farmer, "area": area, "ph": ph, "sown": f"2024-03-{day:02d}",
                           "datetime": f"2024-06-{day:02d}T10:00:00Z"}}


FIELDS = [
    _field(1, "wheat", "asha", 2.5, 6.5, 77.0, 12.0, 1),
    _field(2, "wheat", "ravi", 1.0, 7.0, 77.1, 12.1, 2),
    _field(3, "rice", "asha", 3.0, 5.5, 77.2, 12.2, 3),
    _field(4, "rice", "ravi", 4.5, 6.0, 77.3, 12.3, 4),
    _field(5, "millet", "asha", 0.5, 7.5, 77.4, 12.4, 5),
    _field(6, "wheat", "meena", 2.0, 6.8, 78.5, 13.5, 6),
]


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[httpx.Client]:
    """The gateway with the fields collection uploaded once (through POST .../features:upload)."""
    with httpx.Client(base_url=services.url, timeout=60) as client:
        body = {"type": "FeatureCollection", "features": FIELDS, "collection": {"title": "Test fields"}}
        r = client.post(f"/collections/{CID}/features:upload", params={"force": "true"}, json=body, headers=AUTH)
        assert r.status_code == 201, r.text
        yield client
        client.delete(f"/collections/{CID}", headers=AUTH)


def items(api: httpx.Client, **query: Any) -> dict[str, Any]:
    r = api.get(f"/collections/{CID}/items", params=query)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_upload_makes_a_stac_collection_with_extent_from_the_data(api: httpx.Client) -> None:
    doc = api.get(f"/collections/{CID}").json()
    assert doc["title"] == "Test fields"
    assert doc["extent"]["spatial"]["bbox"][0] == pytest.approx([77.0, 12.0, 78.51, 13.51])
    assert doc["extent"]["temporal"]["interval"][0] == ["2024-06-01T10:00:00Z", "2024-06-06T10:00:00Z"]
    assert CID in [c["id"] for c in api.get("/collections", params={"limit": 1000}).json()["collections"]]


def test_items_page_with_next_and_prev_links(api: httpx.Client) -> None:
    page = items(api, limit=4)
    assert (page["numberMatched"], page["numberReturned"]) == (6, 4)
    assert [f["id"] for f in page["features"]] == ["f1", "f2", "f3", "f4"]
    nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
    page2 = api.get(nxt).json()
    assert [f["id"] for f in page2["features"]] == ["f5", "f6"]
    assert any(link["rel"] == "prev" for link in page2["links"])
    assert not any(link["rel"] == "next" for link in page2["links"])


def test_bbox_datetime_and_properties(api: httpx.Client) -> None:
    assert items(api, bbox="78,13,79,14")["numberMatched"] == 1
    assert items(api, datetime="2024-06-02T00:00:00Z/2024-06-04T00:00:00Z")["numberMatched"] == 2
    assert items(api, datetime="../2024-06-01T12:00:00Z")["numberMatched"] == 1
    feature = items(api, properties="crop,ph", limit=1)["features"][0]
    assert feature["properties"] == {"crop": "wheat", "ph": 6.5}


def test_cql2_filter_text_and_json(api: httpx.Client) -> None:
    assert items(api, filter="crop = 'wheat' AND area > 1.5")["numberMatched"] == 2
    assert items(api, filter='{"op": "<", "args": [{"property": "ph"}, 6.2]}',
                 **{"filter-lang": "cql2-json"})["numberMatched"] == 2
    assert items(api, filter="sown > DATE('2024-03-04') OR S_INTERSECTS(geometry, BBOX(77.0, 12.0, 77.05, 12.05))"
                 )["numberMatched"] == 3
    assert items(api, filter="crop IN ('rice', 'millet') AND farmer LIKE 'as%'")["numberMatched"] == 2
    assert items(api, crop="rice")["numberMatched"] == 2  # ?queryable=value


def test_unknown_property_and_parameter_are_400s_naming_them(api: httpx.Client) -> None:
    r = api.get(f"/collections/{CID}/items", params={"filter": "yield > 3"})
    assert r.status_code == 400 and "yield" in r.json()["description"]
    r = api.get(f"/collections/{CID}/items", params={"colour": "red"})
    assert r.status_code == 400 and "colour" in r.json()["description"]
    r = api.get(f"/collections/{CID}/items", params={"properties": "crop,nosuch"})
    assert r.status_code == 400 and "nosuch" in r.json()["description"]
    r = api.get(f"/collections/{CID}/items", params={"filter": "crop = = 1"})
    assert r.status_code == 400


def test_sortby(api: httpx.Client) -> None:
    assert [f["id"] for f in items(api, sortby="-ph")["features"]] == ["f5", "f2", "f6", "f1", "f4", "f3"]
    assert [f["id"] for f in items(api, sortby="+crop,-area")["features"]] == ["f5", "f4", "f3", "f1", "f6", "f2"]


def test_facets_count_values_of_matching_features(api: httpx.Client) -> None:
    doc = items(api, facetby="crop,farmer", filter="area >= 1", limit=1)
    assert doc["facets"]["crop"] == [{"value": "wheat", "count": 3}, {"value": "rice", "count": 2}]
    assert {f["value"]: f["count"] for f in doc["facets"]["farmer"]} == {"asha": 2, "ravi": 2, "meena": 1}


def test_aggregate(api: httpx.Client) -> None:
    r = api.get(f"/collections/{CID}/aggregate",
                params={"groupby": "crop", "metrics": "count,sum(area),avg(ph),min(sown),max(area)"})
    assert r.status_code == 200, r.text
    groups = {g["crop"]: g for g in r.json()["groups"]}
    assert groups["wheat"]["count"] == 3 and groups["wheat"]["sum(area)"] == pytest.approx(5.5)
    assert groups["rice"]["avg(ph)"] == pytest.approx(5.75)
    assert groups["millet"]["min(sown)"] == "2024-03-05"
    r = api.get(f"/collections/{CID}/aggregate", params={"metrics": "count", "bbox": "77,12,77.25,12.25"})
    assert r.json()["groups"] == [{"count": 3}]
    r = api.get(f"/collections/{CID}/aggregate", params={"metrics": "sum(crop)"})
    assert r.status_code == 400 and "crop" in r.json()["description"]


def test_queryables_types_come_from_the_data(api: httpx.Client) -> None:
    r = api.get(f"/collections/{CID}/queryables")
    assert r.status_code == 200
    props = r.json()["properties"]
    assert props["area"]["type"] == "number" and props["crop"]["type"] == "string"
    assert props["sown"] == {"type": "string", "format": "date", "title": "sown"}
    assert "geometry" in props


def test_feature_writes_keep_the_extent_current(api: httpx.Client) -> None:
    new = _field(7, "maize", "kiran", 1.5, 6.1, 80.0, 15.0, 9)
    r = api.post(f"/collections/{CID}/items", json=new, headers=AUTH)
    assert r.status_code == 201, r.text
    assert api.get(f"/collections/{CID}").json()["extent"]["spatial"]["bbox"][0][2] == pytest.approx(80.01)
    r = api.patch(f"/collections/{CID}/items/f7", json={"properties": {"crop": "sorghum", "ph": None}},
                  headers=AUTH)
    assert r.status_code in (200, 204), r.text
    props = api.get(f"/collections/{CID}/items/f7").json()["properties"]
    assert props["crop"] == "sorghum" and "ph" not in props
    r = api.delete(f"/collections/{CID}/items/f7", headers=AUTH)
    assert r.status_code in (200, 204)
    assert api.get(f"/collections/{CID}/items/f7").status_code == 404
    assert api.get(f"/collections/{CID}").json()["extent"]["spatial"]["bbox"][0][2] == pytest.approx(78.51)


def test_upload_needs_force_to_replace(api: httpx.Client) -> None:
    r = api.post(f"/collections/{CID}/features:upload", json={"type": "FeatureCollection", "features": []},
                 headers=AUTH)
    assert r.status_code == 409
    assert api.post(f"/collections/{CID}/features:upload", json={}).status_code == 401


def test_invalid_feature_is_rejected_by_name_and_nothing_is_stored(api: httpx.Client) -> None:
    bad = {"type": "FeatureCollection", "features": [
        _field(1, "wheat", "a", 1, 6, 70, 10, 1),
        {"type": "Feature", "id": "broken", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]},
         "properties": {}}]}
    r = api.post("/collections/test-features-bad/features:upload", json=bad, headers=AUTH)
    assert r.status_code == 400 and "broken" in r.json()["description"]
    assert api.get("/collections/test-features-bad").status_code == 404


def test_self_intersecting_polygon_is_repaired(api: httpx.Client) -> None:
    bowtie = {"type": "Feature", "id": "bowtie", "properties": {},
              "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}}
    r = api.post("/collections/test-features-bowtie/features:upload", params={"force": "true"},
                 json={"type": "FeatureCollection", "features": [bowtie]}, headers=AUTH)
    assert r.status_code == 201, r.text
    geom = api.get("/collections/test-features-bowtie/items/bowtie").json()["geometry"]
    assert geom["type"] == "MultiPolygon"
    api.delete("/collections/test-features-bowtie", headers=AUTH)


@pytest.mark.parametrize("epsg", [7755, 32643])
def test_projected_upload_comes_back_in_wgs84(api: httpx.Client, epsg: int) -> None:
    to_src = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
    lon, lat = 77.5946, 12.9716
    x, y = to_src.transform(lon, lat)
    body = {"type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}},
            "features": [{"type": "Feature", "id": "p", "properties": {},
                          "geometry": {"type": "Point", "coordinates": [x, y]}}]}
    cid = f"test-features-crs-{epsg}"
    r = api.post(f"/collections/{cid}/features:upload", params={"force": "true"}, json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    got = api.get(f"/collections/{cid}/items/p").json()["geometry"]["coordinates"]
    assert got == pytest.approx([lon, lat], abs=1e-7)
    api.delete(f"/collections/{cid}", headers=AUTH)
