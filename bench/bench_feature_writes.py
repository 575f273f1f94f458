"""Single-feature writes (OGC API Features Part 4) on a big and a small feature collection, over HTTP.

Two collections of the same nine-vertex polygons (bench_mvt's LOAD_SQL): bench-writes-big (100,000 features) and
bench-writes-small (100). The gateway (one uvicorn process, a free port) is asked, ROUNDS times for each
collection taking turns, to
  POST   /collections/{id}/items              one new feature inside the collection's extent
  PUT    /collections/{id}/items/{fid}        replace an existing feature inside the extent
  PATCH  /collections/{id}/items/{fid}        change one property of an existing feature
  DELETE /collections/{id}/items/{fid}        delete the feature POSTed in that round
  PUT edge                                    replace a feature on the edge of the extent with itself moved
                                              0.001 degree outwards and back (the extent grows, then shrinks:
                                              the case where the extent must be recomputed)
and prints the median and p90 latency (ms) of each, and the big/small ratio. Every write changes metadata the
collection derives from its features (extent, queryables) only as far as the data does.

Usage: DATABASE_URL=postgresql://... python bench/bench_feature_writes.py   (`make bench` sets DATABASE_URL;
BENCH_ROUNDS: writes of each kind per collection, default 20). Nothing is asserted.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_mvt import CELL, GRID, LAT0, LOAD_SQL, LON0, server  # noqa: E402

from scripts.migrate import migrate  # noqa: E402

DSN = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5439/stapi")
SIZES = {"bench-writes-big": 100_000, "bench-writes-small": 100}
GRIDS = {"bench-writes-big": GRID, "bench-writes-small": 10}   # columns: 317 x 316 and 10 x 10 cells
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20"))
TOKEN = "bench-writes-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPS = ["POST", "PUT", "PATCH", "DELETE", "PUT edge"]


def load(conn: psycopg.Connection, cid: str, n: int) -> None:
    """A feature collection of n polygons (kept when it already holds n)."""
    count = conn.execute("SELECT count(*) FROM data.features WHERE collection_id = %s", (cid,)).fetchone()
    if count and count[0] == n:
        return
    print(f"loading {n:,} polygons into collection {cid} ...", flush=True)
    conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))
    conn.execute("SELECT pgstac.create_collection(%s)", (Jsonb({
        "type": "Collection", "stac_version": "1.0.0", "id": cid, "description": "feature write benchmark",
        "license": "CC0-1.0", "links": [],
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}}}),))
    conn.execute("INSERT INTO data.collection_meta (collection_id, kind) VALUES (%s, 'features')", (cid,))
    conn.execute(LOAD_SQL, {"cid": cid, "n": n, "grid": GRIDS[cid], "cell": CELL, "lon0": LON0, "lat0": LAT0})
    conn.execute("VACUUM (ANALYZE) data.features")


def square(cx: float, cy: float, r: float = 0.004) -> dict[str, Any]:
    ring = [[cx - r, cy - r], [cx + r, cy - r], [cx + r, cy + r], [cx - r, cy + r], [cx - r, cy - r]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(fid: str, geometry: dict[str, Any], k: int) -> dict[str, Any]:
    return {"type": "Feature", "id": fid, "geometry": geometry,
            "properties": {"crop": "wheat", "ph": 6.5, "farmer": f"farmer-{k % 500}", "area_ha": 50,
                           "datetime": "2024-06-01T00:00:00Z"}}


def interior(n: int, grid: int, rng: random.Random) -> tuple[str, float, float]:
    """A feature id away from the extent's edges (not in the first or last row or column), its cell's centre."""
    col, row = rng.randrange(1, grid - 1), rng.randrange(1, n // grid - 1)
    i = row * grid + col
    return f"p{i}", LON0 + col * CELL + CELL / 2, LAT0 + row * CELL + CELL / 2


def ops(client: httpx.Client, cid: str, n: int, k: int, rng: random.Random) -> dict[str, Callable[[], None]]:
    """The five writes of round k on one collection, in the order they run."""
    items = f"/collections/{cid}/items"
    grid = GRIDS[cid]
    new_id, (fid, cx, cy), (pid, _, _) = f"w{k}", interior(n, grid, rng), interior(n, grid, rng)
    edge = "p0"   # the south-west corner cell: its polygon touches the extent's west and south edges
    ex, ey = LON0 + CELL / 2, LAT0 + CELL / 2

    def check(r: httpx.Response) -> None:
        if r.status_code >= 300:
            raise RuntimeError(f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}")

    def edge_put() -> None:
        for shift in (-0.004, 0.0):   # out by 0.004 degree (the extent grows), then back (it shrinks)
            check(client.put(f"{items}/{edge}", json=feature(edge, square(ex + shift, ey), k), headers=AUTH))

    return {
        "POST": lambda: check(client.post(items, json=feature(new_id, square(cx, cy, 0.002), k), headers=AUTH)),
        "PUT": lambda: check(client.put(f"{items}/{fid}", json=feature(fid, square(cx, cy), k), headers=AUTH)),
        "PATCH": lambda: check(client.patch(f"{items}/{pid}", json={"properties": {"ph": 5 + k / 10}},
                                            headers=AUTH)),
        "DELETE": lambda: check(client.delete(f"{items}/{new_id}", headers=AUTH)),
        "PUT edge": edge_put,
    }


def run(base_url: str) -> dict[str, dict[str, list[float]]]:
    """Milliseconds of every write: {collection: {op: [ms, ...]}} (PUT edge: per PUT, two PUTs a round)."""
    times: dict[str, dict[str, list[float]]] = {cid: {op: [] for op in OPS} for cid in SIZES}
    rng = random.Random(7)
    with httpx.Client(base_url=base_url, timeout=120) as client:
        for k in range(-2, ROUNDS):   # two rounds to warm up (plans, caches), not counted
            for cid, n in SIZES.items():
                for op, fn in ops(client, cid, n, k + 1000 if k < 0 else k, rng).items():
                    t0 = time.perf_counter()
                    fn()
                    ms = (time.perf_counter() - t0) * 1000 / (2 if op == "PUT edge" else 1)
                    if k >= 0:
                        times[cid][op].append(ms)
    return times


def report(times: dict[str, dict[str, list[float]]]) -> None:
    big, small = SIZES
    print(f"\nSingle-feature writes over HTTP, {ROUNDS} of each per collection, median (p90) ms")
    print(f"{'write':<10} {f'{SIZES[big]:,} features':>22} {f'{SIZES[small]:,} features':>22} {'big/small':>10}")
    for op in OPS:
        b, s = times[big][op], times[small][op]
        mb, ms = statistics.median(b), statistics.median(s)
        pb, ps = statistics.quantiles(b, n=10)[-1], statistics.quantiles(s, n=10)[-1]
        print(f"{op:<10} {f'{mb:.1f} ({pb:.1f})':>22} {f'{ms:.1f} ({ps:.1f})':>22} {mb / ms:>9.2f}x", flush=True)


def main() -> int:
    migrate(DSN)
    with psycopg.connect(DSN, autocommit=True) as conn:
        for cid, n in SIZES.items():
            load(conn, cid, n)
    with server(sys.executable, "api_gateway.app:app", {"DATABASE_URL": DSN, "STAPI_WRITE_TOKEN": TOKEN},
                "/healthz") as url:
        report(run(url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
