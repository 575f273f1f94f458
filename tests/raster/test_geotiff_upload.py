"""GeoTIFF / COG sources: a drone RGBA orthophoto, a real NDVI series (eo-learn, UTM 33N) and Sentinel-2 band
files on two grids, uploaded through the CLI (a subprocess) and over HTTP, then read back over HTTP."""

from __future__ import annotations

import functools
import io
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin

from raster_worker import layers
from raster_worker.tiles import HALF
from scripts import upload_local_zarr
from tests.conftest import AUTH, ROOT
from tests.conftest import testdata as shared_testdata

DRONE, NDVI, S2, BAD, URL, DN = ("test-gt-drone", "test-gt-ndvi", "test-gt-s2", "test-gt-bad", "test-gt-url",
                                 "test-gt-dn")
UTM33 = "EPSG:32633"
COG = {"driver": "GTiff", "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
DRONE_ORIGIN = (465300.0, 5080100.0)   # UTM 33N, 0.1 m pixels, 400 x 400
S2_ORIGIN = (465000.0, 5080400.0)      # B04: 10 m, 64 x 64; B08: 20 m, 32 x 32


def write(path: Path, data: np.ndarray, transform: Any, crs: str | None = UTM33, **profile: Any) -> Path:
    """A tiled, compressed GeoTIFF with internal overviews (COG-like)."""
    with rasterio.open(path, "w", **COG, height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype=data.dtype, crs=crs, transform=transform, **profile) as ds:
        ds.write(data)
        ds.build_overviews([2, 4])
    return path


def drone(folder: Path) -> Path:
    """RGBA uint8: red a gradient, green 50, blue 200; alpha 0 in the north-west 100 x 100 corner."""
    cols = np.arange(400) % 256
    data = np.stack([np.broadcast_to(cols, (400, 400)), np.full((400, 400), 50), np.full((400, 400), 200),
                     np.full((400, 400), 255)]).astype(np.uint8)
    data[3, :100, :100] = 0
    path = write(folder / "ortho_2024-05-01.tif", data, from_origin(*DRONE_ORIGIN, 0.1, 0.1),
                 photometric="RGB", alpha="YES")
    with rasterio.open(path) as ds:
        assert ds.colorinterp[3] == ColorInterp.alpha
    return path


def ndvi_series(folder: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """Two dates of the eo-learn NDVI (float32, description NDVI, time in TIFFTAG_DATETIME, nodata -9999)."""
    base = shared_testdata("eolearn-s2-ndvi")
    ndvi = np.load(base / "NDVI.npy")[:, :, :, 0]
    valid = np.load(base / "IS_DATA.npy")[:, :, :, 0].astype(bool)
    times = json.loads((base / "timestamps.json").read_text())
    ring = json.loads((base / "bbox.geojson").read_text())["coordinates"][0]
    west, north = min(p[0] for p in ring), max(p[1] for p in ring)
    east, south = max(p[0] for p in ring), min(p[1] for p in ring)
    h, w = ndvi.shape[1:]
    transform = from_origin(west, north, (east - west) / w, (north - south) / h)
    paths, picked = [], [3, 20]
    for i, t in enumerate(picked):
        data = np.where(valid[t], ndvi[t], -9999).astype(np.float32)[None]
        when = times[t]
        path = write(folder / f"ndvi_{i}.tif", data, transform, nodata=-9999)
        with rasterio.open(path, "r+") as ds:
            ds.set_band_description(1, "NDVI")
            ds.update_tags(TIFFTAG_DATETIME=when.replace("-", ":").replace("T", " "))
        paths.append(path)
    return paths, np.where(valid[picked], ndvi[picked], np.nan), [times[t] + "Z" for t in picked]


def s2_bands(folder: Path) -> dict[str, np.ndarray]:
    """B04 (10 m) and B08 (20 m) as uint16 digital numbers with scale 0.0001 and nodata 0, two dates in the names."""
    rng = np.random.default_rng(7)
    out = {}
    for date in ("20240501", "20240611"):
        for band, size, lo, hi in (("B04", 10, 300, 2500), ("B08", 20, 2500, 6000)):
            n = 640 // size
            data = rng.integers(lo, hi, (1, n, n)).astype(np.uint16)
            data[0, -2:, -2:] = 0
            path = write(folder / f"S2A_33TVM_{date}_0_L2A_{band}.tif", data,
                         from_origin(*S2_ORIGIN, size, size), nodata=0)
            with rasterio.open(path, "r+") as ds:
                ds.scales, ds.offsets = (0.0001,), (0.0,)
            out[f"{date}_{band}"] = data[0] * 0.0001
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("geotiff")
    s2 = s2_bands(folder)
    no_date = write(folder / "plain.tif", np.ones((1, 40, 40), np.float32), from_origin(*S2_ORIGIN, 10, 10))
    no_crs = write(folder / "nocrs_2024-05-01.tif", np.ones((1, 40, 40), np.float32),
                   from_origin(*S2_ORIGIN, 10, 10), crs=None)
    broken = folder / "broken_2024-05-01.tif"
    broken.write_bytes(b"II*\x00 this is not a TIFF")
    return {"folder": folder, "drone": drone(folder), "ndvi": ndvi_series(folder), "s2": s2,
            "s2_paths": sorted(folder.glob("S2A_*.tif")), "no_date": no_date, "no_crs": no_crs,
            "broken": broken}


def drop(conn: psycopg.Connection, *cids: str) -> None:
    conn.execute("SET search_path = pgstac, public")  # pgstac's delete trigger needs it
    for cid in cids:
        conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))


def cli(services: Any, cid: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "upload_local_zarr.py"), *args,
                           "--collection-id", cid, "--dsn", services.env["DATABASE_URL"],
                           "--data-dir", str(services.data_dir), "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.fixture(scope="module")
def uploaded(files: dict[str, Any], services: Any, database_url: str) -> Iterator[dict[str, dict]]:
    """The drone and the Sentinel-2 files through the CLI, the NDVI series over HTTP."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        drop(conn, DRONE, NDVI, S2, BAD, URL, DN)
        for cid, args in ((DRONE, [str(files["drone"])]), (S2, [str(p) for p in files["s2_paths"]])):
            done = cli(services, cid, *args)
            assert done.returncode == 0, done.stderr
        with httpx.Client(base_url=services.url, timeout=120) as http:
            r = http.post(f"/collections/{NDVI}/cube", headers=AUTH,
                          json={"href": [str(p) for p in files["ndvi"][0]]})
            assert r.status_code == 201, r.text
        yield {cid: conn.execute("SELECT api.raster_source(%s)", (cid,)).fetchone()[0]
               for cid in (DRONE, NDVI, S2)}
        drop(conn, DRONE, NDVI, S2, BAD, URL, DN)


def capabilities(http: httpx.Client, cid: str) -> dict[str, Any]:
    r = http.get(f"/collections/{cid}/capabilities")
    assert r.status_code == 200, r.text
    return r.json()


def test_drone_layers_and_time(uploaded: dict, http: httpx.Client) -> None:
    caps = capabilities(http, DRONE)
    kinds = {layer["name"]: layer for layer in caps["layers"]}
    assert {n: v["kind"] for n, v in kinds.items()} == {"red": "band", "green": "band", "blue": "band",
                                                         "RGB": "composite"}
    assert kinds["RGB"]["bands"] == ["red", "green", "blue"] and kinds["RGB"]["rescale"] == [0.0, 255.0]
    assert caps["times"] == ["2024-05-01T00:00:00Z"]   # from the file name
    assert caps["native_crs"] == UTM33


def tile_at(lon: float, lat: float, z: int) -> tuple[int, int, int, int]:
    mx, my = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(lon, lat)
    size = 2 * HALF / 2 ** z / 256
    px, py = (mx + HALF) / size, (HALF - my) / size
    return int(px // 256), int(py // 256), int(px % 256), int(py % 256)


def drone_pixel(http: httpx.Client, utm_x: float, utm_y: float) -> np.ndarray:
    """The RGBA of the RGB composite's z22 tile pixel at a UTM point (z22: ~2.6 cm pixels, full resolution)."""
    lon, lat = Transformer.from_crs(UTM33, "EPSG:4326", always_xy=True).transform(utm_x, utm_y)
    x, y, col, row = tile_at(lon, lat, 22)
    r = http.get(f"/collections/{DRONE}/tiles/WebMercatorQuad/22/{x}/{y}.png", params={"layers": "RGB"})
    assert r.status_code == 200, r.text
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))[row, col]


def test_drone_png_opaque_where_data_transparent_where_alpha_was_0(uploaded: dict, http: httpx.Client) -> None:
    x0, y0 = DRONE_ORIGIN
    inside = drone_pixel(http, x0 + 30.05, y0 - 20.05)        # column 300: red 300 % 256 = 44
    assert list(inside) == [44, 50, 200, 255]                  # uint8 values as they are, no stretch
    assert drone_pixel(http, x0 + 5.05, y0 - 5.05)[3] == 0     # the corner whose alpha was 0
    x, y, _, _ = tile_at(*Transformer.from_crs(UTM33, "EPSG:4326", always_xy=True).transform(x0 + 20, y0 - 20), 18)
    r = http.get(f"/collections/{DRONE}/tiles/WebMercatorQuad/18/{x}/{y}.png")   # default layer: RGB
    img = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
    assert r.status_code == 200 and (img[..., 3] == 255).any() and (img[..., 3] == 0).any()


def test_ndvi_series_over_http(uploaded: dict, files: dict[str, Any], http: httpx.Client) -> None:
    """Layer from the band description, times from TIFFTAG_DATETIME, values as in the source."""
    caps = capabilities(http, NDVI)
    _, ndvi, times = files["ndvi"]
    assert [layer["name"] for layer in caps["layers"]] == ["NDVI"] and caps["times"] == times
    cube = layers.from_source(NDVI, uploaded[NDVI])
    with rasterio.open(files["ndvi"][0][0]) as ds:
        to_merc = Transformer.from_crs(UTM33, "EPSG:3857", always_xy=True)
        for row, col in [(10, 10), (50, 70), (90, 20)]:
            ux, uy = ds.xy(row, col)
            r, c = cube.grid.index(*to_merc.transform(ux, uy))
            for t in range(2):
                got = cube.read("NDVI", t, slice(r, r + 1), slice(c, c + 1))[0, 0]
                np.testing.assert_allclose(got, ndvi[t, row, col], atol=1e-6)


def test_s2_band_files_two_grids_two_dates(uploaded: dict, files: dict[str, Any], http: httpx.Client) -> None:
    """B04 at 10 m and B08 at 20 m on the 10 m grid; NDVI derived equals (B08-B04)/(B08+B04) of the sources."""
    caps = capabilities(http, S2)
    names = {layer["name"]: layer["kind"] for layer in caps["layers"]}
    assert names["B04"] == names["B08"] == "band" and names["NDVI"] == "index"
    assert caps["times"] == ["2024-05-01T00:00:00Z", "2024-06-11T00:00:00Z"]
    assert uploaded[S2]["resolution"] == [10.0, 10.0]
    cube = layers.from_source(S2, uploaded[S2])
    to_merc = Transformer.from_crs(UTM33, "EPSG:3857", always_xy=True)
    x0, y0 = S2_ORIGIN
    for t, date in enumerate(("20240501", "20240611")):
        b4, b8 = files["s2"][f"{date}_B04"], files["s2"][f"{date}_B08"]
        for ux, uy in [(x0 + 105, y0 - 215), (x0 + 333, y0 - 47), (x0 + 612, y0 - 401)]:
            r, c = cube.grid.index(*to_merc.transform(ux, uy))
            red = b4[int((y0 - uy) // 10), int((ux - x0) // 10)]
            nir = b8[int((y0 - uy) // 20), int((ux - x0) // 20)]
            got = cube.read("NDVI", t, slice(r, r + 1), slice(c, c + 1))[0, 0]
            assert got == pytest.approx((nir - red) / (nir + red), abs=1e-5)
            assert cube.read("B04", t, slice(r, r + 1), slice(c, c + 1))[0, 0] == pytest.approx(red, abs=1e-6)


def left_behind(services: Any, db: psycopg.Connection, cid: str) -> list[Any]:
    rows = db.execute("SELECT id FROM pgstac.collections WHERE id = %s", (cid,)).fetchall()
    folder = services.data_dir / "cubes" / cid
    return rows + (list(folder.iterdir()) if folder.exists() else [])


@pytest.mark.parametrize("which, message", [
    ("no_date", "cannot tell the time of"),
    ("broken", "cannot read"),
    ("no_crs", "has no CRS; pass it, e.g. --crs"),
])
def test_cli_errors_are_clear_and_leave_nothing(which: str, message: str, files: dict[str, Any], services: Any,
                                                db: psycopg.Connection) -> None:
    done = cli(services, BAD, str(files[which]))
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert left_behind(services, db, BAD) == []


def test_datetime_option_and_http_errors(files: dict[str, Any], services: Any, http: httpx.Client,
                                         db: psycopg.Connection, database_url: str) -> None:
    r = http.post(f"/collections/{BAD}/cube", headers=AUTH, json={"href": str(files["no_date"])})
    assert r.status_code == 400 and "pass --datetime" in r.json()["description"]
    r = http.post(f"/collections/{BAD}/cube", headers=AUTH,
                  json={"href": str(files["no_date"]), "datetime": "yesterday"})
    assert r.status_code == 400 and "RFC 3339" in r.json()["description"]
    assert left_behind(services, db, BAD) == []
    code = upload_local_zarr.main([str(files["no_date"]), "--collection-id", BAD, "--datetime",
                                   "2024-05-01T12:30:00+02:00", "--dsn", database_url,
                                   "--data-dir", str(services.data_dir), "--quiet"])
    assert code == 0
    caps = capabilities(http, BAD)
    assert caps["times"] == ["2024-05-01T10:30:00Z"] and [x["name"] for x in caps["layers"]] == ["band1"]
    drop(db, BAD)


class RangeHandler(SimpleHTTPRequestHandler):
    """http.server with single byte ranges (GDAL's /vsicurl/ reads a COG by ranges, as from S3)."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if not m or not path.is_file():
            return super().do_GET()
        data = path.read_bytes()
        start, end = int(m.group(1)), min(int(m.group(2) or len(data) - 1), len(data) - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(data[start:end + 1])


@pytest.fixture()
def served(files: dict[str, Any]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RangeHandler, directory=str(files["folder"])))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_registration_of_a_tif_url(uploaded: dict, files: dict[str, Any], served: str, http: httpx.Client,
                                        db: psycopg.Connection) -> None:
    """A .tif href at an http:// URL registers like a server path (the same policy as Zarr hrefs)."""
    r = http.post(f"/collections/{URL}/cube", headers=AUTH, json={"href": f"{served}/{files['drone'].name}"})
    assert r.status_code == 201, r.text
    caps = capabilities(http, URL)
    assert caps["times"] == ["2024-05-01T00:00:00Z"] and {x["name"] for x in caps["layers"]} >= {"RGB", "red"}
    assert capabilities(http, DRONE)["bbox"] == caps["bbox"]
    drop(db, URL)


def test_jp2_digital_numbers(files: dict[str, Any], services: Any, http: httpx.Client, db: psycopg.Connection,
                             database_url: str) -> None:
    """Sentinel-2 JP2 + GeoTIFF band files of digital numbers (no scale tag): values as stored, stretch 0..4000,
    NDVI of the numbers; the time with its hour from the names (T33TVM_20240501T100031_B04_10m.jp2)."""
    folder = files["folder"] / "dn"
    folder.mkdir()
    rng = np.random.default_rng(11)
    red, nir = rng.integers(1, 3000, (1, 64, 64)).astype(np.uint16), rng.integers(3000, 9000, (1, 64, 64))
    transform = from_origin(*S2_ORIGIN, 10, 10)
    with rasterio.open(folder / "T33TVM_20240501T100031_B04_10m.jp2", "w", driver="JP2OpenJPEG", height=64,
                       width=64, count=1, dtype="uint16", crs=UTM33, transform=transform, QUALITY=100,
                       REVERSIBLE="YES") as ds:
        ds.write(red)
    write(folder / "T33TVM_20240501T100031_B08_10m.tif", nir.astype(np.uint16), transform)
    assert upload_local_zarr.main([*map(str, sorted(folder.iterdir())), "--collection-id", DN, "--dsn",
                                   database_url, "--data-dir", str(services.data_dir), "--quiet"]) == 0
    caps = capabilities(http, DN)
    found = {layer["name"]: layer for layer in caps["layers"]}
    assert caps["times"] == ["2024-05-01T10:00:31Z"] and found["B04"]["rescale"] == [0.0, 4000.0]
    cube = layers.from_source(DN, db.execute("SELECT api.raster_source(%s)", (DN,)).fetchone()[0])
    r, c = cube.grid.index(*Transformer.from_crs(UTM33, "EPSG:3857", always_xy=True).transform(
        S2_ORIGIN[0] + 255, S2_ORIGIN[1] - 125))
    b4, b8 = float(red[0, 12, 25]), float(nir[0, 12, 25])
    assert cube.read("B04", 0, slice(r, r + 1), slice(c, c + 1))[0, 0] == b4
    assert cube.read("NDVI", 0, slice(r, r + 1), slice(c, c + 1))[0, 0] == pytest.approx((b8 - b4) / (b8 + b4),
                                                                                          abs=1e-6)
    drop(db, DN)


def corrupt_tile(source: Path, target: Path) -> Path:
    """A copy whose last tile of band 1 is garbage: the file opens, the upload fails while writing."""
    data = bytearray(source.read_bytes())
    with rasterio.open(source) as ds:
        height, width = ds.block_shapes[0]
        key = f"{-(-ds.width // width) - 1}_{-(-ds.height // height) - 1}"   # column_row of the last block
        offset = int(ds.get_tag_item(f"BLOCK_OFFSET_{key}", "TIFF", bidx=1))
        size = int(ds.get_tag_item(f"BLOCK_SIZE_{key}", "TIFF", bidx=1))
    data[offset:offset + size] = b"\xff" * size
    target.write_bytes(bytes(data))
    return target


def test_upload_errors_in_process(files: dict[str, Any], services: Any, database_url: str, db: psycopg.Connection,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Refusals before writing (names, layer sets, --force) and a read failure while writing: clear messages,
    exit codes, nothing left behind."""
    s2 = [str(p) for p in files["s2_paths"]]
    bad = corrupt_tile(files["drone"], files["folder"] / "ortho_corrupt_2024-05-02.tif")
    cases = [
        ([s2[0], s2[0]], 2, "both give layer 'B04'"),                    # one file twice at one time step
        ([s2[0], s2[1], s2[2]], 2, "every time step needs the same layers"),
        ([s2[0], "--datetime", "2024-05-01,2024-06-01"], 2, "gives 2 values for 1 files"),
        ([str(bad)], 2, "reading band 1 of"),
        ([str(files["drone"])], 0, ""),
        ([str(files["drone"])], 1, "--force"),                          # the second upload needs --force
    ]
    for args, code, message in cases:
        got = upload_local_zarr.main([*args, "--collection-id", BAD, "--dsn", database_url,
                                      "--data-dir", str(services.data_dir), "--quiet"])
        err = capsys.readouterr().err
        assert got == code and message in err, (args, err)
        if code == 2:
            assert left_behind(services, db, BAD) == []
    drop(db, BAD)


def test_two_flights_two_crss_union_grid(files: dict[str, Any], services: Any, database_url: str,
                                         db: psycopg.Connection) -> None:
    """A second flight in EPSG:3857 reaching 20 m further east: the served grid is the union of both extents at
    the finer pixel; each time step shows its own flight, NaN where it has no data."""
    to_merc = Transformer.from_crs(UTM33, "EPSG:3857", always_xy=True)
    mx, my = to_merc.transform(DRONE_ORIGIN[0] + 20, DRONE_ORIGIN[1])
    data = np.stack([np.full((300, 300), v) for v in (10, 50, 200, 255)]).astype(np.uint8)
    second = write(files["folder"] / "ortho_2024-05-02.tif", data, from_origin(mx, my, 0.2, 0.2), crs="EPSG:3857",
                   photometric="RGB", alpha="YES")
    assert upload_local_zarr.main([str(files["drone"]), str(second), "--collection-id", BAD, "--dsn", database_url,
                                   "--data-dir", str(services.data_dir), "--quiet"]) == 0
    source = db.execute("SELECT api.raster_source(%s)", (BAD,)).fetchone()[0]
    cube = layers.from_source(BAD, source)
    east = (mx + 55.0, my - 10.0)                                # only the second flight covers it
    west = to_merc.transform(DRONE_ORIGIN[0] + 15.05, DRONE_ORIGIN[1] - 20.05)   # only the first, column 150
    values = {}
    for name, (x, y) in (("east", east), ("west", west)):
        r, c = cube.grid.index(x, y)
        values[name] = [float(cube.read(b, t, slice(r, r + 1), slice(c, c + 1))[0, 0])
                        for t in range(2) for b in ("red", "blue")]
    assert values["east"][:2] == [pytest.approx(np.nan, nan_ok=True)] * 2 and values["east"][2:] == [10.0, 200.0]
    assert values["west"][:2] == [150.0, 200.0] and np.isnan(values["west"][2:]).all()
    assert source["bbox"][2] > files_bbox_east(mx + 60.0, my)
    drop(db, BAD)


def files_bbox_east(x: float, y: float) -> float:
    """The longitude of an EPSG:3857 point a little inside the second flight's east edge."""
    return Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(x - 1.0, y)[0]
