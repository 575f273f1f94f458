"""Calendar time bins in UTC for ISO 8601 durations of days, weeks or months.

Bins are anchored on the calendar, never on the request, so the same step always has the same bounds:

- ``PnD``: days from 1970-01-01T00:00Z, grouped n at a time (``P1D`` = calendar days in UTC);
- ``PnW``: ISO weeks, Monday 00:00 UTC to the next Monday, grouped n at a time counting from the week of
  Monday 1970-01-05 (``P1W`` = ISO weeks; ``P2W`` = fortnights starting on Mondays of even week number since
  1970-01-05);
- ``PnM``: calendar months, grouped n at a time counting from January 1970, so ``P3M`` = quarters
  (Jan, Apr, Jul, Oct) and ``P12M`` = ``P1Y`` = calendar years.

A bin is half-open: [start, end).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

_DURATION = re.compile(r"^P(\d+)([DWMY])$")
_EPOCH_MONDAY = np.datetime64("1970-01-05", "D")
MAX_STEP = 100_000


class DurationError(ValueError):
    """A duration this API cannot bin by."""


@dataclass(frozen=True)
class Step:
    """A calendar step: `n` units of 'D' (days), 'W' (weeks) or 'M' (months)."""

    n: int
    unit: str

    @property
    def iso(self) -> str:
        return f"P{self.n}{self.unit}"


def parse_duration(text: str) -> Step:
    """'P1D', 'P2W', 'P1M', 'P3M', 'P1Y' -> Step. Anything else (time parts, mixed units, zero) is an error."""
    m = _DURATION.match((text or "").strip().upper())
    if not m:
        raise DurationError(
            f"resolution {text!r} is not a supported ISO 8601 duration: use one unit of days, weeks, months "
            "or years, e.g. P1D, P5D, P1W, P2W, P1M, P3M, P1Y")
    n, unit = int(m.group(1)), m.group(2)
    if n < 1 or n > MAX_STEP:
        raise DurationError(f"resolution {text!r}: the count must be between 1 and {MAX_STEP}")
    return Step(n * 12, "M") if unit == "Y" else Step(n, unit)


def _index(times: np.ndarray, step: Step) -> np.ndarray:
    """The bin number of each time (datetime64, UTC)."""
    if step.unit == "M":
        months = times.astype("datetime64[M]").astype(np.int64)
        return np.floor_divide(months, step.n)
    days = times.astype("datetime64[D]")
    if step.unit == "W":
        return np.floor_divide((days - _EPOCH_MONDAY).astype(np.int64), 7 * step.n)
    return np.floor_divide(days.astype(np.int64), step.n)


def _start(index: np.ndarray, step: Step) -> np.ndarray:
    """The start instant (datetime64[s]) of each bin number."""
    index = np.asarray(index, dtype=np.int64)
    if step.unit == "M":
        return (index * step.n).astype("datetime64[M]").astype("datetime64[s]")
    if step.unit == "W":
        return (_EPOCH_MONDAY + index * 7 * step.n).astype("datetime64[s]")
    return (index * step.n).astype("datetime64[D]").astype("datetime64[s]")


@dataclass
class Bins:
    """Steps from the one holding `first` to the one holding `last`, and which step each time falls in."""

    starts: np.ndarray      # datetime64[s], one per step
    ends: np.ndarray        # datetime64[s], exclusive
    members: np.ndarray     # int, the step of each input time (-1 if outside all steps)

    def __len__(self) -> int:
        return len(self.starts)


def seconds(t: Any) -> Any:
    """A datetime64 scalar (any unit) in seconds."""
    return np.asarray(t).astype("datetime64[s]")[()]


def count_steps(first: np.datetime64, last: np.datetime64, step: Step) -> int:
    a, b = _index(np.array([first, last], dtype="datetime64[s]"), step)
    return int(b - a + 1)


def make_bins(times: np.ndarray, first: np.datetime64, last: np.datetime64, step: Step | None) -> Bins:
    """Bins covering [first, last]; `step=None` gives one bin spanning [first, last] exactly."""
    times = np.asarray(times, dtype="datetime64[s]")
    first, last = seconds(first), seconds(last)
    inside = (times >= first) & (times <= last)
    if step is None:
        members = np.where(inside, 0, -1)
        return Bins(np.array([first]), np.array([last]), members)
    lo, hi = _index(np.array([first, last]), step)
    numbers = np.arange(lo, hi + 1)
    members = np.where(inside, _index(times, step) - lo, -1) if len(times) else np.zeros(0, dtype=np.int64)
    return Bins(_start(numbers, step), _start(numbers + 1, step), members.astype(np.int64))
