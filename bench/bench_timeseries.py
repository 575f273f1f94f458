"""Bench: a 52-step weekly mean time series over 256x256 and 2048x2048 pixels, against the floor.

The cube: 52 weekly acquisitions of one float32 layer (2048 x 2048 pixels, 100 m, ~10% NaN), written in the
served layout (chunks (1, 256, 256), like the upload CLI). The same run times, for each area:

- `analytics`: the raster worker's computation (`aggregate.run`: window, dask blocks, per-step statistics);
- `floor`: plain numpy on the same chunks (zarr reads of the window, one time step at a time, `np.nanmean`).

Peak memory is the tracemalloc peak of each computation (numpy buffers included; zarr's C codecs' scratch
space is not traced). Usage: python bench/bench_timeseries.py [--size 2048] [--keep PATH]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raster_worker import aggregate, timebins

WEEKS = 52
X0, Y0, RES = 1_113_194.9, 5_621_521.5, 100.0  # near 10E 45N in EPSG:3857


def write_cube(path: Path, size: int) -> None:
    times = np.datetime64("2024-01-01T10:00", "s") + np.arange(WEEKS) * np.timedelta64(7, "D")
    x = X0 + RES * (np.arange(size) + 0.5)
    y = Y0 - RES * (np.arange(size) + 0.5)
    ds = xr.Dataset(coords={"time": times.astype("datetime64[ns]"), "x": x, "y": y})
    ds["NDVI"] = (("time", "y", "x"), np.zeros((WEEKS, size, size), np.float32))
    ds.to_zarr(path, mode="w", compute=False, consolidated=False,
               encoding={"NDVI": {"chunks": (1, 256, 256), "_FillValue": np.float32("nan")}})
    arr = zarr.open_group(path, mode="r+")["NDVI"]
    rng = np.random.default_rng(0)
    ramp = np.linspace(0.1, 0.8, size, dtype=np.float32)
    for t in range(WEEKS):
        slab = ramp[None, :] + 0.05 * rng.standard_normal((size, size), dtype=np.float32)
        slab[rng.uniform(size=(size, size)) < 0.1] = np.nan
        arr[t] = slab


def zone(size: int, area: int) -> tuple[dict[str, Any], slice]:
    """A square zone of `area` x `area` pixels in the middle of the cube (as EPSG:3857 GeoJSON)."""
    a = (size - area) // 2
    minx, maxx = X0 + RES * a, X0 + RES * (a + area)
    maxy, miny = Y0 - RES * a, Y0 - RES * (a + area)
    ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
    return {"id": "area", "geometry": {"type": "Polygon", "coordinates": [ring]}}, slice(a, a + area)


def analytics(path: Path, z: dict[str, Any]) -> np.ndarray:
    source = {"store_path": str(path), "version": "bench",
              "layers": [{"name": "NDVI", "kind": "index", "variable": "NDVI"}]}
    q = aggregate.Query(source=source, zones=[z], layers=["NDVI"], step=timebins.parse_duration("P1W"))
    result = aggregate.run(q, single=True)
    table = result.table["NDVI"][:, 0]
    return table[:, 1] / table[:, 0]


def floor(path: Path, window: slice) -> np.ndarray:
    arr = zarr.open_group(path, mode="r")["NDVI"]
    return np.array([np.nanmean(arr[t, window, window]) for t in range(WEEKS)])


def measure(fn: Callable[[], np.ndarray], repeat: int) -> tuple[float, float, np.ndarray]:
    """Median seconds over `repeat` runs, tracemalloc peak MiB of one run, and the result."""
    out = fn()  # warm-up (imports, file cache)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return statistics.median(times), peak, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="write (or reuse) the bench cube here instead of a temporary folder")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-ts-"))
    path = folder / f"weekly-{args.size}.zarr"
    try:
        if not path.exists():
            started = time.perf_counter()
            write_cube(path, args.size)
            print(f"wrote {path} ({WEEKS} x {args.size} x {args.size}) in {time.perf_counter() - started:.1f} s")
        print(f"{'area':>11} {'analytics s':>12} {'floor s':>8} {'ratio':>6} {'analytics MiB':>14} {'floor MiB':>10}")
        for area in (256, min(2048, args.size)):
            z, window = zone(args.size, area)
            t_a, m_a, got = measure(lambda z=z: analytics(path, z), args.repeat)  # type: ignore[misc]
            t_f, m_f, want = measure(lambda w=window: floor(path, w), args.repeat)  # type: ignore[misc]
            assert np.allclose(got, want, rtol=1e-5), "analytics and floor disagree"
            print(f"{area:>5}x{area:<5} {t_a:>12.3f} {t_f:>8.3f} {t_a / t_f:>6.2f} {m_a:>14.1f} {m_f:>10.1f}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
