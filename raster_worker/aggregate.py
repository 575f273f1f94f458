"""Aggregating cube layers over zones and time bins, chunked with dask.

Only the window holding the request's pixels and the selected time steps are read (a windowed Zarr read, so
chunks outside it are never loaded). Blocks are runs of time steps over that window, sized so one block stays
under `BLOCK_VALUES` values (a whole time bin when percentiles or a histogram are asked for); each block is
one dask task that reads its values and reduces them to a few numbers per zone (`blocks.block`).
With `DASK_SCHEDULER_ADDRESS` set the blocks run on that dask.distributed cluster, otherwise on dask's
local threads.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import dask
import numpy as np
import xarray as xr

from . import blocks, stats, timebins, zones
from .blocks import Layers, RequestError, parse_expression


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


MAX_VALUES = _env_int("STAPI_ANALYTICS_MAX_VALUES", 500_000_000)       # values read per request
MAX_BIN_VALUES = _env_int("STAPI_ANALYTICS_MAX_BIN_VALUES", 50_000_000)  # values held for percentiles
MAX_STEPS = _env_int("STAPI_ANALYTICS_MAX_STEPS", 10_000)
BLOCK_VALUES = _env_int("STAPI_ANALYTICS_BLOCK_VALUES", 8_000_000)


@lru_cache(maxsize=32)
def open_dataset(store_path: str, version: str = "") -> xr.Dataset:
    """The store's coordinates (x, y, decoded time), opened lazily once per path and version."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # v3 stores have no consolidated metadata
        return xr.open_zarr(store_path, consolidated=None, chunks={})


_client_lock = threading.Lock()


@lru_cache(maxsize=4)
def _client(address: str) -> Any:
    from distributed import Client

    return Client(address, set_as_default=False)


def compute(tasks: list[Any]) -> list[np.ndarray]:
    """Run dask tasks, on the cluster when `DASK_SCHEDULER_ADDRESS` is set, else on local threads."""
    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    if not address:
        return list(dask.compute(*tasks))
    with _client_lock:
        client = _client(address)
    return list(client.gather(client.compute(tasks)))


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
    spec: stats.Spec = field(default_factory=stats.Spec)
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


def _time_range(times: np.ndarray, q: Query) -> tuple[Any, Any]:
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
    return timebins.seconds(first), timebins.seconds(last)


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


def _plan(q: Query, layers: Layers, sel: zones.Selection) -> blocks.Plan:
    return blocks.Plan(store_path=q.source["store_path"], version=str(q.source.get("version", "")),
                       layers=layers, names=q.names, expression=q.expression, masks=layers.masks(q.mask),
                       rows=sel.rows, cols=sel.cols, index=sel.index, starts=sel.starts, spec=q.spec)


def _tasks(chunks: tuple[int, ...], per_task: int) -> list[tuple[int, ...]]:
    """Consecutive pieces grouped so one task reads at most `per_task` time steps (or one bigger piece)."""
    groups: list[list[int]] = [[]]
    for size in chunks:
        if groups[-1] and sum(groups[-1]) + size > per_task:
            groups.append([])
        groups[-1].append(size)
    return [tuple(g) for g in groups if g]


def _compute_blocks(plan: blocks.Plan, order: np.ndarray, chunks: tuple[int, ...], per_task: int) -> np.ndarray:
    """Every group of pieces as one task -> (layers, pieces, zones, width)."""
    shared = dask.delayed(plan, pure=False)
    tasks, start = [], 0
    for group in _tasks(chunks, per_task):
        stop = start + sum(group)
        tasks.append(dask.delayed(blocks.block, pure=False)(shared, order[start:stop], group))
        start = stop
    return np.concatenate(compute(tasks), axis=1)


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
    per_task = max(1, min(BLOCK_VALUES // max(sel.window_size, 1), -(-members.size // 4)))  # >= 4 tasks
    chunks, owner = _pieces(members, None if q.spec.needs_values else per_task)
    if not chunks or not sel.selected:
        empty = np.zeros((0, len(sel.selected), q.spec.width))
        return Result(bins, acquisitions, sel, {n: stats.combine(empty, owner, len(bins)) for n in q.names})
    parts = _compute_blocks(_plan(q, layers, sel), order, chunks, per_task)
    return Result(bins, acquisitions, sel, {n: stats.combine(p, owner, len(bins)) for n, p in zip(q.names, parts)})
