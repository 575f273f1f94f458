"""Which pixels a zone holds: pixels whose centre lies inside the geometry (EPSG:3857, the cube's grid).

A pixel counts entirely or not at all (no coverage weighting): this is GDAL's rasterize rule without
ALL_TOUCHED, so a polygon smaller than a pixel that covers no pixel centre selects nothing.
All zones of a request share one window (the smallest y/x slice holding every selected pixel); only that
window is read from the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from affine import Affine
from rasterio.features import geometry_mask
from shapely.geometry import shape


@dataclass
class Grid:
    """Pixel-centre coordinates of the cube (x ascending; y ascending or descending)."""

    x: np.ndarray
    y: np.ndarray

    def transform(self, y0: int, x0: int) -> Affine:
        """Affine transform of the pixel corners of a window starting at row y0, column x0."""
        dx = float(self.x[1] - self.x[0]) if len(self.x) > 1 else abs(float(self.y[1] - self.y[0]))
        dy = float(self.y[1] - self.y[0]) if len(self.y) > 1 else -dx
        return Affine(dx, 0, float(self.x[x0]) - dx / 2, 0, dy, float(self.y[y0]) - dy / 2)

    def extent(self) -> tuple[float, float, float, float]:
        """Bounds of the pixel centres: minx, miny, maxx, maxy."""
        return float(self.x.min()), float(self.y.min()), float(self.x.max()), float(self.y.max())


def _span(coords: np.ndarray, lo: float, hi: float) -> tuple[int, int]:
    """[start, stop) of the indices whose coordinate is within [lo, hi] (coords monotonic)."""
    inside = np.nonzero((coords >= lo) & (coords <= hi))[0]
    return (int(inside[0]), int(inside[-1]) + 1) if inside.size else (0, 0)


@dataclass
class ZoneMask:
    """A zone's pixels: a boolean mask whose top-left pixel is (row, col) of the grid, trimmed to its pixels."""

    row: int
    col: int
    mask: np.ndarray

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.mask))

    def flat(self, row0: int, col0: int, width: int) -> np.ndarray:
        """Flat positions of the zone's pixels in a window starting at (row0, col0), `width` columns wide."""
        local = np.flatnonzero(self.mask)
        rows, cols = np.divmod(local, self.mask.shape[1])
        return (rows + self.row - row0) * width + (cols + self.col - col0)


def zone_pixels(geometry: dict[str, Any], grid: Grid) -> ZoneMask | None:
    """The pixels whose centre is inside `geometry` (None when there are none)."""
    geom = shape(geometry)
    if geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    r0, r1 = _span(grid.y, miny, maxy)
    c0, c1 = _span(grid.x, minx, maxx)
    if r1 == r0 or c1 == c0:
        return None
    inside = geometry_mask([geometry], out_shape=(r1 - r0, c1 - c0), transform=grid.transform(r0, c0),
                           invert=True)
    rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
    if rows.size == 0:
        return None
    trimmed = inside[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return ZoneMask(r0 + int(rows[0]), c0 + int(cols[0]), trimmed)


@dataclass
class Selection:
    """The window every zone fits in and, zone by zone, the flat positions of its pixels in that window."""

    rows: slice
    cols: slice
    ids: list[Any]
    pixels: list[int]                        # pixel count of each zone (0: the zone selects nothing)
    index: np.ndarray | None                 # None: the one zone is the whole window
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def window_size(self) -> int:
        return (self.rows.stop - self.rows.start) * (self.cols.stop - self.cols.start)

    @property
    def selected(self) -> list[int]:
        """Positions (in `ids`) of the zones that hold pixels, in the order of `starts`."""
        return [i for i, n in enumerate(self.pixels) if n]


def select(zones: list[dict[str, Any]], grid: Grid) -> Selection:
    """Pixels of each zone ({'id', 'geometry'}), gathered into one window."""
    found = [zone_pixels(z["geometry"], grid) for z in zones]
    ids, pixels = [z.get("id") for z in zones], [f.count if f else 0 for f in found]
    held = [f for f in found if f is not None and f.count]
    if not held:
        return Selection(slice(0, 0), slice(0, 0), ids, pixels, np.zeros(0, dtype=np.int64))
    r0, c0 = min(f.row for f in held), min(f.col for f in held)
    r1 = max(f.row + f.mask.shape[0] for f in held)
    c1 = max(f.col + f.mask.shape[1] for f in held)
    sizes = np.array([f.count for f in held])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    if len(held) == 1 and held[0].mask.all():
        return Selection(slice(r0, r1), slice(c0, c1), ids, pixels, None, starts)  # the window is the zone
    index = np.concatenate([f.flat(r0, c0, c1 - c0) for f in held])
    return Selection(slice(r0, r1), slice(c0, c1), ids, pixels, index, starts)
