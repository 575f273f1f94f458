"""scripts/upload_features.py run as a subprocess against the test database, checked over HTTP and SQL.

GeoJSON (CRS84, EPSG:7755 and UTM through the legacy crs member or --crs), GeoPackages (one written here with
sqlite3, and the CQL2 standard's Natural Earth GeoPackage), --force, and bad input: nothing stored, the feature
named, a non-zero exit.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import shapely
from pyproj import Transformer

from scripts.feature_sources import open_source
from tests.conftest import ROOT, Services
from tests.conftest import testdata as shared_testdata

PREFIX = "test-upload-features-"
CLI = ROOT / "scripts" / "upload_features.py"


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=services.url, timeout=60) as client:
        yield client
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute("SET search_path = pgstac, public")
        conn.execute("DELETE FROM pgstac.collections WHERE id LIKE %s", (PREFIX + "%",))


def upload(database_url: str, path: Path, cid: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CLI), str(path), "--collection-id", PREFIX + cid, "--quiet",
                           "--json", *args], env={**os.environ, "DATABASE_URL": database_url},
                          capture_output=True, text=True, timeout=300)


def summary(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert run.returncode == 0, run.stderr
    return dict(json.loads(run.stdout))


def square(i: int, x: float, y: float, size: float, **props: Any) -> dict[str, Any]:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Feature", "id": f"f{i}", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": props}


def write_geojson(path: Path, features: list[dict[str, Any]], crs: str | None = None) -> Path:
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc))
    return path


def fields(n: int) -> list[dict[str, Any]]:
    crops = ["rice", "wheat", "maize"]
    return [square(i, 78.0 + (i % 10) * 0.01, 17.0 + (i // 10) * 0.01, 0.005, crop=crops[i % 3],
                   farmer=f"farmer-{i % 7}", ph=5.5 + (i % 20) / 10, area=1.0 + i % 4,
                   datetime=f"2025-06-{1 + i % 28:02d}T08:00:00Z") for i in range(n)]


def flat(points: list[Any]) -> list[float]:
    return [float(v) for p in points for v in p]


def items(api: httpx.Client, cid: str, **query: Any) -> dict[str, Any]:
    r = api.get(f"/collections/{PREFIX}{cid}/items", params=query)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_help_describes_the_options() -> None:
    run = subprocess.run([sys.executable, str(CLI), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0
    for option in ("--collection-id", "--crs", "--force", "--datetime-property", "--layer", "--title"):
        assert option in run.stdout


def test_geojson_upload_is_served_with_its_extent(api: httpx.Client, database_url: str, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "fields.geojson", fields(60))
    s = summary(upload(database_url, path, "fields", "--title", "Fields 2025"))
    assert s["features"] == 60 and s["source_crs"] == "EPSG:4326" and s["format"] == "GeoJSON"
    assert s["bbox"] == pytest.approx([78.0, 17.0, 78.095, 17.055])
    assert s["interval"] == ["2025-06-01T08:00:00Z", "2025-06-28T08:00:00Z"]
    listed = {c["id"]: c for c in api.get("/collections", params={"limit": 1000}).json()["collections"]}
    doc = listed[PREFIX + "fields"]
    assert doc["title"] == "Fields 2025"
    assert doc["extent"]["spatial"]["bbox"][0] == pytest.approx([78.0, 17.0, 78.095, 17.055])
    assert doc["extent"]["temporal"]["interval"][0] == ["2025-06-01T08:00:00Z", "2025-06-28T08:00:00Z"]
    assert items(api, "fields", limit=1)["numberMatched"] == 60
    rice = items(api, "fields", filter="crop = 'rice' AND ph > 6.5", limit=100)
    assert {f["id"] for f in rice["features"]} == {f"f{i}" for i in range(60) if i % 3 == 0 and 5.5 + (i % 20) / 10 > 6.5}
    assert items(api, "fields", ids="f7")["features"][0]["geometry"]["coordinates"][0][0] == pytest.approx([78.07, 17.0])


def test_datetime_property_option(api: httpx.Client, database_url: str, tmp_path: Path) -> None:
    feats = [square(i, 78.0, 17.0 + i, 0.01, sown=f"2025-0{i + 1}-15") for i in range(3)]
    s = summary(upload(database_url, write_geojson(tmp_path / "sown.geojson", feats), "sown",
                       "--datetime-property", "sown"))
    assert s["interval"] == ["2025-01-15T00:00:00Z", "2025-03-15T00:00:00Z"]
    assert items(api, "sown", datetime="2025-02-01T00:00:00Z/2025-02-28T00:00:00Z")["numberMatched"] == 1


@pytest.mark.parametrize(("epsg", "how"), [(7755, "urn"), (32644, "name"), (32644, "option")])
def test_projected_geojson_lands_at_the_right_wgs84_place(api: httpx.Client, database_url: str, tmp_path: Path,
                                                          epsg: int, how: str) -> None:
    lon, lat = 79.1, 17.4   # Telangana: inside EPSG:7755 (India) and UTM zone 44N
    to_src = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
    x, y = to_src.transform(lon, lat)
    feats = [square(1, x, y, 500.0, crop="rice")]
    crs = {"urn": f"urn:ogc:def:crs:EPSG::{epsg}", "name": f"EPSG:{epsg}", "option": None}[how]
    path = write_geojson(tmp_path / f"{epsg}.geojson", feats, crs)
    cid = f"crs-{epsg}-{how}"
    s = summary(upload(database_url, path, cid, *(["--crs", f"EPSG:{epsg}"] if how == "option" else [])))
    assert s["source_crs"] == f"EPSG:{epsg}"
    ring = items(api, cid)["features"][0]["geometry"]["coordinates"][0]
    back = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True)
    expected = [list(back.transform(px, py)) for px, py in feats[0]["geometry"]["coordinates"][0]]
    assert ring[0] == pytest.approx([lon, lat], abs=1e-7)
    assert flat(sorted(map(tuple, ring[:-1]))) == pytest.approx(flat(sorted(map(tuple, expected[:-1]))), abs=1e-7)


def test_force_replaces_and_without_it_nothing_changes(api: httpx.Client, database_url: str,
                                                       tmp_path: Path) -> None:
    first = write_geojson(tmp_path / "a.geojson", fields(5))
    second = write_geojson(tmp_path / "b.geojson", [square(100 + i, 10.0, 50.0 + i, 0.1, crop="oat")
                                                    for i in range(3)])
    summary(upload(database_url, first, "force"))
    refused = upload(database_url, second, "force")
    assert refused.returncode == 1
    assert "already exists" in refused.stderr and "--force" in refused.stderr
    assert {f["id"] for f in items(api, "force")["features"]} == {f"f{i}" for i in range(5)}
    s = summary(upload(database_url, second, "force", "--force"))
    assert s["features"] == 3
    assert {f["id"] for f in items(api, "force")["features"]} == {"f100", "f101", "f102"}
    bbox = api.get(f"/collections/{PREFIX}force").json()["extent"]["spatial"]["bbox"][0]
    assert bbox == pytest.approx([10.0, 50.0, 10.1, 52.1])


def test_bad_feature_in_the_middle_stores_nothing(api: httpx.Client, database_url: str, db: psycopg.Connection,
                                                  tmp_path: Path) -> None:
    feats = fields(1000)
    feats[499] = {**feats[499], "id": "broken-one",
                  "geometry": {"type": "Polygon", "coordinates": [[[78, 17], [79, 18], [80, 19], [78, 17]]]}}
    path = write_geojson(tmp_path / "bad.geojson", feats)
    run = upload(database_url, path, "bad")
    assert run.returncode == 1
    assert "broken-one" in run.stderr and "number 500" in run.stderr and "nothing was stored" in run.stderr
    assert api.get(f"/collections/{PREFIX}bad").status_code == 404
    assert db.execute("SELECT count(*) FROM data.features WHERE collection_id = %s",
                      (PREFIX + "bad",)).fetchone() == (0,)
    # with --force over an existing collection: the old features stay
    summary(upload(database_url, write_geojson(tmp_path / "good.geojson", fields(4)), "bad"))
    assert upload(database_url, path, "bad", "--force").returncode == 1
    assert items(api, "bad")["numberMatched"] == 4


GEOMETRIES: list[dict[str, Any]] = [
    {"type": "Point", "coordinates": [78.1, 17.1]},
    {"type": "Point", "coordinates": [78.1, 17.1, 550.5]},
    {"type": "LineString", "coordinates": [[78, 17], [78.2, 17.1], [78.3, 17.3]]},
    {"type": "Polygon", "coordinates": [[[78, 17], [79, 17], [79, 18], [78, 18], [78, 17]],
                                        [[78.2, 17.2], [78.4, 17.2], [78.4, 17.4], [78.2, 17.2]]]},
    {"type": "MultiPoint", "coordinates": [[78, 17], [78.5, 17.5]]},
    {"type": "MultiLineString", "coordinates": [[[78, 17], [78.1, 17.1]], [[79, 18], [79.1, 18.2]]]},
    {"type": "MultiPolygon", "coordinates": [[[[78, 17], [78.1, 17], [78.1, 17.1], [78, 17]]],
                                             [[[79, 18], [79.1, 18], [79.1, 18.1], [79, 18]]]]},
    {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [78, 17]},
                                                  {"type": "LineString", "coordinates": [[78, 17], [78.5, 17]]}]},
    {"type": "Polygon", "coordinates": [[[78, 17], [79, 18], [79, 17], [78, 18], [78, 17]]]},   # bow tie: repaired
    {"type": "MultiPoint", "coordinates": [[78, 17], [78.5, 17.5, 3]]},                        # mixed dimensions
    # sent as GeoJSON text (not plain enough for the client's WKB): the database judges it as before
    {"type": "Polygon", "coordinates": [[[78, 17], [79, 17], [79, 18], [78, 18]]]},             # unclosed
]


def test_client_wkb_stores_what_the_database_reads_from_geojson(api: httpx.Client, database_url: str,
                                                                db: psycopg.Connection, tmp_path: Path) -> None:
    """The CLI sends plain GeoJSON geometries as WKB, the HTTP upload sends GeoJSON text: same rows."""
    feats = [{"type": "Feature", "id": f"g{i}", "geometry": g, "properties": {"n": i}} for i, g in enumerate(GEOMETRIES)]
    for crs in (None, "EPSG:32644"):
        shifted = feats if crs is None else [{**f, "geometry": json.loads(json.dumps(f["geometry"]).replace(
            "78", "500078").replace("79", "500079").replace("17", "1900017").replace("18", "1900018"))}
            for f in feats]
        path = write_geojson(tmp_path / "g.geojson", shifted, crs)
        assert [row[2] is not None for row in open_source(path).rows] == [True] * 10 + [False]
        cli = summary(upload(database_url, path, "wkb", "--force"))
        assert cli["features"] == len(feats)
        r = api.post(f"/collections/{PREFIX}wkb-http/features:upload", params={"force": "true"},
                     json={"type": "FeatureCollection", "features": shifted} | (
                         {"crs": {"type": "name", "properties": {"name": crs}}} if crs else {}),
                     headers={"Authorization": "Bearer test-token"})
        assert r.status_code == 201, r.text
        rows = db.execute("SELECT a.id, ST_AsEWKB(a.geom) = ST_AsEWKB(b.geom), a.properties = b.properties "
                          "FROM data.features a JOIN data.features b ON b.collection_id = %s AND b.id = a.id "
                          "WHERE a.collection_id = %s", (PREFIX + "wkb-http", PREFIX + "wkb")).fetchall()
        assert len(rows) == len(feats) and all(same_geom and same_props for _, same_geom, same_props in rows), rows


def test_reading_ahead_keeps_order_raises_and_stops(tmp_path: Path) -> None:
    """The CLI reads the next chunk in a worker thread (prefetched) while the database stores the last one."""
    from scripts.upload_features import prefetched

    assert list(prefetched(iter(range(50)), depth=2)) == list(range(50))

    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("feature number 2 is bad")

    got = []
    with pytest.raises(ValueError, match="number 2"):
        for item in prefetched(failing()):
            got.append(item)
    assert got == [1]
    produced = []

    def endless() -> Iterator[int]:
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    reader = prefetched(endless(), depth=2)
    assert next(reader) == 0
    reader.close()   # the consumer stops early (a database error): the worker thread ends too
    assert len(produced) <= 5


def test_unreadable_input_is_exit_2_naming_the_problem(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "x.geojson").write_text("{not json")
    run = upload(database_url, tmp_path / "x.geojson", "unreadable")
    assert run.returncode == 2 and "not valid JSON" in run.stderr
    write_geojson(tmp_path / "y.geojson", [fields(1)[0], {"type": "Point", "coordinates": [0, 0]}])
    run = upload(database_url, tmp_path / "y.geojson", "unreadable")
    assert run.returncode == 2 and "feature number 2 is not a GeoJSON Feature" in run.stderr
    write_geojson(tmp_path / "z.geojson", [fields(2)[0], {**fields(2)[1], "properties": [1]}])
    run = upload(database_url, tmp_path / "z.geojson", "unreadable")
    assert run.returncode == 2 and "feature f1 (number 2): properties must be an object or null" in run.stderr
    text = write_geojson(tmp_path / "u.geojson", fields(2)).read_bytes().replace(b"farmer-1", b"farmer-\xff")
    (tmp_path / "u.geojson").write_bytes(text)
    run = upload(database_url, tmp_path / "u.geojson", "unreadable")
    assert run.returncode == 2 and "feature f1 (number 2): not valid UTF-8" in run.stderr


# --- GeoPackage ------------------------------------------------------------------------------------------------

def gpkg_blob(geom: shapely.Geometry, srs_id: int) -> bytes:
    """A GeoPackage geometry: GP header (little endian, with an xy envelope) + WKB."""
    minx, miny, maxx, maxy = geom.bounds
    return b"GP" + bytes([0, 0b0000_0011]) + struct.pack("<i4d", srs_id, minx, maxx, miny, maxy) + \
        shapely.to_wkb(geom)


def write_gpkg(path: Path, layers: dict[str, tuple[int, list[tuple[shapely.Geometry, dict[str, Any]]]]]) -> Path:
    """A minimal GeoPackage: the three catalogue tables and one table per layer (geom + crop, ph, irrigated)."""
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT, srs_id INTEGER PRIMARY KEY, organization TEXT,
            organization_coordsys_id INTEGER, definition TEXT, description TEXT);
        CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT, identifier TEXT,
            description TEXT, last_change TEXT, min_x REAL, min_y REAL, max_x REAL, max_y REAL, srs_id INTEGER);
        CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT, geometry_type_name TEXT,
            srs_id INTEGER, z INTEGER, m INTEGER);
        INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', NULL);
    """)
    for name, (epsg, rows) in layers.items():
        conn.execute("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, 'EPSG', ?, 'see EPSG', NULL)",
                     (f"EPSG:{epsg}", epsg, epsg))
        conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
                     "VALUES (?, 'features', ?, ?)", (name, name, epsg))
        conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'GEOMETRY', ?, 0, 0)", (name, epsg))
        conn.execute(f'CREATE TABLE "{name}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom BLOB, crop TEXT, '
                     'ph REAL, irrigated BOOLEAN)')
        conn.executemany(f'INSERT INTO "{name}" (geom, crop, ph, irrigated) VALUES (?, ?, ?, ?)',
                         [(gpkg_blob(g, epsg), p["crop"], p["ph"], p["irrigated"]) for g, p in rows])
    conn.commit()
    conn.close()
    return path


def test_geopackage_written_with_sqlite_in_utm(api: httpx.Client, database_url: str, tmp_path: Path) -> None:
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32644", always_xy=True)
    x, y = to_utm.transform(79.1, 17.4)
    plots = [(shapely.box(x + i * 1000, y, x + i * 1000 + 400, y + 400),
              {"crop": ["rice", "cotton"][i % 2], "ph": 6.0 + i / 10, "irrigated": i % 2}) for i in range(4)]
    points = [(shapely.Point(79.0, 17.0), {"crop": "well", "ph": None, "irrigated": None})]
    path = write_gpkg(tmp_path / "farm.gpkg", {"plots": (32644, plots), "wells": (4326, points)})
    several = upload(database_url, path, "gpkg")
    assert several.returncode == 2 and "--layer" in several.stderr and "plots, wells" in several.stderr
    s = summary(upload(database_url, path, "gpkg", "--layer", "plots"))
    assert s["features"] == 4 and s["source_crs"] == "EPSG:32644" and s["layer"] == "plots"
    page = items(api, "gpkg", sortby="id")
    assert [f["id"] for f in page["features"]] == ["1", "2", "3", "4"]
    first = page["features"][0]
    stac_times = ("datetime", "start_datetime", "end_datetime")   # every feature is also a STAC Item
    own = {k: v for k, v in first["properties"].items() if k not in stac_times}
    assert own == {"crop": "rice", "ph": 6.0, "irrigated": False}
    back = Transformer.from_crs("EPSG:32644", "EPSG:4326", always_xy=True)
    want = sorted(back.transform(px, py) for px, py in list(plots[0][0].exterior.coords)[:-1])
    got = sorted(map(tuple, first["geometry"]["coordinates"][0][:-1]))
    assert flat(got) == pytest.approx(flat(want), abs=1e-7)
    queryables = api.get(f"/collections/{PREFIX}gpkg/queryables").json()["properties"]
    assert queryables["irrigated"]["type"] == "boolean" and queryables["ph"]["type"] == "number"


def test_natural_earth_geopackage(api: httpx.Client, database_url: str) -> None:
    gpkg = shared_testdata("cql2", "standard", "data", "ne110m4cql2.gpkg")
    s = summary(upload(database_url, gpkg, "ne-countries", "--layer", "ne_110m_admin_0_countries"))
    assert s["features"] == 177 and s["source_crs"] == "EPSG:4326"
    with sqlite3.connect(gpkg) as conn:
        bounds = conn.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents "
                              "WHERE table_name = 'ne_110m_admin_0_countries'").fetchone()
    assert s["bbox"] == pytest.approx(list(bounds), abs=1e-4)
    found = items(api, "ne-countries", filter="NAME = 'Tanzania'")
    assert found["numberMatched"] == 1
    assert found["features"][0]["properties"]["CONTINENT"] == "Africa"
    assert found["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    places = summary(upload(database_url, gpkg, "ne-places", "--layer", "ne_110m_populated_places_simple"))
    assert places["features"] == items(api, "ne-places", limit=1)["numberMatched"] > 200
