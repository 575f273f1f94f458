"""Feature upload rate per file format: scripts/upload_features.py on the same 100,000 polygons in each format.

Writes bench_features_cql2's 100,000 five-vertex field polygons (properties crop, farmer, ph, area, datetime;
seeded, so every run is the same) under .local/bench/formats/ as GeoJSON, GeoJSONSeq, GeoPackage, Shapefile,
a zipped Shapefile, FlatGeobuf and GeoParquet (pyogrio and pyarrow write them), then uploads each with --force
into one collection and prints the CLI's features/s, the CPU seconds of the client and of the upload's database
backend (when the database runs on this machine), and the load average: on a busy machine the wall time is
stretched by the load, the CPU seconds much less.

Prints a table; nothing is asserted. Usage: DATABASE_URL=postgresql://... python bench/bench_upload_formats.py
(`make bench` sets DATABASE_URL; BENCH_FEATURES changes the count).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_features_cql2 import (N, fields, server_cpu_seconds, server_cpu_seconds_after,  # noqa: E402
                                 write_geojson, write_gpkg)      # the same polygons; the database's CPU time

from scripts.migrate import migrate  # noqa: E402

DSN = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5439/stapi")
CID = "bench-upload-formats"
OUT = ROOT / ".local" / "bench" / "formats"


def table(rows: list[tuple[shapely.Geometry, dict[str, Any]]]) -> pa.Table:
    columns = {k: [p[k] for _, p in rows] for k in rows[0][1]}
    return pa.table({**columns, "geometry": pa.array(shapely.to_wkb([g for g, _ in rows]), pa.binary())})


def write_files(rows: list[tuple[shapely.Geometry, dict[str, Any]]]) -> list[tuple[str, Path]]:
    OUT.mkdir(parents=True, exist_ok=True)
    t = table(rows)
    files = [("GeoJSON", write_geojson(OUT / "fields.geojson", rows)),
             ("GeoPackage", write_gpkg(OUT / "fields.gpkg", rows))]
    for label, name, driver in [("GeoJSONSeq", "fields.geojsonl", "GeoJSONSeq"),
                                ("Shapefile", "fields.shp", "ESRI Shapefile"),
                                ("FlatGeobuf", "fields.fgb", "FlatGeobuf")]:
        (OUT / name).unlink(missing_ok=True)
        pyogrio.write_arrow(t, OUT / name, driver=driver, crs="EPSG:4326", geometry_name="geometry",
                            geometry_type="Polygon")
        files.append((label, OUT / name))
    with zipfile.ZipFile(OUT / "fields.zip", "w") as z:
        for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            if (OUT / f"fields{suffix}").exists():
                z.write(OUT / f"fields{suffix}", f"fields{suffix}")
    geo = {"version": "1.1.0", "primary_column": "geometry",
           "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Polygon"]}}}
    pq.write_table(t.replace_schema_metadata({"geo": json.dumps(geo)}), OUT / "fields.parquet")
    return files + [("Shapefile .zip", OUT / "fields.zip"), ("GeoParquet", OUT / "fields.parquet")]


def upload(path: Path) -> dict[str, Any]:
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "upload_features.py"), str(path),
                          "--collection-id", CID, "--force", "--quiet", "--json"],
                         env={**os.environ, "DATABASE_URL": DSN}, capture_output=True, text=True, check=False)
    if run.returncode:
        raise RuntimeError(run.stderr)
    return dict(json.loads(run.stdout))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    migrate(DSN)
    print(f"writing {N:,} polygons in each format under {OUT} ...", flush=True)
    files = write_files(fields())
    print(f"\nscripts/upload_features.py --force, {N:,} five-vertex polygons, 5 properties, one transaction each")
    print(f"{'format':<15} {'MB':>6} {'seconds':>8} {'features/s':>11} {'client CPU s':>12} {'db CPU s':>9} "
          f"{'load avg':>9}")
    for label, path in files:
        size = sum(p.stat().st_size for p in path.parent.glob(path.stem + ".*")) if path.suffix == ".shp" \
            else path.stat().st_size
        load, cpu0, db0 = os.getloadavg()[0], children_cpu(), server_cpu_seconds()
        s = upload(path)
        client, db1 = children_cpu() - cpu0, server_cpu_seconds_after(db0)
        db = db1 - db0 if db0 is not None and db1 is not None else float("nan")
        print(f"{label:<15} {size / 1e6:>6.1f} {s['seconds']:>8.2f} {s['features_per_second']:>11,} "
              f"{client:>12.2f} {db:>9.2f} {load:>9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
