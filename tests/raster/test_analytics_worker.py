"""The worker's aggregation against numpy on the same pixels of the source arrays (1e-6 relative)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from raster_worker import aggregate, analytics, blocks, stats, timebins
from tests.raster.analytics_cubes import Cube, masked, pixels_in_bbox, synthetic

CID = "analytics-worker-synthetic"
RTOL = 1e-6


@pytest.fixture(scope="module")
def cube(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Cube:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))
        return synthetic(conn, tmp_path_factory.mktemp("cubes"), CID)


def source(database_url: str, params: dict) -> dict:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT api.analytics_source(%s, %s::jsonb)", (CID, json.dumps(params))).fetchone()[0]


def run(database_url: str, bbox: list[float], **kw) -> tuple[aggregate.Result, list[str], aggregate.Query]:
    src = source(database_url, {"bbox": bbox})
    body = {"source": src, "zones": src.pop("zones"), **kw}
    q, names = analytics.query_of(body, summary=kw.pop("summary", False))
    return aggregate.run(q, single=True), names, q


def reference_bins(cube: Cube, resolution: str) -> timebins.Bins:
    return timebins.make_bins(cube.times, cube.times.min(), cube.times.max(), timebins.parse_duration(resolution))


BBOX = [10.0021, 44.9985, 10.0301, 45.0021]


@pytest.mark.parametrize("resolution", ["P1D", "P1W", "P1M", "P2W", "P3M"])
def test_time_series_equals_numpy(database_url, cube, resolution):
    aggs = ["mean", "min", "max", "median", "std", "sum", "count", "p10", "p90"]
    result, names, q = run(database_url, BBOX, layers=["NDVI", "B08"], aggregation=aggs, resolution=resolution)
    rows, cols = pixels_in_bbox(cube, BBOX)
    bins = reference_bins(cube, resolution)
    assert len(result.bins) == len(bins) and (result.bins.starts == bins.starts).all()
    for layer in ("NDVI", "B08"):
        data = masked(cube, layer, "CLM")[:, rows, cols]
        for b in range(len(bins)):
            got = stats.aggregations(result.table[layer][b, 0], names, q.spec)
            vals = data[bins.members == b]
            vals = vals[~np.isnan(vals)]
            assert got["count"] == vals.size
            if vals.size == 0:
                assert all(got[a] is None for a in aggs if a != "count")
                continue
            want = {"mean": vals.mean(), "min": vals.min(), "max": vals.max(), "median": np.median(vals),
                    "std": vals.std(), "sum": vals.sum(), "p10": np.percentile(vals, 10),
                    "p90": np.percentile(vals, 90)}
            for a, w in want.items():
                assert got[a] == pytest.approx(w, rel=RTOL), (layer, b, a)


def test_clouded_acquisition_gives_count_zero_not_a_value(database_url, cube):
    result, names, q = run(database_url, BBOX, layers=["NDVI"], aggregation=["mean"], resolution="P1D")
    day = np.datetime64("2023-12-25T00:00:00")  # acquisition 2 is fully masked
    b = int(np.flatnonzero(result.bins.starts == day)[0])
    got = stats.aggregations(result.table["NDVI"][b, 0], names, q.spec)
    assert got == {"count": 0, "mean": None}
    assert result.acquisitions[b] == 1


def test_expression_equals_numpy(database_url, cube):
    expr = "(B08 - B04) / (B08 + B04) * 2 + sqrt(abs(B04))"
    result, names, q = run(database_url, BBOX, layers=[], expression=expr, aggregation=["mean", "max"],
                           resolution="P1M")
    rows, cols = pixels_in_bbox(cube, BBOX)
    b04, b08 = (masked(cube, v, "CLM")[:, rows, cols].astype(np.float32) for v in ("B04", "B08"))
    data = ((b08 - b04) / (b08 + b04) * 2 + np.sqrt(np.abs(b04))).astype(np.float64)
    bins = reference_bins(cube, "P1M")
    for b in range(len(bins)):
        vals = data[bins.members == b]
        vals = vals[np.isfinite(vals)]
        got = stats.aggregations(result.table[expr][b, 0], names, q.spec)
        assert got["count"] == vals.size
        assert got["mean"] == pytest.approx(vals.mean(), rel=RTOL)


def test_summary_with_histogram_equals_numpy(database_url, cube):
    result, names, q = run(database_url, BBOX, layers=["B04"], bins=7, percentiles=[5, 50, 95], summary=True,
                           datetime=["2024-01-01T00:00:00Z", "2024-03-31T00:00:00Z"])
    rows, cols = pixels_in_bbox(cube, BBOX)
    keep = (cube.times >= np.datetime64("2024-01-01")) & (cube.times <= np.datetime64("2024-03-31"))
    vals = masked(cube, "B04", "CLM")[keep][:, rows, cols]
    vals = vals[~np.isnan(vals)]
    row = result.table["B04"][0, 0]
    got = stats.aggregations(row, names, q.spec)
    assert got["count"] == vals.size
    assert got["p95"] == pytest.approx(np.percentile(vals, 95), rel=RTOL)
    assert got["std"] == pytest.approx(vals.std(), rel=RTOL)
    counts, edges = np.histogram(vals.astype(np.float32), bins=7)
    hist = stats.histogram(row, q.spec)
    assert hist["counts"] == counts.tolist()
    assert np.allclose(hist["edges"], edges, rtol=RTOL)


def test_blocks_smaller_than_a_bin_combine_exactly(database_url, cube, monkeypatch):
    monkeypatch.setattr(aggregate, "BLOCK_VALUES", 1)  # one time step per block
    result, names, q = run(database_url, BBOX, layers=["NDVI"], aggregation=["mean", "std", "min"],
                           resolution="P1M")
    monkeypatch.undo()
    whole, _, _ = run(database_url, BBOX, layers=["NDVI"], aggregation=["mean", "std", "min", "p50"],
                      resolution="P1M")
    for b in range(len(result.bins)):
        a = stats.aggregations(result.table["NDVI"][b, 0], names, q.spec)
        w = stats.aggregations(whole.table["NDVI"][b, 0], names, q.spec)
        for k in names:
            assert a[k] == pytest.approx(w[k], rel=1e-9)


def test_too_large_is_413_with_size_and_limit(database_url, cube, monkeypatch):
    monkeypatch.setattr(aggregate, "MAX_VALUES", 100)
    with pytest.raises(aggregate.RequestError) as e:
        run(database_url, BBOX, layers=["NDVI"], resolution="P1W")
    assert e.value.status == 413 and e.value.extra["limit"] == 100 and e.value.extra["size"] > 100
    assert "limit is 100" in e.value.description


def test_distributed_cluster_gives_the_same_answer(database_url, cube, monkeypatch):
    distributed = pytest.importorskip("distributed")
    local, _, _ = run(database_url, BBOX, layers=["NDVI"], aggregation=["mean", "p90"], resolution="P1W")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=":0") as cluster:
        monkeypatch.setitem(os.environ, "DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
        client = aggregate._client(cluster.scheduler_address)
        with distributed.get_task_stream(client=client) as tasks:
            remote, _, _ = run(database_url, BBOX, layers=["NDVI"], aggregation=["mean", "p90"], resolution="P1W")
        assert any("block" in str(t["key"]) for t in tasks.data), tasks.data[:3]
        client.close()
        aggregate._client.cache_clear()
    assert np.array_equal(local.table["NDVI"], remote.table["NDVI"], equal_nan=True)


def test_only_the_chunks_of_the_window_are_read(database_url, cube, tmp_path):
    """Every chunk file outside the window is replaced by garbage: reading one would fail to decode."""
    copy = tmp_path / "copy.zarr"
    shutil.copytree(cube.path, copy)
    rows, cols = pixels_in_bbox(cube, BBOX)
    keep_r = set(range(rows.start // 16, (rows.stop - 1) // 16 + 1))
    keep_c = set(range(cols.start // 16, (cols.stop - 1) // 16 + 1))
    spoiled = 0
    for chunk in (copy / "NDVI" / "c").glob("*/*/*"):
        r, c = int(chunk.parent.name), int(chunk.name)
        if r not in keep_r or c not in keep_c:
            chunk.write_bytes(b"not a chunk")
            spoiled += 1
    assert spoiled > 0
    src = source(database_url, {"bbox": BBOX})
    src["store_path"], zones_ = str(copy), src.pop("zones")
    q, _names = analytics.query_of({"source": src, "zones": zones_, "layers": ["NDVI"], "mask": "none",
                                   "resolution": "P1M"}, summary=False)
    result = aggregate.run(q, single=True)
    data = cube.arrays["NDVI"][:, rows, cols].astype(np.float64)
    assert result.table["NDVI"][:, 0, 0].sum() == np.count_nonzero(~np.isnan(data))


def test_index_layer_computed_from_its_expression_equals_the_stored_one(database_url, cube):
    result, _names, _q = run(database_url, BBOX, layers=["NDVI", "ndvix"], aggregation=["mean", "p50"],
                           resolution="P1W")
    assert np.allclose(result.table["NDVI"], result.table["ndvix"], rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("mask, words", [("B04", "not a mask"), ("nope", "unknown layer")])
def test_bad_mask_choice(database_url, cube, mask, words):
    with pytest.raises(aggregate.RequestError, match=words):
        run(database_url, BBOX, layers=["NDVI"], mask=mask)


def test_scl_classes_and_generic_masks():
    scl = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, np.nan], dtype=np.float32)
    assert blocks.valid_pixels("SCL", scl).tolist() == [False, False, True, False, True, True, True,
                                                                   True, False, False, False, True, False]
    flags = np.array([0, 1, 2, np.nan], dtype=np.float32)
    assert blocks.valid_pixels("IS_VALID", flags).tolist() == [False, True, True, False]
