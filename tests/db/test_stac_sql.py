"""SQL level: the cross-team contract (libs.collection_kind) and the STAC functions an analyst calls in psql."""

import json

import psycopg
import pytest

CID = "stac-sql-test"


@pytest.fixture()
def stac_collection(db):
    db.execute("SET search_path = pgstac, public")
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))
    db.execute("SELECT pgstac.create_collection(%s::jsonb)", (json.dumps({"id": CID, "description": "t"}),))
    yield CID
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))


def test_collection_kind_defaults_to_stac(db, stac_collection):
    assert db.execute("SELECT libs.collection_kind(%s)", (CID,)).fetchone()[0] == "stac"
    db.execute("INSERT INTO data.collection_meta (collection_id, kind) VALUES (%s, 'features')", (CID,))
    assert db.execute("SELECT libs.collection_kind(%s)", (CID,)).fetchone()[0] == "features"


def test_collection_kind_of_unknown_collection_is_p0002(db):
    with pytest.raises(psycopg.errors.NoDataFound, match="collection no-such-thing not found"):
        db.execute("SELECT libs.collection_kind('no-such-thing')")


def test_items_at_most_reads_the_partition_statistics(db, stac_collection):
    """libs.stac_items_at_most decides whether a search can count every match in the page's own scan."""
    items = [{"type": "Feature", "id": f"s{i}", "geometry": {"type": "Point", "coordinates": [i, 0]},
              "properties": {"datetime": "2024-01-01T00:00:00Z"}} for i in range(30)]
    db.execute("SELECT libs.stac_items_write(%s, %s::jsonb)", (CID, json.dumps(items)))
    db.execute("ANALYZE pgstac.items")
    at_most = "SELECT libs.stac_items_at_most(%s::jsonb, %s)"
    assert db.execute(at_most, (json.dumps([CID]), 30)).fetchone()[0] is True
    assert db.execute(at_most, (json.dumps([CID]), 29)).fetchone()[0] is False
    assert db.execute(at_most, (json.dumps(["no-such-collection"]), 10**9)).fetchone()[0] is False  # unknown
    doc = db.execute("SELECT api.search(%s::jsonb)", (json.dumps({"collections": [CID], "limit": 7}),)).fetchone()[0]
    assert (doc["numberMatched"], doc["numberReturned"]) == (30, 7)


def test_search_and_collection_get_as_an_analyst(db, stac_collection):
    item = {"type": "Feature", "id": "i1", "geometry": {"type": "Point", "coordinates": [1, 2]},
            "properties": {"datetime": "2024-01-01T00:00:00Z"}}
    with db.transaction():
        db.execute("SET LOCAL ROLE stapi_writer")
        db.execute("SELECT api.items_create(%s, %s::jsonb)", (CID, json.dumps(item)))
    doc = db.execute("SELECT api.search(%s::jsonb)", (json.dumps({"collections": [CID]}),)).fetchone()[0]
    assert [f["id"] for f in doc["features"]] == ["i1"] and doc["numberMatched"] == 1
    coll = db.execute("SELECT api.collection_get(%s)", (CID,)).fetchone()[0]
    rels = {link["rel"] for link in coll["links"]}
    assert {"self", "root", "parent", "items"} <= rels


def test_writes_need_the_writer_role(db, stac_collection):
    with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
        db.execute("SET LOCAL ROLE stapi_anon")
        db.execute("SELECT api.item_delete(%s, 'x')", (CID,))


def test_json_merge_patch_and_url_encode(db):
    patched = db.execute("""SELECT libs.json_merge_patch('{"a": {"b": 1, "c": 2}, "d": 3}',
                                                         '{"a": {"b": null, "e": 4}, "d": [1]}')""").fetchone()[0]
    assert patched == {"a": {"c": 2, "e": 4}, "d": [1]}
    assert db.execute("SELECT libs.url_encode('a b/ü')").fetchone()[0] == "a%20b%2F%C3%BC"


@pytest.mark.parametrize("value", [
    "plain-._~", "2021-01-01T00:00:00Z/2021-12-31T23:59:59Z", "-20,30,40,60", "100%", "a+b=c&d",
    "\"eo:cloud_cover\" < 30 AND platform = 'sentinel-2a'", "S_INTERSECTS(geometry, POINT(1 2))",
    "[1]{2}?#;@!*$|^`\\", "Müller ärger/ü", "日本 語", "%2F already", "tab\there"])
def test_url_encode_is_rfc3986_percent_encoding(db, value):
    """Fast path (replace() of common characters) and slow path (character by character) both give
    exactly what Python's quote(safe='-._~') gives."""
    from urllib.parse import quote

    assert db.execute("SELECT libs.url_encode(%s)", (value,)).fetchone()[0] == quote(value, safe="-._~")


@pytest.mark.parametrize("item_assets", [None, {"data": {"type": "image/tiff", "roles": ["data"]}}])
def test_search_hydrates_items_as_pgstac_get_item_does(db, item_assets):
    """api.search hydrates stored items (one concatenation for scalar-only base items, key by key otherwise,
    also where pgSTAC stored its deleted-key marker) to exactly what pgstac.get_item returns."""
    cid = "hydrate-test"
    db.execute("SET search_path = pgstac, public")
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))
    coll = {"id": cid, "description": "t", "stac_version": "1.0.0",   # an item without one stores a marker
            **({"item_assets": item_assets} if item_assets else {})}
    db.execute("SELECT pgstac.create_collection(%s::jsonb)", (json.dumps(coll),))
    base = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}, "links": [],
            "properties": {"datetime": "2024-01-01T00:00:00Z"}, "collection": cid}
    shapes = [{"stac_version": "1.0.0", "assets": {"data": {"href": "x.tif", "type": "image/tiff", "roles": ["data"]}}},
              {"stac_version": "1.0.0", "assets": {}}, {"assets": {"a": {"href": "y"}}},   # no stac_version: marker
              {"stac_version": "1.1.0", "assets": {"data": {"href": "z"}}, "extra": [1, {"b": None}]}]
    for i, shape in enumerate(shapes):
        db.execute("SELECT pgstac.create_item(%s::jsonb)", (json.dumps({**base, "id": f"h{i}", **shape}),))
    found = db.execute("SELECT api.search(%s::jsonb)", (json.dumps({"collections": [cid], "limit": 10}),)).fetchone()[0]
    ours = {f["id"]: {k: v for k, v in f.items() if k != "links"} for f in found["features"]}
    for i in range(len(shapes)):
        theirs = db.execute("SELECT pgstac.get_item(%s, %s)", (f"h{i}", cid)).fetchone()[0]
        assert ours[f"h{i}"] == {k: v for k, v in theirs.items() if k != "links"}
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))


@pytest.mark.parametrize("stored, kept", [
    ([], []), (None, []), ({"rel": "license"}, []),
    ([{"rel": "self", "href": "old"}, {"rel": "license", "href": "l"}, {"href": "no rel"}, {"rel": "root"}],
     [{"rel": "license", "href": "l"}])])
def test_item_links_replace_ours_and_keep_the_others(db, stored, kept):
    item = {"id": "a b", "collection": "c/d", **({"links": stored} if stored is not None else {})}
    linked = db.execute("SELECT libs.stac_item_at(%s::jsonb, NULL, 'http://h/')", (json.dumps(item),)).fetchone()[0]
    assert linked["links"] == [
        {"rel": "self", "href": "http://h/collections/c%2Fd/items/a%20b", "type": "application/geo+json"},
        {"rel": "parent", "href": "http://h/collections/c%2Fd", "type": "application/json"},
        {"rel": "collection", "href": "http://h/collections/c%2Fd", "type": "application/json"},
        {"rel": "root", "href": "http://h/", "type": "application/json"}, *kept]


def test_upgrade_from_the_first_release_leaves_no_ambiguous_overloads(db):
    """Earlier releases had libs.stac_item(jsonb) and libs.stac_collection(jsonb, text): the repeatable
    source drops them, so calls with fewer arguments never become ambiguous on an upgraded database."""
    from scripts.migrate import manifest_files

    db.execute("CREATE OR REPLACE FUNCTION libs.stac_item(item jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT item'")
    db.execute("CREATE OR REPLACE FUNCTION libs.stac_collection(content jsonb, kind text) RETURNS jsonb "
               "LANGUAGE sql AS 'SELECT content'")
    with db.transaction():
        for path in manifest_files():
            db.execute(path.read_text())
    overloaded = db.execute("""SELECT proname FROM pg_proc WHERE pronamespace IN ('libs'::regnamespace, 'api'::regnamespace)
                               AND proname LIKE '%stac%' GROUP BY proname HAVING count(*) > 1""").fetchall()
    assert overloaded == []


def test_demo_step_is_idempotent(db, database_url):
    from scripts import demo_stac

    demo_stac.load(database_url)
    demo_stac.load(database_url)
    doc = db.execute("SELECT api.search('{\"collections\": [\"demo-stac\"], \"limit\": 10}')").fetchone()[0]
    assert doc["numberMatched"] == 6
    db.execute("SELECT pgstac.delete_collection('demo-stac')")


ASSETS = {"data": {"href": "https://e.org/x.tif", "type": "image/tiff", "roles": ["data"]},
          "extra": {"href": "https://e.org/y"}}


@pytest.mark.parametrize("times, variant", [
    ({"datetime": "2024-01-01T00:00:00Z"}, {}),
    ({"datetime": None, "start_datetime": "2024-01-01T10:00:00", "end_datetime": "2024-02-01T00:00:00+02:00"}, {}),
    ({"datetime": "2024-01-01T00:00:00Z"}, {"assets": {"data": {"type": "image/tiff", "roles": ["data"]}}}),
    ({"datetime": "2024-01-01T00:00:00Z"}, {"assets": {}}),
    ({"datetime": "2024-01-01T00:00:00Z"}, {"assets": [1, 2], "stac_version": "1.1.0"}),
    ({"datetime": "2024-01-01T00:00:00Z"}, {"assets": {"data": {"href": "h", "roles": None}}, "x": [None, {}]}),
])
def test_our_ingest_stores_what_pgstac_create_item_stores(db, times, variant):
    """(Not compared: an item without stac_version, links or bbox, which we complete and pgSTAC does not, and
    "assets": null, which we drop and pgSTAC stores as its deleted-key marker.)
    libs.stac_items_write dehydrates like pgstac.content_dehydrate (against the collection's item_assets)
    and reads datetimes like pgstac.stac_daterange (UTC when the string has no offset)."""
    base = {"description": "t", "item_assets": {"data": {"type": "image/tiff", "roles": ["data"]}}}
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "same", "links": [{"rel": "x", "href": "y"}], "bbox": [0, 0, 1, 1],
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
            "properties": {**times, "n": None, "nested": {"a": None, "b": 1}}, "assets": ASSETS}
    item = {k: v for k, v in {**item, **variant}.items() if not (k in variant and v is None and k != "assets")}
    db.execute("SET search_path = pgstac, public")
    for cid in ("dehydrate-a", "dehydrate-b"):
        db.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))
        db.execute("SELECT pgstac.create_collection(%s::jsonb)", (json.dumps({**base, "id": cid}),))
    db.execute("SELECT pgstac.create_item(%s::jsonb)", (json.dumps({**item, "collection": "dehydrate-a"}),))
    db.execute("SELECT libs.stac_items_write('dehydrate-b', %s::jsonb)", (json.dumps([{**item, "collection": "dehydrate-b"}]),))
    rows = db.execute("SELECT collection, content, datetime, end_datetime, ST_AsText(geometry) FROM pgstac.items "
                      "WHERE id = 'same' ORDER BY collection").fetchall()
    assert len(rows) == 2 and rows[0][1:] == rows[1][1:]
    hydrated = [db.execute("SELECT pgstac.get_item('same', %s)", (c,)).fetchone()[0] for c in ("dehydrate-a", "dehydrate-b")]
    assert {**hydrated[0], "collection": None} == {**hydrated[1], "collection": None}
    for cid in ("dehydrate-a", "dehydrate-b"):
        db.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))
