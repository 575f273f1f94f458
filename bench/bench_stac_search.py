"""Benchmark: STAC item ingest and /search, this gateway against stac-fastapi-pgstac, on the SAME database.

1. Generates N deterministic items (default 100,000: small polygons all over the world, 2020-2023,
   eo:cloud_cover, platform) and ingests them twice: through our bulk endpoint
   (POST /collections/{id}/bulk_items, chunks of 25,000) and with `pypgstac load items` (into a twin collection).
2. Serves the same database with our gateway and with stac-fastapi-pgstac (from PyPI, in its own virtual
   environment under .local/bench/), each one uvicorn worker on a free port.
3. Times GET /search (bbox + datetime; the same plus a CQL2 filter; limit 10 and 100), alternating the two
   servers request by request, checks that both return the same item ids, and prints medians and ratios:
   once with httpx, once with a lean keep-alive client (bench_mvt.LeanClient) that adds less of its own time.

Usage: python bench/bench_stac_search.py [--items N] [--runs R] [--keep]
       (DATABASE_URL: the database; `make bench` sets it to the local cluster)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_mvt import LeanClient, free_port  # noqa: E402  (one minimal HTTP client for both servers)

PEER_VENV = ROOT / ".local" / "bench" / "stac-fastapi-pgstac"
OURS, TWIN = "bench-stac", "bench-stac-pypgstac"
TOKEN = "bench-token"
CHUNK = 25_000
BBOX = "-20,30,40,60"
DATETIME = "2021-01-01T00:00:00Z/2021-12-31T23:59:59Z"
FILTER = "\"eo:cloud_cover\" < 30 AND platform = 'sentinel-2a'"


def make_items(n: int, collection: str) -> Iterator[dict]:
    rng = random.Random(42)
    start = 1577836800  # 2020-01-01
    for i in range(n):
        x, y = rng.uniform(-180, 179.9), rng.uniform(-80, 79.9)
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + rng.randrange(4 * 365 * 86400)))
        yield {
            "type": "Feature", "stac_version": "1.0.0", "id": f"b-{i:06d}", "collection": collection,
            "stac_extensions": ["https://stac-extensions.github.io/eo/v1.0.0/schema.json"],
            "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + 0.1, y], [x + 0.1, y + 0.1],
                                                             [x, y + 0.1], [x, y]]]},
            "bbox": [x, y, x + 0.1, y + 0.1],
            "properties": {"datetime": ts, "eo:cloud_cover": round(rng.uniform(0, 100), 1),
                           "platform": rng.choice(["sentinel-2a", "sentinel-2b", "landsat-8"]), "gsd": 10},
            "assets": {"visual": {"href": f"https://example.org/{i}/visual.tif", "type": "image/tiff",
                                  "roles": ["visual"]}},
            "links": [],
        }


def collection_doc(cid: str) -> dict:
    return {"type": "Collection", "stac_version": "1.0.0", "id": cid, "description": "benchmark items",
            "license": "CC0-1.0", "links": [],
            "extent": {"spatial": {"bbox": [[-180, -80, 180, 80]]},
                       "temporal": {"interval": [["2020-01-01T00:00:00Z", "2023-12-31T23:59:59Z"]]}}}


@contextmanager
def server(cmd: list[str], env: dict[str, str], url: str, log: Path) -> Iterator[str]:
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{cmd[0]} exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def ensure_peer() -> Path:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print("installing stac-fastapi-pgstac from PyPI into", PEER_VENV, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "stac-fastapi-pgstac", "uvicorn"], check=True)
    version = subprocess.run([str(python), "-c", "import stac_fastapi.pgstac.version as v; print(v.__version__)"],
                             capture_output=True, text=True).stdout.strip()
    print(f"peer: stac-fastapi-pgstac {version}")
    return python


def reset(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET search_path = pgstac, public")
        for cid in (OURS, TWIN):
            conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))


def ingest_ours(url: str, n: int) -> float:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=auth, timeout=600) as client:
        assert client.post("/collections", json=collection_doc(OURS)).status_code == 201
        items = list(make_items(n, OURS))
        bodies = [json.dumps({"items": items[i:i + CHUNK]}).encode() for i in range(0, n, CHUNK)]
        t0 = time.perf_counter()
        for body in bodies:
            r = client.post(f"/collections/{OURS}/bulk_items", content=body,
                            headers={"Content-Type": "application/json"})
            assert r.status_code == 200, r.text[:500]
        return time.perf_counter() - t0


def ingest_pypgstac(dsn: str, n: int) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pgstac.create_collection(%s::jsonb)", (json.dumps(collection_doc(TWIN)),))
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False) as f:
        for item in make_items(n, TWIN):
            f.write(json.dumps(item) + "\n")
    pypgstac = Path(sys.executable).parent / "pypgstac"
    t0 = time.perf_counter()
    subprocess.run([str(pypgstac), "load", "items", f.name, "--dsn", dsn, "--method", "insert"], check=True,
                   capture_output=True)
    elapsed = time.perf_counter() - t0
    os.unlink(f.name)
    return elapsed


def cases() -> list[tuple[str, dict[str, str]]]:
    base = {"collections": OURS, "bbox": BBOX, "datetime": DATETIME}
    with_filter = {**base, "filter": FILTER, "filter-lang": "cql2-text"}
    return [(f"{name}, limit {limit}", {**params, "limit": str(limit)})
            for name, params in (("bbox+datetime", base), ("bbox+datetime+CQL2", with_filter)) for limit in (10, 100)]


Fetch = Callable[[dict[str, str]], tuple[int, bytes]]


def httpx_fetch(client: httpx.Client) -> Fetch:
    def fetch(params: dict[str, str]) -> tuple[int, bytes]:
        r = client.get("/search", params=params)
        return r.status_code, r.content
    return fetch


def lean_fetch(client: LeanClient) -> Fetch:
    return lambda params: client.get("/search?" + urlencode(params))


def time_case(fetches: dict[str, Fetch], params: dict[str, str], runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in fetches}
    ids: dict[str, list[str]] = {}
    for i in range(runs + 3):
        for name, fetch in fetches.items():
            t0 = time.perf_counter()
            status, body = fetch(params)
            elapsed = time.perf_counter() - t0
            assert status == 200, f"{name}: {body[:300]!r}"
            if i >= 3:
                times[name].append(elapsed * 1000)
            ids[name] = [f["id"] for f in json.loads(body)["features"]]
    first, *others = ids.values()
    if any(other != first for other in others) or not first:
        raise SystemExit(f"result sets differ (or are empty) for {params}: { {k: v[:5] for k, v in ids.items()} }")
    return times


def print_cases(fetches: dict[str, Fetch], runs: int) -> None:
    print(f"  {'case':<28} {'ours':>8} {'stac-fastapi-pgstac':>20} {'ratio':>7}")
    for name, params in cases():
        times = time_case(fetches, params, runs)
        mo, mp = statistics.median(times["ours"]), statistics.median(times["peer"])
        print(f"  {name:<28} {mo:8.1f} {mp:20.1f} {mp / mo:6.1f}x", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark collections afterwards")
    args = parser.parse_args(argv)
    dsn = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5439/stapi")
    from scripts.migrate import migrate

    migrate(dsn)
    peer_python = ensure_peer()
    reset(dsn)
    u = urlsplit(dsn)
    logs = Path(tempfile.mkdtemp(prefix="bench-stac-"))
    ours_port, peer_port = free_port(), free_port()
    ours_env = {**os.environ, "DATABASE_URL": dsn, "STAPI_WRITE_TOKEN": TOKEN}
    peer_env = {**os.environ, "PGUSER": u.username or "postgres", "PGPASSWORD": u.password or "unused",
                "PGHOST": u.hostname or "127.0.0.1", "PGPORT": str(u.port or 5432),
                "PGDATABASE": u.path.lstrip("/"), "DB_MIN_CONN_SIZE": "1", "DB_MAX_CONN_SIZE": "10"}
    ours_cmd = [sys.executable, "-m", "uvicorn", "api_gateway.app:app", "--port", str(ours_port),
                "--log-level", "warning"]
    peer_cmd = [str(peer_python), "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory", "--port", str(peer_port),
                "--log-level", "warning"]
    try:
        with server(ours_cmd, ours_env, f"http://127.0.0.1:{ours_port}/", logs / "ours.log") as ours_url, \
                server(peer_cmd, peer_env, f"http://127.0.0.1:{peer_port}/", logs / "peer.log") as peer_url:
            print(f"\ningest {args.items:,} items", flush=True)
            t_ours = ingest_ours(ours_url, args.items)
            t_peer = ingest_pypgstac(dsn, args.items)
            print(f"  ours (HTTP bulk_items, {CHUNK:,}/request): {t_ours:7.1f} s  {args.items / t_ours:8,.0f} items/s")
            print(f"  pypgstac load items (CLI):                 {t_peer:7.1f} s  {args.items / t_peer:8,.0f} items/s")
            print(f"  ratio pypgstac/ours: {t_peer / t_ours:.2f}")
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("SELECT pgstac.delete_collection(%s)", (TWIN,))
                conn.execute("ANALYZE pgstac.items")
            print(f"\nGET /search, median of {args.runs} runs each (ms), same database, identical ids checked;"
                  "\nhttpx client (its own cost, ~0.5-0.9 ms a request, is in both columns)")
            with httpx.Client(base_url=ours_url, timeout=60) as a, httpx.Client(base_url=peer_url, timeout=60) as b:
                print_cases({"ours": httpx_fetch(a), "peer": httpx_fetch(b)}, args.runs)
            print("\nthe same with a lean keep-alive HTTP/1.1 client (bench_mvt.LeanClient, gzip accepted and inflated)")
            lean = {"ours": LeanClient(ours_url, "gzip"), "peer": LeanClient(peer_url, "gzip")}
            print_cases({name: lean_fetch(client) for name, client in lean.items()}, args.runs)
            for client in lean.values():
                client.close()
    finally:
        if not args.keep:
            reset(dsn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
