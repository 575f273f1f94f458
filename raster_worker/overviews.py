"""Overviews: a multiscale pyramid in the served store, so low-zoom tiles read a few small chunks.

Level ``f`` (2, 4, 8 ...) is the group ``overviews/<f>`` of the served store: the same variables, dims
(time, y, x), x/y pixel centres in EPSG:3857, chunks (1, 256, 256). Its pixel (i, j) is the NaN-aware mean of
the full-resolution pixels [i*f, (i+1)*f) x [j*f, (j+1)*f) (NaN when all of them are nodata); mask layers
(class codes, where a mean means nothing) take the block's centre pixel instead. Indices are downsampled as
stored (the mean of NDVI, not the NDVI of the mean bands). Levels are added while the level's longest side is
at least `MIN_SIDE` pixels, so the coarsest one is between 256 and 512 pixels across.

Sums and counts are pooled level to level (exact: each level is the mean over its full-resolution block, not a
mean of means). The levels are recorded in `data.cubes.levels` (`api.raster_source` -> ``levels``); the tile
renderer picks the coarsest level whose pixel is not coarser than the tile's pixel (`layers.Cube.for_resolution`).
Analytics always read full resolution.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

GROUP = "overviews"
MIN_SIDE = 256
CHUNK = 256


def factors(height: int, width: int) -> list[int]:
    """The downsampling factors of the levels a (height, width) grid gets: 2, 4, ... while >= MIN_SIDE px."""
    out, f = [], 2
    while max(math.ceil(height / f), math.ceil(width / f)) >= MIN_SIDE:
        out.append(f)
        f *= 2
    return out


def group_path(factor: int) -> str:
    return f"{GROUP}/{factor}"


def level_coords(x: np.ndarray, y: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres of a level from the full-resolution centres (regular steps)."""
    dx, dy = float(x[1] - x[0]), float(y[1] - y[0])
    nx, ny = math.ceil(len(x) / factor), math.ceil(len(y) / factor)
    return (x[0] + (factor - 1) / 2 * dx + np.arange(nx) * factor * dx,
            y[0] + (factor - 1) / 2 * dy + np.arange(ny) * factor * dy)


def _pool2(a: np.ndarray, dtype: Any = None) -> np.ndarray:
    """Sums over 2x2 blocks (zero-padded to even sides), accumulated in `dtype` (default: a's)."""
    h, w = a.shape
    if h % 2 or w % 2:
        a = np.pad(a, ((0, h % 2), (0, w % 2)))
    return a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2).sum(axis=(1, 3), dtype=dtype or a.dtype)


def means(data: np.ndarray, levels: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """(factor, float32 NaN-aware block means) for each level, from one full-resolution (y, x) slice.

    Full-resolution temporaries stay float32/bool (a 10980 px scene: 0.5 GB + 0.1 GB); sums are float64 and
    counts int32 from the first level on, a quarter of the size.
    """
    if not levels:
        return
    valid = np.isfinite(data)
    sums = _pool2(np.where(valid, data, np.float32(0)), np.float64)
    counts = _pool2(valid, np.int32)
    del valid
    f = 2
    for factor in levels:
        while f < factor:
            sums, counts = _pool2(sums), _pool2(counts)
            f *= 2
        with np.errstate(invalid="ignore", divide="ignore"):
            yield factor, np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float32)


def centres(data: np.ndarray, levels: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """(factor, the centre pixel of each block) for each level: for masks, whose values are classes."""
    h, w = data.shape
    for factor in levels:
        out = np.full((math.ceil(h / factor), math.ceil(w / factor)), np.nan, np.float32)
        picked = data[factor // 2::factor, factor // 2::factor]
        out[:picked.shape[0], :picked.shape[1]] = picked
        yield factor, out


def write(group: Any, name: str, t: int, data: np.ndarray, levels: list[int], mask: bool, row0: int = 0) -> None:
    """Write rows row0.. of time step t of variable `name` into every level of an open `zarr.Group` (the store's
    root); row0 is a multiple of every factor (a stripe of whole blocks, see `ingest.stripe_rows`)."""
    for factor, level in (centres if mask else means)(data, levels):
        start = row0 // factor
        group[f"{group_path(factor)}/{name}"][t, start:start + level.shape[0], :] = level


def describe(levels: list[int], times: int, height: int, width: int, step: tuple[float, float]
             ) -> list[dict[str, Any]]:
    """The `levels` document registered with the cube (what `api.raster_source` returns)."""
    return [{"factor": f, "group": group_path(f), "shape": [times, math.ceil(height / f), math.ceil(width / f)],
             "step": [step[0] * f, step[1] * f]} for f in levels]



def dataset(names: list[str], times: np.ndarray, x: np.ndarray, y: np.ndarray, attrs: dict[str, Any]) -> Any:
    """A lazy (dask) CF dataset of the served layout, dims (time, y, x) in EPSG:3857, NaN everywhere:
    `to_zarr(compute=False)` writes metadata and coordinates, no data (the root, and each level)."""
    import dask.array as da
    import xarray as xr
    from pyproj import CRS

    wkt = str(CRS.from_epsg(3857).to_wkt())
    shape = (len(times), len(y), len(x))
    chunks = (1, min(CHUNK, len(y)), min(CHUNK, len(x)))
    data = {n: (("time", "y", "x"), da.full(shape, np.nan, dtype=np.float32, chunks=chunks),
                {"grid_mapping": "spatial_ref"}) for n in names}
    coords = {"time": ("time", np.asarray(times).astype("datetime64[ns]")),
              "y": ("y", y, {"units": "m", "standard_name": "projection_y_coordinate"}),
              "x": ("x", x, {"units": "m", "standard_name": "projection_x_coordinate"}),
              "spatial_ref": ((), 0, {"crs_wkt": wkt, "spatial_ref": wkt})}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def encoding(names: list[str], height: int, width: int) -> dict[str, dict[str, Any]]:
    return {n: {"chunks": (1, min(CHUNK, height), min(CHUNK, width)), "_FillValue": np.float32("nan"),
                "dtype": "float32"} for n in names}


def build(store_path: str, names: list[str], masks: set[str], stripe: int) -> list[dict[str, Any]]:
    """Add the levels to a served store written without them (cubes uploaded before overviews existed): reads
    the full-resolution variables `stripe` rows at a time and writes each level; returns the `levels` document.
    The root arrays are only read, so readers of the store are undisturbed.
    """
    import xarray as xr
    import zarr

    root = xr.open_zarr(store_path, consolidated=None, chunks=None)
    times, x, y = root["time"].values, root["x"].values, root["y"].values
    height, width = len(y), len(x)
    levels = factors(height, width)
    v2 = zarr.open_group(store_path, mode="r").metadata.zarr_format == 2
    for factor in levels:
        lx, ly = level_coords(x, y, factor)
        dataset(names, times, lx, ly, {"overview_factor": factor}).to_zarr(
            store_path, group=group_path(factor), mode="w", compute=False, consolidated=False,
            zarr_format=2 if v2 else 3, encoding=encoding(names, len(ly), len(lx)))
    if v2:
        zarr.consolidate_metadata(store_path)
    group = zarr.open_group(store_path, mode="r+", use_consolidated=False)
    stripe = math.ceil(max(stripe, levels[-1] if levels else 1) / (levels[-1] if levels else 1)) * \
        (levels[-1] if levels else 1)
    for name in names if levels else []:
        arr: Any = group[name]
        for t in range(len(times)):
            for r0 in range(0, height, stripe):
                write(group, name, t, np.asarray(arr[t, r0:r0 + stripe, :], dtype=np.float32), levels,
                      name in masks, r0)
    return describe(levels, len(times), height, width, (float(x[1] - x[0]), float(y[1] - y[0])))
