"""One block of an aggregation, the unit of work of a dask task: read a run of time steps over the request's
window straight from the Zarr store (one read), apply band math and masks in numpy, and reduce each piece of
it (a run of one time bin) to partial statistics per zone.

A task carries only the store path and the time indices it reads (it opens the store itself), so blocks run
the same on local threads and on a dask.distributed cluster.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import expressions, stats, store

# Sentinel-2 scene classes that are not a clear view of the ground: 0 no data, 1 saturated or defective,
# 3 cloud shadow, 8 cloud (medium), 9 cloud (high), 10 thin cirrus.
SCL_INVALID = np.array([0, 1, 3, 8, 9, 10], dtype=np.float32)


class RequestError(Exception):
    """A request the worker cannot answer: `status` 400 (bad request) or 413 (too large)."""

    def __init__(self, status: int, description: str, **extra: Any):
        super().__init__(description)
        self.status, self.description, self.extra = status, description, extra


def valid_pixels(name: str, values: np.ndarray) -> np.ndarray:
    """Where a mask layer says a pixel is valid: SCL by its classes, any other mask layer by nonzero.

    NaN in a mask layer is never valid.
    """
    if name.upper() == "SCL":
        return ~np.isnan(values) & ~np.isin(values, SCL_INVALID)
    return ~np.isnan(values) & (values != 0)


def parse_expression(text: str) -> expressions.Expression:
    try:
        expr = expressions.parse(text)
    except expressions.ExpressionError as e:
        raise RequestError(400, str(e)) from None
    if not expr.names:
        raise RequestError(400, f"expression {text!r} uses no layer: name at least one layer of the cube")
    return expr


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


@dataclass
class Plan:
    """What every block of one request shares (one dask key, sent to each worker once)."""

    store_path: str
    version: str
    layers: Layers
    names: list[str]                 # requested layers, then the expression (if any)
    expression: str | None
    masks: list[str]
    rows: slice
    cols: slice
    index: np.ndarray | None
    starts: np.ndarray
    spec: stats.Spec


def _read_variable(plan: Plan, times: np.ndarray, variable: str) -> np.ndarray:
    arr = store.open_arrays(plan.store_path, plan.version)[variable]
    if times.size and np.all(np.diff(times) == 1):
        data = arr[int(times[0]):int(times[-1]) + 1, plan.rows, plan.cols]
    else:
        data = arr.oindex[times.tolist(), plan.rows, plan.cols]
    return np.asarray(data, dtype=np.float32)


def read(plan: Plan, times: np.ndarray, name: str, cache: dict[str, np.ndarray],
         is_expression: bool = False) -> np.ndarray:
    """(time, y, x) float32 of a layer or an expression over the window; reads each variable once per block."""
    if name in cache:
        return cache[name]
    text = name
    if not is_expression:
        layer = plan.layers.get(name)
        if layer.get("variable"):
            cache[name] = _read_variable(plan, times, str(layer["variable"]))
            return cache[name]
        text = str(layer["expression"])
    expr = parse_expression(text)
    cache[name] = expr.evaluate({n: read(plan, times, n, cache) for n in expr.names})
    return cache[name]


def block(plan: Plan, times: np.ndarray, pieces: tuple[int, ...]) -> np.ndarray:
    """A run of time steps, read at once, cut into `pieces` (runs of one time bin) ->
    (layers, pieces, zones, spec.width) partial statistics."""
    cache: dict[str, np.ndarray] = {}
    last = len(plan.names) - 1
    values = [read(plan, times, n, cache, is_expression=plan.expression is not None and i == last)
              for i, n in enumerate(plan.names)]
    if plan.masks:
        valid = np.logical_and.reduce([valid_pixels(m, read(plan, times, m, cache)) for m in plan.masks])
        values = [v if n in plan.masks else np.where(valid, v, np.float32(np.nan))
                  for n, v in zip(plan.names, values)]
    bounds = np.cumsum((0, *pieces))
    return np.stack([np.concatenate([stats.block_stats(v[a:b], plan.index, plan.starts, plan.spec)
                                     for a, b in itertools.pairwise(bounds)]) for v in values])
