"""Test cubes for the analytics tests, written in the served layout (the storage contract):

a Zarr store with dims (time, y, x), x/y pixel centres in EPSG:3857 metres (y from north to south), `time`
datetime64, one float32 variable per layer, NaN = nodata; plus the registry rows (pgSTAC collection,
data.collection_meta, data.cubes, data.cube_layers) that api.raster_source reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import xarray as xr
from pyproj import Transformer

TO_WGS84 = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
TO_3857 = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)


@dataclass
class Cube:
    collection_id: str
    path: Path
    x: np.ndarray
    y: np.ndarray
    times: np.ndarray
    arrays: dict[str, np.ndarray]           # variable -> (time, y, x) float32
    bbox: list[float]                       # WGS84 bounds of the pixel edges


def write_store(path: Path, x: np.ndarray, y: np.ndarray, times: np.ndarray, arrays: dict[str, np.ndarray],
                chunks: tuple[int, int, int] = (4, 32, 32)) -> None:
    ds = xr.Dataset({name: (("time", "y", "x"), a.astype(np.float32)) for name, a in arrays.items()},
                    coords={"time": times.astype("datetime64[ns]"), "x": x, "y": y})
    encoding = {name: {"chunks": chunks} for name in arrays}
    ds.to_zarr(path, mode="w", encoding=encoding, consolidated=False)


def wgs84_bounds(x: np.ndarray, y: np.ndarray) -> list[float]:
    dx, dy = abs(x[1] - x[0]), abs(y[1] - y[0])
    lon0, lat0 = TO_WGS84.transform(x.min() - dx / 2, y.min() - dy / 2)
    lon1, lat1 = TO_WGS84.transform(x.max() + dx / 2, y.max() + dy / 2)
    return [lon0, lat0, lon1, lat1]


def register(db: psycopg.Connection, cube: Cube, layers: list[dict[str, Any]], kind: str = "cube") -> None:
    """The registry rows for a cube (layers: dicts with name, kind, variable and optional expression)."""
    times = [str(t.astype("datetime64[s]")) + "Z" for t in cube.times]
    collection = {"id": cube.collection_id, "type": "Collection", "stac_version": "1.0.0",
                  "description": f"analytics test cube {cube.collection_id}", "license": "MIT", "links": [],
                  "extent": {"spatial": {"bbox": [cube.bbox]}, "temporal": {"interval": [[times[0], times[-1]]]}}}
    db.execute("SELECT pgstac.create_collection(%s::jsonb)", (json.dumps(collection),))
    db.execute("INSERT INTO data.collection_meta (collection_id, kind, source_crs) VALUES (%s, %s, 'EPSG:3857')",
               (cube.collection_id, kind))
    db.execute("INSERT INTO data.cubes (collection_id, store_path, bbox_wgs84, shape, times) "
               "VALUES (%s, %s, %s, %s, %s::timestamptz[])",
               (cube.collection_id, str(cube.path), cube.bbox, [len(cube.times), len(cube.y), len(cube.x)], times))
    for ord_, layer in enumerate(layers):
        db.execute("INSERT INTO data.cube_layers (collection_id, name, kind, variable, expression, ord) "
                   "VALUES (%s, %s, %s, %s, %s, %s)",
                   (cube.collection_id, layer["name"], layer["kind"], layer.get("variable"),
                    layer.get("expression"), ord_))


SYNTHETIC_TIMES = np.array(["2023-12-18T10:00", "2023-12-24T23:59:59", "2023-12-25T00:00", "2023-12-31T12:00",
                            "2024-01-01T00:30", "2024-01-03T10:00", "2024-01-29T10:00", "2024-02-01T00:00",
                            "2024-02-29T23:00", "2024-03-04T10:00", "2024-03-04T11:00", "2024-04-15T10:00"],
                           dtype="datetime64[s]")


def synthetic(db: psycopg.Connection, root: Path, collection_id: str, kind: str = "cube") -> Cube:
    """40 x 50 pixels of 100 m near 10E 45N, 12 irregular dates across a year boundary; B04, B08, NDVI
    (a stored index layer), NDVIX (the same index computed from its expression), a validity mask CLM
    (1 valid, 0 cloud) and some NaN (nodata)."""
    rng = np.random.default_rng(42)
    t, ny, nx = len(SYNTHETIC_TIMES), 40, 50
    x0, y0 = TO_3857.transform(10.0, 45.0)
    x = x0 + 50 + 100 * np.arange(nx)
    y = y0 - 50 - 100 * np.arange(ny)
    b04 = rng.uniform(0.02, 0.3, (t, ny, nx)).astype(np.float32)
    b08 = rng.uniform(0.1, 0.6, (t, ny, nx)).astype(np.float32)
    b04[rng.uniform(size=b04.shape) < 0.05] = np.nan
    ndvi = ((b08 - b04) / (b08 + b04)).astype(np.float32)
    mask = (rng.uniform(size=(t, ny, nx)) > 0.2).astype(np.float32)
    mask[2, :, :] = 0  # one acquisition fully clouded
    arrays = {"B04": b04, "B08": b08, "NDVI": ndvi, "CLM": mask}
    cube = Cube(collection_id, root / f"{collection_id}.zarr", x, y, SYNTHETIC_TIMES, arrays, wgs84_bounds(x, y))
    write_store(cube.path, x, y, SYNTHETIC_TIMES, arrays, chunks=(4, 16, 16))
    register(db, cube, [{"name": "B04", "kind": "band", "variable": "B04"},
                        {"name": "B08", "kind": "band", "variable": "B08"},
                        {"name": "NDVI", "kind": "index", "variable": "NDVI", "expression": "(B08-B04)/(B08+B04)"},
                        {"name": "CLM", "kind": "mask", "variable": "CLM"},
                        {"name": "NDVIX", "kind": "index", "expression": "(B08-B04)/(B08+B04)"}], kind)
    return cube


def eolearn_ndvi(db: psycopg.Connection, root: Path, collection_id: str, source: Path) -> Cube:
    """The eo-learn Sentinel-2 NDVI series (UTM 33N, 10 m), reprojected to EPSG:3857 (nearest neighbour) as a
    model-output cube: layer NDVI (index) and IS_VALID (mask: 1 valid, 0 cloud or no data)."""
    from rasterio.crs import CRS
    from rasterio.transform import from_bounds
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    ndvi = np.load(source / "NDVI.npy")[..., 0]
    valid = np.load(source / "IS_VALID.npy")[..., 0].astype(np.float32)
    ring = np.array(json.loads((source / "bbox.geojson").read_text())["coordinates"][0])
    (minx, miny), (maxx, maxy) = ring.min(0), ring.max(0)
    t, h, w = ndvi.shape
    src_crs, dst_crs = CRS.from_epsg(32633), CRS.from_epsg(3857)
    src_transform = from_bounds(minx, miny, maxx, maxy, w, h)
    dst_transform, dw, dh = calculate_default_transform(src_crs, dst_crs, w, h, minx, miny, maxx, maxy)

    def warp(a: np.ndarray) -> np.ndarray:
        out = np.full((t, dh, dw), np.nan, dtype=np.float32)
        for i in range(t):
            reproject(a[i], out[i], src_transform=src_transform, src_crs=src_crs, dst_transform=dst_transform,
                      dst_crs=dst_crs, resampling=Resampling.nearest, src_nodata=np.nan, dst_nodata=np.nan)
        return out

    arrays = {"NDVI": warp(ndvi), "IS_VALID": warp(valid)}
    x = dst_transform.c + dst_transform.a * (np.arange(dw) + 0.5)
    y = dst_transform.f + dst_transform.e * (np.arange(dh) + 0.5)
    times = np.array([np.datetime64(s) for s in json.loads((source / "timestamps.json").read_text())],
                     dtype="datetime64[s]")
    cube = Cube(collection_id, root / f"{collection_id}.zarr", x, y, times, arrays, wgs84_bounds(x, y))
    write_store(cube.path, x, y, times, arrays, chunks=(16, 64, 64))
    register(db, cube, [{"name": "NDVI", "kind": "index", "variable": "NDVI"},
                        {"name": "IS_VALID", "kind": "mask", "variable": "IS_VALID"}])
    return cube


def pixels_in_bbox(cube: Cube, bbox: list[float]) -> tuple[slice, slice]:
    """Rows and columns whose pixel centre lies inside a WGS84 bbox (the worker's centre rule)."""
    x0, y0 = TO_3857.transform(bbox[0], bbox[1])
    x1, y1 = TO_3857.transform(bbox[2], bbox[3])
    cols = np.flatnonzero((cube.x >= x0) & (cube.x <= x1))
    rows = np.flatnonzero((cube.y >= y0) & (cube.y <= y1))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def masked(cube: Cube, variable: str, mask: str | None) -> np.ndarray:
    """A layer with the mask applied (NaN where the mask is 0 or NaN), as float64 for reference statistics."""
    a = cube.arrays[variable].astype(np.float64)
    if mask:
        m = cube.arrays[mask]
        a = np.where(np.isfinite(m) & (m != 0), a, np.nan)
    return a


def from_store(collection_id: str, path: str) -> Cube:
    """A served store read back into memory (for reference statistics on exactly the served pixels)."""
    ds = xr.open_zarr(path, consolidated=False)
    arrays = {name: ds[name].values for name in ds.data_vars if ds[name].dims == ("time", "y", "x")}
    x, y = ds["x"].values, ds["y"].values
    return Cube(collection_id, Path(path), x, y, ds["time"].values.astype("datetime64[s]"), arrays,
                wgs84_bounds(x, y))
