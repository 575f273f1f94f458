"""Apply the database migrations: pgSTAC (pinned, via pypgstac), then ours.

Order:
1. ``pypgstac migrate`` to the pinned pgSTAC version (our migrations never edit the ``pgstac`` schema);
2. versioned files ``db/migrations/NNN_name.sql``, each applied once, in order, in its own transaction,
   and recorded in ``data.migrations``;
3. the repeatable source ``db/src/manifest.sql`` (functions, views, grants: all ``CREATE OR REPLACE``),
   re-applied whenever its checksum changes.

Usage: python -m scripts.migrate [--dsn URL]   (default: $DATABASE_URL)
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "db" / "migrations"
MANIFEST = ROOT / "db" / "src" / "manifest.sql"
PGSTAC_VERSION = "0.9.12"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5439/stapi"

log = logging.getLogger("migrate")

BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS data;
CREATE TABLE IF NOT EXISTS data.migrations (
    version text PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


def migrate_pgstac(dsn: str) -> str:
    from pypgstac.db import PgstacDB
    from pypgstac.migrate import Migrate

    with PgstacDB(dsn=dsn) as pgdb:
        return str(Migrate(pgdb).run_migration(toversion=PGSTAC_VERSION))


def manifest_files(manifest: Path = MANIFEST) -> list[Path]:
    """The files named by ``\\ir`` lines of the manifest, in order (the same order psql would use)."""
    files = []
    for line in manifest.read_text().splitlines():
        m = re.match(r"\s*\\ir\s+(\S+)", line)
        if m:
            files.append((manifest.parent / m.group(1)).resolve())
    return files


def checksum(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def versioned_files() -> list[tuple[str, str, Path]]:
    out = []
    for p in sorted(MIGRATIONS.glob("*.sql")):
        m = re.match(r"(\d+)_(.+)\.sql$", p.name)
        if not m:
            raise SystemExit(f"migration file name must be NNN_name.sql: {p.name}")
        out.append((m.group(1), m.group(2), p))
    return out


def apply_ours(dsn: str, upto: str | None = None) -> list[str]:
    """Apply our pending versioned migrations, then db/src. With `upto`, only the versioned migrations
    numbered up to it, and not db/src (to reproduce an older database, e.g. in the upgrade test)."""
    done: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(7301977)")
        try:
            conn.execute(BOOTSTRAP)
            applied = {r[0] for r in conn.execute("SELECT version FROM data.migrations")}
            for version, name, path in versioned_files():
                if version in applied or (upto is not None and int(version) > int(upto)):
                    continue
                with conn.transaction():
                    conn.execute(path.read_text())
                    conn.execute(
                        "INSERT INTO data.migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (version, name, checksum([path])),
                    )
                done.append(f"{version}_{name}")
                log.info("applied migration %s_%s", version, name)
            if upto is not None:
                return done
            files = manifest_files()
            digest = checksum(files)
            row = conn.execute("SELECT checksum FROM data.migrations WHERE version = 'src'").fetchone()
            if row is None or row[0] != digest:
                with conn.transaction():
                    for path in files:
                        conn.execute(path.read_text())
                    conn.execute(
                        "INSERT INTO data.migrations (version, name, checksum) VALUES ('src', 'db/src', %s) "
                        "ON CONFLICT (version) DO UPDATE SET checksum = excluded.checksum, applied_at = now()",
                        (digest,),
                    )
                done.append("src")
                log.info("applied db/src (%d files)", len(files))
        finally:
            conn.execute("SELECT pg_advisory_unlock(7301977)")
    return done


def migrate(dsn: str) -> list[str]:
    version = migrate_pgstac(dsn)
    log.info("pgstac at %s", version)
    return apply_ours(dsn)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Apply pgSTAC and the project's migrations to a database.")
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL", DEFAULT_DSN),
                        help="database URL (default: $DATABASE_URL or the local cluster)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    done = migrate(args.dsn)
    print("migrate: " + (", ".join(done) if done else "up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
