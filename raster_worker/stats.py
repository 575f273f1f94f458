"""Pixel statistics per zone: one block of (time, y, x) values -> a fixed-length vector of partial results.

A block is a run of time steps over the request's window; `index` lists, zone after zone, the flat
positions (in the window) of each zone's pixels, and `starts` where each zone's run begins.
Partial results of several blocks of one time bin combine exactly (count, sum, sum of squares, min, max).
Percentiles and histograms need every value of a bin, so for them a block is always a whole bin.

Statistics are over all valid values pooled across the bin's acquisitions and the zone's pixels;
std is the population standard deviation (ddof=0); percentiles use numpy's default (linear) method.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

BASIC = ("count", "sum", "mean", "std", "min", "max")
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100)$")
N_BASIC = 5  # count, sum, sum of squares, min, max


class StatError(ValueError):
    """An aggregation name or histogram this module does not know."""


def percentile_of(name: str) -> float | None:
    """'p90' -> 90.0, 'median' -> 50.0, anything else -> None."""
    if name == "median":
        return 50.0
    m = _PERCENTILE.match(name)
    return float(m.group(1)) if m else None


def check_aggregation(name: str) -> str:
    if name in BASIC or percentile_of(name) is not None:
        return name
    raise StatError(f"unknown aggregation {name!r}: use mean, min, max, median, std, sum, count "
                    "or a percentile p0..p100 (e.g. p10, p90, p99.5)")


@dataclass(frozen=True)
class Spec:
    """What each block computes beyond the basic partial sums."""

    percentiles: tuple[float, ...] = ()
    hist_bins: int = 0                      # > 0: that many equal-width bins between the zone's min and max
    hist_edges: tuple[float, ...] = ()      # or explicit, increasing edges

    @property
    def needs_values(self) -> bool:
        return bool(self.percentiles or self.hist_bins or self.hist_edges)

    @property
    def n_hist(self) -> int:
        return self.hist_bins or max(len(self.hist_edges) - 1, 0)

    @property
    def width(self) -> int:
        hist = self.n_hist + (self.n_hist + 1 if self.n_hist else 0)
        return N_BASIC + len(self.percentiles) + hist


SLAB = 1 << 18


def _basic_one(vals: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The one-zone case of `_basic` (the hot path): float64 sums over slabs, so no block-sized copies."""
    count = int(np.count_nonzero(valid))
    if count == 0:
        return np.array([[0, 0.0, 0.0, np.inf, -np.inf]])
    flat, ok = vals.reshape(-1), valid.reshape(-1)
    total = squares = 0.0
    for a in range(0, flat.size, SLAB):
        v = np.where(ok[a:a + SLAB], flat[a:a + SLAB], np.float32(0)).astype(np.float64)
        total += float(v.sum())
        squares += float(np.square(v, out=v).sum())  # not v @ v: BLAS threads spin on a busy machine
    return np.array([[count, total, squares, float(np.fmin.reduce(flat)), float(np.fmax.reduce(flat))]])


def _basic(vals: np.ndarray, valid: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(t, P) values -> (nz, 5) count, sum, sum of squares, min, max over time and each zone's pixels."""
    if len(starts) == 1:
        return _basic_one(vals, valid)
    v64 = np.where(valid, vals, 0).astype(np.float64)
    count = np.add.reduceat(valid, starts, axis=1, dtype=np.int64).sum(0)
    total = np.add.reduceat(v64, starts, axis=1).sum(0)
    squares = np.add.reduceat(v64 * v64, starts, axis=1).sum(0)
    low = np.minimum.reduceat(np.where(valid, vals, np.inf), starts, axis=1).min(0)
    high = np.maximum.reduceat(np.where(valid, vals, -np.inf), starts, axis=1).max(0)
    return np.stack([count, total, squares, low, high], axis=1)


def _values_part(values: np.ndarray, spec: Spec) -> np.ndarray:
    """Percentiles, histogram counts and edges of one zone's valid values (NaN where there are none)."""
    out = np.full(spec.width - N_BASIC, np.nan)
    if values.size == 0:
        return out
    k = len(spec.percentiles)
    if k:
        out[:k] = np.percentile(values.astype(np.float64), spec.percentiles)
    if spec.n_hist:
        bins: Any = spec.hist_bins or np.asarray(spec.hist_edges)
        counts, edges = np.histogram(values, bins=bins)
        out[k:k + spec.n_hist] = counts
        out[k + spec.n_hist:] = edges
    return out


def block_stats(block: np.ndarray, index: np.ndarray | None, starts: np.ndarray, spec: Spec) -> np.ndarray:
    """One block (t, y, x) -> (1, nz, spec.width). `index=None`: one zone made of the whole window."""
    flat = block.reshape(block.shape[0], -1)
    vals = flat if index is None else flat[:, index]
    valid = ~np.isnan(vals)
    out = np.empty((1, len(starts), spec.width))
    out[0, :, :N_BASIC] = _basic(vals, valid, starts)
    if spec.needs_values:
        ends = np.append(starts[1:], vals.shape[1])
        for z, (a, b) in enumerate(zip(starts, ends)):
            seg, ok = vals[:, a:b], valid[:, a:b]
            out[0, z, N_BASIC:] = _values_part(seg[ok], spec)
    return out


def combine(parts: np.ndarray, part_bin: np.ndarray, n_bins: int) -> np.ndarray:
    """(pieces, nz, width) partial results + the bin of each piece -> (n_bins, nz, width).

    Bins without pieces (no acquisition) get count 0 and NaN elsewhere.
    """
    nz, width = parts.shape[1], parts.shape[2]
    out = np.full((n_bins, nz, width), np.nan)
    out[:, :, 0] = 0
    for b in np.unique(part_bin):
        rows = parts[part_bin == b]
        out[b, :, 0] = rows[:, :, 0].sum(0)
        out[b, :, 1] = rows[:, :, 1].sum(0)
        out[b, :, 2] = rows[:, :, 2].sum(0)
        out[b, :, 3] = rows[:, :, 3].min(0)
        out[b, :, 4] = rows[:, :, 4].max(0)
        out[b, :, N_BASIC:] = rows[0, :, N_BASIC:]
    return out


def _number(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def aggregations(row: np.ndarray, names: list[str], spec: Spec) -> dict[str, Any]:
    """One (bin, zone) row -> {'count': n, 'mean': ..., 'p90': ...}; all null when count is 0."""
    n = int(row[0])
    out: dict[str, Any] = {"count": n}
    mean = row[1] / n if n else math.nan
    basic = {"sum": row[1] if n else math.nan, "mean": mean, "min": row[3], "max": row[4],
             "std": math.sqrt(max(row[2] / n - mean * mean, 0.0)) if n else math.nan}
    for name in names:
        if name == "count":
            continue
        if name in basic:
            out[name] = _number(basic[name]) if n else None
        else:
            q = spec.percentiles.index(percentile_of(name))  # type: ignore[arg-type]
            out[name] = _number(row[N_BASIC + q]) if n else None
    return out


def histogram(row: np.ndarray, spec: Spec) -> dict[str, Any] | None:
    """The histogram part of a row: {'counts': [...], 'edges': [...]} (None when there are no values)."""
    if not spec.n_hist or int(row[0]) == 0:
        return None
    k = N_BASIC + len(spec.percentiles)
    counts = [int(c) for c in row[k:k + spec.n_hist]]
    edges = [float(e) for e in row[k + spec.n_hist:]]
    return {"counts": counts, "edges": edges}
