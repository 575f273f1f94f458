"""Upload a local Zarr store (v2 or v3) or GeoTIFF / COG files as a DataCube collection the API serves.

    python scripts/upload_local_zarr.py PATH [PATH ...] --collection-id ID [--layers B04,B08 | --all-layers]
        [--datetime 2024-05-01T10:30:00Z[,...]] [--use-v2] [--force] [--rebuild-rgb-composites] [--crs EPSG:32644]

Zarr: dims (time, y, x), (time, band, y, x) or lat/lon grids; the CRS from CF grid_mapping / spatial_ref / crs
attributes (or --crs).
GeoTIFF / COG / JP2 (any raster GDAL reads; one file, or several: one per band and/or one per date): bands become
layers named by band description, else colour interpretation (red, green, blue: an RGB photo, with an RGB
composite stretched 0..255 for uint8), else the Sentinel-2 band in a single-band file's name (B04.tif,
S2B_..._B08.tif -> B04, B08), else the file name without its date when some time step has several files, else
band1..n. Alpha band, internal mask and nodata become transparent; scale and offset tags are applied. Time of a
file: --datetime (one for every file, or one per file, RFC 3339), else its TIFFTAG_DATETIME, else a date in its
name (2024-05-01, 20240501). Files on different grids are reprojected onto
one EPSG:3857 grid at the finest resolution over the union of their extents.
Either way: reprojects to EPSG:3857 (exact nearest neighbour) under $STAPI_DATA_DIR/cubes/ID/; derives NDVI, NDMI,
NDRE, GNDVI, EVI and the RGB, CIR, AGRICULTURE, SWIR composites when Sentinel-2 bands are present; registers the
STAC collection (datacube extension) and one STAC item per time slice, in one transaction.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from raster_worker.ingest import IngestError, Options, db_check, db_register, ingest  # noqa: E402
from raster_worker.source import SourceError  # noqa: E402
from api_gateway.errors import describe_db_error  # noqa: E402
from scripts.migrate import DEFAULT_DSN  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="upload_local_zarr.py", description="\n\n".join(__doc__.split("\n\n")[0::2]),
        epilog="Examples:\n  python scripts/upload_local_zarr.py s2.zarr --collection-id fields-2025\n"
               "  python scripts/upload_local_zarr.py cube.zarr --collection-id chl --layers conc_chl,kd489\n"
               "  python scripts/upload_local_zarr.py s2.zarr --collection-id fields-2025 --force "
               "--rebuild-rgb-composites\n"
               "  python scripts/upload_local_zarr.py ortho_2025-06-12.tif --collection-id farm-drone\n"
               "  python scripts/upload_local_zarr.py B04.tif B08.tif B11.tif --collection-id s2-tile "
               "--datetime 2025-06-12T05:36:29Z",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="PATH", nargs="+",
                   help="the Zarr store to upload (a folder, v2 or v3; an http(s) URL works too), or one or more "
                        "GeoTIFF / COG / JP2 files (.tif, or any raster GDAL reads)")
    p.add_argument("--collection-id", required=True, help="collection id (letters, digits, . _ -)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--layers", help="comma-separated variables to upload (default: the Sentinel-2 bands "
                                        "when present, else every variable on the grid)")
    which.add_argument("--all-layers", action="store_true", help="upload every numeric variable on the grid")
    p.add_argument("--use-v2", action="store_true", help="write the served store as Zarr v2 (default v3)")
    p.add_argument("--force", action="store_true", help="replace an existing cube of this collection "
                                                        "atomically (the old one serves until the switch)")
    p.add_argument("--rebuild-rgb-composites", action="store_true",
                   help="stretch the composites (RGB, CIR, AGRICULTURE, SWIR) to the data's 98th percentile "
                        "instead of the fixed reflectance range")
    p.add_argument("--crs", help="the store's CRS when it carries none, e.g. EPSG:32644 or EPSG:7755 (for GeoTIFFs: "
                                 "the CRS of every file)")
    p.add_argument("--datetime", action="append",
                   help="GeoTIFF sources: the time step, RFC 3339 (2024-05-01T10:30:00Z), one for every file or "
                        "a comma-separated list with one per file (default: each file's TIFFTAG_DATETIME, else a "
                        "date in its name)")
    p.add_argument("--title", help="collection title")
    p.add_argument("--description", help="collection description")
    p.add_argument("--dsn", default=os.environ.get("DATABASE_URL", DEFAULT_DSN),
                   help="database URL (default: $DATABASE_URL or the local cluster)")
    p.add_argument("--data-dir", default=os.environ.get("STAPI_DATA_DIR", str(ROOT / ".local" / "data")),
                   help="where served stores live (default: $STAPI_DATA_DIR or .local/data)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def options(args: argparse.Namespace) -> Options:
    layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else None
    return Options(collection_id=args.collection_id, data_dir=Path(args.data_dir), layers=layers,
                   all_layers=args.all_layers, use_v2=args.use_v2, force=args.force,
                   rebuild_rgb_composites=args.rebuild_rgb_composites, crs=args.crs, title=args.title,
                   description=args.description, datetime=datetimes(args.datetime))


def datetimes(values: list[str] | None) -> list[str] | None:
    out = [s.strip() for v in values or [] for s in v.split(",") if s.strip()]
    return out or None


def source_path(paths: list[str]) -> str | list[str]:
    return paths[0] if len(paths) == 1 else paths


def run(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg
    from tqdm import tqdm

    bar = tqdm(unit="slice", desc=f"upload {args.collection_id}", disable=args.quiet)
    try:
        with psycopg.connect(args.dsn) as conn:
            return ingest(source_path(args.path), options(args), lambda params: db_register(conn, args.collection_id, params),
                          progress=bar.update, total=lambda n: setattr(bar, "total", n),
                          check=lambda: db_check(conn, args.collection_id, args.force))
    finally:
        bar.close()


def print_summary(s: dict[str, Any]) -> None:
    print(f"uploaded {s['collection_id']} ({s['kind']}) in {s['seconds']} s")
    print(f"  source      {s['source']} ({s['native_crs']})")
    print(f"  served      {s['store_path']}  shape (time, y, x) {tuple(s['shape'])} in EPSG:3857")
    print(f"  bbox WGS84  {s['bbox']}")
    print(f"  time        {s['times'][0]} .. {s['times'][1]}  ({s['items']} STAC items)")
    for kind, names in s["layers_by_kind"].items():
        print(f"  {kind:<11} {', '.join(names)}")
    if s.get("previous_store_path"):
        print(f"  replaced    {s['previous_store_path']}")
    for path in s.get("removed_versions") or []:
        print(f"  removed     {path}")
    print(f"  try         /collections/{s['collection_id']}/capabilities")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = run(args)
    except (IngestError, SourceError) as e:
        print(f"upload_local_zarr: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # database refusals (e.g. the collection exists without --force) read well as-is
        import psycopg

        if isinstance(e, psycopg.Error):
            print(f"upload_local_zarr: {describe_db_error(e)}", file=sys.stderr)
            return 1
        raise
    if args.json:
        print(json.dumps(result))
    else:
        print_summary(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
