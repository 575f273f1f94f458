"""DataCube SQL: the upload check, the registered stores, and the upgrade of a cube registered before overviews."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from scripts.migrate import MIGRATIONS

CID = "test-cubes-sql"
PARAMS = {"store_path": "/srv/cubes/test-cubes-sql/v1.zarr", "bbox": [78.0, 17.0, 79.0, 18.0],
          "extent_3857": [8682920.0, 1921632.0, 8794239.0, 2037548.0], "step": [500.0, -500.0],
          "shape": [1, 232, 223], "times": ["2025-06-02T05:30:00Z"], "native_crs": "EPSG:32644",
          "resolution": [500.0, 500.0],
          "layers": [{"name": "NDVI", "kind": "index", "variable": "NDVI", "rescale": [0, 1]}]}


def register(db: psycopg.Connection, params: dict) -> dict:
    db.execute("SET LOCAL ROLE stapi_writer")
    out = db.execute("SELECT api.cube_register(%s, %s)", (CID, Jsonb(params))).fetchone()[0]
    db.execute("RESET ROLE")
    return out


def sqlstate(db: psycopg.Connection, role: str, query: str, args: tuple) -> str | None:
    try:
        with db.transaction():
            db.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            db.execute(query, args)
    except psycopg.Error as e:
        return e.sqlstate
    return None


@pytest.fixture()
def tx(db: psycopg.Connection):
    """Everything inside one transaction that is rolled back."""
    db.execute("SET search_path = pgstac, public")
    with db.transaction():
        yield db
        raise psycopg.Rollback()


def test_upload_check_refuses_an_existing_cube_without_force(tx: psycopg.Connection) -> None:
    check = "SELECT api.cube_upload_check(%s, %s)"
    assert sqlstate(tx, "stapi_anon", check, (CID, Jsonb({}))) == "42501"
    tx.execute("SET LOCAL ROLE stapi_writer")
    assert tx.execute(check, (CID, Jsonb({}))).fetchone()[0] == {"collection_id": CID, "exists": False,
                                                                "store_path": None}
    tx.execute("RESET ROLE")
    register(tx, PARAMS)
    assert sqlstate(tx, "stapi_writer", check, (CID, Jsonb({}))) == "23505"
    tx.execute("SET LOCAL ROLE stapi_writer")
    assert tx.execute(check, (CID, Jsonb({"force": True}))).fetchone()[0]["exists"] is True
    stores = tx.execute("SELECT api.cube_stores()").fetchone()[0]
    assert stores[CID] == PARAMS["store_path"]


def test_levels_are_registered_and_served(tx: psycopg.Connection) -> None:
    levels = [{"factor": 2, "group": "overviews/2", "shape": [1, 116, 112], "step": [1000.0, -1000.0]}]
    register(tx, {**PARAMS, "levels": levels})
    assert tx.execute("SELECT api.raster_source(%s) -> 'levels'", (CID,)).fetchone()[0] == levels
    assert tx.execute("SELECT api.cube_capabilities(%s) -> 'overviews'", (CID,)).fetchone()[0] == [2]


def test_a_cube_registered_before_overviews_upgrades(tx: psycopg.Connection) -> None:
    """A database that holds a cube from before 301 (no levels column) migrates and serves it from full
    resolution (levels [])."""
    register(tx, PARAMS)
    tx.execute("ALTER TABLE data.cubes DROP COLUMN levels")
    tx.execute((MIGRATIONS / "301_cube_levels.sql").read_text())
    assert tx.execute("SELECT api.raster_source(%s) -> 'levels'", (CID,)).fetchone()[0] == []
    assert tx.execute("SELECT api.cube_capabilities(%s) -> 'overviews'", (CID,)).fetchone()[0] == []
