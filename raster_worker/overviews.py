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
