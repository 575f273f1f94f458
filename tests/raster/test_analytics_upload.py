"""Analytics over cubes uploaded with the real upload CLI, checked against numpy on the served arrays.

- the eo-learn Sentinel-2 NDVI series (UTM 33N, 68 irregular dates 2015-2017) as a model-output cube, its
  IS_VALID flag as the mask layer;
- a synthetic Sentinel-2 L2A cube (scripts/telangana_s2.py) whose SCL scene classification masks clouds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import psycopg
import pytest
import xarray as xr

from raster_worker import blocks, timebins
from scripts import upload_local_zarr
from tests.conftest import testdata as shared_testdata
from tests.raster.analytics_cubes import Cube, from_store, pixels_in_bbox

EID = "analytics-eolearn-ndvi"
SID = "analytics-s2-scl"
RTOL = 1e-6


def eolearn_source(folder: Path, out: Path) -> Path:
    """The .npy arrays as a Zarr store in their native UTM 33N grid (what a model would write)."""
    ndvi = np.load(folder / "NDVI.npy")[..., 0]
    valid = np.load(folder / "IS_VALID.npy")[..., 0].astype(np.uint8)
    ring = np.array(json.loads((folder / "bbox.geojson").read_text())["coordinates"][0])
    (minx, miny), (maxx, maxy) = ring.min(0), ring.max(0)
    _t, h, w = ndvi.shape
    dx, dy = (maxx - minx) / w, (maxy - miny) / h
    times = np.array(json.loads((folder / "timestamps.json").read_text()), dtype="datetime64[ns]")
    ds = xr.Dataset(
        {"NDVI": (("time", "y", "x"), ndvi, {"grid_mapping": "spatial_ref", "long_name": "NDVI"}),
         "IS_VALID": (("time", "y", "x"), valid, {"grid_mapping": "spatial_ref", "flag_values": [0, 1],
                                                  "flag_meanings": "invalid valid"})},
        coords={"time": times, "x": minx + dx * (np.arange(w) + 0.5), "y": maxy - dy * (np.arange(h) + 0.5),
                "spatial_ref": ((), 0, {"crs_wkt": "EPSG:32633"})})
    ds.to_zarr(out, mode="w", consolidated=False)
    return out


def upload(path: Path, cid: str, database_url: str, data_dir: Path, *extra: str) -> Cube:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))
    code = upload_local_zarr.main([str(path), "--collection-id", cid, "--dsn", database_url,
                                   "--data-dir", str(data_dir), "--quiet", *extra])
    assert code == 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        src = conn.execute("SELECT api.raster_source(%s)", (cid,)).fetchone()[0]
    return from_store(cid, src["store_path"])


@pytest.fixture(scope="module")
def eolearn(database_url: str, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Cube:
    folder = shared_testdata("eolearn-s2-ndvi")
    source = eolearn_source(folder, tmp_path_factory.mktemp("eolearn") / "ndvi-utm33n.zarr")
    return upload(source, EID, database_url, data_dir, "--all-layers", "--crs", "EPSG:32633")


@pytest.fixture(scope="module")
def s2(database_url: str, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Cube:
    from scripts.telangana_s2 import generate

    path = tmp_path_factory.mktemp("s2") / "l2a.zarr"
    generate(path, pixel=5000.0)
    return upload(path, SID, database_url, data_dir)


def inner_bbox(cube: Cube, margin: float = 0.2) -> list[float]:
    minx, miny, maxx, maxy = cube.bbox
    w, h = maxx - minx, maxy - miny
    return [minx + margin * w, miny + margin * h, maxx - margin * w, maxy - margin * h]


def reference(cube: Cube, bbox: list[float], layer: str, valid: np.ndarray, resolution: str) -> list[np.ndarray]:
    rows, cols = pixels_in_bbox(cube, bbox)
    data = np.where(valid, cube.arrays[layer].astype(np.float64), np.nan)[:, rows, cols]
    bins = timebins.make_bins(cube.times, cube.times.min(), cube.times.max(), timebins.parse_duration(resolution))
    picked = [data[bins.members == b] for b in range(len(bins))]
    return [v[~np.isnan(v)] for v in picked]


def check(steps: list[dict], want: list[np.ndarray], layer: str) -> None:
    assert len(steps) == len(want)
    for step, vals in zip(steps, want):
        got = step["values"][layer]
        assert got["count"] == vals.size
        if vals.size:
            assert got["mean"] == pytest.approx(vals.mean(), rel=RTOL)
            assert got["p10"] == pytest.approx(np.percentile(vals, 10), rel=RTOL)
            assert got["max"] == pytest.approx(vals.max(), rel=RTOL)
        else:
            assert got["mean"] is None


@pytest.mark.parametrize("resolution", ["P1W", "P1M"])
def test_eolearn_ndvi_series_equals_numpy(http, eolearn, resolution):
    bbox = inner_bbox(eolearn)
    r = http.get(f"/api/v2/collections/{EID}/aggregate/time-series",
                 params={"bbox": ",".join(map(str, bbox)), "layers": "NDVI", "resolution": resolution,
                         "aggregation": "mean,p10,max"})
    assert r.status_code == 200, r.text
    mask = eolearn.arrays["IS_VALID"]
    want = reference(eolearn, bbox, "NDVI", np.isfinite(mask) & (mask != 0), resolution)
    steps = r.json()["steps"]
    check(steps, want, "NDVI")
    # the series crosses two year boundaries, with empty weeks (irregular acquisitions) reported as such
    assert steps[0]["start"].startswith("2015-07") and steps[-1]["start"].startswith("2017-12")
    assert any(s["acquisitions"] == 0 and s["values"]["NDVI"]["count"] == 0 for s in steps)


def test_eolearn_mask_none_counts_every_value(http, eolearn):
    bbox = inner_bbox(eolearn)
    r = http.get(f"/api/v2/collections/{EID}/aggregate/summary",
                 params={"bbox": ",".join(map(str, bbox)), "layers": "NDVI", "mask": "none", "bins": 5})
    assert r.status_code == 200, r.text
    rows, cols = pixels_in_bbox(eolearn, bbox)
    vals = eolearn.arrays["NDVI"][:, rows, cols]
    vals = vals[~np.isnan(vals)]
    stats = r.json()["statistics"]["NDVI"]
    assert stats["count"] == vals.size
    assert stats["mean"] == pytest.approx(vals.astype(np.float64).mean(), rel=RTOL)
    assert stats["histogram"]["counts"] == np.histogram(vals, bins=5)[0].tolist()


def test_s2_scl_masks_clouds(http, s2):
    bbox = inner_bbox(s2, 0.1)
    r = http.get(f"/collections/{SID}/aggregate/time-series",
                 params={"bbox": ",".join(map(str, bbox)), "layers": "NDVI", "resolution": "P2W",
                         "aggregation": "mean,p10,max"})
    assert r.status_code == 200, r.text
    scl = s2.arrays["SCL"]
    valid = blocks.valid_pixels("SCL", scl)
    assert not valid.all()  # the generator puts clouds in
    check(r.json()["steps"], reference(s2, bbox, "NDVI", valid, "P2W"), "NDVI")
