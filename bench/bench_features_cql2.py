"""Feature benchmark: the upload CLI's ingest rate, and CQL2 feature queries against tipg's /items.

1. Writes 100,000 synthetic field polygons (five vertices each; properties crop, farmer, ph, area, datetime) as a
   GeoJSON file and as a GeoPackage under .local/bench/, and times `scripts/upload_features.py` on each
   (features/s as the CLI prints it; the GeoJSON upload is repeated with --force, the median is reported).
2. Serves the same rows from our gateway (/collections/bench-features-cql2/items) and from tipg (from PyPI, in its
   own venv, through the view bench.features_cql2 that exposes the properties as columns), one uvicorn process
   each, same database, same run, and times each query (requests taking turns, ROUNDS rounds): medians, p95,
   the ratio, and whether numberMatched/numberReturned agree.

Prints tables; nothing is asserted. Usage: DATABASE_URL=postgresql://... python bench/bench_features_cql2.py
(`make bench` sets DATABASE_URL).
"""

from __future__ import annotations

import json
import os
import random
import resource
import sqlite3
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_mvt import server, tipg_python  # noqa: E402  (the vector tile bench's tipg venv and server helpers)

from scripts.migrate import migrate  # noqa: E402

DSN = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5439/stapi")
CID = "bench-features-cql2"
N = int(os.environ.get("BENCH_FEATURES", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "25"))
INGEST_RUNS = 3
OUT = ROOT / ".local" / "bench"
CROPS = ["rice", "cotton", "maize", "wheat", "chilli"]
COLS, CELL, LON0, LAT0 = 400, 0.01, 77.0, 16.0    # 400 x 250 cells of 0.01 degrees over Telangana
VIEW_SQL = """
CREATE SCHEMA IF NOT EXISTS bench;
CREATE OR REPLACE VIEW bench.features_cql2 AS
SELECT id, geom, datetime, properties ->> 'crop' AS crop, properties ->> 'farmer' AS farmer,
       (properties ->> 'ph')::double precision AS ph, (properties ->> 'area')::double precision AS area
FROM data.features WHERE collection_id = 'bench-features-cql2';
GRANT USAGE ON SCHEMA bench TO PUBLIC;
GRANT SELECT ON bench.features_cql2 TO PUBLIC;
"""
QUERIES: list[tuple[str, dict[str, str]]] = [
    ("attribute", {"filter": "crop = 'rice' AND ph > 6.5"}),
    ("in + between", {"filter": "crop IN ('maize', 'cotton') AND ph BETWEEN 6 AND 7"}),
    ("s_intersects", {"filter": "S_INTERSECTS(geom, POLYGON((78 17, 78.3 17, 78.3 17.3, 78 17.3, 78 17)))"}),
    ("bbox", {"bbox": "78.5,17.5,78.7,17.7"}),
    ("bbox + attribute", {"bbox": "78,16.5,79,17.5", "filter": "farmer = 'farmer-42' OR area > 4.9"}),
    ("no filter", {}),
]


def fields() -> list[tuple[shapely.Geometry, dict[str, Any]]]:
    """N five-vertex polygons (slightly irregular quadrilaterals), seeded: every run is the same."""
    rnd = random.Random(42)
    out = []
    for i in range(N):
        x, y = LON0 + (i % COLS) * CELL, LAT0 + (i // COLS) * CELL
        d = [rnd.uniform(0.0005, 0.002) for _ in range(4)]
        ring = [(x + d[0], y + d[1]), (x + CELL - d[2], y + d[0]), (x + CELL - d[3], y + CELL - d[2]),
                (x + d[1], y + CELL - d[3])]
        props = {"crop": CROPS[rnd.randrange(5)], "farmer": f"farmer-{rnd.randrange(1000)}",
                 "ph": round(rnd.uniform(4.5, 8.5), 2), "area": round(rnd.uniform(0.2, 5.0), 3),
                 "datetime": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T06:00:00Z"}
        out.append((shapely.Polygon(ring), props))
    return out


def write_geojson(path: Path, rows: list[tuple[shapely.Geometry, dict[str, Any]]]) -> Path:
    feats = [{"type": "Feature", "id": f"f{i}", "properties": p,
              "geometry": {"type": "Polygon", "coordinates": [[list(c) for c in g.exterior.coords]]}}
             for i, (g, p) in enumerate(rows)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def write_gpkg(path: Path, rows: list[tuple[shapely.Geometry, dict[str, Any]]]) -> Path:
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT, srs_id INTEGER PRIMARY KEY, organization TEXT,
            organization_coordsys_id INTEGER, definition TEXT, description TEXT);
        CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT, identifier TEXT, srs_id INTEGER);
        CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT, geometry_type_name TEXT,
            srs_id INTEGER, z INTEGER, m INTEGER);
        INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84', 4326, 'EPSG', 4326, '', NULL);
        INSERT INTO gpkg_contents VALUES ('fields', 'features', 'fields', 4326);
        INSERT INTO gpkg_geometry_columns VALUES ('fields', 'geom', 'POLYGON', 4326, 0, 0);
        CREATE TABLE fields (fid INTEGER PRIMARY KEY, geom BLOB, crop TEXT, farmer TEXT, ph REAL, area REAL,
            datetime TEXT);
    """)
    header = b"GP\x00\x01" + struct.pack("<i", 4326)   # little endian, no envelope
    wkbs = shapely.to_wkb([g for g, _ in rows])
    conn.executemany("INSERT INTO fields VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(i, header + w, p["crop"], p["farmer"], p["ph"], p["area"], p["datetime"])
                      for i, (w, (_, p)) in enumerate(zip(wkbs, rows, strict=True))])
    conn.commit()
    conn.close()
    return path


def server_cpu_seconds() -> float | None:
    """CPU seconds of the database's exited backends (the postmaster's reaped children), when it runs here."""
    try:
        with psycopg.connect(DSN, autocommit=True) as conn:
            data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        pid = int((Path(data_dir) / "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    except (OSError, psycopg.Error, ValueError, IndexError):
        return None


def server_cpu_seconds_after(before: float | None, timeout: float = 3.0) -> float | None:
    """server_cpu_seconds() once the upload's backend has been reaped: it exits after the CLI does, so an
    immediate reading can miss it (the counter has not moved yet; that made the rate a division by zero)."""
    deadline = time.monotonic() + timeout
    now = server_cpu_seconds()
    while before is not None and now is not None and now - before < 0.1 and time.monotonic() < deadline:
        time.sleep(0.05)
        now = server_cpu_seconds()
    return now


def upload(path: Path, *args: str) -> dict[str, Any]:
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "upload_features.py"), str(path),
                          "--collection-id", CID, "--force", "--quiet", "--json", *args],
                         env={**os.environ, "DATABASE_URL": DSN}, capture_output=True, text=True, check=False)
    if run.returncode:
        raise RuntimeError(run.stderr)
    return dict(json.loads(run.stdout))


def bench_ingest() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"writing {N:,} polygons as GeoJSON and GeoPackage under {OUT} ...", flush=True)
    rows = fields()
    geojson, gpkg = write_geojson(OUT / "features_cql2.geojson", rows), write_gpkg(OUT / "features_cql2.gpkg", rows)
    print(f"\nIngest with scripts/upload_features.py ({N:,} five-vertex polygons, 5 properties, one transaction)")
    print("(db CPU: CPU seconds of the upload's database backend; client CPU: the CLI process; on a busy machine\n"
          " the wall time is their sum stretched by the load, and features per db CPU second is what the database\n"
          " alone sustains)")
    print(f"{'source':<10} {'MB':>6} {'seconds':>8} {'features/s':>11} {'load avg':>9} {'db CPU s':>9} "
          f"{'client CPU s':>12} {'features/db CPU s':>18}")
    for path, label, runs in ((gpkg, "GeoPackage", 1), (geojson, "GeoJSON", INGEST_RUNS)):
        results = []
        for _ in range(runs):
            load, db0, cl0 = os.getloadavg()[0], server_cpu_seconds(), _children_cpu()
            s = upload(path)
            db1, client = server_cpu_seconds_after(db0), _children_cpu() - cl0
            db = db1 - db0 if db0 is not None and db1 is not None and db1 > db0 else float("nan")
            results.append(s)
            print(f"{label:<10} {path.stat().st_size / 1e6:>6.1f} {s['seconds']:>8.2f} "
                  f"{s['features_per_second']:>11,} {load:>9.1f} {db:>9.2f} {client:>12.2f} "
                  f"{s['features'] / db:>18,.0f}", flush=True)
    rates = [r["features_per_second"] for r in results]
    print(f"GeoJSON median {statistics.median(rates):,.0f} features/s, best {max(rates):,} features/s")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def count(body: dict[str, Any]) -> tuple[int | None, int]:
    return body.get("numberMatched"), len(body["features"])


def timed(client: httpx.Client, url: str) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    r = client.get(url)
    ms = (time.perf_counter() - t0) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"{url}: {r.status_code} {r.text[:500]}")
    return ms, dict(r.json())


def bench_queries() -> None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(VIEW_SQL)
        # the ingest runs just replaced 100,000 rows several times: vacuum now, so that autovacuum does not
        # run in the middle of the timing (it slowed both servers' queries 2 to 3 times)
        conn.execute("VACUUM (ANALYZE) data.features")
    tipg_env = {"DATABASE_URL": DSN, "TIPG_DB_SCHEMAS": '["bench"]', "TIPG_DB_SPATIAL_EXTENT": "false",
                "TIPG_DB_DATETIME_EXTENT": "false", "TIPG_TABLE_CONFIG__bench_features_cql2__PK": "id"}
    with server(sys.executable, "api_gateway.app:app", {"DATABASE_URL": DSN}, "/healthz") as ours, \
            server(tipg_python(), "tipg.main:app", tipg_env, "/healthz") as tipg, \
            httpx.Client(timeout=120) as client:
        urls = (f"{ours}/collections/{CID}/items", f"{tipg}/collections/bench.features_cql2/items")
        print(f"\nCQL2 feature queries, limit 100, {N:,} features, {ROUNDS} rounds taking turns (ms)")
        print(f"{'query':<18} {'matched ours/tipg':>18} {'returned':>9} {'ours med':>9} {'ours p95':>9} "
              f"{'tipg med':>9} {'tipg p95':>9} {'x tipg':>7}")
        for name, params in QUERIES:
            query = str(httpx.QueryParams({**params, "limit": "100"}))
            times: list[list[float]] = [[], []]
            bodies = [timed(client, f"{u}?{query}")[1] for u in urls]   # warm
            for _ in range(ROUNDS):
                for i, u in enumerate(urls):
                    times[i].append(timed(client, f"{u}?{query}")[0])
            (mo, ro), (mt, rt) = count(bodies[0]), count(bodies[1])
            med = [statistics.median(t) for t in times]
            p95 = [statistics.quantiles(t, n=20)[-1] for t in times]
            same = "" if (mo, ro) == (mt, rt) else "  COUNTS DIFFER"
            print(f"{name:<18} {f'{mo}/{mt}':>18} {f'{ro}/{rt}':>9} {med[0]:>9.2f} {p95[0]:>9.2f} "
                  f"{med[1]:>9.2f} {p95[1]:>9.2f} {med[1] / med[0]:>6.2f}x{same}", flush=True)


def main() -> int:
    migrate(DSN)
    bench_ingest()
    bench_queries()
    return 0


if __name__ == "__main__":
    sys.exit(main())
