"""SQL level: the triggers on data.features keep a feature collection's derived metadata (bbox, time range,
property counts and kinds, the STAC extent) exactly what libs.features_refresh computes from all its features,
while touching only the changed rows (migration 280, db/src/api/features_meta_writes.sql).

A seeded random walk of INSERT, UPDATE and DELETE statements (and the API's single-feature writes) on a small
collection whose features sit on a few coordinates and instants, so that writes often reach the extent's edges
and ends, with x values closer together than the spatial index's single-precision boxes tell apart, and
properties that change kind, turn null or disappear. After every step the state equals a full recount.
"""

from __future__ import annotations

import json
import random
from typing import Any

import psycopg
import pytest

CID = "meta-sql-walk"
# values 1e-9 apart: the spatial index's single-precision boxes (a step of 6e-8 at 0.5 to 1) do not tell them apart
XS = [0.5, 0.5 + 1e-9, 0.5 + 2e-9, 0.75, 1.0 - 2e-9, 1.0 - 1e-9, 1.0]
YS = [-1.0, -1.0 + 1e-9, -0.5, 0.25, 1.0 - 1e-9, 1.0]
TIMES = [None, "2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2024-06-01T00:00:00Z", "2024-12-31T23:59:59Z"]
VALUES: list[Any] = [1, 2, -3, 2.5, 1e300, "rice", "2025-01-01", "2025-01-01T06:00:00Z", True, False, [1], {"k": 1},
                     None]
KEYS = ["a", "b", "c", "d"]

STATE_SQL = """
SELECT fc.bbox, fc.time_min, fc.time_max, fc.property_kinds,
       (SELECT coalesce(jsonb_object_agg(c.key || '/' || c.kind, c.n), '{}') FROM data.feature_property_counts c
        WHERE c.collection_id = fc.collection_id),
       (SELECT c.content -> 'extent' FROM pgstac.collections c WHERE c.id = fc.collection_id)
FROM data.feature_collections fc WHERE fc.collection_id = %s
"""


def state(db: psycopg.Connection, cid: str = CID) -> tuple:
    row = db.execute(STATE_SQL, (cid,)).fetchone()
    assert row is not None
    return tuple(row)


def recounted(db: psycopg.Connection, cid: str = CID) -> tuple:
    """The state libs.features_refresh computes, without keeping it."""
    with db.transaction(force_rollback=True):
        db.execute("SELECT libs.features_refresh(%s)", (cid,))
        return state(db, cid)


def box(rng: random.Random) -> str:
    x0, x1 = sorted(rng.sample(XS, 2))
    y0, y1 = sorted(rng.sample(YS, 2))
    return f"SRID=4326;POLYGON(({x0!r} {y0!r},{x1!r} {y0!r},{x1!r} {y1!r},{x0!r} {y1!r},{x0!r} {y0!r}))"


def props(rng: random.Random) -> str:
    return json.dumps({k: rng.choice(VALUES) for k in rng.sample(KEYS, rng.randrange(len(KEYS) + 1))})


def times(rng: random.Random) -> tuple[str | None, str | None]:
    start = rng.choice(TIMES)
    return start, rng.choice([None, None, *TIMES[1:]]) if start else None


def ids(db: psycopg.Connection) -> list[str]:
    return [r[0] for r in db.execute("SELECT id FROM data.features WHERE collection_id = %s ORDER BY id", (CID,))]


def insert(db: psycopg.Connection, rng: random.Random, step: int) -> None:
    for k in range(rng.randrange(1, 4)):
        start, end = times(rng)
        db.execute("INSERT INTO data.features (collection_id, id, geom, datetime, end_datetime, properties) "
                   "VALUES (%s, %s, %s, %s, %s, %s)", (CID, f"f{step}-{k}", box(rng), start, end, props(rng)))


def update(db: psycopg.Connection, rng: random.Random, step: int) -> None:
    some = rng.sample(ids(db), min(len(ids(db)), rng.randrange(1, 4)))
    start, end = times(rng)
    what = rng.choice(["geom", "time", "props", "all", "remove"])
    for fid in some:
        if what in ("geom", "all"):
            db.execute("UPDATE data.features SET geom = %s WHERE collection_id = %s AND id = %s", (box(rng), CID, fid))
        if what in ("time", "all"):
            db.execute("UPDATE data.features SET datetime = %s, end_datetime = %s WHERE collection_id = %s "
                       "AND id = %s", (start, end, CID, fid))
        if what in ("props", "all"):
            db.execute("UPDATE data.features SET properties = properties || %s::jsonb WHERE collection_id = %s "
                       "AND id = %s", (props(rng), CID, fid))
    if what == "remove":   # one statement over several rows: a property disappears from them
        db.execute("UPDATE data.features SET properties = properties - %s WHERE collection_id = %s AND id = ANY(%s)",
                   (rng.choice(KEYS), CID, some))


def delete(db: psycopg.Connection, rng: random.Random, step: int) -> None:
    present = ids(db)
    some = present if rng.random() < 0.15 else rng.sample(present, min(len(present), rng.randrange(1, 3)))
    db.execute("DELETE FROM data.features WHERE collection_id = %s AND id = ANY(%s)", (CID, some))


def api_write(db: psycopg.Connection, rng: random.Random, step: int) -> None:
    """The single-feature writes of OGC API Features Part 4, as the gateway calls them."""
    present = ids(db)
    x0, x1 = sorted(rng.sample(XS, 2))
    y0, y1 = sorted(rng.sample(YS, 2))
    start, _ = times(rng)
    feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
        [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]},
        "properties": {**json.loads(props(rng)), **({"datetime": start} if start else {})}}
    verb = rng.choice(["create", "replace", "patch", "delete"]) if present else "create"
    if verb == "create":
        db.execute("SELECT api.features_create(%s, %s::jsonb)", (CID, json.dumps({**feature, "id": f"api{step}"})))
    elif verb == "replace":
        db.execute("SELECT api.feature_replace(%s, %s, %s::jsonb)", (CID, rng.choice(present), json.dumps(feature)))
    elif verb == "patch":
        patch = {"properties": {rng.choice(KEYS): rng.choice(VALUES)}}
        db.execute("SELECT api.feature_patch(%s, %s, %s::jsonb)", (CID, rng.choice(present), json.dumps(patch)))
    else:
        db.execute("SELECT api.feature_delete(%s, %s)", (CID, rng.choice(present)))


@pytest.fixture()
def walk_collection(db: psycopg.Connection) -> Any:
    db.execute("SET search_path = pgstac, public")
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))
    db.execute("SELECT api.features_collection_create(%s::jsonb)", (json.dumps({"id": CID}),))
    yield CID
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_writes_keep_the_state_a_full_recount_gives(db, walk_collection, seed):
    rng = random.Random(seed)
    steps = {"insert": insert, "update": update, "delete": delete, "api": api_write}
    seen = set()
    for step in range(120):
        name = rng.choice(["insert", "insert", "update", "delete", "api"]) if ids(db) else "insert"
        steps[name](db, rng, step)
        now = state(db)
        assert now == recounted(db), f"step {step} ({name}), seed {seed}"
        seen.add((now[0] is None, bool(now[3])))
    assert (True, False) in seen and (False, True) in seen   # emptied and refilled on the way


def test_kinds_narrow_and_vanish_with_the_last_value(db, walk_collection):
    rows = [("a", '{"n": 1, "s": "2025-01-01", "gone": true}'), ("b", '{"n": 2.5, "s": "x"}'), ("c", '{"n": null}')]
    for fid, p in rows:
        db.execute("INSERT INTO data.features (collection_id, id, geom, properties) VALUES (%s, %s, "
                   "ST_SetSRID(ST_MakePoint(1, 1), 4326), %s)", (CID, fid, p))
    assert state(db)[3] == {"n": "number", "s": "string", "gone": "boolean"}
    db.execute("DELETE FROM data.features WHERE collection_id = %s AND id = 'b'", (CID,))
    assert state(db)[3] == {"n": "integer", "s": "date", "gone": "boolean"}
    db.execute("UPDATE data.features SET properties = properties - 'gone' WHERE collection_id = %s", (CID,))
    db.execute("DELETE FROM data.features WHERE collection_id = %s AND id = 'a'", (CID,))
    assert state(db)[3] == {"n": None}
    assert state(db) == recounted(db)


def test_a_write_inside_the_extent_leaves_the_collection_document_alone(db, walk_collection):
    """The STAC collection row is rewritten only when its extent changes, so /collections ETags stay."""
    for fid, x in (("west", 0), ("east", 2), ("mid", 1)):
        db.execute("SELECT api.features_create(%s, %s::jsonb)", (CID, json.dumps({
            "type": "Feature", "id": fid, "geometry": {"type": "Point", "coordinates": [x, x]},
            "properties": {"datetime": f"2024-0{1 + x}-01T00:00:00Z"}})))
    version = "SELECT xmin::text, content -> 'extent' FROM pgstac.collections WHERE id = %s"
    before = db.execute(version, (CID,)).fetchone()
    assert before[1]["spatial"]["bbox"] == [[0, 0, 2, 2]]
    db.execute("SELECT api.feature_patch(%s, 'mid', %s::jsonb)", (CID, json.dumps({
        "geometry": {"type": "Point", "coordinates": [1.5, 0.5]}, "properties": {"crop": "rice"}})))
    db.execute("SELECT api.feature_delete(%s, 'mid')", (CID,))
    assert db.execute(version, (CID,)).fetchone() == before
    db.execute("SELECT api.feature_delete(%s, 'east')", (CID,))
    after = db.execute(version, (CID,)).fetchone()[1]
    assert after["spatial"]["bbox"] == [[0, 0, 0, 0]]
    assert after["temporal"]["interval"] == [["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"]]


def test_edge_search_uses_the_spatial_index(db, walk_collection):
    db.execute("INSERT INTO data.features (collection_id, id, geom) SELECT %s, 'g' || i, "
               "ST_SetSRID(ST_MakePoint(i %% 100, i / 100), 4326) FROM generate_series(0, 4999) i", (CID,))
    db.execute("ANALYZE data.features")
    with db.transaction(force_rollback=True):
        db.execute("SET LOCAL enable_seqscan = off")   # what the planner can do, not what it likes on few rows
        plan = "\n".join(r[0] for r in db.execute(
            "EXPLAIN SELECT f.geom FROM data.features f WHERE hashtext(f.collection_id) = hashtext(%s) "
            "AND f.collection_id = %s ORDER BY f.geom <#> 'SRID=4326;LINESTRING(-1e6 -1e6, -1e6 1e6)' LIMIT 1",
            (CID, CID)))
    assert "features_geom_idx" in plan and "Order By" in plan
    assert [db.execute("SELECT libs.features_edge(%s, %s)", (CID, e)).fetchone()[0] for e in (1, 2, 3, 4)] \
        == [0, 0, 99, 49]


def test_migration_280_backfills_the_counts_of_stored_features(db, walk_collection):
    from tests.conftest import ROOT

    for fid, p in (("a", '{"n": 1, "s": "x"}'), ("b", '{"n": 2.5, "t": null}'), ("c", '{}')):
        db.execute("INSERT INTO data.features (collection_id, id, geom, properties) VALUES (%s, %s, "
                   "ST_SetSRID(ST_MakePoint(1, 1), 4326), %s)", (CID, fid, p))
    kept = state(db)
    assert kept[4] == {"n/integer": 1, "n/number": 1, "s/string": 1, "t/null": 1}
    db.execute("DELETE FROM data.feature_property_counts WHERE collection_id = %s", (CID,))
    db.execute((ROOT / "db" / "migrations" / "280_feature_property_counts.sql").read_text())
    assert state(db) == kept
