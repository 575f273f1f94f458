"""SQL level: how features are stored for cheap bulk ingest (migration 220) and still found fast.

The spatial indexes of data.features lead with hashtext(collection_id), an integer, instead of the collection id
(a btree_gist text key doubled the cost of a bulk insert); queries of one collection state both conditions
(libs.features_collection_sql, the tile queries). Two collections whose ids share a hash stay apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import mapbox_vector_tile
import psycopg
import pytest

PREFIX = "ingest-sql-"


def create(db: psycopg.Connection, cid: str, features: list[dict]) -> None:
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))
    db.execute("SELECT api.features_upload(%s, %s::jsonb)",
               (cid, json.dumps({"type": "FeatureCollection", "features": features})))


def square(fid: str, x: float, y: float, size: float = 0.01, **props: object) -> dict:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Feature", "id": fid, "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": props}


@pytest.fixture()
def colliding(db: psycopg.Connection) -> Iterator[tuple[str, str]]:
    """Two valid collection ids with the same hashtext, each with features at the same places."""
    db.execute("SET search_path = pgstac, public")
    a, b = db.execute(
        "SELECT min(s), max(s) FROM (SELECT %s || i AS s FROM generate_series(1, 200000) i) x "
        "GROUP BY hashtext(s) HAVING count(*) > 1 ORDER BY 1 LIMIT 1", (PREFIX,)).fetchone()
    for cid in (a, b):
        create(db, cid, [square(f"{cid}-{i}", 10 + i * 0.01, 10, owner=cid) for i in range(20)])
    yield a, b
    db.execute("DELETE FROM pgstac.collections WHERE id = ANY(%s)", ([a, b],))


def test_spatial_indexes_lead_with_the_collection_key(db):
    defs = dict(db.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'data' "
                           "AND tablename = 'features' AND indexdef LIKE '%USING gist%'").fetchall())
    assert set(defs) == {"features_geom_idx", "features_geom_3857_idx"}
    assert "gist (hashtext(collection_id), geom)" in defs["features_geom_idx"]
    assert "gist (hashtext(collection_id), geom_3857)" in defs["features_geom_3857_idx"]


def test_collection_condition_names_the_key(db):
    sql = db.execute("SELECT libs.features_collection_sql('fields', 'f')").fetchone()[0]
    key = db.execute("SELECT hashtext('fields')").fetchone()[0]
    assert sql == f"f.collection_id = 'fields' AND pg_catalog.hashtext(f.collection_id) = {key}"


def test_a_bbox_query_uses_the_spatial_index(db, colliding):
    a, _ = colliding
    db.execute("SET search_path = pgstac, public")
    create(db, f"{PREFIX}many", [square(f"m{i}", (i % 50) * 0.1, (i // 50) * 0.1) for i in range(2500)])
    db.execute("ANALYZE data.features")
    where = db.execute("SELECT libs.features_where(%s, %s::jsonb, '{}')",
                       (f"{PREFIX}many", json.dumps({"bbox": [1, 1, 1.15, 1.15]}))).fetchone()[0]
    plan = "\n".join(r[0] for r in db.execute(f"EXPLAIN SELECT id FROM data.features WHERE {where}"))
    assert "features_geom_idx" in plan and "hashtext(collection_id)" in plan
    ids = {r[0] for r in db.execute(f"SELECT id FROM data.features WHERE {where}")}
    assert ids == {"m510", "m511", "m560", "m561"}


def test_collections_sharing_a_key_stay_apart(db, colliding):
    a, b = colliding
    assert db.execute("SELECT hashtext(%s) = hashtext(%s)", (a, b)).fetchone()[0]
    for cid in (a, b):
        page = db.execute("SELECT api.features_list(%s, %s::jsonb)",
                          (cid, json.dumps({"bbox": [10, 10, 10.045, 10.005], "limit": 100}))).fetchone()[0]
        assert page["numberMatched"] == 5
        assert {f["properties"]["owner"] for f in page["features"]} == {cid}
        assert db.execute("SELECT libs.features_count(%s)", (cid,)).fetchone()[0] == 20
        tile = bytes(db.execute("SELECT api.features_tile(%s, 8, 135, 120)", (cid,)).fetchone()[0])
        owners = {f["properties"]["owner"] for f in mapbox_vector_tile.decode(tile)[cid]["features"]}
        assert owners == {cid}


def kinds(db: psycopg.Connection, cid: str) -> dict:
    return db.execute("SELECT property_kinds FROM data.feature_collections WHERE collection_id = %s",
                      (cid,)).fetchone()[0]


def test_property_kinds_widen_write_by_write_as_a_full_recount_would(db):
    """The insert trigger classifies only values that may change a known kind; the result must be what
    libs.features_refresh computes from all the features."""
    cid = f"{PREFIX}kinds"
    db.execute("SET search_path = pgstac, public")
    create(db, cid, [square("a", 0, 0, n=1, d="2025-01-01", s="x", t="2025-01-01", z=None, b=True, o={"k": 1}),
                     square("b", 1, 0, n=2, d="2025-01-02", s="2025-01-01", t="2025-01-01T00:00:00Z", z=None)])
    assert kinds(db, cid) == {"n": "integer", "d": "date", "s": "string", "t": "date-time", "z": None,
                              "b": "boolean", "o": "object"}
    writes = [
        [square("c", 2, 0, n=2.5, d="2025-01-03", s=None, t="2025-02-01", z=None, b=False)],  # widen n only
        [square("e", 3, 0, n=7, d="2025-01-04T06:00:00Z", s="y", z=[1], b="yes", o=None, new=None)],
        [square("f", 4, 0, n="seven", d="2025-01-05", s=3, t="soon", o={"k": 2}, new=1.5)],
    ]
    expected = [
        {"n": "number", "d": "date", "s": "string", "t": "date-time", "z": None, "b": "boolean", "o": "object"},
        {"n": "number", "d": "date-time", "s": "string", "t": "date-time", "z": "array", "b": "mixed",
         "o": "object", "new": None},
        {"n": "mixed", "d": "date-time", "s": "mixed", "t": "string", "z": "array", "b": "mixed", "o": "object",
         "new": "number"},
    ]
    for features, want in zip(writes, expected, strict=True):
        db.execute("SELECT api.features_create(%s, %s::jsonb)",
                   (cid, json.dumps({"type": "FeatureCollection", "features": features})))
        assert kinds(db, cid) == want
        db.execute("SELECT libs.features_refresh(%s)", (cid,))
        assert kinds(db, cid) == want
    # deletes narrow the kinds again (the delete trigger recounts): without f and e, n is a number (c's 2.5),
    # s a string, t and d back to what a, b and c hold; "new" was only in e and f
    db.execute("DELETE FROM data.features WHERE collection_id = %s AND id IN ('e', 'f')", (cid,))
    assert kinds(db, cid) == {"n": "number", "d": "date", "s": "string", "t": "date-time", "z": None,
                              "b": "boolean", "o": "object"}
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))
