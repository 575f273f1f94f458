"""Vector tiles at the SQL level: the functions an analyst calls in psql, as the anonymous role."""

from __future__ import annotations

import mapbox_vector_tile
import psycopg
import pytest
from psycopg.types.json import Jsonb

CID = "tiles-db-parcels"


@pytest.fixture()
def parcels(db: psycopg.Connection) -> str:
    db.execute("SET search_path TO pgstac, public")
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))
    db.execute("SELECT pgstac.create_collection(%s)", (Jsonb({
        "type": "Collection", "stac_version": "1.0.0", "id": CID, "description": "parcels", "license": "CC0-1.0",
        "links": [], "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                "temporal": {"interval": [[None, None]]}}}),))
    db.execute("INSERT INTO data.collection_meta (collection_id, kind) VALUES (%s, 'features')", (CID,))
    db.execute("INSERT INTO data.features (collection_id, id, geom, properties) VALUES "
               "(%s, 'p1', ST_MakeEnvelope(1, 1, 2, 2, 4326), '{\"owner\": \"x\"}')", (CID,))
    return CID


def anon_tile(db: psycopg.Connection, z: int, x: int, y: int, params: dict | None = None) -> bytes:
    with db.transaction():
        db.execute("SET LOCAL ROLE stapi_anon")
        row = db.execute("SELECT api.features_tile(%s, %s, %s, %s, %s)",
                         (CID, z, x, y, Jsonb(params or {}))).fetchone()
    return bytes(row[0])


def test_anonymous_role_gets_a_tile(db, parcels):
    layer = mapbox_vector_tile.decode(anon_tile(db, 0, 0, 0))[CID]
    assert layer["extent"] == 4096
    assert [f["properties"] for f in layer["features"]] == [{"id": "p1", "owner": "x"}]


def test_empty_tile_is_an_empty_bytea(db, parcels):
    assert anon_tile(db, 3, 0, 0) == b""


def test_web_mercator_copy_follows_the_source_geometry(db, parcels):
    db.execute("UPDATE data.features SET geom = ST_MakeEnvelope(-100, 40, -99, 41, 4326) "
               "WHERE collection_id = %s AND id = 'p1'", (CID,))
    row = db.execute("SELECT ST_SRID(geom_3857), ST_XMin(geom_3857) FROM data.features "
                     "WHERE collection_id = %s", (CID,)).fetchone()
    assert row[0] == 3857 and row[1] == pytest.approx(-100 * 20037508.3427892 / 180)
    assert anon_tile(db, 1, 1, 0) == b""
    assert mapbox_vector_tile.decode(anon_tile(db, 1, 0, 0))[CID]["features"][0]["properties"]["id"] == "p1"


@pytest.mark.parametrize("z,x,y,state", [(0, 1, 0, "P0002"), (-1, 0, 0, "P0002"), (30, 0, 0, "P0002")])
def test_out_of_range_tiles_raise_not_found(db, parcels, z, x, y, state):
    with pytest.raises(psycopg.Error) as err:
        anon_tile(db, z, x, y)
    assert err.value.sqlstate == state


def test_properties_must_be_a_list(db, parcels):
    with pytest.raises(psycopg.Error) as err:
        anon_tile(db, 0, 0, 0, {"properties": "owner"})
    assert err.value.sqlstate == "22023"


def test_tileset_functions_answer_in_sql(db, parcels):
    tilesets = db.execute("SELECT api.collection_tilesets(%s)", (CID,)).fetchone()[0]
    assert [t["dataType"] for t in tilesets["tilesets"]] == ["vector"]
    tilejson = db.execute("SELECT api.collection_tilejson(%s, 'WebMercatorQuad')", (CID,)).fetchone()[0]
    assert tilejson["bounds"] == [1, 1, 2, 2] and tilejson["vector_layers"][0]["fields"]["owner"] == "String"
    tms = db.execute("SELECT api.tile_matrix_set('WebMercatorQuad')").fetchone()[0]
    assert len(tms["tileMatrices"]) == 25 and tms["tileMatrices"][24]["matrixWidth"] == 2 ** 24


def test_fast_path_matches_st_asmvtgeom(db, parcels):
    """Features inside the tile skip ST_AsMVTGeom: the result is the same shape, orientation and grid."""
    db.execute("""INSERT INTO data.features (collection_id, id, geom)
                  SELECT %s, 'star-' || i, ST_MakePolygon(ST_AddPoint(l, ST_StartPoint(l)))
                  FROM generate_series(1, 50) i,
                       LATERAL (SELECT ST_MakeLine(ARRAY(
                           SELECT ST_Point(2.1 + 0.3 * cos(i) + 0.01 * cos(a) * (1 + 0.5 * sin(5 * a)),
                                           2.1 + 0.3 * sin(i) + 0.01 * sin(a) * (1 + 0.5 * sin(5 * a)), 4326)
                           FROM generate_series(0, 11) k, LATERAL (SELECT 2 * pi() * k / 12 AS a) q
                           ORDER BY k)) AS l) s""", (CID,))
    rows = db.execute("""
        WITH e AS (SELECT ST_TileEnvelope(7, 64, 63) AS env)
        SELECT ST_IsPolygonCCW(fast), ST_IsPolygonCCW(ref), ST_HausdorffDistance(fast, ref), ST_IsValid(fast)
        FROM data.features f, e,
             LATERAL (SELECT (ST_XMax(env) - ST_XMin(env)) / 4096 AS unit) u,
             LATERAL (SELECT libs.mvt_geom(f.geom_3857, env, ST_Expand(env, 64 * unit), unit) AS fast,
                             ST_AsMVTGeom(ST_Simplify(f.geom_3857, unit), env::box2d, 4096, 64, true) AS ref) g
        WHERE f.collection_id = %s AND f.id LIKE 'star-%%'
          AND f.geom_3857 @ ST_Expand(env, 64 * unit)""", (CID,)).fetchall()
    assert len(rows) == 50
    for fast_ccw, ref_ccw, distance, valid in rows:
        assert fast_ccw and ref_ccw
        assert distance <= 1.5 and valid


def test_filtered_query_is_the_static_query(db, parcels):
    """The EXECUTEd query (used with a filter) and the static one build the same tile."""
    static = anon_tile(db, 0, 0, 0, {"properties": ["owner"]})
    dynamic = db.execute("SELECT libs.features_tile_sql('TRUE')").fetchone()[0]
    with db.transaction():
        db.execute("CREATE TEMP TABLE tile_out (b bytea) ON COMMIT DROP")
        db.execute("""DO $$
            DECLARE env geometry := ST_TileEnvelope(0, 0, 0);
                    unit double precision := (ST_XMax(env) - ST_XMin(env)) / 4096;
                    out bytea;
            BEGIN
                EXECUTE libs.features_tile_sql('TRUE') INTO out
                    USING 'tiles-db-parcels', env, ST_Expand(env, 64 * unit), unit, ARRAY['owner'], 'tiles-db-parcels';
                INSERT INTO tile_out VALUES (out);
            END $$""")
        executed = bytes(db.execute("SELECT b FROM tile_out").fetchone()[0])
    assert "AND (TRUE)" in dynamic
    assert executed == static


def test_tilejson_minzoom_keeps_advertised_tiles_small(db):
    """30,000 points in one square degree: TileJSON's minzoom is where a tile holds at most ~8,000 of them."""
    dense = "tiles-db-dense"
    db.execute("SET search_path TO pgstac, public")
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (dense,))
    db.execute("SELECT pgstac.create_collection(%s)", (Jsonb({
        "type": "Collection", "stac_version": "1.0.0", "id": dense, "description": "dense", "license": "CC0-1.0",
        "links": [], "extent": {"spatial": {"bbox": [[20, 10, 21, 11]]}, "temporal": {"interval": [[None, None]]}}}),))
    db.execute("INSERT INTO data.collection_meta (collection_id, kind) VALUES (%s, 'features')", (dense,))
    db.execute("""INSERT INTO data.features (collection_id, id, geom, properties)
                  SELECT %s, 'pt-' || i, ST_Point(20 + (i %% 173) / 173.0, 10 + (i / 173) / 174.0, 4326),
                         jsonb_build_object('n', i, 'kind', 'well')
                  FROM generate_series(0, 29999) i""", (dense,))
    try:
        tilejson = db.execute("SELECT api.collection_tilejson(%s, 'WebMercatorQuad')", (dense,)).fetchone()[0]
        minzoom = tilejson["minzoom"]
        assert 8 <= minzoom <= 10 and tilejson["vector_layers"][0]["minzoom"] == minzoom
        assert tilejson["center"][2] >= minzoom
        sizes = db.execute("""
            SELECT max(length(api.features_tile(%s, %s, x, y)))
            FROM generate_series(0, (1 << %s) - 1) x, generate_series(0, (1 << %s) - 1) y
            WHERE ST_Intersects(ST_TileEnvelope(%s, x, y), ST_Transform(ST_MakeEnvelope(20, 10, 21, 11, 4326), 3857))
            """, (dense, minzoom, minzoom, minzoom, minzoom)).fetchone()[0]
        assert sizes < 500_000
        whole = len(db.execute("SELECT api.features_tile(%s, 0, 0, 0)", (dense,)).fetchone()[0])
        assert whole > sizes   # below minzoom tiles are served too, every feature in them
    finally:
        db.execute("DELETE FROM pgstac.collections WHERE id = %s", (dense,))
