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


def zone_pixels(geometry: dict[str, Any], grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices (in the full grid) of the pixels whose centre is inside `geometry`."""
    geom = shape(geometry)
    if geom.is_empty:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    minx, miny, maxx, maxy = geom.bounds
    r0, r1 = _span(grid.y, miny, maxy)
    c0, c1 = _span(grid.x, minx, maxx)
    if r1 == r0 or c1 == c0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    inside = geometry_mask([geometry], out_shape=(r1 - r0, c1 - c0), transform=grid.transform(r0, c0),
                           invert=True)
    rows, cols = np.nonzero(inside)
    return rows.astype(np.int64) + r0, cols.astype(np.int64) + c0


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
    ids, pixels = [z.get("id") for z in zones], [len(r) for r, _ in found]
    if not any(pixels):
        return Selection(slice(0, 0), slice(0, 0), ids, pixels, np.zeros(0, dtype=np.int64))
    r0 = min(int(r.min()) for r, _ in found if len(r))
    r1 = max(int(r.max()) for r, _ in found if len(r)) + 1
    c0 = min(int(c.min()) for _, c in found if len(c))
    c1 = max(int(c.max()) for _, c in found if len(c)) + 1
    width = c1 - c0
    flat = [(r - r0) * width + (c - c0) for r, c in found if len(r)]
    sizes = np.array([len(f) for f in flat])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    index: np.ndarray | None = np.concatenate(flat)
    if len(flat) == 1 and sizes[0] == (r1 - r0) * width:
        index = None  # the window is exactly the zone: no gather needed
    return Selection(slice(r0, r1), slice(c0, c1), ids, pixels, index, starts)
