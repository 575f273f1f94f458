"""Overviews: a 1024 x 1024 cube gets levels 2 and 4; low-zoom tiles read them, and only them."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest
import xarray as xr
import zarr
from PIL import Image

from raster_worker import layers
from raster_worker.tiles import HALF
from scripts import upload_local_zarr

CID = "test-cube-overviews"
N, PIXEL = 1024, 100.0
SPAN8 = 2 * HALF / 2 ** 8
TILE8 = (183, 115)                        # the z8 tile the cube lies in
X0 = -HALF + TILE8[0] * SPAN8 + 20000.0    # left edge of the cube (EPSG:3857)
Y0 = HALF - TILE8[1] * SPAN8 - 20000.0     # top edge


def drop(conn: psycopg.Connection, cid: str) -> None:
    conn.execute("SET search_path = pgstac, public")  # pgstac's delete trigger needs it
    conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))


def synthetic(path: Path) -> xr.Dataset:
    """Four Sentinel-2 bands + SCL in EPSG:3857, two time steps, random holes (NaN) and a nodata block."""
    rng = np.random.default_rng(7)
    shape = (2, N, N)
    bands = {}
    for name, lo, hi in (("B02", 0.02, 0.1), ("B03", 0.03, 0.15), ("B04", 0.02, 0.2), ("B08", 0.1, 0.5)):
        data = rng.uniform(lo, hi, shape).astype(np.float32)
        data[rng.random(shape) < 0.15] = np.nan
        data[:, 100:140, 200:290] = np.nan
        bands[name] = (("time", "y", "x"), data)
    bands["SCL"] = (("time", "y", "x"), rng.integers(0, 12, shape).astype(np.float32), {})
    ds = xr.Dataset(bands, coords={
        "time": np.array(["2025-06-01", "2025-06-08"], dtype="datetime64[ns]"),
        "x": X0 + (np.arange(N) + 0.5) * PIXEL, "y": Y0 - (np.arange(N) + 0.5) * PIXEL})
    ds.to_zarr(path, mode="w")
    return ds


@pytest.fixture(scope="module")
def big_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("overviews") / "big.zarr"
    synthetic(path)
    return path


@pytest.fixture(scope="module")
def cube(big_source: Path, services, database_url: str) -> Iterator[tuple[xr.Dataset, layers.Cube]]:
    path = big_source
    src = xr.open_zarr(path)
    with psycopg.connect(database_url, autocommit=True) as conn:
        drop(conn, CID)
        assert upload_local_zarr.main([str(path), "--collection-id", CID, "--dsn", database_url, "--crs", "EPSG:3857",
                                       "--data-dir", str(services.data_dir), "--quiet"]) == 0
        source = conn.execute("SELECT api.raster_source(%s)", (CID,)).fetchone()[0]
        yield src.load(), layers.from_source(CID, source)
        drop(conn, CID)


def get_png(http: httpx.Client, z: int, x: int, y: int, **query: str) -> tuple[np.ndarray, httpx.Response]:
    r = http.get(f"/collections/{CID}/tiles/WebMercatorQuad/{z}/{x}/{y}.png", params=query)
    assert r.status_code == 200, r.text
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA")), r


def block_mean(full: np.ndarray, factor: int, row: int, col: int) -> float:
    block = full[row * factor:(row + 1) * factor, col * factor:(col + 1) * factor]
    return float(np.nanmean(block)) if np.isfinite(block).any() else float("nan")


def shown_pixels(cube: layers.Cube, z: int, x: int, y: int, img: np.ndarray
                 ) -> Iterator[tuple[int, int, int, int]]:
    """(tile row, tile col, level row, level col) of the opaque tile pixels, sampled."""
    size = 2 * HALF / 2 ** z / 256
    rows, cols = np.nonzero(img[..., 3] == 255)
    for k in np.random.default_rng(3).choice(len(rows), 60, replace=False):
        row, col = int(rows[k]), int(cols[k])
        mx, my = -HALF + (x * 256 + col + 0.5) * size, HALF - (y * 256 + row + 0.5) * size
        yield (row, col, *cube.grid.index(mx, my))


def test_levels_are_recorded_and_written(cube) -> None:
    _, c = cube
    assert [(lv["factor"], lv["shape"]) for lv in c.source["levels"]] == [(2, [2, 512, 512]), (4, [2, 256, 256])]
    group = zarr.open_group(c.source["store_path"], mode="r")
    assert group["overviews/4/NDVI"].shape == (2, 256, 256) and group["overviews/4/NDVI"].chunks == (1, 256, 256)
    level = xr.open_zarr(c.source["store_path"], group="overviews/2")
    assert level.x.values[0] == pytest.approx(X0 + PIXEL, abs=1e-6)   # centre of a 2 x 2 block
    assert level.y.values[0] == pytest.approx(Y0 - PIXEL, abs=1e-6)


def test_capabilities_list_the_overviews(cube, http: httpx.Client) -> None:
    assert http.get(f"/collections/{CID}/capabilities").json()["overviews"] == [2, 4]


def test_the_level_follows_the_zoom(cube, http: httpx.Client) -> None:
    x, y = TILE8
    for z, level in ((7, "4"), (8, "4"), (9, "2"), (10, "1")):
        scale = 2.0 ** (z - 8)
        _, r = get_png(http, z, int(x * scale), int(y * scale), layers="NDVI")
        assert r.headers["x-cube-level"] == level, z


def test_low_zoom_index_is_the_mean_of_full_resolution_ndvi(cube, http: httpx.Client) -> None:
    """NDVI of level 4 is the NaN-aware mean of the full-resolution NDVI, not the NDVI of the mean bands."""
    src, c = cube
    t = 1
    b4, b8 = src["B04"].values[t], src["B08"].values[t]
    ndvi = (b8 - b4) / (b8 + b4)
    img, r = get_png(http, 8, *TILE8, layers="NDVI", colormap="gray", rescale="-1,1",
                     datetime="2025-06-08T00:00:00Z")
    assert r.headers["x-cube-level"] == "4"
    view = c.at_level(4)
    differs = 0
    for row, col, lr, lc in shown_pixels(view, 8, *TILE8, img):
        expected = block_mean(ndvi, 4, lr, lc)
        assert -1 + int(img[row, col, 0]) * 2 / 255 == pytest.approx(expected, abs=1 / 255 + 1e-6)
        mb4, mb8 = block_mean(b4, 4, lr, lc), block_mean(b8, 4, lr, lc)
        differs += abs((mb8 - mb4) / (mb8 + mb4) - expected) > 2 / 255
    assert differs > 10


def test_low_zoom_composite_and_mask(cube, http: httpx.Client) -> None:
    src, c = cube
    view = c.at_level(4)
    img, _ = get_png(http, 8, *TILE8, layers="B04,B03,B02", rescale="0,0.2")
    for row, col, lr, lc in shown_pixels(view, 8, *TILE8, img):
        for channel, band in enumerate(("B04", "B03", "B02")):
            expected = np.clip(block_mean(src[band].values[1], 4, lr, lc) / 0.2 * 255, 0, 255)
            assert abs(int(img[row, col, channel]) - expected) <= 1
    scl = view.read("SCL", 0, slice(10, 12), slice(20, 22))
    assert np.array_equal(scl, src["SCL"].values[0][42:50:4, 82:90:4])   # the blocks' centre pixels


def test_stripes_write_the_same_overviews(cube, big_source: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Written 256 rows at a time, every level (means and mask centres) equals the store written in one go."""
    from raster_worker import ingest
    from tests.raster.test_cube_upload import same_arrays

    _, c = cube
    monkeypatch.setattr(ingest, "STRIPE", 256)
    ingest.ingest(str(big_source), ingest.Options(collection_id="stripes", data_dir=tmp_path,
                                                           crs="EPSG:3857"),
                  register=lambda params: {"collection_id": "stripes", "kind": "cube"})
    store = next((tmp_path / "cubes" / "stripes").glob("*.zarr"))
    checked = same_arrays(Path(c.source["store_path"]), store)
    assert {"overviews/4/NDVI", "overviews/2/SCL", "B04"} <= set(checked)


def test_overviews_built_after_the_upload(cube, big_source: Path, services, database_url: str,
                                          http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cube uploaded without overviews (as before they existed) gets them from scripts/cube_overviews.py:
    the same levels an upload writes, recorded, and used by tiles at once."""
    from raster_worker import overviews
    from scripts import cube_overviews
    from tests.raster.test_cube_upload import same_arrays

    _, c = cube
    cid = CID + "-late"
    args = ["--collection-id", cid, "--dsn", database_url, "--data-dir", str(services.data_dir)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        drop(conn, cid)
        with monkeypatch.context() as m:
            m.setattr(overviews, "MIN_SIDE", 10 ** 9)
            assert upload_local_zarr.main([str(big_source), *args, "--crs", "EPSG:3857", "--quiet"]) == 0
        assert conn.execute("SELECT api.raster_source(%s) -> 'levels'", (cid,)).fetchone()[0] == []
        tile = f"/collections/{cid}/tiles/WebMercatorQuad/8/{TILE8[0]}/{TILE8[1]}.png"
        assert http.get(tile, params={"layers": "NDVI"}).headers["x-cube-level"] == "1"
        assert cube_overviews.main(args) == 0
        source = conn.execute("SELECT api.raster_source(%s)", (cid,)).fetchone()[0]
        assert [lv["factor"] for lv in source["levels"]] == [2, 4] and source["levels"] == c.source["levels"]
        assert {"overviews/2/NDVI", "overviews/4/SCL"} <= set(same_arrays(Path(c.source["store_path"]),
                                                                         Path(source["store_path"])))
        deadline = time.monotonic() + 30   # the worker drops its cached cube when NOTIFY stapi_cubes arrives
        while (level := http.get(tile, params={"layers": "NDVI"}).headers["x-cube-level"]) == "1" and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert level == "4"
        assert cube_overviews.main(args) == 0   # nothing left to build
        drop(conn, cid)


def test_low_zoom_tiles_read_only_the_overview(cube, http: httpx.Client) -> None:
    """Full-resolution GNDVI chunks are replaced by garbage: low zooms still render, z10 (full) cannot."""
    _, c = cube
    for chunk in (Path(c.source["store_path"]) / "GNDVI" / "c").glob("*/*/*"):
        chunk.write_bytes(b"not a chunk")
    img, r = get_png(http, 8, *TILE8, layers="GNDVI")
    assert r.headers["x-cube-level"] == "4" and img[..., 3].max() == 255
    _, r = get_png(http, 9, TILE8[0] * 2, TILE8[1] * 2, layers="GNDVI")
    assert r.headers["x-cube-level"] == "2"
    r = http.get(f"/collections/{CID}/tiles/WebMercatorQuad/10/{TILE8[0] * 4}/{TILE8[1] * 4}.png",
                 params={"layers": "GNDVI"})
    assert r.status_code >= 500

