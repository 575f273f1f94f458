"""Upload a file of vector features (GeoJSON, GeoPackage, Shapefile, FlatGeobuf, GeoParquet, ...) as a feature
collection the API serves.

    python scripts/upload_features.py FILE --collection-id ID [--crs EPSG:XXXX] [--force]
        [--datetime-property NAME] [--layer NAME] [--id-field NAME] [--title TEXT] [--description TEXT]

Reads a GeoJSON FeatureCollection (its legacy "crs" member, e.g. urn:ogc:def:crs:EPSG::7755, names the source
CRS; CRS84 without one), GeoJSONSeq, a GeoPackage layer (its SRS from gpkg_spatial_ref_sys), a GeoParquet file
(the CRS from its geo metadata) or any vector layer GDAL reads (Shapefile, also zipped, FlatGeobuf, KML, GML ...:
the layer's CRS, e.g. a Shapefile's .prj, as its EPSG code), streams the features into the database with COPY, and stores them through the same SQL the HTTP upload uses (libs.features_ingest):
geometries reprojected to WGS84 in PostGIS, invalid ones repaired (ST_MakeValid) or rejected by name.
Everything happens in ONE transaction: a failure leaves nothing behind, and --force replaces an existing
feature collection atomically (readers see the old features until the new ones are committed).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.feature_sources import FORMATS, Row, Source, SourceError, open_source  # noqa: E402

from api_gateway.errors import describe_db_error  # noqa: E402
from scripts.migrate import DEFAULT_DSN  # noqa: E402
CHUNK = 20_000       # features staged and stored per round (bounded temp table, a progress bar that means it)
COPY_SQL = "COPY pg_temp.features_staging (ord, id, geojson, wkb, properties) FROM STDIN"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="upload_features.py", description=__doc__.split("\n\n")[0],
        epilog="Examples:\n"
               "  python scripts/upload_features.py fields.geojson --collection-id fields-2025\n"
               "  python scripts/upload_features.py plots_7755.geojson --collection-id plots --force\n"
               "  python scripts/upload_features.py farms.gpkg --collection-id farms --layer parcels "
               "--datetime-property sowing_date\n"
               "  python scripts/upload_features.py utm.geojson --collection-id utm --crs EPSG:32644\n"
               "  python scripts/upload_features.py parcels.zip --collection-id parcels --layer parcels_2025\n"
               "  python scripts/upload_features.py fields.parquet --collection-id fiboa-fields\n\n"
               "The database is $DATABASE_URL (default: the local cluster of `make run`).\n"
               "Exit status: 0 stored, 1 refused by the database (bad feature, collection exists ...),\n"
               "2 unreadable file or bad arguments. Nothing is stored unless the status is 0.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", type=Path, help=f"the file: {FORMATS}")
    p.add_argument("--collection-id", required=True, help="collection id (letters, digits, . _ -)")
    p.add_argument("--crs", help="the source CRS (EPSG:7755, EPSG:32644, urn:ogc:def:crs:EPSG::n ...); overrides "
                                 "the file's (GeoJSON crs member, GeoPackage SRS, a Shapefile's .prj, GeoParquet "
                                 "or FlatGeobuf metadata); default CRS84")
    p.add_argument("--force", action="store_true", help="replace the collection's features if it exists "
                                                        "(atomically; without --force an existing id is an error)")
    p.add_argument("--datetime-property", metavar="NAME",
                   help="the property holding each feature's date/time (default: datetime, else start_datetime)")
    p.add_argument("--layer", metavar="NAME", help="the layer (GeoPackage, GML, KML ...) or the Shapefile in a .zip "
                                                   "(required when there are several; the error lists them)")
    p.add_argument("--id-field", metavar="NAME",
                   help="the field holding feature ids (not for GeoJSON); default: the layer's own FID column "
                        "(a GeoPackage's primary key), else a field named id, else ids are generated; "
                        "--id-field '' always generates them")
    p.add_argument("--title", help="collection title")
    p.add_argument("--description", help="collection description")
    p.add_argument("--dsn", default=os.environ.get("DATABASE_URL", DEFAULT_DSN),
                   help="database URL (default: $DATABASE_URL or the local cluster)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


@dataclass
class Upload:
    collection_id: str
    crs: str | None
    force: bool
    datetime_property: str | None
    title: str | None
    description: str | None

    def body(self) -> dict[str, Any]:
        body = {"id": self.collection_id, "title": self.title, "description": self.description}
        return {k: v for k, v in body.items() if v is not None}

    def params(self, source_crs: str | None) -> dict[str, Any]:
        params = {"crs": self.crs or source_crs, "force": self.force, "datetime_property": self.datetime_property}
        return {k: v for k, v in params.items() if v is not None}


def chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def prefetched(items: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """The items of `items`, produced by a worker thread up to `depth` ahead: the client reads and converts the
    next chunk while the database stores the previous one (both cores busy instead of taking turns). The
    worker's exception is raised here; leaving early (an error in the database) stops the worker."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> None:
        while not stop.is_set():
            try:
                return q.put(item, timeout=0.1)
            except queue.Full:
                continue

    def work() -> None:
        try:
            for item in items:
                put(("item", item))
                if stop.is_set():
                    return
            put(("end", None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            put(("error", e))

    worker = threading.Thread(target=work, name="upload-reader", daemon=True)
    worker.start()
    try:
        while (msg := q.get())[0] == "item":
            yield msg[1]
        if msg[0] == "error":
            raise msg[1]
    finally:
        stop.set()
        worker.join()


def store(conn: Any, source: Source, upload: Upload, progress: Any) -> dict[str, Any]:
    """Creates the collection and stores the source's features; the caller's transaction commits or not."""
    from psycopg.types.json import Jsonb

    params = upload.params(source.crs)
    conn.execute("SELECT api.features_collection_create(%s, %s)", (Jsonb(upload.body()), Jsonb(params)))
    srid = conn.execute("SELECT libs.crs_srid(%s)", (params.get("crs"),)).fetchone()[0]
    ord_ = 0
    with conn.cursor() as cur:
        for chunk in prefetched(chunks(source.rows, CHUNK)):
            cur.execute("SELECT libs.features_staging_create()")
            with cur.copy(COPY_SQL) as copy:
                for row in chunk:
                    ord_ += 1
                    copy.write_row((ord_, *row))
            cur.execute("SELECT libs.features_ingest(%s, %s)", (upload.collection_id, srid))
            progress(len(chunk))
    return summary(conn, upload.collection_id, ord_)


def summary(conn: Any, cid: str, n: int) -> dict[str, Any]:
    doc, source_crs = conn.execute(
        "SELECT c.content, m.source_crs FROM pgstac.collections c JOIN data.collection_meta m "
        "ON m.collection_id = c.id WHERE c.id = %s", (cid,)).fetchone()
    return {"collection_id": cid, "features": n, "source_crs": source_crs,
            "bbox": doc["extent"]["spatial"]["bbox"][0], "interval": doc["extent"]["temporal"]["interval"][0]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg
    from tqdm import tqdm

    t0 = time.perf_counter()
    source = open_source(args.file, args.layer, args.crs, args.id_field)
    upload = Upload(args.collection_id, args.crs, args.force, args.datetime_property, args.title,
                    args.description)
    with tqdm(total=source.count, unit="feature", unit_scale=True, desc=f"upload {args.collection_id}",
              disable=args.quiet) as bar, psycopg.connect(args.dsn) as conn:
        with conn.transaction():
            result = store(conn, source, upload, bar.update)
    seconds = time.perf_counter() - t0
    return {**result, "file": str(args.file), "format": source.format, "layer": source.layer,
            "seconds": round(seconds, 3), "features_per_second": round(result["features"] / seconds)}


def print_summary(s: dict[str, Any]) -> None:
    layer = f", layer {s['layer']}" if s["layer"] else ""
    print(f"uploaded {s['features']:,} features to collection {s['collection_id']} in {s['seconds']:.2f} s "
          f"({s['features_per_second']:,} features/s)")
    print(f"  source      {s['file']} ({s['format']}{layer}), CRS {s['source_crs']} -> stored in WGS84")
    print("  bbox WGS84  " + ", ".join(f"{v:.6f}" for v in s["bbox"]))
    t0, t1 = s["interval"]
    print(f"  time        {t0 or '..'} / {t1 or '..'}" + ("" if t0 or t1 else "  (no datetime property)"))
    print(f"  try         /collections/{s['collection_id']}/items")


def fail(message: str, status: int) -> int:
    print(f"upload_features: {message}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    import psycopg

    args = parser().parse_args(argv)
    try:
        result = run(args)
    except SourceError as e:
        return fail(f"{e}; nothing was stored", 2)
    except psycopg.Error as e:
        message = describe_db_error(e).replace("use force", "use --force")
        return fail(message if "nothing was stored" in message else f"{message}; nothing was stored", 1)
    if args.json:
        print(json.dumps(result))
    else:
        print_summary(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
