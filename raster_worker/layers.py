"""Reading a cube's layers for a pixel window and a time step (shared by tiles and analytics).

The served store (written by `scripts/upload_local_zarr.py`) has dims (time, y, x), x/y in EPSG:3857 metres
(pixel centres, y descending), one float32 variable per band/index/mask layer, NaN = nodata. Composites are
three layers; indices without a stored variable are computed from their expression.

Public API (stable; analytics relies on it):

- ``cube(collection_id) -> Cube``: the source document (`api.raster_source`), the opened store and its
  grid; cached, dropped when the database notifies that the cube changed (and after `SOURCE_TTL` seconds).
- ``from_source(collection_id, source_document) -> Cube``: the same without the cache.
- ``Cube.layer(name) -> dict``: a layer's row (name, kind, variable, bands, expression, rescale, colormap ...);
  `LayerError` (404) for an unknown name, matched case-insensitively.
- ``Cube.time_index(datetime) -> TimeChoice``: the slice for an RFC 3339 instant (nearest), an interval
  ``a/b`` (latest inside) or None (latest).
- ``Cube.read(name, t, rows, cols) -> np.ndarray``: float32 (rows, cols) for a band/index/mask layer,
  (3, rows, cols) for a composite; NaN = nodata. ``rows``/``cols`` are slices of the store's grid.
- ``Cube.read_expression(text, t, rows, cols) -> np.ndarray``: band math over layers (see `expressions`).
- ``Cube.read_series(name_or_expression, rows, cols, times=slice(None)) -> np.ndarray``: (time, rows, cols).
- ``Cube.grid``: `Grid` (x0/y0 pixel centres, dx/dy, width/height) with ``window(minx, miny, maxx, maxy)``
  (EPSG:3857 bbox -> (rows, cols) slices) and ``index(x, y)`` (EPSG:3857 point -> (row, col)).
- ``Cube.for_resolution(metres) -> Cube``: the same cube read from its coarsest overview level (see
  `overviews`) whose pixel is not coarser than ``metres``; itself when there is none. ``Cube.level`` is the
  level's factor (1 = full resolution); everything above works on a level's view the same way, in its grid.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from . import expressions, store

SOURCE_TTL = float(os.environ.get("STAPI_SOURCE_TTL", "30"))
CHUNK_CACHE_BYTES = int(float(os.environ.get("STAPI_CHUNK_CACHE_MB", "256")) * 2**20)


class LayerError(ValueError):
    """A request names something the cube does not have (status 404) or cannot do (400)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Grid:
    """The store's pixel grid in EPSG:3857: centre of pixel (0, 0) at (x0, y0), steps dx > 0, dy < 0."""

    x0: float
    y0: float
    dx: float
    dy: float
    width: int
    height: int

    @classmethod
    def from_coords(cls, x: np.ndarray, y: np.ndarray) -> Grid:
        dx = float(x[1] - x[0]) if len(x) > 1 else 1.0
        dy = float(y[1] - y[0]) if len(y) > 1 else -1.0
        return cls(float(x[0]), float(y[0]), dx, dy, len(x), len(y))

    def index(self, x: float, y: float) -> tuple[int, int]:
        """(row, col) of the pixel containing an EPSG:3857 point (may be outside the grid)."""
        return (math.floor((y - self.y0) / self.dy + 0.5), math.floor((x - self.x0) / self.dx + 0.5))

    def window(self, minx: float, miny: float, maxx: float, maxy: float) -> tuple[slice, slice]:
        """The (rows, cols) slices of pixels whose centres fall inside an EPSG:3857 bbox, clipped to the grid."""
        c0 = max(0, math.ceil((minx - self.x0) / self.dx))
        c1 = min(self.width, math.floor((maxx - self.x0) / self.dx) + 1)
        r0 = max(0, math.ceil((maxy - self.y0) / self.dy))
        r1 = min(self.height, math.floor((miny - self.y0) / self.dy) + 1)
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))


@dataclass(frozen=True)
class TimeChoice:
    index: int
    datetime: str      # the slice's time, RFC 3339
    match: str         # 'exact', 'nearest', 'latest' (no datetime asked) or 'interval'


def _to_datetime64(text: str) -> np.datetime64:
    value = datetime.fromisoformat(text.strip().upper().replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return np.datetime64(value, "ms")


@dataclass
class Cube:
    collection_id: str
    source: dict[str, Any]
    arrays: Any                      # zarr.Group of the served store
    grid: Grid
    times: np.ndarray                # datetime64[ms], ascending
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    level: int = 1                   # overview factor of this view (1: full resolution)
    views: dict[int, Cube] = field(default_factory=dict, repr=False)
    handles: dict[str, Any] = field(default_factory=dict, repr=False)

    def array(self, variable: str) -> Any:
        """The zarr array of a stored variable, opened once per cube (a lookup in the group reads its metadata
        from the store: about 0.3 ms each time)."""
        found = self.handles.get(variable)
        if found is None:
            try:
                found = self.arrays[variable]
            except KeyError:
                raise LayerError(f"variable {variable!r} is missing from the store of {self.collection_id}",
                                 404) from None
            self.handles[variable] = found
        return found

    @property
    def version(self) -> str:
        return str(self.source.get("version", ""))

    def for_resolution(self, metres: float) -> Cube:
        """The view of the coarsest overview level whose pixel size is at most `metres` (EPSG:3857)."""
        if self.level != 1:
            raise LayerError("for_resolution applies to the full-resolution cube")
        best = 1
        for level in self.source.get("levels") or []:
            factor = int(level["factor"])
            if factor > best and factor * abs(self.grid.dx) <= metres * (1 + 1e-9):
                best = factor
        return self if best == 1 else self.at_level(best)

    def at_level(self, factor: int) -> Cube:
        """The view of overview level `factor` (its own grid and arrays, same layers and times)."""
        view = self.views.get(factor)
        if view is None:
            level = next((lv for lv in self.source.get("levels") or [] if int(lv["factor"]) == factor), None)
            if level is None:
                raise LayerError(f"collection {self.collection_id} has no overview level {factor}", 404)
            arrays = self.arrays[level["group"]]
            grid = Grid.from_coords(np.asarray(arrays["x"][:]), np.asarray(arrays["y"][:]))
            view = Cube(self.collection_id, self.source, arrays, grid, self.times, self.layers, factor)
            self.views[factor] = view
        return view

    def layer(self, name: str) -> dict[str, Any]:
        found = self.layers.get(name) or next(
            (v for k, v in self.layers.items() if k.lower() == name.lower()), None)
        if found is None:
            raise LayerError(f"collection {self.collection_id} has no layer {name!r}; layers: "
                             f"{', '.join(self.layers)}", 400)
        return found

    def time_index(self, value: str | None) -> TimeChoice:
        if len(self.times) == 0:
            raise LayerError(f"collection {self.collection_id} has no time steps", 404)
        if value is None or not value.strip():
            return self._choice(len(self.times) - 1, "latest")
        if "/" in value:
            return self._interval(value)
        try:
            when = _to_datetime64(value)
        except ValueError:
            raise LayerError(f"datetime {value!r} is not an RFC 3339 date-time") from None
        gaps = np.abs((self.times - when).astype(np.int64))
        i = int(np.argmin(gaps))
        return self._choice(i, "exact" if gaps[i] == 0 else "nearest")

    def _interval(self, value: str) -> TimeChoice:
        start, _, end = (p.strip() for p in value.partition("/"))
        try:
            lo = _to_datetime64(start) if start not in ("", "..") else self.times[0]
            hi = _to_datetime64(end) if end not in ("", "..") else self.times[-1]
        except ValueError:
            raise LayerError(f"datetime interval {value!r} is not RFC 3339") from None
        inside = np.nonzero((self.times >= lo) & (self.times <= hi))[0]
        if len(inside) == 0:
            raise LayerError(f"collection {self.collection_id} has no time step in {value}; time steps: "
                             f"{self.times[0]}..{self.times[-1]}", 404)
        return self._choice(int(inside[-1]), "interval")

    def _choice(self, i: int, match: str) -> TimeChoice:
        return TimeChoice(i, str(self.times[i].astype("datetime64[s]")) + "Z", match)

    def read(self, name: str, t: int, rows: slice, cols: slice) -> np.ndarray:
        layer = self.layer(name)
        if layer["kind"] == "composite":
            return np.stack([self.read(b, t, rows, cols) for b in layer["bands"]])
        if layer.get("variable"):
            return read_variable(self, layer["variable"], t, rows, cols)
        if layer.get("expression"):
            return self.read_expression(layer["expression"], t, rows, cols)
        raise LayerError(f"layer {name!r} has neither a variable nor an expression", 404)

    def read_expression(self, text: str, t: int, rows: slice, cols: slice) -> np.ndarray:
        expr = expressions.parse(text)
        for n in expr.names:
            if self.layer(n)["kind"] == "composite":
                raise LayerError(f"expression uses composite {n!r}; use its bands instead")
        arrays = {n: self.read(n, t, rows, cols) for n in expr.names}
        if not arrays:
            shape = (rows.stop - rows.start, cols.stop - cols.start)
            return np.broadcast_to(expr.evaluate({}), shape).astype(np.float32)
        return expr.evaluate(arrays)

    def read_series(self, name_or_expression: str, rows: slice, cols: slice,
                    times: slice = slice(None)) -> np.ndarray:
        """(time, rows, cols) float32 for a layer name or an expression, over a range of time indices."""
        steps = range(*times.indices(len(self.times)))
        is_layer = any(k.lower() == name_or_expression.lower() for k in self.layers)
        read = self.read if is_layer else self.read_expression
        return np.stack([read(name_or_expression, t, rows, cols) for t in steps]) if steps else \
            np.empty((0, rows.stop - rows.start, cols.stop - cols.start), np.float32)


# --- chunk-level cache: warm reads skip zarr's decode entirely -------------------------------------------------

_chunks: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
_chunk_bytes = 0
_chunk_lock = threading.Lock()


def _chunk(cube: Cube, variable: str, t: int, cr: int, cc: int) -> np.ndarray:
    global _chunk_bytes
    key = (cube.source["store_path"], cube.version, cube.level, variable, t, cr, cc)
    with _chunk_lock:
        hit = _chunks.get(key)
        if hit is not None:
            _chunks.move_to_end(key)
            return hit
    arr = cube.array(variable)
    ch, cw = arr.chunks[1], arr.chunks[2]
    data = np.asarray(arr[t, cr * ch:(cr + 1) * ch, cc * cw:(cc + 1) * cw], dtype=np.float32)
    with _chunk_lock:
        _chunks[key] = data
        _chunk_bytes += data.nbytes
        while _chunk_bytes > CHUNK_CACHE_BYTES and _chunks:
            _, old = _chunks.popitem(last=False)
            _chunk_bytes -= old.nbytes
    return data


def read_variable(cube: Cube, variable: str, t: int, rows: slice, cols: slice) -> np.ndarray:
    """A (rows, cols) window of one stored variable at time index t, assembled from cached chunks."""
    arr = cube.array(variable)
    r0, r1 = rows.start or 0, rows.stop if rows.stop is not None else cube.grid.height
    c0, c1 = cols.start or 0, cols.stop if cols.stop is not None else cube.grid.width
    out = np.full((max(0, r1 - r0), max(0, c1 - c0)), np.nan, dtype=np.float32)
    if out.size == 0:
        return out
    ch, cw = arr.chunks[1], arr.chunks[2]
    for cr in range(r0 // ch, (r1 - 1) // ch + 1):
        for cc in range(c0 // cw, (c1 - 1) // cw + 1):
            data = _chunk(cube, variable, t, cr, cc)
            ys, ye = max(r0, cr * ch), min(r1, cr * ch + data.shape[0])
            xs, xe = max(c0, cc * cw), min(c1, cc * cw + data.shape[1])
            out[ys - r0:ye - r0, xs - c0:xe - c0] = data[ys - cr * ch:ye - cr * ch, xs - cc * cw:xe - cc * cw]
    return out


# --- the cube cache: source document + opened store, per collection ------------------------------------------

_cubes: dict[str, tuple[float, Cube]] = {}
_cubes_lock = threading.Lock()


def invalidate(collection_id: str | None = None) -> None:
    """Forget a cached cube (all of them when None); called on NOTIFY stapi_cubes."""
    with _cubes_lock:
        if collection_id is None:
            _cubes.clear()
        else:
            _cubes.pop(collection_id, None)


def cube(collection_id: str) -> Cube:
    """The cube of a collection (cached); `psycopg` raises P0002 when the collection has no raster data."""
    now = time.monotonic()
    with _cubes_lock:
        hit = _cubes.get(collection_id)
    if hit is not None and now - hit[0] < SOURCE_TTL:
        return hit[1]
    store.listen(invalidate)
    source = store.query_json("SELECT api.raster_source(%s, '{}'::jsonb)", (collection_id,))
    found = from_source(collection_id, source)
    with _cubes_lock:
        _cubes[collection_id] = (now, found)
    return found


def from_source(collection_id: str, source: dict[str, Any]) -> Cube:
    """A Cube from an `api.raster_source` document (no caching; `cube()` caches)."""
    arrays = store.open_arrays(source["store_path"], str(source.get("version", "")))
    grid = Grid.from_coords(np.asarray(arrays["x"][:]), np.asarray(arrays["y"][:]))
    times = np.array([_to_datetime64(t) for t in source.get("times") or []], dtype="datetime64[ms]")
    layers = {layer["name"]: layer for layer in source.get("layers", [])}
    return Cube(collection_id, source, arrays, grid, times, layers)


__all__ = ["Cube", "Grid", "LayerError", "TimeChoice", "cube", "from_source", "invalidate", "read_variable"]
