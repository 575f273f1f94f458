"""Vector tiles over HTTP: MVT content at known tiles, TileJSON, tilesets, tile matrix sets, styles, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import mapbox_vector_tile
import morecantile
import psycopg
import pytest
import referencing
from conftest import testdata as shared_file
from psycopg.types.json import Jsonb

CID = "tiles-api-fields"
HYBRID = "tiles-api-hybrid"
WMQ = morecantile.tms.get("WebMercatorQuad")
MVT = "application/vnd.mapbox-vector-tile"


def stac_collection(cid: str) -> dict:
    return {"type": "Collection", "stac_version": "1.0.0", "id": cid, "title": f"Test {cid}", "description": cid,
            "license": "CC0-1.0", "links": [],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}}}


def add_collection(conn: psycopg.Connection, cid: str, kind: str) -> None:
    conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))
    conn.execute("SELECT pgstac.create_collection(%s)", (Jsonb(stac_collection(cid)),))
    conn.execute("INSERT INTO data.collection_meta (collection_id, kind) VALUES (%s, %s)", (cid, kind))


# Known features: (id, WKT, properties)
FEATURES = [
    ("field-1", "POLYGON((10 50, 10.001 50, 10.001 50.001, 10 50.001, 10 50))",
     {"crop": "wheat", "ph": 6.5, "farmer": "Ada"}),
    # crosses the equator and the prime meridian: in all four tiles of zoom 1
    ("field-cross", "POLYGON((-1 -1, 1 -1, 1 1, -1 1, -1 -1))", {"crop": "maize", "ph": 7.2, "farmer": "Bo"}),
    ("river", "LINESTRING(5 45, 5.5 45.5, 6 45.2)", {"name": "Rhone", "navigable": True}),
    ("well", "POINT(20 -10)", {"depth": 30}),
    # MVT has no geometry collections: the tile keeps the polygon
    ("mixed", "GEOMETRYCOLLECTION(POLYGON((40 40, 41 40, 41 41, 40 40)), POINT(40.5 40.2))", {"kind": "gc"}),
]
N_TINY = 3000   # tiny fields, 0.0005 degrees wide, around (12, 48): they all collapse at low zooms


@pytest.fixture(scope="module")
def fields(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")   # pgSTAC's delete trigger needs it
        add_collection(conn, CID, "features")
        for fid, wkt, props in FEATURES:
            conn.execute("INSERT INTO data.features (collection_id, id, geom, properties) "
                         "VALUES (%s, %s, ST_GeomFromText(%s, 4326), %s)", (CID, fid, wkt, Jsonb(props)))
        conn.execute("""
            INSERT INTO data.features (collection_id, id, geom, properties)
            SELECT %s, 'tiny-' || i, ST_MakeEnvelope(lon, lat, lon + 0.0005, lat + 0.0005, 4326),
                   jsonb_build_object('crop', CASE WHEN i %% 2 = 0 THEN 'rye' ELSE 'oat' END, 'n', i)
            FROM generate_series(1, %s) i,
                 LATERAL (SELECT 12 + (i %% 60) * 0.01 AS lon, 48 + (i / 60) * 0.01 AS lat) p""", (CID, N_TINY))
        # a big, detailed polygon (a circle of radius 0.45 degrees with 20,000 vertices) that must be simplified at low zoom
        conn.execute("""
            INSERT INTO data.features (collection_id, id, geom, properties)
            VALUES (%s, 'lake', ST_Buffer(ST_Point(30, 60, 4326), 0.45, 5000),
                    '{"name": "lake"}')""", (CID,))
        add_collection(conn, HYBRID, "hybrid")
        conn.execute("INSERT INTO data.features (collection_id, id, geom, properties) "
                     "VALUES (%s, 'h1', ST_GeomFromText('POINT(3 3)', 4326), '{\"a\": 1}')", (HYBRID,))
        yield CID
        conn.execute("DELETE FROM pgstac.collections WHERE id IN (%s, %s)", (CID, HYBRID))


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    t = WMQ.tile(lon, lat, z)
    return t.z, t.x, t.y


def decode(body: bytes, layer: str = CID) -> list[dict]:
    return mapbox_vector_tile.decode(body)[layer]["features"]


def get_tile(http, z, x, y, cid=CID, tileset="WebMercatorQuad", suffix="", **query):
    return http.get(f"/collections/{cid}/tiles/{tileset}/{z}/{x}/{y}{suffix}", params=query)


@pytest.mark.parametrize("suffix", ["", ".mvt", ".pbf"])
def test_tile_holds_the_feature_at_its_place(http, fields, suffix):
    z, x, y = tile_of(10.0005, 50.0005, 14)
    r = get_tile(http, z, x, y, suffix=suffix)
    assert r.status_code == 200
    assert r.headers["content-type"] == MVT
    feats = decode(r.content)
    assert [f["properties"]["id"] for f in feats] == ["field-1"]
    assert feats[0]["properties"] == {"id": "field-1", "crop": "wheat", "ph": 6.5, "farmer": "Ada"}
    assert feats[0]["geometry"]["type"] == "Polygon"
    assert isinstance(feats[0]["id"], int)   # data.features.seq: MapLibre's feature-state works on it
    # the field is ~0.001 degrees wide: at zoom 14 (tile ~0.022 degrees) it spans about 4096/22 units
    xs = [p[0] for p in feats[0]["geometry"]["coordinates"][0]]
    assert 150 < max(xs) - min(xs) < 230


def test_feature_crossing_tile_borders_is_in_every_tile_it_touches(http, fields):
    for x, y in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        feats = decode(get_tile(http, 1, x, y).content)
        crossing = [f for f in feats if f["properties"]["id"] == "field-cross"]
        assert len(crossing) == 1, (x, y)
        coords = crossing[0]["geometry"]["coordinates"][0]
        # clipped at the tile edge (plus the 64-unit buffer), never the whole square from another tile
        assert all(-64 <= c <= 4096 + 64 for p in coords for c in p)


def test_low_zoom_keeps_every_feature_and_stays_small(http, fields):
    r = get_tile(http, 0, 0, 0)
    assert r.status_code == 200
    assert len(r.content) < 500_000
    ids = {f["properties"]["id"] for f in decode(r.content)}
    assert len(ids) == len(FEATURES) + N_TINY + 1
    assert sum(i.startswith("tiny-") for i in ids) == N_TINY


def lake_ring(http, z: int) -> list:
    feats = decode(get_tile(http, *tile_of(30, 60, z)).content)
    return next(f for f in feats if f["properties"]["id"] == "lake")["geometry"]["coordinates"][0]


def test_low_zoom_simplifies_detailed_geometry(http, fields):
    # the whole lake lies in the tile at zooms 3 and 6: its 20,000 vertices shrink to what the tile's grid shows
    at_3, at_6 = lake_ring(http, 3), lake_ring(http, 6)
    assert len(at_3) < 60
    assert len(at_3) < len(at_6) < 400


def test_line_and_point_features(http, fields):
    feats = {f["properties"]["id"]: f for f in decode(get_tile(http, *tile_of(5.5, 45.5, 6)).content)}
    assert feats["river"]["geometry"]["type"] == "LineString"
    assert feats["river"]["properties"]["navigable"] is True
    feats = {f["properties"]["id"]: f for f in decode(get_tile(http, *tile_of(20, -10, 8)).content)}
    assert feats["well"]["geometry"]["type"] == "Point"


def test_geometry_collection_becomes_its_polygon(http, fields):
    feats = {f["properties"]["id"]: f for f in decode(get_tile(http, *tile_of(40.6, 40.4, 7)).content)}
    assert feats["mixed"]["geometry"]["type"] == "Polygon"


def test_properties_selects_the_attributes(http, fields):
    z, x, y = tile_of(10.0005, 50.0005, 14)
    feats = decode(get_tile(http, z, x, y, properties="crop,ph").content)
    assert feats[0]["properties"] == {"id": "field-1", "crop": "wheat", "ph": 6.5}
    feats = decode(get_tile(http, z, x, y, properties="nosuch").content)
    assert feats[0]["properties"] == {"id": "field-1"}


def test_big_tiles_are_gzipped_when_asked(http, fields):
    r = http.get(f"/collections/{CID}/tiles/WebMercatorQuad/0/0/0", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and "Accept-Encoding" in r.headers["vary"]
    assert len(decode(r.content)) == len(FEATURES) + N_TINY + 1    # httpx inflates it
    plain = http.get(f"/collections/{CID}/tiles/WebMercatorQuad/0/0/0", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == r.content
    assert plain.headers["etag"] != r.headers["etag"]


def test_empty_tile_is_204_and_cacheable(http, fields):
    r = get_tile(http, *tile_of(-120, -60, 10))
    assert r.status_code == 204 and r.content == b""
    assert "max-age" in r.headers["cache-control"]


def test_tiles_carry_etag_and_answer_304(http, fields):
    z, x, y = tile_of(10.0005, 50.0005, 14)
    r = get_tile(http, z, x, y)
    assert "max-age" in r.headers["cache-control"]
    again = http.get(f"/collections/{CID}/tiles/WebMercatorQuad/{z}/{x}/{y}",
                     headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("z,x,y", [(25, 0, 0), (2, 4, 0), (2, 0, 4), (3, -1, 0)])
def test_out_of_range_tile_is_a_json_404(http, fields, z, x, y):
    r = get_tile(http, z, x, y)
    assert r.status_code == 404
    assert r.json()["code"] == "NotFound" and "tile" in r.json()["description"]


@pytest.mark.parametrize("path,status", [
    ("WebMercatorQuad/a/0/0", 400), ("WebMercatorQuad/1/0/0.png", 404), ("WebMercatorQuad/1/0/0.json", 404),
    ("NoSuchTMS/1/0/0", 404)])
def test_bad_tile_paths_are_json_errors(http, fields, path, status):
    r = http.get(f"/collections/{CID}/tiles/{path}")
    assert r.status_code == status and r.json()["description"]


def test_unknown_collection_and_unknown_parameter(http, fields):
    assert http.get("/collections/no-such/tiles/WebMercatorQuad/0/0/0").status_code == 404
    r = get_tile(http, 0, 0, 0, foo="1")
    assert r.status_code == 400 and "foo" in r.json()["description"]


def test_filter_selects_features(http, fields):
    z, x, y = tile_of(12.3, 48.2, 6)
    r = get_tile(http, z, x, y, filter="crop = 'rye'")
    assert r.status_code == 200
    feats = decode(r.content)
    assert {f["properties"]["crop"] for f in feats} == {"rye"} and len(feats) == N_TINY // 2
    as_json = '{"op": "and", "args": [{"op": "=", "args": [{"property": "crop"}, "oat"]}, ' \
              '{"op": "<", "args": [{"property": "n"}, 100]}]}'
    r = get_tile(http, z, x, y, filter=as_json, **{"filter-lang": "cql2-json"})
    assert sorted(f["properties"]["n"] for f in decode(r.content)) == list(range(1, 100, 2))
    r = get_tile(http, z, x, y, filter="S_INTERSECTS(geom, BBOX(12.0, 48.0, 12.05, 48.005))")
    assert {f["properties"]["id"] for f in decode(r.content)} == {f"tiny-{i}" for i in range(1, 6)}


@pytest.mark.parametrize("expr,word", [("nosuch = 1", "nosuch"), ("crop = ", "filter"), ("crop LIKE", "filter")])
def test_bad_filter_is_a_400_naming_the_problem(http, fields, expr, word):
    r = get_tile(http, 6, 34, 22, filter=expr)
    assert r.status_code == 400 and word in r.json()["description"]


def test_collection_links_to_its_tilesets_and_style(http, fields):
    links = {link["rel"]: link["href"] for link in http.get(f"/collections/{CID}").json()["links"]}
    assert links["http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"].endswith(f"/collections/{CID}/tiles")
    assert links["stylesheet"].endswith(f"/collections/{CID}/styles/default")
    links = {link["rel"] for link in http.get(f"/collections/{HYBRID}").json()["links"]}
    assert {"http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
            "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map"} <= links


def test_hybrid_vector_tileset_is_webmercatorquad_vector(http, fields):
    r = get_tile(http, *tile_of(3, 3, 5), cid=HYBRID, tileset="WebMercatorQuad-Vector")
    assert r.status_code == 200
    assert [f["properties"]["id"] for f in decode(r.content, HYBRID)] == ["h1"]
    # WebMercatorQuad of a hybrid is the raster tileset: no vector tiles there
    assert get_tile(http, *tile_of(3, 3, 5), cid=HYBRID).status_code == 404


# ---- TileJSON, tilesets, tile matrix sets, styles ------------------------------------------------------------

def tilejson_schema() -> dict:
    return json.loads(shared_file("tiles-schemas", "tilejson-spec", "3.0.0", "schema.json").read_text())


@pytest.mark.parametrize("prefix", ["", "/api/v2"])
def test_tilejson_validates_and_describes_the_layer(http, fields, prefix):
    r = http.get(f"{prefix}/collections/{CID}/tiles/WebMercatorQuad/tilejson.json")
    assert r.status_code == 200
    doc = r.json()
    jsonschema.validate(doc, tilejson_schema())
    assert doc["tilejson"] == "3.0.0"
    base = str(http.base_url).rstrip("/")
    assert doc["tiles"] == [f"{base}{prefix}/collections/{CID}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}"]
    layer = doc["vector_layers"][0]
    assert layer["id"] == CID
    assert layer["fields"]["crop"] == "String" and layer["fields"]["ph"] == "Number"
    assert layer["fields"]["navigable"] == "Boolean"
    west, south, east, north = doc["bounds"]
    assert west == pytest.approx(-1) and east == pytest.approx(41)
    assert south == pytest.approx(-10) and north == pytest.approx(60.45, abs=0.01)
    assert 0 <= doc["minzoom"] < doc["maxzoom"] and len(doc["center"]) == 3


def test_tilejson_keeps_tile_query_and_limits_fields(http, fields):
    doc = http.get(f"/collections/{CID}/tiles/WebMercatorQuad/tilejson.json", params={"properties": "crop"}).json()
    jsonschema.validate(doc, tilejson_schema())
    assert doc["tiles"][0].endswith("/{z}/{x}/{y}?properties=crop")
    assert doc["vector_layers"][0]["fields"] == {"id": "String", "crop": "String"}
    doc = http.get(f"/collections/{CID}/tiles/WebMercatorQuad/tilejson.json", params={"filter": "ph > 7"}).json()
    assert doc["tiles"][0].endswith("/{z}/{x}/{y}?filter=ph+%3E+7")


def test_tilesets_list_per_kind(http, fields):
    doc = http.get(f"/collections/{CID}/tiles").json()
    assert [(t["dataType"], t["links"][0]["href"].rsplit("/", 1)[1]) for t in doc["tilesets"]] == \
        [("vector", "WebMercatorQuad")]
    doc = http.get(f"/api/v2/collections/{HYBRID}/tiles").json()
    assert [(t["dataType"], t["links"][0]["href"].rsplit("/", 1)[1]) for t in doc["tilesets"]] == \
        [("map", "WebMercatorQuad"), ("vector", "WebMercatorQuad-Vector")]
    assert all("/api/v2/" in link["href"] for t in doc["tilesets"] for link in t["links"]
               if link["rel"] == "self")


def tms_validator(name: str) -> jsonschema.protocols.Validator:
    folder = shared_file("tiles-schemas", "ogc-tms", "schemas", "tms", "2.0", "json")

    def retrieve(uri: str) -> referencing.Resource:
        path = Path(uri.removeprefix("file://"))
        return referencing.Resource.from_contents(json.loads(path.read_text()),
                                                  default_specification=referencing.jsonschema.DRAFT201909)

    schema = json.loads((folder / name).read_text()) | {"$id": (folder / name).as_uri()}
    return jsonschema.Draft201909Validator(schema, registry=referencing.Registry(retrieve=retrieve))


def test_tileset_metadata_validates(http, fields):
    r = http.get(f"/collections/{CID}/tiles/WebMercatorQuad")
    assert r.status_code == 200
    doc = r.json()
    tms_validator("tileSet.json").validate(doc)
    rels = {link["rel"]: link for link in doc["links"]}
    assert rels["item"]["templated"] is True and rels["item"]["type"] == MVT
    assert rels["http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"]["href"].endswith(
        "/tileMatrixSets/WebMercatorQuad")
    assert doc["layers"][0]["propertiesSchema"]["properties"]["ph"] == {"type": "number"}
    assert http.get(f"/collections/{CID}/tiles/NoSuch").status_code == 404


def test_tile_matrix_set_matches_the_standard(http):
    r = http.get("/tileMatrixSets/WebMercatorQuad")
    assert r.status_code == 200
    doc = r.json()
    tms_validator("tileMatrixSet.json").validate(doc)
    registry = json.loads(shared_file("tiles-schemas", "ogc-tms", "registry", "json", "WebMercatorQuad.json")
                          .read_text())
    assert doc["uri"] == registry["uri"] and doc["crs"] == registry["crs"]
    ours = {m["id"]: m for m in doc["tileMatrices"]}
    for m in registry["tileMatrices"]:
        assert ours[m["id"]]["scaleDenominator"] == pytest.approx(m["scaleDenominator"], rel=1e-9)
        assert ours[m["id"]]["cellSize"] == pytest.approx(m["cellSize"], rel=1e-9)
        assert ours[m["id"]]["matrixWidth"] == m["matrixWidth"]
        assert ours[m["id"]]["pointOfOrigin"] == pytest.approx(m["pointOfOrigin"])
    listing = http.get("/tileMatrixSets").json()
    assert [t["id"] for t in listing["tileMatrixSets"]] == ["WebMercatorQuad"]
    assert http.get("/tileMatrixSets/NoSuch").status_code == 404


def test_conformance_and_landing_link(http):
    conf = http.get("/conformance").json()["conformsTo"]
    for c in ("core", "tileset", "tilesets-list", "geodata-tilesets", "mvt"):
        assert f"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{c}" in conf
    links = http.get("/api/v2/").json()["links"]
    tiling = [link for link in links if link["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"]
    assert tiling and tiling[0]["href"].endswith("/api/v2/tileMatrixSets")


def test_style_draws_each_geometry_type(http, fields):
    r = http.get(f"/collections/{CID}/styles/default")
    assert r.status_code == 200
    style = r.json()
    assert style["version"] == 8
    assert style["sources"]["vector"]["url"].endswith(f"/collections/{CID}/tiles/WebMercatorQuad/tilejson.json")
    assert {layer["type"] for layer in style["layers"]} == {"fill", "line", "circle"}
    assert all(layer["source-layer"] == CID for layer in style["layers"])
    hybrid = http.get(f"/collections/{HYBRID}/styles/default").json()
    assert hybrid["sources"]["raster"]["url"].endswith(f"/collections/{HYBRID}/tiles/WebMercatorQuad/tilejson.json")
    assert hybrid["sources"]["vector"]["url"].endswith("/WebMercatorQuad-Vector/tilejson.json")
    assert hybrid["layers"][0]["type"] == "raster"
    assert http.get(f"/collections/{CID}/styles/other").status_code == 404


def test_openapi_lists_the_tile_paths(http):
    paths = http.get("/api").json()["paths"]
    for path in ("/tileMatrixSets", "/collections/{collectionId}/tiles",
                 "/collections/{collectionId}/tiles/{tilesetId}/tilejson.json",
                 "/collections/{collectionId}/tiles/{tilesetId}/{z}/{x}/{y}",
                 "/collections/{collectionId}/styles/{styleId}"):
        assert "get" in paths[path], path
    tile = paths["/collections/{collectionId}/tiles/{tilesetId}/{z}/{x}/{y}"]["get"]
    assert "application/vnd.mapbox-vector-tile" in tile["responses"]["200"]["content"]
    assert "204" in tile["responses"]


# ---- the vector tile fast path (routes/tiles.py TileFastPath) and its single-statement read ----------------

def test_tile_is_the_same_on_both_surfaces_and_suffixes(http, fields):
    z, x, y = tile_of(12.3, 48.2, 8)
    answers = [http.get(f"{prefix}/collections/{CID}/tiles/WebMercatorQuad/{z}/{x}/{y}{suffix}",
                        params={"properties": "crop"}, headers={"Accept-Encoding": "gzip"})
               for prefix in ("", "/api/v2") for suffix in ("", ".mvt", ".pbf")]
    assert {(r.status_code, r.headers["etag"], r.headers["content-encoding"], r.content) for r in answers} == \
        {(200, answers[0].headers["etag"], "gzip", answers[0].content)}
    assert {f["properties"]["crop"] for f in decode(answers[0].content)} == {"rye", "oat"}


@pytest.mark.parametrize("prefix", ["", "/api/v2"])
def test_every_tile_answer_carries_cors_headers(http, fields, prefix):
    origin = {"Origin": "https://maps.example.org"}
    z, x, y = tile_of(10.0005, 50.0005, 14)
    url = f"{prefix}/collections/{CID}/tiles/WebMercatorQuad"
    ok = http.get(f"{url}/{z}/{x}/{y}", headers=origin)
    answers = [ok, http.get(f"{url}/{z}/{x}/{y}", headers={**origin, "If-None-Match": ok.headers["etag"]}),
               http.get(f"{url}/{'/'.join(map(str, tile_of(-120, -60, 10)))}", headers=origin),
               http.get(f"{url}/30/0/0", headers=origin), http.get(f"{url}/1/0/0?foo=1", headers=origin),
               http.get(f"{prefix}/collections/no-such/tiles/WebMercatorQuad/1/0/0", headers=origin)]
    assert [r.status_code for r in answers] == [200, 304, 204, 404, 400, 404]
    assert all(r.headers["access-control-allow-origin"] == "*" for r in answers)
    assert "ETag" in ok.headers["access-control-expose-headers"]
    assert all(r.json()["description"] for r in answers[3:])


def test_head_of_a_tile_has_the_headers_of_its_get(http, fields):
    url = f"/collections/{CID}/tiles/WebMercatorQuad/{'/'.join(map(str, tile_of(10.0005, 50.0005, 14)))}"
    get, head = http.get(url), http.head(url)
    assert head.status_code == 200 and head.content == b""
    for name in ("etag", "content-type", "content-length", "cache-control", "vary"):
        assert head.headers[name] == get.headers[name], name


def test_304_only_for_the_etag_of_the_same_encoding(http, fields):
    url = f"/collections/{CID}/tiles/WebMercatorQuad/{'/'.join(map(str, tile_of(12.3, 48.2, 8)))}"
    gz = http.get(url, headers={"Accept-Encoding": "gzip"})
    plain = http.get(url, headers={"Accept-Encoding": "identity"})
    assert gz.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    again = http.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": f'"x", {gz.headers["etag"]}'})
    assert again.status_code == 304 and again.headers["etag"] == gz.headers["etag"]
    assert http.get(url, headers={"Accept-Encoding": "identity", "If-None-Match": gz.headers["etag"]}) \
        .status_code == 200
    assert http.get(url, headers={"If-None-Match": "*"}).status_code == 304


@pytest.mark.parametrize("prefix", ["", "/api/v2"])
def test_tile_numbers_beyond_32_bits_are_a_404_like_any_tile_outside(http, fields, prefix):
    for z, x, y in [(99999999999, 0, 0), (3, 99999999999, 0), (3, 0, 99999999999), (2 ** 31, 0, 0)]:
        r = http.get(f"{prefix}/collections/{CID}/tiles/WebMercatorQuad/{z}/{x}/{y}.pbf")
        assert r.status_code == 404 and f"tile {z}/{x}/{y} is outside" in r.json()["description"]
    assert get_tile(http, 2 ** 31 - 1, 0, 0).status_code == 404   # within int4: the SQL function says so


def test_a_bad_query_is_a_400_every_time(http, fields):
    # the parsed tile query is cached per query string; a malformed one must not be
    for _ in range(2):
        r = get_tile(http, 6, 34, 22, filter="crop = ")
        assert r.status_code == 400 and "filter" in r.json()["description"]


def test_fast_path_answers_tiles_and_passes_the_rest_down(database_url, fields):
    """Called in-process: the fast path answers tile GETs itself (the app below it would answer 418) and hands
    everything else (other paths, HEAD, malformed tile paths) to that app."""
    import asyncio

    import httpx
    from starlette.responses import PlainTextResponse

    from api_gateway import db
    from api_gateway.routes.tiles import TileFastPath

    async def below(scope, receive, send):
        await PlainTextResponse("below", status_code=418)(scope, receive, send)

    async def run() -> list[httpx.Response]:
        await db.open_pool(database_url)
        try:
            transport = httpx.ASGITransport(app=TileFastPath(below))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                tile = "/collections/{}/tiles/WebMercatorQuad/{}/{}/{}".format(CID, *tile_of(10.0005, 50.0005, 14))
                return [await client.get(tile), await client.get("/api/v2" + tile + ".pbf"),
                        await client.get(tile.replace(CID, "no-such")), await client.head(tile),
                        await client.get(tile + ".png"), await client.get(tile + "/"),
                        await client.get(f"/collections/{CID}/tiles/WebMercatorQuad/a/0/0"),
                        await client.get(f"/collections/{CID}/tiles")]
        finally:
            await db.close_pool()

    answers = asyncio.run(run())
    assert [r.status_code for r in answers] == [200, 200, 404, 418, 418, 418, 418, 418]
    assert [f["properties"]["id"] for f in decode(answers[0].content)] == ["field-1"]
    assert answers[1].content == answers[0].content and answers[0].headers["content-type"] == MVT


def test_pooled_reads_run_as_the_anonymous_role(database_url):
    """db.read_bytes runs one statement outside a transaction block: as stapi_anon, every pooled connection's role."""
    import asyncio

    from api_gateway import db

    async def run() -> tuple[bytes, bytes]:
        await db.open_pool(database_url)
        try:
            return (await db.read_bytes(b"t_current", b"SELECT convert_to(current_user::text, 'UTF8')", ()),
                    await db.read_bytes(b"t_session", b"SELECT convert_to(session_user::text, 'UTF8')", ()))
        finally:
            await db.close_pool()

    current, session = (value.decode() for value in asyncio.run(run()))
    assert current == "stapi_anon" and session != "stapi_anon"
