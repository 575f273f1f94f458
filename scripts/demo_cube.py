"""Demo step: the hybrid collection `telangana-ndvi-2025` (a Sentinel-2 L2A DataCube + its field parcels).

Generates the synthetic L2A store (`scripts/telangana_s2.py`), uploads it like `upload_local_zarr.py` would
(indices and composites derived), then adds the field parcels (crop, farmer, ph) as features, which makes the
collection a hybrid. Idempotent: skipped when the collection already has its cube and parcels.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from raster_worker.ingest import Options, db_register, ingest
from scripts import telangana_s2

COLLECTION = "telangana-ndvi-2025"
TITLE = "Telangana kharif 2025: Sentinel-2 L2A NDVI and field parcels"
DESCRIPTION = ("Weekly Sentinel-2 L2A bands (June to September 2025, UTM 44N, synthetic) over 78-79 E, 17-18 N "
               "with NDVI, NDMI, NDRE, GNDVI, EVI and RGB/CIR/AGRICULTURE/SWIR composites, and the field parcels "
               "(crop, farmer, soil pH) as features.")


def data_dir() -> Path:
    root = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("STAPI_DATA_DIR", root / ".local" / "data"))


def present(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT (SELECT count(*) FROM data.cubes WHERE collection_id = %s), "
                       "(SELECT count(*) FROM data.features WHERE collection_id = %s)",
                       (COLLECTION, COLLECTION)).fetchone()
    return bool(row and row[0] and row[1])


def add_parcels(conn: psycopg.Connection, parcels: list[telangana_s2.Parcel]) -> None:
    """Through the features team's api.features_create when it exists, else straight into data.features."""
    features = [p.feature() for p in parcels]
    with conn.transaction():
        conn.execute("SET LOCAL ROLE stapi_writer")
        conn.execute("UPDATE data.collection_meta SET kind = 'hybrid', updated_at = now() "
                     "WHERE collection_id = %s", (COLLECTION,))
        has_api = conn.execute("SELECT to_regprocedure('api.features_create(text, jsonb, jsonb)') IS NOT NULL"
                               ).fetchone()[0]
        if has_api:
            conn.execute("SELECT api.features_create(%s, %s::jsonb, '{}'::jsonb)",
                         (COLLECTION, Jsonb({"type": "FeatureCollection", "features": features})))
        else:
            for f in features:
                conn.execute(
                    "INSERT INTO data.features (collection_id, id, geom, datetime, properties) "
                    "VALUES (%s, %s, ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326), %s, %s) "
                    "ON CONFLICT (collection_id, id) DO UPDATE SET geom = excluded.geom, "
                    "properties = excluded.properties",
                    (COLLECTION, f["id"], json.dumps(f["geometry"]), f["properties"]["sowing_date"],
                     Jsonb(f["properties"])))


def load(dsn: str, data_path: Path | None = None) -> str:
    """Load the demo collection (idempotent); served stores go to `data_path` (default $STAPI_DATA_DIR)."""
    with psycopg.connect(dsn) as conn:
        if present(conn):
            return f"{COLLECTION} present, skipped"
        work = Path(tempfile.mkdtemp(prefix="telangana-"))
        try:
            source = work / "telangana_s2_l2a.zarr"
            parcels = telangana_s2.generate(source)
            opts = Options(collection_id=COLLECTION, data_dir=data_path or data_dir(), force=True, title=TITLE,
                           description=DESCRIPTION, asset_href=None)
            summary: dict[str, Any] = ingest(str(source), opts, lambda p: db_register(conn, COLLECTION, p))
            add_parcels(conn, parcels)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return (f"{COLLECTION}: cube {tuple(summary['shape'])} in {summary['seconds']} s, "
            f"{len(parcels)} parcels (hybrid)")
