"""PNG tiles of a DataCube: ours (gateway -> raster worker) against titiler.xarray, and the floor.

Same Zarr store (the served store of `telangana-ndvi-2025`, loaded by `make demo` when missing), same tiles,
same rescale and colormap, same PNG zlib level (6, GDAL's default, which titiler uses), in one run:

- warm latency: each tile requested once to warm up, then R sequential rounds, the servers taking turns in a
  rotating order, over one keep-alive connection each with a minimal HTTP client (`KeepAlive`: httpx would add
  its own ~0.85 ms per request, which the floor does not have); median and p95 per server;
- the floor: in this process, per tile, the chunk read from Zarr (zarr-python, no cache) + sampling +
  colormap + PNG encode: what any server must at least spend;
- throughput: C concurrent clients for S seconds per server (tiles per second);
- first tile after a restart: the process is restarted and the first tile timed (includes opening the store).

titiler.xarray is installed from PyPI into its own venv under .local/bench/titiler (first run only).
Usage: python bench/bench_png_tiles.py [--rounds 30] [--concurrency 8] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from raster_worker import colormaps, render, tiles  # noqa: E402
from raster_worker.layers import Grid  # noqa: E402

COLLECTION = "telangana-ndvi-2025"
LAYER, RESCALE, CMAP = "NDVI", (0.0, 1.0), "rdylgn"
TITILER_VENV = ROOT / ".local" / "bench" / "titiler"
TITILER_APP = '''
from fastapi import FastAPI
from titiler.xarray.factory import TilerFactory
app = FastAPI()
app.include_router(TilerFactory().router)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def start(args: list[str], env: dict[str, str], url: str, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    wait(url)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(10)


def source(dsn: str) -> dict[str, Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT api.raster_source(%s)", (COLLECTION,)).fetchone()
    return dict(row[0])


def ensure_demo(dsn: str) -> None:
    from scripts import demo_cube

    print("demo:", demo_cube.load(dsn))


def ensure_titiler() -> Path:
    python = TITILER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(TITILER_VENV)])
        subprocess.check_call([str(python), "-m", "pip", "install", "-q", "titiler.xarray", "uvicorn", "zarr"])
    return python


def tile_list(grid: Grid, z: int) -> list[tuple[int, int, int]]:
    """The tiles at zoom z whose pixels all fall inside the store (full tiles: no empty-tile shortcut)."""
    span = 2 * tiles.HALF / 2 ** z
    minx, maxx = grid.x0 - grid.dx / 2, grid.x0 + (grid.width - 0.5) * grid.dx
    maxy, miny = grid.y0 - grid.dy / 2, grid.y0 + (grid.height - 0.5) * grid.dy
    xs = range(int((minx + tiles.HALF) // span) + 1, int((maxx + tiles.HALF) // span))
    ys = range(int((tiles.HALF - maxy) // span) + 1, int((tiles.HALF - miny) // span))
    return [(z, x, y) for x in xs for y in ys]


def floor_tile(arr: Any, grid: Grid, t: int) -> Callable[[int, int, int], None]:
    """Chunk read (zarr, uncached) + sample + colormap + encode of one tile, in this process."""
    def run(z: int, x: int, y: int) -> None:
        rows, cols = tiles.tile_pixels(grid, z, x, y) or (None, None)
        values = tiles.sample(lambda r, c: np.asarray(arr[t, r, c], dtype=np.float32), rows, cols)
        render.png(render.colorize(values, RESCALE, CMAP), render.PNG_LEVEL)
    return run


def interleaved(runs: dict[str, Callable[[int, int, int], Any]], tile_ids: list[tuple[int, int, int]],
                rounds: int) -> dict[str, list[float]]:
    """Latency per run in ms, taking turns tile by tile (a busy machine then weighs on all alike).

    The order rotates from tile to tile, so each run goes first equally often: whichever request follows
    another server's CPU burst finds cold caches and pays about 2 ms for it on a small machine, and a fixed
    order would charge that to the same run every time.
    """
    for run in runs.values():
        for tid in tile_ids:
            run(*tid)
    out: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs.items())
    for _ in range(rounds):
        for tid in tile_ids:
            for name, run in order:
                t0 = time.perf_counter()
                run(*tid)
                out[name].append((time.perf_counter() - t0) * 1000)
            order = order[1:] + order[:1]
    return out


class KeepAlive:
    """A minimal HTTP/1.1 keep-alive GET client for the latency runs (the same one for every server).

    httpx spends about 0.85 ms per request in this process; that is the bench's own cost, not the server's,
    and the floor has no HTTP client in it, so the latency runs use a plain socket instead.
    """

    def __init__(self, host: str, port: int):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    def get(self, target: str) -> tuple[int, dict[str, str], bytes]:
        self.sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        status = int(self.file.readline().split()[1])
        headers = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers, self.file.read(int(headers.get("content-length", "0")))

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def checked(url_of: Callable[[int, int, int], str]) -> Callable[[int, int, int], None]:
    parts = httpx.URL(url_of(0, 0, 0))
    client = KeepAlive(parts.host, parts.port or 80)

    def run(z: int, x: int, y: int) -> None:
        url = httpx.URL(url_of(z, x, y))
        status, headers, body = client.get(url.raw_path.decode())
        assert status == 200 and headers["content-type"].startswith("image/png"), body[:300]
    return run


def throughput(url_of: Callable[[int, int, int], str], tile_ids: list[tuple[int, int, int]], clients: int,
               seconds: float) -> float:
    done = [0] * clients
    stop_at = time.monotonic() + seconds

    def worker(i: int) -> None:
        with httpx.Client(timeout=30) as c:
            k = i
            while time.monotonic() < stop_at:
                c.get(url_of(*tile_ids[k % len(tile_ids)]))
                done[i] += 1
                k += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sum(done) / seconds


def stats(name: str, ms: list[float]) -> str:
    return f"{name:<28} median {statistics.median(ms):7.2f} ms   p95 {np.percentile(ms, 95):7.2f} ms   (n={len(ms)})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--zoom", type=int, default=10)
    args = p.parse_args()
    dsn = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5439/stapi")
    data_dir = os.environ.get("STAPI_DATA_DIR", str(ROOT / ".local" / "data"))
    ensure_demo(dsn)
    src = source(dsn)
    store_path = src["store_path"]
    titiler_python = ensure_titiler()
    import zarr

    arrays = zarr.open_group(store_path, mode="r")
    grid = Grid.from_coords(np.asarray(arrays["x"][:]), np.asarray(arrays["y"][:]))
    t = len(src["times"]) - 5
    when = src["times"][t][:19]
    tile_ids = tile_list(grid, args.zoom)
    print(f"store {store_path}\nlayer {LAYER}, time {when}, {len(tile_ids)} full tiles at z{args.zoom}, "
          f"rescale {RESCALE}, colormap {CMAP}, PNG zlib level {render.PNG_LEVEL}")
    colormaps.lut(CMAP)

    logs = Path(tempfile.mkdtemp(prefix="bench-png-"))
    rw, gw, tt = free_port(), free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": dsn, "STAPI_DATA_DIR": data_dir,
           "RASTER_WORKER_URL": f"http://127.0.0.1:{rw}"}
    uv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--log-level", "warning"]
    worker_cmd = [*uv, "raster_worker.app:app", "--port", str(rw)]
    worker = start(worker_cmd, env, f"http://127.0.0.1:{rw}/healthz", logs / "worker.log")
    gateway = start([*uv, "api_gateway.app:app", "--port", str(gw)], env, f"http://127.0.0.1:{gw}/healthz",
                    logs / "gateway.log")
    (logs / "titiler_app.py").write_text(TITILER_APP)
    tenv = {**os.environ, "PYTHONPATH": str(logs)}  # rio-tiler encodes PNG with GDAL, ZLEVEL 6 by default
    titiler_cmd = [str(titiler_python), "-m", "uvicorn", "titiler_app:app", "--host", "127.0.0.1",
                   "--port", str(tt), "--log-level", "warning"]
    titiler = start(titiler_cmd, tenv, f"http://127.0.0.1:{tt}/docs", logs / "titiler.log")
    q_ours = {"layers": LAYER, "datetime": when + "Z", "rescale": f"{RESCALE[0]},{RESCALE[1]}", "colormap": CMAP}
    q_titiler = {"url": store_path, "variable": LAYER, "sel": f"time=nearest::{when}",
                 "rescale": f"{RESCALE[0]},{RESCALE[1]}", "colormap_name": CMAP}

    def ours_url(z: int, x: int, y: int) -> str:
        return f"http://127.0.0.1:{gw}/collections/{COLLECTION}/tiles/WebMercatorQuad/{z}/{x}/{y}.png?" + \
            str(httpx.QueryParams(q_ours))

    def worker_url(z: int, x: int, y: int) -> str:
        return f"http://127.0.0.1:{rw}/tiles/{COLLECTION}/{z}/{x}/{y}.png?" + str(httpx.QueryParams(q_ours))

    def titiler_url(z: int, x: int, y: int) -> str:
        return f"http://127.0.0.1:{tt}/tiles/WebMercatorQuad/{z}/{x}/{y}.png?" + str(httpx.QueryParams(q_titiler))

    try:
        results = interleaved({
            "ours (gateway -> worker)": checked(ours_url),
            "ours (worker direct)": checked(worker_url),
            "titiler.xarray": checked(titiler_url),
            "floor (read+colormap+encode)": floor_tile(arrays[LAYER], grid, t),
        }, tile_ids, args.rounds)
        print("\nwarm tiles, sequential:")
        for name, ms in results.items():
            print("  " + stats(name, ms))
        gap = statistics.median(results["ours (gateway -> worker)"]) - \
            statistics.median(results["floor (read+colormap+encode)"])
        print(f"  ours - floor (medians): {gap:+.2f} ms")
        print(f"\nthroughput, {args.concurrency} concurrent clients, {args.seconds:g} s each:")
        tp_ours = throughput(ours_url, tile_ids, args.concurrency, args.seconds)
        tp_titiler = throughput(titiler_url, tile_ids, args.concurrency, args.seconds)
        print(f"  ours            {tp_ours:8.1f} tiles/s\n  titiler.xarray  {tp_titiler:8.1f} tiles/s"
              f"\n  ratio           {tp_ours / tp_titiler:8.2f}x")
        print("\nfirst tile after a restart:")
        stop(worker)
        worker = start(worker_cmd, env, f"http://127.0.0.1:{rw}/healthz", logs / "worker.log")
        t0 = time.perf_counter()
        httpx.get(ours_url(*tile_ids[0]), timeout=60)
        print(f"  ours            {(time.perf_counter() - t0) * 1000:8.1f} ms (worker restarted; gateway warm)")
        stop(titiler)
        titiler = start(titiler_cmd, tenv, f"http://127.0.0.1:{tt}/docs", logs / "titiler.log")
        t0 = time.perf_counter()
        httpx.get(titiler_url(*tile_ids[0]), timeout=60)
        print(f"  titiler.xarray  {(time.perf_counter() - t0) * 1000:8.1f} ms (restarted)")
    finally:
        for proc in (gateway, worker, titiler):
            stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
