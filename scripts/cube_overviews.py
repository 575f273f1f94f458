"""Build the overviews of a DataCube uploaded before overviews existed, and record them.

    python scripts/cube_overviews.py --collection-id ID [--dsn URL] [--data-dir DIR]

Reads the registered store (`api.raster_source`), writes the levels into it (`raster_worker.overviews.build`:
groups overviews/2, 4, ... next to the full-resolution arrays, which stay as they are), then records them with
`api.cube_levels_set`; the raster worker hears the change (NOTIFY stapi_cubes) and low-zoom tiles read the
levels from then on. Holds the collection's upload lock meanwhile. A cube that already has levels, or is too
small for any (under 512 px), is left alone.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from raster_worker import overviews, versions  # noqa: E402
from raster_worker.ingest import STRIPE, IngestError, check_id  # noqa: E402
from scripts.migrate import DEFAULT_DSN  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cube_overviews.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--collection-id", required=True, help="the cube's collection id")
    p.add_argument("--dsn", default=os.environ.get("DATABASE_URL", DEFAULT_DSN),
                   help="database URL (default: $DATABASE_URL or the local cluster)")
    p.add_argument("--data-dir", default=os.environ.get("STAPI_DATA_DIR", str(ROOT / ".local" / "data")),
                   help="where served stores live (default: $STAPI_DATA_DIR or .local/data; for the lock)")
    return p


def build(conn: Any, collection_id: str) -> dict[str, Any]:
    from psycopg.types.json import Jsonb

    source = conn.execute("SELECT api.raster_source(%s)", (collection_id,)).fetchone()[0]
    if source.get("levels"):
        return {"collection_id": collection_id, "levels": source["levels"], "built": False}
    names = [layer["variable"] for layer in source["layers"] if layer.get("variable")]
    masks = {layer["variable"] for layer in source["layers"] if layer["kind"] == "mask"}
    levels = overviews.build(source["store_path"], names, masks, STRIPE)
    if levels:
        with conn.transaction():
            conn.execute("SET LOCAL ROLE stapi_writer")
            conn.execute("SELECT api.cube_levels_set(%s, %s)",
                         (collection_id, Jsonb({"levels": levels, "store_path": source["store_path"]})))
    return {"collection_id": collection_id, "levels": levels, "built": bool(levels)}


def main(argv: list[str] | None = None) -> int:
    import psycopg

    args = parser().parse_args(argv)
    try:
        check_id(args.collection_id)
        with versions.upload_lock(Path(args.data_dir), args.collection_id), \
                psycopg.connect(args.dsn, autocommit=True) as conn:
            out = build(conn, args.collection_id)
    except IngestError as e:
        print(f"cube_overviews: {e}", file=sys.stderr)
        return 2
    except psycopg.Error as e:
        print(f"cube_overviews: {e.diag.message_primary or e}", file=sys.stderr)
        return 1
    factors = ", ".join(str(level["factor"]) for level in out["levels"]) or "none (under 512 px)"
    print(f"{out['collection_id']}: overview levels {factors}" + ("" if out["built"] else " (nothing built)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
