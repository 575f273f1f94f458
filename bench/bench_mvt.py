"""MVT benchmark: our vector tiles vs tipg vs the raw SQL of the same tile, 100,000 polygons, zooms 8 to 14.

One run, one database, one table (data.features): the gateway (one uvicorn process) serves
/collections/bench-mvt/tiles/WebMercatorQuad/{z}/{x}/{y}; tipg (from PyPI, in its own venv under .local/bench/tipg,
one uvicorn process) serves /collections/data.features/tiles/WebMercatorQuad/{z}/{x}/{y} of the same rows
(?collection_id=bench-mvt, the same attributes: id + the jsonb properties, buffer 64, no feature limit);
"raw SQL" is `SELECT api.features_tile(...)` over one direct psycopg connection (prepared statement, binary
result: the fastest way to get the tile from the database). Both servers are asked by the same lean HTTP/1.1
keep-alive client (`LeanClient`: one socket, a few microseconds of Python per request; httpx adds several hundred
microseconds of client CPU per request, which is not the server's latency), once without compression
(Accept-Encoding: identity) and once as a browser asks (Accept-Encoding: gzip; the time includes inflating the
answer). For every zoom: the median latency of each tile requested one after another, and throughput with
CONCURRENCY client threads (gzip accepted). Prints a table; nothing is asserted.

Usage: DATABASE_URL=postgresql://... python bench/bench_mvt.py   (`make bench` sets DATABASE_URL; BENCH_TILES,
BENCH_ROUNDS, BENCH_REQUESTS: tiles per zoom, rounds per tile, requests per throughput run)
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import mapbox_vector_tile
import morecantile
import psycopg
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.migrate import migrate

DSN = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5439/stapi")
CID = "bench-mvt"
N = 100_000
ZOOMS = range(8, 15)
TILES_PER_ZOOM = int(os.environ.get("BENCH_TILES", "15"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))   # each tile is timed this many times, one after another
CONCURRENCY = 8
THROUGHPUT_REQUESTS = int(os.environ.get("BENCH_REQUESTS", "120"))
TIPG_VERSION = "1.6.1"
TIPG_VENV = ROOT / ".local" / "bench" / "tipg"
WMQ = morecantile.tms.get("WebMercatorQuad")
# 317 x 316 cells of 0.0158 degrees (about 1.1 x 1.7 km) over 5 x 5 degrees in central Europe
GRID, CELL, LON0, LAT0 = 317, 0.0158, 8.0, 47.0

LOAD_SQL = """
INSERT INTO data.features (collection_id, id, geom, datetime, properties)
SELECT %(cid)s, 'p' || i,
       ST_MakePolygon(ST_AddPoint(line, ST_StartPoint(line))),
       timestamptz '2024-01-01' + (i %% 365) * interval '1 day',
       jsonb_build_object('crop', (ARRAY['wheat', 'maize', 'rye', 'barley', 'oat'])[1 + i %% 5],
                          'ph', round((5 + (i %% 30) / 10.0)::numeric, 1),
                          'farmer', 'farmer-' || (i %% 500), 'area_ha', 40 + i %% 60)
FROM generate_series(0, %(n)s - 1) i,
     LATERAL (SELECT %(lon0)s + (i %% %(grid)s) * %(cell)s + %(cell)s / 2 AS cx,
                     %(lat0)s + (i / %(grid)s) * %(cell)s + %(cell)s / 2 AS cy) c,
     LATERAL (SELECT ST_SetSRID(ST_MakeLine(ARRAY(
                  SELECT ST_MakePoint(c.cx + 0.006 * cos(a) * (0.8 + 0.2 * sin(7 * a + i)),
                                      c.cy + 0.006 * sin(a) * (0.8 + 0.2 * cos(5 * a + i)))
                  FROM generate_series(0, 8) k, LATERAL (SELECT 2 * pi() * k / 9 AS a) q ORDER BY k)), 4326)
              AS line) l
"""


def load(conn: psycopg.Connection) -> None:
    """The bench collection: 100,000 nine-vertex polygons with four properties (skipped when present)."""
    count = conn.execute("SELECT count(*) FROM data.features WHERE collection_id = %s", (CID,)).fetchone()
    if count and count[0] == N:
        return
    print(f"loading {N:,} polygons into collection {CID} ...", flush=True)
    conn.execute("SET search_path TO pgstac, public")
    conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))
    conn.execute("SELECT pgstac.create_collection(%s)", (Jsonb({
        "type": "Collection", "stac_version": "1.0.0", "id": CID, "description": "MVT benchmark polygons",
        "license": "CC0-1.0", "links": [],
        "extent": {"spatial": {"bbox": [[LON0, LAT0, LON0 + GRID * CELL, LAT0 + N / GRID * CELL]]},
                   "temporal": {"interval": [["2024-01-01T00:00:00Z", "2024-12-31T00:00:00Z"]]}}}),))
    conn.execute("INSERT INTO data.collection_meta (collection_id, kind) VALUES (%s, 'features')", (CID,))
    conn.execute(LOAD_SQL, {"cid": CID, "n": N, "grid": GRID, "cell": CELL, "lon0": LON0, "lat0": LAT0})
    conn.execute("ANALYZE data.features")


def sample_tiles(z: int) -> list[tuple[int, int, int]]:
    """Up to TILES_PER_ZOOM tiles of zoom z inside the data's extent (seeded, so every run is the same)."""
    west, south = LON0 + CELL, LAT0 + CELL
    east, north = LON0 + (GRID - 1) * CELL, LAT0 + (N // GRID - 1) * CELL
    tiles = [(t.z, t.x, t.y) for t in WMQ.tiles(west, south, east, north, [z])]
    return random.Random(z).sample(tiles, min(TILES_PER_ZOOM, len(tiles)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tipg_python() -> Path:
    python = TIPG_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing tipg=={TIPG_VERSION} into {TIPG_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(TIPG_VENV / "bin" / "pip"), "install", "-q", f"tipg=={TIPG_VERSION}", "uvicorn"],
                       check=True)
    return python


class LeanClient:
    """A minimal HTTP/1.1 keep-alive GET client over one socket (Content-Length or chunked answers; gzip inflated).

    The same client asks both servers, so their latencies compare without an HTTP library's own cost.
    """

    def __init__(self, base_url: str, accept_encoding: str = "identity"):
        url = urlsplit(base_url)
        self.address = (url.hostname or "127.0.0.1", url.port or 80)
        self.request_head = f"Host: {url.netloc}\r\nAccept-Encoding: {accept_encoding}\r\n\r\n"
        self.sock: socket.socket | None = None
        self.buffer = b""

    def get(self, path: str) -> tuple[int, bytes]:
        """(status, body) of a GET; a connection the server closed meanwhile is opened again once."""
        for attempt in (0, 1):
            if self.sock is None:
                self.sock = socket.create_connection(self.address)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.buffer = b""
            try:
                self.sock.sendall(f"GET {path} HTTP/1.1\r\n{self.request_head}".encode())
                return self._answer()
            except ConnectionError:
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _answer(self) -> tuple[int, bytes]:
        lines = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in lines[1:])}
        if headers.get("transfer-encoding") == "chunked":
            parts = []
            while size := int(self._until(b"\r\n"), 16):
                parts.append(self._exactly(size + 2)[:-2])
            self._until(b"\r\n")
            body = b"".join(parts)
        else:
            body = self._exactly(int(headers.get("content-length", "0")))
        if headers.get("connection") == "close":
            self.close()
        if headers.get("content-encoding") == "gzip":
            body = zlib.decompress(body, 31)
        return int(lines[0].split(" ", 2)[1]), body

    def _receive(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def _until(self, marker: bytes) -> bytes:
        while (end := self.buffer.find(marker)) < 0:
            self._receive()
        out, self.buffer = self.buffer[:end], self.buffer[end + len(marker):]
        return out

    def _exactly(self, n: int) -> bytes:
        parts, have = [self.buffer], len(self.buffer)
        while have < n:
            assert self.sock is not None
            chunk = self.sock.recv(max(n - have, 1 << 16))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        self.buffer = data[n:]
        return data[:n]

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


@contextmanager
def server(python: Path | str, app: str, env: dict[str, str], health: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([str(python), "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + health, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not start: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def medians_ms(fns: list[Callable[[tuple[int, int, int]], bytes]],
               tiles: list[tuple[int, int, int]]) -> tuple[list[float], list[int], list[float]]:
    """Median latency (ms) of each way of getting a tile, its mean tile size (bytes), and the median of its
    difference from the first way (raw SQL) on the same tile in the same round (the issue's "raw SQL time of the
    same tile + x ms"; steadier than the difference of two medians, which differ in the tiles they fall on).

    The ways take turns on every tile and round, so a busy machine slows them alike, in an order shuffled anew
    every round (seeded), so none always comes right after another (a request right after one to the same
    server finds that server's caches warmer).
    """
    times: list[list[float]] = [[] for _ in fns]
    sizes: list[list[int]] = [[] for _ in fns]
    order, rng = list(range(len(fns))), random.Random(len(tiles))
    for tile in tiles:
        for fn in fns:
            fn(tile)   # warm: plans, caches
        for _ in range(ROUNDS):
            rng.shuffle(order)
            for i in order:
                fn = fns[i]
                t0 = time.perf_counter()
                body = fn(tile)
                times[i].append((time.perf_counter() - t0) * 1000)
                sizes[i].append(len(body))
    over_first = [statistics.median(a - b for a, b in zip(t, times[0], strict=True)) for t in times]
    return [statistics.median(t) for t in times], [int(statistics.mean(s)) for s in sizes], over_first


def throughput(base_url: str, path_for: Callable[[tuple[int, int, int]], str],
               tiles: list[tuple[int, int, int]]) -> float:
    """Tiles per second with CONCURRENCY threads, each with its own keep-alive client accepting gzip."""
    jobs = [tiles[i % len(tiles)] for i in range(THROUGHPUT_REQUESTS)]

    def worker(k: int) -> None:   # each thread: its own client and every CONCURRENCY-th job
        client = LeanClient(base_url, "gzip")
        for tile in jobs[k::CONCURRENCY]:
            status, _ = client.get(path_for(tile))
            if status not in (200, 204):
                raise RuntimeError(f"{path_for(tile)}: HTTP {status}")
        client.close()

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        t0 = time.perf_counter()
        list(pool.map(worker, range(CONCURRENCY)))
        elapsed = time.perf_counter() - t0
    return len(jobs) / elapsed


def feature_count(body: bytes) -> int:
    return sum(len(layer["features"]) for layer in mapbox_vector_tile.decode(body).values()) if body else 0


def main() -> int:
    migrate(DSN)
    with psycopg.connect(DSN, autocommit=True) as conn:
        load(conn)
    env = {"DATABASE_URL": DSN, "STAPI_POOL_MAX": "20"}
    tipg_env = {"DATABASE_URL": DSN, "TIPG_DB_SCHEMAS": '["data"]', "TIPG_DB_TABLES": '["data.features"]',
                "TIPG_MAX_FEATURES_PER_TILE": "1000000", "TIPG_TILE_BUFFER": "64", "TIPG_DB_SPATIAL_EXTENT": "false",
                "TIPG_DB_DATETIME_EXTENT": "false", "TIPG_DB_MAX_CONN_SIZE": "20"}
    ours_tile = f"/collections/{CID}/tiles/WebMercatorQuad/{{}}/{{}}/{{}}"
    tipg_tile = (f"/collections/data.features/tiles/WebMercatorQuad/{{}}/{{}}/{{}}"
                 f"?collection_id={CID}&geom-column=geom&properties=id,properties")
    rows = []
    with server(sys.executable, "api_gateway.app:app", env, "/healthz") as ours, \
            server(tipg_python(), "tipg.main:app", tipg_env, "/healthz") as tipg, \
            psycopg.connect(DSN, autocommit=True) as sql:
        clients = {(name, enc): LeanClient(url, enc) for name, url in (("ours", ours), ("tipg", tipg))
                   for enc in ("identity", "gzip")}

        def raw(t: tuple[int, int, int]) -> bytes:
            row = sql.execute("SELECT api.features_tile(%s, %s, %s, %s, '{}'::jsonb)", (CID, *t),
                              prepare=True, binary=True).fetchone()
            return bytes(row[0]) if row else b""

        def getter(name: str, enc: str) -> Callable[[tuple[int, int, int]], bytes]:
            client, path = clients[(name, enc)], ours_tile if name == "ours" else tipg_tile

            def get(t: tuple[int, int, int]) -> bytes:
                status, body = client.get(path.format(*t))
                if status not in (200, 204):
                    raise RuntimeError(f"{name} {path.format(*t)}: HTTP {status}")
                return body
            return get

        ways = [raw] + [getter(name, enc) for name in ("ours", "tipg") for enc in ("identity", "gzip")]
        for z in ZOOMS:
            tiles = sample_tiles(z)
            counts = (feature_count(ways[1](tiles[0])), feature_count(ways[3](tiles[0])))
            times, sizes, over_raw = medians_ms(ways, tiles)
            ours_tps, tipg_tps = 0.0, 0.0
            for _ in range(2):   # alternate the two servers, twice, so both see the same machine
                ours_tps += throughput(ours, lambda t: ours_tile.format(*t), tiles) / 2
                tipg_tps += throughput(tipg, lambda t: tipg_tile.format(*t), tiles) / 2
            rows.append((z, len(tiles), counts, sizes[1], sizes[3], times, over_raw[1:3], ours_tps, tipg_tps))
            print_row(rows[-1])
        for client in clients.values():
            client.close()
    return 0


HEADER = (f"{'z':>3} {'tiles':>5} {'features ours/tipg':>18} {'KB ours':>8} {'KB tipg':>8} {'raw SQL':>8} "
          f"{'ours id':>8} {'ours gz':>8} {'tipg id':>8} {'tipg gz':>8} {'id-raw':>7} {'gz-raw':>7} "
          f"{'ours tile/s':>11} {'tipg tile/s':>11} {'x tipg':>7}")


def print_row(row: tuple) -> None:
    z, n, (fo, ft), size, tipg_size, (raw_ms, ours_id, ours_gz, tipg_id, tipg_gz), (id_raw, gz_raw), ours_tps, \
        tipg_tps = row
    if z == ZOOMS[0]:
        print(f"\nMVT, {N:,} polygons, median ms of {ROUNDS} rounds (id: Accept-Encoding identity, gz: gzip, "
              f"inflated by the client; id-raw, gz-raw: median of ours - raw SQL on the same tile and round), "
              f"throughput with {CONCURRENCY} threads accepting gzip\n{HEADER}")
    print(f"{z:>3} {n:>5} {f'{fo}/{ft}':>18} {size / 1024:>8.1f} {tipg_size / 1024:>8.1f} {raw_ms:>8.2f} "
          f"{ours_id:>8.2f} {ours_gz:>8.2f} {tipg_id:>8.2f} {tipg_gz:>8.2f} {id_raw:>+7.2f} "
          f"{gz_raw:>+7.2f} {ours_tps:>11.0f} {tipg_tps:>11.0f} {ours_tps / tipg_tps:>6.2f}x", flush=True)


if __name__ == "__main__":
    sys.exit(main())
