"""`make migrate` upgrades a database that already holds data: an old schema (versioned migrations up to 002,
before feature timestamps, tile geometries, cubes and analytics) with features and STAC items in it, then
every later migration and db/src on top. The data survives and is served by the new functions."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from scripts.migrate import apply_ours, migrate_pgstac, versioned_files

DB = "stapi_upgrade_test"


@pytest.fixture()
def old_database(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DB)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB)))
    url = make_conninfo(**{**conninfo_to_dict(database_url), "dbname": DB})
    try:
        yield url
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB)))


def test_upgrade_keeps_features_and_items(old_database: str) -> None:
    migrate_pgstac(old_database)
    first = apply_ours(old_database, upto="002")
    assert first and all(int(m.split("_")[0]) <= 2 for m in first)
    with psycopg.connect(old_database, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")
        conn.execute("""SELECT pgstac.create_collection('{"type": "Collection", "stac_version": "1.0.0",
            "id": "old-fields", "description": "loaded before the upgrade", "license": "CC0-1.0", "links": [],
            "extent": {"spatial": {"bbox": [[10, 10, 11, 11]]}, "temporal": {"interval": [[null, null]]}}}')""")
        conn.execute("INSERT INTO data.collection_meta (collection_id, kind) VALUES ('old-fields', 'features')")
        conn.execute("INSERT INTO data.features (collection_id, id, geom, properties) VALUES "
                     "('old-fields', 'a', ST_MakeEnvelope(10, 10, 10.5, 10.5, 4326), '{\"crop\": \"rice\"}'), "
                     "('old-fields', 'b', ST_MakeEnvelope(10.5, 10.5, 11, 11, 4326), '{\"crop\": \"maize\"}')")
        conn.execute("""SELECT pgstac.create_collection('{"type": "Collection", "stac_version": "1.0.0",
            "id": "old-stac", "description": "items before the upgrade", "license": "CC0-1.0", "links": [],
            "extent": {"spatial": {"bbox": [[0, 0, 1, 1]]}, "temporal": {"interval": [["2024-01-01T00:00:00Z", null]]}}}')""")
        conn.execute("""SELECT pgstac.create_item('{"type": "Feature", "stac_version": "1.0.0", "id": "i1",
            "collection": "old-stac", "geometry": {"type": "Point", "coordinates": [0.5, 0.5]}, "bbox": [0.5, 0.5, 0.5, 0.5],
            "properties": {"datetime": "2024-02-01T00:00:00Z"}, "links": [], "assets": {}}')""")

    rest = apply_ours(old_database)
    later = {v for v, _, _ in versioned_files() if int(v) > 2}
    assert {m.split("_")[0] for m in rest if m != "src"} == later and "src" in rest

    with psycopg.connect(old_database, autocommit=True) as conn:
        rows = conn.execute("SELECT id, written_at IS NOT NULL, ST_SRID(geom_3857) FROM data.features "
                            "WHERE collection_id = 'old-fields' ORDER BY id").fetchall()
        assert rows == [("a", True, 3857), ("b", True, 3857)]
        page = conn.execute("SELECT api.items_list('old-fields', '{\"limit\": 10}')").fetchone()[0]
        assert sorted(f["id"] for f in page["features"]) == ["a", "b"]
        rice = conn.execute("SELECT api.items_list('old-fields', %s)",
                            ('{"filter": {"op": "=", "args": [{"property": "crop"}, "rice"]}}',)).fetchone()[0]
        assert [f["id"] for f in rice["features"]] == ["a"]
        tile = conn.execute("SELECT length(api.features_tile('old-fields', 5, 16, 15))").fetchone()[0]
        assert tile > 0
        found = conn.execute("SELECT api.search('{\"collections\": [\"old-stac\"]}')").fetchone()[0]
        assert [f["id"] for f in found["features"]] == ["i1"]
    assert apply_ours(old_database) == []
