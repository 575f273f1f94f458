"""Remove DataCube store versions no collection is registered with (old versions, deleted collections).

    python scripts/cube_gc.py [--dry-run] [--collection-id ID] [--dsn URL] [--data-dir DIR]

Looks under $STAPI_DATA_DIR/cubes/; never removes a store `api.cube_stores` lists, and skips a collection while
an upload of it is running (its lock is held). The raster worker already does this for each collection whose
cube is replaced or deleted while it runs; this sweep catches the rest (e.g. deletions while it was down).
One data directory belongs to one database: run it against the database the data directory serves.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from raster_worker import versions  # noqa: E402

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5439/stapi"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cube_gc.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    p.add_argument("--collection-id", help="only this collection's folder")
    p.add_argument("--dsn", default=os.environ.get("DATABASE_URL", DEFAULT_DSN),
                   help="database URL (default: $DATABASE_URL or the local cluster)")
    p.add_argument("--data-dir", default=os.environ.get("STAPI_DATA_DIR", str(ROOT / ".local" / "data")),
                   help="where served stores live (default: $STAPI_DATA_DIR or .local/data)")
    return p


def main(argv: list[str] | None = None) -> int:
    import psycopg

    args = parser().parse_args(argv)
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        def registered() -> list[str]:
            row = conn.execute("SELECT api.cube_stores('{}'::jsonb)").fetchone()
            return list(row[0].values()) if row else []

        removed = versions.collect(Path(args.data_dir), registered, args.collection_id, dry_run=args.dry_run)
    for path in removed:
        print(f"{'would remove' if args.dry_run else 'removed'} {path}")
    print(f"cube_gc: {len(removed)} unregistered store version(s) {'found' if args.dry_run else 'removed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
