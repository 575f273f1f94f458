"""Raster analytics over HTTP: time series, summary, zonal statistics per feature, CSV, limits and errors."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import psycopg
import pytest

from raster_worker import timebins
from tests.raster.analytics_cubes import Cube, masked, pixels_in_bbox, synthetic

CID = "analytics-api-synthetic"
HID = "analytics-api-hybrid"
BBOX = [10.0021, 44.9985, 10.0301, 45.0021]
BBOX_Q = ",".join(map(str, BBOX))
RTOL = 1e-6


@pytest.fixture(scope="module")
def cubes(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Cube]:
    root = tmp_path_factory.mktemp("cubes")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET search_path = pgstac, public")  # pgstac's delete trigger needs it (a reused database)
        conn.execute("DELETE FROM pgstac.collections WHERE id = ANY(%s)", ([CID, HID],))
        out = {CID: synthetic(conn, root, CID), HID: synthetic(conn, root, HID, kind="hybrid")}
        for fid, box, props in (("field-a", [10.0021, 44.9985, 10.0101, 45.0], {"crop": "rice"}),
                                ("field-b", [10.02, 44.99, 10.03, 44.995], {"crop": "maize"}),
                                ("far-away", [20.0, 10.0, 20.01, 10.01], {"crop": "rice"})):
            conn.execute("INSERT INTO data.features (collection_id, id, geom, properties) "
                         "VALUES (%s, %s, ST_MakeEnvelope(%s, %s, %s, %s, 4326), %s::jsonb)",
                         (HID, fid, *box, json.dumps(props)))
    return out


def reference(cube: Cube, bbox: list[float], layer: str, resolution: str) -> list[np.ndarray]:
    rows, cols = pixels_in_bbox(cube, bbox)
    data = masked(cube, layer, "CLM")[:, rows, cols]
    bins = timebins.make_bins(cube.times, cube.times.min(), cube.times.max(), timebins.parse_duration(resolution))
    out = []
    for b in range(len(bins)):
        vals = data[bins.members == b]
        out.append(vals[~np.isnan(vals)])
    return out


@pytest.mark.parametrize("prefix", ["", "/api/v2"])
def test_weekly_time_series_equals_numpy(http, cubes, prefix):
    r = http.get(f"{prefix}/collections/{CID}/aggregate/time-series",
                 params={"bbox": BBOX_Q, "layers": "NDVI", "resolution": "P1W", "aggregation": "mean,p90,count"})
    assert r.status_code == 200, r.text
    doc = r.json()
    want = reference(cubes[CID], BBOX, "NDVI", "P1W")
    assert doc["resolution"] == "P1W" and len(doc["steps"]) == len(want)
    assert doc["steps"][0]["start"] == "2023-12-18T00:00:00Z"  # a Monday
    for step, vals in zip(doc["steps"], want):
        got = step["values"]["NDVI"]
        assert got["count"] == vals.size
        if vals.size:
            assert got["mean"] == pytest.approx(vals.mean(), rel=RTOL)
            assert got["p90"] == pytest.approx(np.percentile(vals, 90), rel=RTOL)
        else:
            assert got["mean"] is None and got["p90"] is None
    assert any(s["values"]["NDVI"]["count"] == 0 for s in doc["steps"])
    assert {link["rel"] for link in doc["links"]} >= {"self", "collection"}
    assert doc["links"][1]["href"].endswith(f"{prefix}/collections/{CID}")


def test_monthly_post_with_geometry(http, cubes):
    polygon = {"type": "Polygon", "coordinates": [[[BBOX[0], BBOX[1]], [BBOX[2], BBOX[1]], [BBOX[2], BBOX[3]],
                                                   [BBOX[0], BBOX[3]], [BBOX[0], BBOX[1]]]]}
    r = http.post(f"/api/v2/collections/{CID}/aggregate/time-series",
                  json={"intersects": polygon, "layers": ["B04"], "resolution": "P1M",
                        "aggregation": ["min", "max", "std"]})
    assert r.status_code == 200, r.text
    steps = r.json()["steps"]
    assert [s["start"][:7] for s in steps] == ["2023-12", "2024-01", "2024-02", "2024-03", "2024-04"]
    for step, vals in zip(steps, reference(cubes[CID], BBOX, "B04", "P1M")):
        assert step["values"]["B04"]["std"] == pytest.approx(vals.std(), rel=RTOL)
        assert step["values"]["B04"]["max"] == pytest.approx(vals.max(), rel=RTOL)


def test_csv_by_accept_and_by_f(http, cubes):
    url = f"/collections/{CID}/aggregate/time-series?bbox={BBOX_Q}&layers=NDVI,B08&resolution=P1M"
    r = http.get(url, headers={"Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == ["start", "end", "acquisitions", "layer", "count", "mean"]
    assert len(rows) == 5 * 2
    assert http.get(url + "&f=csv").text == r.text


def test_summary_with_histogram_edges(http, cubes):
    r = http.get(f"/api/v2/collections/{CID}/aggregate/summary",
                 params={"bbox": BBOX_Q, "layers": "NDVI", "bins": "-1,0,0.25,0.5,1", "percentiles": "10,50"})
    assert r.status_code == 200, r.text
    stats = r.json()["statistics"]["NDVI"]
    vals = np.concatenate(reference(cubes[CID], BBOX, "NDVI", "P1Y"))
    assert stats["count"] == vals.size
    assert stats["p50"] == pytest.approx(np.median(vals), rel=RTOL)
    counts, _ = np.histogram(vals.astype(np.float32), bins=[-1, 0, 0.25, 0.5, 1])
    assert stats["histogram"]["counts"] == counts.tolist()


def test_time_series_per_feature(http, cubes):
    r = http.get(f"/api/v2/collections/{HID}/aggregate/time-series",
                 params={"groupby": "feature", "layers": "NDVI", "resolution": "P1M"})
    assert r.status_code == 200, r.text
    features = {f["id"]: f for f in r.json()["features"]}
    assert set(features) == {"field-a", "field-b", "far-away"}
    assert features["far-away"]["pixels"] == 0
    assert all(s["values"]["NDVI"]["count"] == 0 for s in features["far-away"]["steps"])
    box = [10.0021, 44.9985, 10.0101, 45.0]
    want = reference(cubes[HID], box, "NDVI", "P1M")
    rows, cols = pixels_in_bbox(cubes[HID], box)
    assert features["field-a"]["pixels"] == (rows.stop - rows.start) * (cols.stop - cols.start)
    for step, vals in zip(features["field-a"]["steps"], want):
        assert step["values"]["NDVI"]["count"] == vals.size
        assert step["values"]["NDVI"]["mean"] == pytest.approx(vals.mean(), rel=RTOL)


def test_groupby_needs_a_hybrid(http, cubes):
    r = http.get(f"/collections/{CID}/aggregate/time-series", params={"groupby": "feature", "layers": "NDVI"})
    assert r.status_code == 400 and "hybrid" in r.json()["description"]


@pytest.mark.parametrize("query, words", [
    ({"layers": "NOPE"}, "unknown layer 'NOPE'"),
    ({"layers": "NDVI", "resolution": "PT1H"}, "resolution"),
    ({"layers": "NDVI", "bbox": "10.03,44.99,10.00,45.0"}, "inverted"),
    ({"layers": "NDVI", "bbox": "10.01,44.99,10.01,45.0"}, "empty"),
    ({"layers": "NDVI", "bbox": "50,10,51,11"}, "selects no pixel"),
    ({"layers": "NDVI", "aggregation": "mode"}, "unknown aggregation"),
    ({"layers": "NDVI", "expression": "__import__('os')"}, "not allowed"),
    ({"expression": "B08 - NIR"}, "unknown layer 'NIR'"),
    ({"layers": "NDVI", "datetime": "2024-02-01T00:00:00Z/2024-01-01T00:00:00Z"}, "ends before it starts"),
])
def test_bad_requests_are_400_naming_the_problem(http, cubes, query, words):
    r = http.get(f"/api/v2/collections/{CID}/aggregate/time-series", params=query)
    assert r.status_code == 400, r.text
    assert words in r.json()["description"]


@pytest.mark.parametrize("path", ["time-series", "summary"])
def test_bare_get_aggregates_the_first_index_layer(http, cubes, path):
    """The collection's aggregate links work as they are: no layers= means the first index layer (NDVI here)."""
    r = http.get(f"/collections/{CID}/aggregate/{path}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["layers"] == ["NDVI"]
    assert "NDVI" in json.dumps(body)


def test_unknown_collection_is_404(http, cubes):
    r = http.get("/api/v2/collections/no-such-cube/aggregate/summary", params={"layers": "NDVI"})
    assert r.status_code == 404


def test_openapi_and_links_list_the_endpoints(http, cubes):
    paths = http.get("/api/v2/api").json()["paths"]
    assert {"get", "post"} <= set(paths["/collections/{collectionId}/aggregate/time-series"])
    assert "/collections/{collectionId}/aggregate/summary" in paths
    landing = [link["href"] for link in http.get("/api/v2/").json()["links"]]
    assert not any("{" in h for h in landing)  # URI templates are not URIs (hrefs are format: uri)
    for cid in (CID, HID):
        links = http.get(f"/api/v2/collections/{cid}").json()["links"]
        hrefs = {link["href"] for link in links if link["rel"] == "aggregate"}
        assert hrefs >= {f"{http.base_url}/api/v2/collections/{cid}/aggregate/time-series",
                         f"{http.base_url}/api/v2/collections/{cid}/aggregate/summary"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_time_series_per_feature_filtered_with_cql2(http, cubes, method):
    url = f"/api/v2/collections/{HID}/aggregate/time-series"
    if method == "GET":
        r = http.get(url, params={"groupby": "feature", "layers": "NDVI", "resolution": "P1W",
                                  "filter": "crop='rice'"})
    else:
        r = http.post(url, json={"groupby": "feature", "layers": ["NDVI"], "resolution": "P1W",
                                 "filter": {"op": "=", "args": [{"property": "crop"}, "rice"]}})
    assert r.status_code == 200, r.text
    assert [f["id"] for f in r.json()["features"]] == ["far-away", "field-a"]


def test_bad_feature_filter_is_400(http, cubes):
    r = http.get(f"/api/v2/collections/{HID}/aggregate/time-series",
                 params={"groupby": "feature", "layers": "NDVI", "filter": "crop = = 'x'"})
    assert r.status_code == 400 and "CQL2" in r.json()["description"]


def test_too_many_steps_is_413_with_size_and_limit(http, cubes):
    r = http.get(f"/api/v2/collections/{CID}/aggregate/time-series",
                 params={"layers": "NDVI", "resolution": "P1D", "datetime": "1900-01-01T00:00:00Z/2100-01-01T00:00:00Z"})
    assert r.status_code == 413, r.text
    body = r.json()
    assert body["code"] == "PayloadTooLarge" and body["limit"] == 10000 and body["size"] == 73050
    assert "limit is 10000" in body["description"]


def test_per_feature_summary_and_csv(http, cubes):
    r = http.post(f"/collections/{HID}/aggregate/summary?f=csv",
                  json={"groupby": "feature", "layers": "NDVI,B04", "percentiles": [50], "bins": 4})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == ["feature_id", "layer", "count", "min", "max", "mean", "std", "p50"]
    by = {(row["feature_id"], row["layer"]): row for row in rows}
    assert by[("far-away", "NDVI")]["count"] == "0" and by[("far-away", "NDVI")]["mean"] == ""
    vals = np.concatenate(reference(cubes[HID], [10.0021, 44.9985, 10.0101, 45.0], "B04", "P1Y"))
    assert float(by[("field-a", "B04")]["p50"]) == pytest.approx(np.median(vals), rel=RTOL)


def test_range_without_acquisitions_reports_empty_steps(http, cubes):
    r = http.get(f"/api/v2/collections/{CID}/aggregate/time-series",
                 params={"layers": "NDVI", "resolution": "P1M", "datetime": "2022-01-01T00:00:00Z/2022-03-31T00:00:00Z"})
    assert r.status_code == 200, r.text
    steps = r.json()["steps"]
    assert [s["start"] for s in steps] == ["2022-01-01T00:00:00Z", "2022-02-01T00:00:00Z", "2022-03-01T00:00:00Z"]
    assert all(s["acquisitions"] == 0 and s["values"]["NDVI"] == {"count": 0, "mean": None} for s in steps)
    summary = http.get(f"/api/v2/collections/{CID}/aggregate/summary",
                       params={"layers": "NDVI", "datetime": "2022-01-01T00:00:00Z/2022-03-31T00:00:00Z"})
    assert summary.status_code == 200
    assert summary.json()["statistics"]["NDVI"]["count"] == 0
    assert summary.json()["statistics"]["NDVI"]["histogram"] is None


@pytest.mark.parametrize("body, words", [
    ({"intersects": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}}, ""),
    ({"intersects": {"type": "Point", "coordinates": [10.01, 44.99]}}, "selects no pixel"),
    ({"intersects": "not geojson"}, "intersects"),
    ({"intersects": {"type": "Point", "coordinates": [10.01, 44.99]}, "bbox": [10, 44, 11, 45]}, "not both"),
    ({"bins": "3,2,1", "layers": ["NDVI"]}, "unknown member"),
    ({"layers": ["NDVI"], "resolution": "P0W"}, "resolution"),
])
def test_bad_posts_are_400(http, cubes, body, words):
    r = http.post(f"/api/v2/collections/{CID}/aggregate/time-series", json={"layers": ["NDVI"], **body})
    assert r.status_code == 400, r.text
    assert words in r.json()["description"]


def test_bad_summary_bins_are_400(http, cubes):
    for bins in ("0", "3,2,1", "a,b"):
        r = http.get(f"/collections/{CID}/aggregate/summary", params={"layers": "NDVI", "bins": bins})
        assert r.status_code == 400 and "bins" in r.json()["description"]
