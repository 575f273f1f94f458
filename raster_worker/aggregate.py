"""Aggregating cube layers over zones and time bins, chunked with dask.

Only the window holding the request's pixels and the selected time steps are read (an `isel` on the lazily
opened Zarr store, so untouched chunks are never loaded). Blocks are runs of time steps over that window,
sized so one block stays under `BLOCK_VALUES` values (a whole time bin when percentiles or a histogram are
asked for); each block reduces to a few numbers per zone (`stats.block_stats`).
With `DASK_SCHEDULER_ADDRESS` set the blocks run on that dask.distributed cluster, otherwise on dask's
local threads.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from . import expressions, stats, timebins, zones


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


MAX_VALUES = _env_int("STAPI_ANALYTICS_MAX_VALUES", 500_000_000)       # values read per request
MAX_BIN_VALUES = _env_int("STAPI_ANALYTICS_MAX_BIN_VALUES", 50_000_000)  # values held for percentiles
MAX_STEPS = _env_int("STAPI_ANALYTICS_MAX_STEPS", 10_000)
BLOCK_VALUES = _env_int("STAPI_ANALYTICS_BLOCK_VALUES", 8_000_000)


class RequestError(Exception):
    """A request the worker cannot answer: `status` 400 (bad request) or 413 (too large)."""

    def __init__(self, status: int, description: str, **extra: Any):
        super().__init__(description)
        self.status, self.description, self.extra = status, description, extra


@lru_cache(maxsize=32)
def open_dataset(store_path: str, version: str = "") -> xr.Dataset:
    """The store opened lazily with its native Zarr chunks as dask chunks (cached per path and version).

    `layers.py` reads numpy windows per time step (right for tiles); analytics needs dask arrays over many
    time steps, so it opens the same store through xarray with its native chunks.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # v3 stores have no consolidated metadata
        return xr.open_zarr(store_path, consolidated=None, chunks={})


_client_lock = threading.Lock()


@lru_cache(maxsize=4)
def _client(address: str) -> Any:
    from distributed import Client

    return Client(address, set_as_default=False)


def compute(arrays: list[da.Array]) -> list[np.ndarray]:
    """Compute dask arrays together (shared reads happen once), on the cluster when one is configured."""
    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    if not address:
        return list(dask.compute(*arrays))
    with _client_lock:
        client = _client(address)
    return list(client.gather(client.compute(arrays)))


# Sentinel-2 scene classes that are not a clear view of the ground: 0 no data, 1 saturated or defective,
# 3 cloud shadow, 8 cloud (medium), 9 cloud (high), 10 thin cirrus.
SCL_INVALID = (0.0, 1.0, 3.0, 8.0, 9.0, 10.0)


def valid_pixels(name: str, values: xr.DataArray) -> xr.DataArray:
    """Where a mask layer says a pixel is valid: SCL by its classes, any other mask layer by nonzero.

    NaN in a mask layer is never valid.
    """
    if name.upper() == "SCL":
        return values.notnull() & ~values.isin(SCL_INVALID)
    return values.notnull() & (values != 0)


@dataclass
class Layers:
    """The cube's layers by name (matched case-insensitively, as tiles do) and its mask layers."""

    by_name: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, source: dict[str, Any]) -> Layers:
        return cls({layer["name"]: layer for layer in source.get("layers", [])})

    def get(self, name: str) -> dict[str, Any]:
        layer = self.by_name.get(name) or next(
            (v for k, v in self.by_name.items() if k.lower() == name.lower()), None)
        if layer is None:
            raise RequestError(400, f"unknown layer {name!r}; this cube has: {', '.join(self.by_name)}")
        if layer.get("kind") == "composite" or not (layer.get("variable") or layer.get("expression")):
            raise RequestError(400, f"layer {name!r} is a {layer.get('kind')} of several layers; aggregate "
                                    f"the layers it is made of ({', '.join(layer.get('bands') or [])})")
        return layer

    def masks(self, choice: str) -> list[str]:
        """The mask layers applied: 'auto' = every layer of kind mask, 'none', or one named mask layer."""
        if choice == "none":
            return []
        if choice == "auto":
            return [n for n, layer in self.by_name.items() if layer.get("kind") == "mask"]
        layer = self.get(choice)
        if layer.get("kind") != "mask":
            raise RequestError(400, f"mask={choice!r} is a {layer.get('kind')} layer, not a mask; mask layers: "
                                    f"{', '.join(self.masks('auto')) or 'none'}")
        return [layer["name"]]


def _expression_block(*blocks: np.ndarray, text: str, names: tuple[str, ...]) -> np.ndarray:
    return expressions.parse(text).evaluate(dict(zip(names, blocks)))


def parse_expression(text: str) -> expressions.Expression:
    try:
        expr = expressions.parse(text)
    except expressions.ExpressionError as e:
        raise RequestError(400, str(e)) from None
    if not expr.names:
        raise RequestError(400, f"expression {text!r} uses no layer: name at least one layer of the cube")
    return expr


def read_layer(ds: xr.Dataset, layers: Layers, name_or_expression: str, sel: dict[str, Any],
               is_expression: bool = False) -> xr.DataArray:
    """A lazy (time, y, x) float32 array: a stored variable, or band math evaluated chunk by chunk."""
    if not is_expression:
        layer = layers.get(name_or_expression)
        if layer.get("variable"):
            return ds[layer["variable"]].isel(sel).astype(np.float32)
        name_or_expression = str(layer["expression"])
    expr = parse_expression(name_or_expression)
    inputs = [read_layer(ds, layers, n, sel) for n in expr.names]
    data = da.map_blocks(_expression_block, *(a.data for a in inputs), text=expr.text, names=expr.names,
                         dtype=np.float32)
    return inputs[0].copy(data=data)


def layer_arrays(ds: xr.Dataset, layers: Layers, q: Query, sel: dict[str, Any]) -> dict[str, xr.DataArray]:
    """Lazy (time, y, x) arrays of the requested layers (and expression) over the selection, masks applied."""
    out = {name: read_layer(ds, layers, name, sel) for name in q.layers}
    if q.expression:
        out[q.expression] = read_layer(ds, layers, q.expression, sel, is_expression=True)
    for mask in layers.masks(q.mask):
        valid = valid_pixels(mask, read_layer(ds, layers, mask, sel))
        out = {k: (v if k == mask else v.where(valid)) for k, v in out.items()}
    return out


@dataclass
class Query:
    """One aggregation request, already validated by the gateway (the worker re-checks what it reads)."""

    source: dict[str, Any]
    zones: list[dict[str, Any]]
    layers: list[str]
    expression: str | None = None
    start: np.datetime64 | None = None
    end: np.datetime64 | None = None
    step: timebins.Step | None = None       # None: one bin over the whole range (summary)
    spec: stats.Spec = stats.Spec()
    mask: str = "auto"                      # 'auto', 'none' or a mask layer's name

    @property
    def names(self) -> list[str]:
        return [*self.layers, *([self.expression] if self.expression else [])]


@dataclass
class Result:
    bins: timebins.Bins
    acquisitions: np.ndarray                 # acquisitions per bin
    selection: zones.Selection
    table: dict[str, np.ndarray]             # layer -> (bins, selected zones, spec.width)


def _time_range(times: np.ndarray, q: Query) -> tuple[np.datetime64, np.datetime64]:
    if times.size == 0:
        raise RequestError(400, "this cube has no time steps")
    first = q.start if q.start is not None else times.min()
    last = q.end if q.end is not None else times.max()
    if first > last:
        raise RequestError(400, f"datetime range starts ({first}) after it ends ({last})")
    if q.step is not None:
        n = timebins.count_steps(first, last, q.step)
        if n > MAX_STEPS:
            raise RequestError(413, f"{q.step.iso} steps from {first} to {last} make {n} steps; the limit is "
                                    f"{MAX_STEPS} (STAPI_ANALYTICS_MAX_STEPS): use a coarser resolution or a "
                                    "shorter datetime range", size=n, limit=MAX_STEPS)
    return np.datetime64(first, "s"), np.datetime64(last, "s")


def _pieces(members: np.ndarray, cap: int | None) -> tuple[tuple[int, ...], np.ndarray]:
    """Split the (sorted) bin numbers of the selected times into blocks: runs of one bin, at most `cap` long."""
    chunks: list[int] = []
    owner: list[int] = []
    if members.size == 0:
        return (), np.zeros(0, dtype=np.int64)
    bounds = np.flatnonzero(np.diff(members)) + 1
    for run in np.split(np.arange(members.size), bounds):
        size = cap or run.size
        for a in range(0, run.size, size):
            chunks.append(min(size, run.size - a))
            owner.append(int(members[run[0]]))
    return tuple(chunks), np.array(owner, dtype=np.int64)


def _check_zones(sel: zones.Selection, grid: zones.Grid, single: bool) -> None:
    """One zone (bbox or intersects) that selects no pixel is a client error; features may be empty."""
    if single and not sel.pixels[0]:
        minx, miny, maxx, maxy = grid.extent()
        raise RequestError(400, "the geometry selects no pixel of this cube: it lies outside the cube's "
                                f"pixel centres (EPSG:3857 x {minx:.1f}..{maxx:.1f}, y {miny:.1f}..{maxy:.1f}) "
                                "or covers no pixel centre (pixels are selected by centre-in-geometry)")


def _check_layers(q: Query, layers: Layers) -> None:
    for name in q.layers:
        layers.get(name)
    if q.expression:
        for name in parse_expression(q.expression).names:
            layers.get(name)
    layers.masks(q.mask)


def _check_size(q: Query, sel: zones.Selection, members: np.ndarray) -> None:
    values = int(members.size) * sel.window_size
    if values > MAX_VALUES:
        raise RequestError(413, f"this request reads {members.size} time steps x {sel.window_size} pixels = "
                                f"{values} values; the limit is {MAX_VALUES} (STAPI_ANALYTICS_MAX_VALUES): "
                                "narrow the area or the datetime range", size=values, limit=MAX_VALUES)
    if q.spec.needs_values and members.size:
        pixels = sel.window_size if sel.index is None else int(sel.index.size)
        held = int(np.bincount(members).max()) * pixels
        if held > MAX_BIN_VALUES:
            raise RequestError(413, f"percentiles and histograms hold every value of a time step in memory: "
                                    f"{held} values here; the limit is {MAX_BIN_VALUES} "
                                    "(STAPI_ANALYTICS_MAX_BIN_VALUES): use a finer resolution, a smaller "
                                    "area or drop the percentiles", size=held, limit=MAX_BIN_VALUES)


def _reduce(array: xr.DataArray, chunks: tuple[int, ...], sel: zones.Selection, spec: stats.Spec) -> da.Array:
    data = array.data.rechunk((chunks, -1, -1))
    n_zones = len(sel.starts)
    return data.map_blocks(stats.block_stats, sel.index, sel.starts, spec, dtype=np.float64,
                           chunks=((1,) * len(chunks), (n_zones,), (spec.width,)))


def run(q: Query, single: bool) -> Result:
    """Statistics of each layer per time bin and zone (zones without pixels are left out of `table`)."""
    ds = open_dataset(q.source["store_path"], str(q.source.get("version", "")))
    layers = Layers.of(q.source)
    grid = zones.Grid(ds["x"].values, ds["y"].values)
    times = ds["time"].values.astype("datetime64[s]")
    first, last = _time_range(times, q)
    bins = timebins.make_bins(times, first, last, q.step)
    picked = np.flatnonzero(bins.members >= 0)
    order = picked[np.argsort(times[picked], kind="stable")]
    members = bins.members[order]
    sel = zones.select(q.zones, grid)
    _check_zones(sel, grid, single)
    _check_layers(q, layers)
    _check_size(q, sel, members)
    acquisitions = np.bincount(members, minlength=len(bins))
    cap = None if q.spec.needs_values else max(1, BLOCK_VALUES // max(sel.window_size, 1))
    chunks, owner = _pieces(members, cap)
    if not chunks or not sel.selected:
        empty = np.zeros((0, len(sel.selected), q.spec.width))
        return Result(bins, acquisitions, sel, {n: stats.combine(empty, owner, len(bins)) for n in q.names})
    arrays = layer_arrays(ds, layers, q, {"time": order, "y": sel.rows, "x": sel.cols})
    parts = compute([_reduce(arrays[n], chunks, sel, q.spec) for n in q.names])
    return Result(bins, acquisitions, sel, {n: stats.combine(p, owner, len(bins)) for n, p in zip(q.names, parts)})
