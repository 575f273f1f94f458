"""Uploads of other cubes: the real xcube demo (lat/lon, Zarr v2), EPSG:7755 (with and without CRS metadata),
a (time, band, y, x) store with common band names, and a Zarr v2 served store (--use-v2)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest
import xarray as xr
from PIL import Image
from pyproj import CRS, Transformer

from raster_worker.tiles import HALF
from scripts import upload_local_zarr
from tests import conftest

PREFIX = "test-cube-src-"


def upload(path: Path, cid: str, database_url: str, data_dir: Path, *extra: str) -> int:
    return upload_local_zarr.main([str(path), "--collection-id", cid, "--dsn", database_url,
                                   "--data-dir", str(data_dir), "--quiet", "--force", *extra])


@pytest.fixture(scope="module", autouse=True)
def cleanup(database_url: str) -> Iterator[None]:
    yield
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET search_path = pgstac, public")  # pgstac's delete trigger needs it
        conn.execute("DELETE FROM pgstac.collections WHERE id LIKE %s", (PREFIX + "%",))


def pixel_at(http: httpx.Client, cid: str, lon: float, lat: float, z: int, **query: str) -> np.ndarray:
    mx, my = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(lon, lat)
    size = 2 * HALF / 2 ** z / 256
    px, py = (mx + HALF) / size, (HALF - my) / size
    r = http.get(f"/collections/{cid}/tiles/WebMercatorQuad/{z}/{int(px // 256)}/{int(py // 256)}.png",
                 params=query)
    assert r.status_code == 200, r.text
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))[int(py % 256), int(px % 256)]


def test_xcube_demo_cube(services, http: httpx.Client, database_url: str) -> None:
    path = conftest.testdata("xcube-demo", "cube-1-250-250.zarr")
    cid = PREFIX + "xcube"
    assert upload(path, cid, database_url, services.data_dir, "--layers", "conc_chl,kd489,quality_flags") == 0
    caps = http.get(f"/collections/{cid}/capabilities").json()
    kinds = {layer["name"]: layer for layer in caps["layers"]}
    assert kinds["conc_chl"]["kind"] == "band" and kinds["conc_chl"]["units"] == "mg m^-3"
    assert kinds["quality_flags"]["kind"] == "mask"
    assert caps["native_crs"] == "EPSG:4326" and len(caps["times"]) == 5
    assert caps["bbox"][0] == pytest.approx(0, abs=0.01) and caps["bbox"][3] == pytest.approx(52.5, abs=0.01)
    src = xr.open_zarr(path)
    t = 2
    values = src["kd489"].isel(time=t).values
    rows, cols = np.nonzero(np.isfinite(values))
    when = str(src.time.values[t])[:19] + "Z"
    for k in (0, len(rows) // 2):
        lat = float(src.lat.values[rows[k]])
        lon = float(src.lon.values[cols[k]])
        rgba = pixel_at(http, cid, lon, lat, 12, layers="kd489", colormap="gray", rescale="0,5",
                        datetime=when)
        assert rgba[3] == 255
        assert int(rgba[0]) == pytest.approx(min(255, values[rows[k], cols[k]] / 5 * 255), abs=1)
    for name in ("conc_chl", "quality_flags"):
        assert http.get(f"/collections/{cid}/tiles/WebMercatorQuad/5/16/10.png",
                        params={"layers": name}).status_code == 200


def lcc_cube(path: Path, with_crs: bool, zarr_format: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 60 x 50 cube in EPSG:7755 (WGS 84 / India NSF LCC) around Hyderabad; value = f(column, row)."""
    cx, cy = Transformer.from_crs("EPSG:4326", "EPSG:7755", always_xy=True).transform(78.5, 17.4)
    x = cx + (np.arange(60) - 30) * 1000.0 + 500
    y = cy - (np.arange(50) - 25) * 1000.0 - 500
    values = (np.arange(50)[:, None] * 100 + np.arange(60)[None, :]).astype(np.float32)
    data = np.stack([values, values + 10000])
    data[:, 0, 0] = np.nan
    coords = {"time": np.array(["2024-01-01", "2024-02-01"], dtype="datetime64[ns]"), "y": y, "x": x}
    attrs = {"grid_mapping": "spatial_ref"} if with_crs else {}
    ds = xr.Dataset({"soil_moisture": (("time", "y", "x"), data, attrs)}, coords=coords)
    if with_crs:
        ds = ds.assign_coords(spatial_ref=((), 0, {"crs_wkt": CRS.from_epsg(7755).to_wkt()}))
    ds.to_zarr(path, mode="w", zarr_format=zarr_format, consolidated=zarr_format == 2)
    return x, y, data


def test_epsg_7755_cube(services, http: httpx.Client, database_url: str, tmp_path: Path) -> None:
    cid = PREFIX + "lcc"
    x, y, data = lcc_cube(tmp_path / "lcc.zarr", with_crs=True)
    assert upload(tmp_path / "lcc.zarr", cid, database_url, services.data_dir) == 0
    caps = http.get(f"/collections/{cid}/capabilities").json()
    assert caps["native_crs"] == "EPSG:7755" and caps["resolution"] == [1000, 1000]
    to_geo = Transformer.from_crs("EPSG:7755", "EPSG:4326", always_xy=True)
    for row, col in [(10, 12), (25, 30), (40, 51)]:
        lon, lat = to_geo.transform(x[col], y[row])
        rgba = pixel_at(http, cid, lon, lat, 13, layers="soil_moisture", colormap="gray", rescale="10000,15100",
                        datetime="2024-02-01T00:00:00Z")
        assert rgba[3] == 255
        assert int(rgba[0]) == pytest.approx((data[1, row, col] - 10000) / 5100 * 255, abs=1)
    lon, lat = to_geo.transform(x[0], y[0])
    assert pixel_at(http, cid, lon, lat, 13, layers="soil_moisture")[3] == 0   # NaN is transparent


def test_crs_missing_then_given(services, database_url: str, tmp_path: Path, capsys) -> None:
    lcc_cube(tmp_path / "nocrs.zarr", with_crs=False, zarr_format=2)
    cid = PREFIX + "nocrs"
    assert upload(tmp_path / "nocrs.zarr", cid, database_url, services.data_dir) == 2
    assert "--crs" in capsys.readouterr().err
    assert upload(tmp_path / "nocrs.zarr", cid, database_url, services.data_dir, "--crs", "EPSG:7755",
                  "--use-v2") == 0
    with psycopg.connect(database_url) as conn:
        store = conn.execute("SELECT store_path FROM data.cubes WHERE collection_id = %s", (cid,)).fetchone()[0]
    assert (Path(store) / ".zgroup").exists()   # Zarr v2 served store
    assert xr.open_zarr(store)["soil_moisture"].dtype == np.float32


def test_band_dimension_with_common_names(services, http: httpx.Client, database_url: str, tmp_path: Path
                                          ) -> None:
    """(time, band, y, x) with band labels red/green/blue/nir: stored as B04/B03/B02/B08, NDVI derived."""
    rng = np.random.default_rng(3)
    x = 500000 + np.arange(40) * 20.0 + 10
    y = 2000000 - np.arange(30) * 20.0 - 10
    refl = rng.uniform(0.02, 0.5, (2, 4, 30, 40)).astype(np.float32)
    ds = xr.Dataset({"reflectance": (("time", "band", "y", "x"), refl)},
                    coords={"time": np.array(["2025-01-01", "2025-01-11"], dtype="datetime64[ns]"),
                            "band": ["red", "green", "blue", "nir"], "y": y, "x": x},
                    attrs={"crs": "EPSG:32644"})
    ds.to_zarr(tmp_path / "bands.zarr", mode="w")
    cid = PREFIX + "bands"
    assert upload(tmp_path / "bands.zarr", cid, database_url, services.data_dir) == 0
    caps = http.get(f"/collections/{cid}/capabilities").json()
    names = {layer["name"]: layer["kind"] for layer in caps["layers"]}
    assert {n for n, k in names.items() if k == "band"} == {"B02", "B03", "B04", "B08"}
    assert {n for n, k in names.items() if k == "index"} == {"NDVI", "GNDVI", "EVI"}
