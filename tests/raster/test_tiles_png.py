"""PNG tiles of a Sentinel-2 cube uploaded from UTM 44N: values, composites, nodata, time choice, parcels."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest
import xarray as xr
from PIL import Image
from pyproj import Transformer

from raster_worker import layers
from raster_worker.tiles import HALF
from scripts import upload_local_zarr
from scripts.telangana_s2 import Parcel, generate, parcel_ids

CID = "test-tiles-s2"
Z = 8
TO_UTM = Transformer.from_crs("EPSG:3857", "EPSG:32644", always_xy=True)
TO_MERC = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)


def drop(conn: psycopg.Connection, cid: str) -> None:
    conn.execute("SET search_path = pgstac, public")  # pgstac's delete trigger needs it
    conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))


@pytest.fixture(scope="module")
def cube(tmp_path_factory: pytest.TempPathFactory, services, database_url: str
         ) -> Iterator[tuple[Path, list[Parcel], layers.Cube]]:
    path = tmp_path_factory.mktemp("s2tiles") / "l2a.zarr"
    parcels = generate(path, pixel=2000.0)
    with psycopg.connect(database_url, autocommit=True) as conn:
        drop(conn, CID)
        assert upload_local_zarr.main([str(path), "--collection-id", CID, "--dsn", database_url,
                                       "--data-dir", str(services.data_dir), "--quiet"]) == 0
        source = conn.execute("SELECT api.raster_source(%s)", (CID,)).fetchone()[0]
        yield path, parcels, layers.from_source(CID, source)
        drop(conn, CID)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int, int]:
    """(tile x, tile y, pixel column, pixel row) of a WGS84 point."""
    mx, my = TO_MERC.transform(lon, lat)
    size = 2 * HALF / 2 ** z / 256
    px, py = (mx + HALF) / size, (HALF - my) / size
    return int(px // 256), int(py // 256), int(px % 256), int(py % 256)


def get_png(http: httpx.Client, x: int, y: int, z: int = Z, **query: str) -> tuple[np.ndarray, httpx.Response]:
    r = http.get(f"/collections/{CID}/tiles/WebMercatorQuad/{z}/{x}/{y}.png", params=query)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA")), r


def source_value(src: xr.Dataset, cube: layers.Cube, band: str, t: int, x: int, y: int, z: int,
                 col: int, row: int) -> float:
    """The source (UTM) value the tile pixel shows: tile pixel -> served pixel (3857) -> source pixel."""
    size = 2 * HALF / 2 ** z / 256
    mx, my = -HALF + (x * 256 + col + 0.5) * size, HALF - (y * 256 + row + 0.5) * size
    r, c = cube.grid.index(mx, my)
    ux, uy = TO_UTM.transform(cube.grid.x0 + c * cube.grid.dx, cube.grid.y0 + r * cube.grid.dy)
    sx = src.x.values
    sy = src.y.values
    i = int(np.floor((ux - (sx[0] - (sx[1] - sx[0]) / 2)) / (sx[1] - sx[0])))
    j = int(np.floor((uy - (sy[0] - (sy[1] - sy[0]) / 2)) / (sy[1] - sy[0])))
    return float(src[band].isel(time=t, x=i, y=j))


def test_ndvi_pixels_equal_numpy_from_source_bands(cube, http: httpx.Client) -> None:
    path, _, c = cube
    src = xr.open_zarr(path)
    x, y, _, _ = tile_of(78.5, 17.5, Z)
    t = 10
    img, r = get_png(http, x, y, layers="NDVI", colormap="gray", rescale="-1,1", datetime=r_time(c, t))
    assert r.headers["x-cube-datetime-match"] == "exact"
    rows, cols = np.nonzero(img[..., 3] == 255)
    assert len(rows) > 1000
    checked = 0
    for k in np.random.default_rng(0).choice(len(rows), 40, replace=False):
        row, col = rows[k], cols[k]
        b8 = source_value(src, c, "B08", t, x, y, Z, col, row)
        b4 = source_value(src, c, "B04", t, x, y, Z, col, row)
        expected = (b8 - b4) / (b8 + b4)
        shown = -1 + int(img[row, col, 0]) * 2 / 255
        assert shown == pytest.approx(expected, abs=1 / 255 + 1e-6)
        checked += 1
    assert checked == 40


def r_time(c: layers.Cube, t: int) -> str:
    return str(c.times[t].astype("datetime64[s]")) + "Z"


def test_expression_equals_index_layer(cube, http: httpx.Client) -> None:
    x, y, _, _ = tile_of(78.5, 17.5, Z)
    a, _ = get_png(http, x, y, layers="NDVI", colormap="viridis", rescale="0,1")
    b, _ = get_png(http, x, y, expression="(B08-B04)/(B08+B04)", colormap="viridis", rescale="0,1")
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_rgb_composite_renders_the_bands(cube, http: httpx.Client) -> None:
    path, _, c = cube
    src = xr.open_zarr(path)
    x, y, _, _ = tile_of(78.5, 17.5, Z)
    img, r = get_png(http, x, y, layers="RGB")
    t = len(c.times) - 1
    assert r.headers["x-cube-datetime-match"] == "latest"
    lo, hi = c.layer("RGB")["rescale"]
    rows, cols = np.nonzero(img[..., 3] == 255)
    for k in np.random.default_rng(1).choice(len(rows), 5, replace=False):
        row, col = rows[k], cols[k]
        for channel, band in enumerate(("B04", "B03", "B02")):
            value = source_value(src, c, band, t, x, y, Z, col, row)
            expected = np.clip((value - lo) / (hi - lo) * 255, 0, 255)
            assert abs(int(img[row, col, channel]) - expected) <= 1
    three, _ = get_png(http, x, y, layers="B04,B03,B02", rescale=f"{lo},{hi}")
    assert np.array_equal(three, img)
    for name in ("CIR", "AGRICULTURE", "SWIR"):
        other, _ = get_png(http, x, y, layers=name)
        assert other[..., 3].max() == 255 and not np.array_equal(other, img)


def test_nodata_is_transparent_outside_the_cube(cube, http: httpx.Client) -> None:
    _, _, c = cube
    x, y, _, _ = tile_of(78.0, 17.0, Z)   # the south-west corner: part of the tile is outside the data
    img, _ = get_png(http, x, y, layers="NDVI")
    assert (img[..., 3] == 0).any() and (img[..., 3] == 255).any()
    empty, _ = get_png(http, 0, 0, z=3, layers="NDVI")
    assert (empty[..., 3] == 0).all()


def test_datetime_between_slices_picks_nearest(cube, http: httpx.Client) -> None:
    x, y, _, _ = tile_of(78.5, 17.5, Z)
    _, r = get_png(http, x, y, layers="NDVI", datetime="2025-07-08T00:00:00Z")
    assert r.headers["x-cube-datetime"] == "2025-07-07T05:30:00Z"
    assert r.headers["x-cube-datetime-match"] == "nearest"
    _, r = get_png(http, x, y, layers="NDVI", datetime="2025-07-01T00:00:00Z/2025-07-20T00:00:00Z")
    assert r.headers["x-cube-datetime"] == "2025-07-14T05:30:00Z"


def test_parcel_lands_in_the_right_pixel(cube, http: httpx.Client) -> None:
    """A parcel's centroid (WGS84, from UTM) shows that parcel's NDVI: green late in the season, bare before."""
    path, parcels, c = cube
    src = xr.open_zarr(path)
    ids = parcel_ids(src.x.values, src.y.values, parcels)
    z, checked = 10, 0
    for i, parcel in enumerate(parcels):
        if parcel.crop != "rice" or checked == 3:
            continue
        x, y, col, row = tile_of(*parcel.centroid_wgs84, z)
        shown = {}
        for t in (0, 12):
            img, _ = get_png(http, x, y, z=z, layers="NDVI", colormap="gray", rescale="-1,1",
                             datetime=r_time(c, t))
            at = src.isel(time=t)
            ndvi = ((at.B08 - at.B04) / (at.B08 + at.B04)).values[(ids == i) & (at.SCL.values != 9)]
            shown[t] = -1 + int(img[row, col, 0]) * 2 / 255
            if at.SCL.values[ids == i].max() == 9:
                break  # a cloud over the parcel this week: another parcel will do
            assert ndvi.min() - 0.01 <= shown[t] <= ndvi.max() + 0.01
        else:
            assert shown[12] > 0.6 > 0.3 > shown[0]
            checked += 1
    assert checked == 3


def test_errors_are_4xx(cube, http: httpx.Client) -> None:
    base = f"/collections/{CID}/tiles/WebMercatorQuad/8/183/115.png"
    for query, status in [({"layers": "NOPE"}, 400), ({"expression": "__import__('os')"}, 400),
                          ({"rescale": "1"}, 400), ({"colormap": "nope"}, 400), ({"datetime": "yesterday"}, 400),
                          ({"layers": "B04,B03"}, 400), ({"bogus": "1"}, 400),
                          ({"datetime": "2030-01-01T00:00:00Z/2030-02-01T00:00:00Z"}, 404)]:
        r = http.get(base, params=query)
        assert r.status_code == status, (query, r.text)
        assert r.json()["description"]
    assert http.get("/collections/no-such-cube/tiles/WebMercatorQuad/1/0/0.png").status_code == 404
    assert http.get(f"/collections/{CID}/tiles/WebMercatorQuad/1/5/0.png").status_code == 400


def test_etag_and_conditional_get(cube, http: httpx.Client) -> None:
    url = f"/api/v2/collections/{CID}/tiles/WebMercatorQuad/8/183/115.png"
    first = http.get(url, params={"layers": "NDVI"})
    assert first.status_code == 200 and first.headers["etag"]
    again = http.get(url, params={"layers": "NDVI"}, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert math.isfinite(float(first.headers["x-cube-version"]))


def test_tiles_carry_cors_and_cube_headers_on_both_surfaces(cube, http: httpx.Client) -> None:
    """Tiles take the gateway's fast path (routes/raster.py TileFastPath): the same headers as every route."""
    for prefix in ("", "/api/v2"):
        r = http.get(f"{prefix}/collections/{CID}/tiles/WebMercatorQuad/8/183/115.png", params={"layers": "NDVI"},
                     headers={"Origin": "https://maps.example.org"})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.headers["access-control-allow-origin"] == "*"
        assert {"ETag", "X-Cube-Datetime", "X-Cube-Level"} <= set(
            h.strip() for h in r.headers["access-control-expose-headers"].split(","))
        assert r.headers["cache-control"].startswith("public") and r.headers["x-cube-level"] == "1"
        assert "content-encoding" not in r.headers   # PNG is never gzipped
    r = http.get(f"/collections/{CID}/tiles/WebMercatorQuad/8/183/115.png", params={"layers": "NOPE"},
                 headers={"Origin": "https://maps.example.org"})
    assert r.status_code == 400 and r.headers["access-control-allow-origin"] == "*"
