"""Feature ingest of real-world files, over HTTP (features:upload) and scripts/upload_features.py: 3D and M
coordinates, null and odd geometries, mixed types, GeometryCollections, awkward properties and property names,
missing and duplicate ids, legacy GeoJSON crs members, multi-layer GeoPackages written by GDAL (pyogrio).
Each either loads and comes back right (items, queryables, CQL2, vector tiles) or is a 4xx naming the feature,
leaving nothing behind."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import mapbox_vector_tile
import numpy as np
import psycopg
import pytest

from tests.conftest import AUTH, ROOT

P = "edges-ingest-"
CLI = ROOT / "scripts" / "upload_features.py"


def _drop_ours(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET search_path = pgstac, public")
        conn.execute("DELETE FROM pgstac.collections WHERE id LIKE %s", (P + "%",))


@pytest.fixture(scope="module", autouse=True)
def _clean(services):
    _drop_ours(services.database_url)
    yield
    _drop_ours(services.database_url)


def pt(*c: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": list(c)}


def feat(geom: Any, props: Any = None, fid: Any = None) -> dict[str, Any]:
    f = {"type": "Feature", "geometry": geom, "properties": {} if props is None else props}
    return f if fid is None else {**f, "id": fid}


def upload(http: httpx.Client, cid: str, features: list[Any], **extra: Any) -> httpx.Response:
    return http.post(f"/collections/{P}{cid}/features:upload", params={"force": "true"}, headers=AUTH,
                     json={"type": "FeatureCollection", "features": features, **extra})


def items(http: httpx.Client, cid: str, **params: Any) -> dict[str, Any]:
    r = http.get(f"/collections/{P}{cid}/items", params=params)
    assert r.status_code == 200, r.text[:300]
    return dict(r.json())


def refused(r: httpx.Response, *says: str) -> None:
    assert r.status_code == 400, r.text[:300]
    for s in says:
        assert s in r.json()["description"], r.text[:400]


PROPS = {"nested": {"a": {"b": [1, 2, {"c": "d"}]}}, "arr": [1, 2, 3], "ünï cødé": "välue", "with space": 1,
         "with.dot": 2, "big": 9007199254740993, "numstr": "00123", "flag": True, "nothing": None,
         "long": "x" * 100_000, "emoji": "🌍", "ratio": 0.25}


def test_awkward_properties_come_back_right(http):
    r = upload(http, "props", [feat(pt(10, 20), PROPS, "a"),
                               feat(pt(11, 21), {"flag": False, "numstr": "45", "big": 1, "ratio": 2}, "b")])
    assert r.status_code == 201 and r.json()["numberCreated"] == 2, r.text[:300]
    got = http.get(f"/collections/{P}props/items/a").json()["properties"]
    assert {k: got[k] for k in PROPS} == PROPS and got["datetime"] is None
    q = http.get(f"/collections/{P}props/queryables").json()["properties"]
    assert {k: q[k]["type"] for k in ("with space", "with.dot", "ünï cødé", "flag", "numstr", "big", "ratio")} == {
        "with space": "integer", "with.dot": "integer", "ünï cødé": "string", "flag": "boolean",
        "numstr": "string", "big": "integer", "ratio": "number"}
    for cql, ids in [('"with space" = 1', {"a"}), ('"with.dot" = 2', {"a"}), ("\"ünï cødé\" = 'välue'", {"a"}),
                     ("flag = true", {"a"}), ("flag = false", {"b"}), ("numstr = '00123'", {"a"}),
                     ("ratio > 1", {"b"}), ("big > 10", {"a"})]:
        assert {f["id"] for f in items(http, "props", filter=cql)["features"]} == ids, cql
    assert items(http, "props", sortby="-with space")["features"][0]["id"] == "a"
    page = items(http, "props", properties="with.dot,ünï cødé")
    assert page["features"][0]["properties"].keys() <= {"with.dot", "ünï cødé"}
    tile = http.get(f"/collections/{P}props/tiles/WebMercatorQuad/0/0/0")
    assert tile.status_code == 200
    layer = mapbox_vector_tile.decode(tile.content)[f"{P}props"]
    attrs = {f["properties"]["id"]: f["properties"] for f in layer["features"]}
    assert attrs["a"]["with space"] == 1 and attrs["a"]["ünï cødé"] == "välue" and attrs["a"]["flag"] is True
    assert attrs["b"]["numstr"] == "45"


def test_geometry_kinds(http):
    line = {"type": "LineString", "coordinates": [[0, 0, 5], [1, 1, 6]]}
    poly = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    gc = {"type": "GeometryCollection", "geometries": [pt(1, 2), {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}]}
    r = upload(http, "kinds", [feat(pt(10, 20, 30), {"k": "z"}, "z"), feat(pt(10, 20, 30, 40), {"k": "zm"}, "zm"),
                               feat(line, {"k": "l"}, "l"), feat(poly, {"k": "p"}, "p"), feat(gc, {"k": "gc"}, "gc")])
    assert r.status_code == 201 and r.json()["numberCreated"] == 5, r.text[:300]
    got = {f["id"]: f["geometry"] for f in items(http, "kinds")["features"]}
    assert got["z"] == pt(10, 20) and got["zm"] == pt(10, 20)          # stored 2D: heights and measures dropped
    assert got["l"]["type"] == "LineString" and got["gc"]["type"] == "GeometryCollection"
    assert got["gc"]["geometries"][0] == pt(1, 2)
    assert {f["id"] for f in items(http, "kinds", filter="S_INTERSECTS(geometry, POINT(1 2))")["features"]} == {"gc"}
    assert http.get(f"/collections/{P}kinds/tiles/WebMercatorQuad/0/0/0").status_code == 200
    r = upload(http, "empty", [])
    assert r.status_code == 201 and r.json()["numberCreated"] == 0
    assert items(http, "empty")["numberMatched"] == 0


def test_ids(http):
    r = upload(http, "ids", [feat(pt(1, 2), {"n": 1}), feat(pt(1, 2), {"n": 2}), feat(pt(1, 2), {"n": 3}, 7)])
    assert r.status_code == 201, r.text[:300]
    ids = [f["id"] for f in items(http, "ids")["features"]]
    assert len(set(ids)) == 3 and "7" in ids
    r = upload(http, "dup", [feat(pt(1, 2), {}, "x"), feat(pt(1, 2), {}, "x")])
    assert r.status_code == 409 and "x" in r.json()["description"]
    assert http.get(f"/collections/{P}dup").status_code == 404               # nothing left behind


@pytest.mark.parametrize(("name", "features", "says"), [
    ("null geometry", [feat(pt(1, 2), {}, "ok"), feat(None, {}, "nogeom")], ["nogeom", "number 2", "no geometry"]),
    ("strings in positions", [feat({"type": "Point", "coordinates": ["a", 1]}, {}, "s")], ["feature s", "numbers"]),
    ("numeric strings", [feat({"type": "Point", "coordinates": ["12.5", "1"]}, {}, "ns")], ["feature ns", "numbers"]),
    ("null in a ring", [feat({"type": "Polygon", "coordinates": [[[0, 0], [1, None], [1, 1], [0, 0]]]}, {}, "nr")],
     ["feature nr", "numbers"]),
    ("lat/lon order", [feat(pt(18.5, 120.25), {}, "swapped")], ["feature swapped", "latitude 120.25", "[longitude, latitude]"]),
    ("projected without crs", [feat(pt(500000, 2000000), {}, "utm")], ["feature utm", "outside"]),
    ("empty geometry", [feat({"type": "Polygon", "coordinates": []}, {}, "void")], ["feature void", "empty"]),
    ("a polygon that collapses", [feat({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]}, {}, "flat")],
     ["feature flat", "could not be repaired"]),
])
def test_bad_features_are_named_and_nothing_is_stored(http, name, features, says):
    refused(upload(http, "bad", features), *says)
    assert http.get(f"/collections/{P}bad").status_code == 404


def test_repaired_geometries(http):
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
    unclosed = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}
    r = upload(http, "repaired", [feat(bowtie, {}, "bowtie"), feat(unclosed, {}, "unclosed")])
    assert r.status_code == 201, r.text[:300]
    got = {f["id"]: f["geometry"] for f in items(http, "repaired")["features"]}
    assert got["bowtie"]["type"] == "MultiPolygon" and len(got["bowtie"]["coordinates"]) == 2
    assert got["unclosed"] == {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}


def test_antimeridian_and_crs_members(http):
    r = upload(http, "wrap", [feat({"type": "Polygon", "coordinates": [[[179, 0], [181, 0], [181, 1], [179, 1], [179, 0]]]},
                                   {}, "wide"), feat(pt(190, 5), {}, "east")])
    assert r.status_code == 201, r.text[:300]
    got = {f["id"]: f for f in items(http, "wrap")["features"]}
    assert got["wide"]["geometry"]["type"] == "MultiPolygon" and got["east"]["geometry"] == pt(-170, 5)
    assert {f["id"] for f in items(http, "wrap", bbox="-180.5,0.2,-179.5,0.8")["features"]} == {"wide"}
    for crs, xy, lonlat in [("urn:ogc:def:crs:EPSG::32643", (500000, 2000000), (75.0, 18.0887)),
                            ("urn:ogc:def:crs:OGC:1.3:CRS84", (75, 18), (75.0, 18.0)),
                            ("EPSG:7755", (4000000, 4000000), (80.0, 24.0)),
                            ("http://www.opengis.net/def/crs/EPSG/0/32643", (500000, 2000000), (75.0, 18.0887)),
                            # GeoJSON positions are x, y (longitude, latitude) whatever the crs says, as GDAL reads them
                            ("urn:ogc:def:crs:EPSG::4326", (18, 75), (18.0, 75.0))]:
        r = upload(http, "crs", [feat(pt(*xy), {}, "a")], crs={"type": "name", "properties": {"name": crs}})
        assert r.status_code == 201, (crs, r.text[:300])
        x, y = http.get(f"/collections/{P}crs/items/a").json()["geometry"]["coordinates"]
        assert (round(x, 4), round(y, 4)) == lonlat, crs
    refused(upload(http, "crs2", [feat(pt(1, 2))], crs={"type": "name", "properties": {"name": "EPSG:999999"}}),
            "EPSG:999999")
    refused(upload(http, "crs2", [feat(pt(1, 2))], crs={"type": "link", "properties": {"href": "x.prj"}}),
            "not understood")
    assert http.get(f"/collections/{P}crs2").status_code == 404


# --- the command line, with files written by GDAL ---------------------------------------------------------------

def cli(services, path: Path, cid: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CLI), str(path), "--collection-id", P + cid, "--quiet", "--json",
                           "--force", *args], env={**os.environ, "DATABASE_URL": services.database_url},
                          capture_output=True, text=True, timeout=120)


def gdal_write(path: Path, layer: str, geoms: list[bytes], fields: dict[str, np.ndarray], crs: str,
               driver: str = "GPKG", **kwargs: Any) -> None:
    from pyogrio import raw

    raw.write(str(path), geometry=np.array(geoms, dtype=object), field_data=list(fields.values()),
              fields=list(fields), crs=crs, layer=layer, driver=driver, geometry_type="Unknown", **kwargs)


def wkb_point(x: float, y: float, z: float | None = None) -> bytes:
    return struct.pack("<BIddd", 1, 1001, x, y, z) if z is not None else struct.pack("<BIdd", 1, 1, x, y)


def test_cli_geopackage_layers_written_by_gdal(http, services, tmp_path):
    pytest.importorskip("pyogrio")
    gpkg = tmp_path / "farms.gpkg"
    gdal_write(gpkg, "wells", [wkb_point(500000, 2000000, 312.5), wkb_point(500100, 2000100, 300.0)],
               {"name": np.array(["Ünï well", "b"], dtype=object), "depth m": np.array([2**40 + 1, 7], dtype=np.int64),
                "ok": np.array([True, False])}, "EPSG:32643")
    square = struct.pack("<BII", 1, 3, 1) + struct.pack("<I", 5) + np.array(
        [75, 18, 75.01, 18, 75.01, 18.01, 75, 18.01, 75, 18], dtype="<f8").tobytes()
    gdal_write(gpkg, "parcels", [square], {"crop": np.array(["rice"], dtype=object)}, "EPSG:4326", append=True)
    run = cli(services, gpkg, "gpkg")
    assert run.returncode == 2 and "--layer" in run.stderr and "parcels" in run.stderr and "wells" in run.stderr
    assert http.get(f"/collections/{P}gpkg").status_code == 404
    run = cli(services, gpkg, "gpkg", "--layer", "nope")
    assert run.returncode == 2 and "wells" in run.stderr
    run = cli(services, gpkg, "gpkg", "--layer", "wells")
    assert run.returncode == 0, run.stderr
    page = items(http, "gpkg", sortby="name")
    first = page["features"][0]
    assert page["numberMatched"] == 2 and first["properties"]["name"] == "b"
    wells = {f["properties"]["name"]: f for f in page["features"]}
    x, y = wells["Ünï well"]["geometry"]["coordinates"]          # UTM 43N -> WGS84, 2D
    assert round(x, 4) == 75.0 and round(y, 4) == 18.0887
    assert wells["Ünï well"]["properties"]["depth m"] == 2**40 + 1 and wells["Ünï well"]["properties"]["ok"] is True
    q = http.get(f"/collections/{P}gpkg/queryables").json()["properties"]
    assert q["depth m"]["type"] == "integer" and q["ok"]["type"] == "boolean"
    assert [f["id"] for f in items(http, "gpkg", filter='"depth m" > 100 AND ok = true')["features"]] == [
        wells["Ünï well"]["id"]]
    run = cli(services, gpkg, "gpkg2", "--layer", "parcels")
    assert run.returncode == 0, run.stderr
    assert items(http, "gpkg2")["features"][0]["properties"]["crop"] == "rice"


def test_cli_geojson_with_crs_written_by_gdal(http, services, tmp_path):
    pytest.importorskip("pyogrio")
    path = tmp_path / "utm.geojson"
    gdal_write(path, "utm", [wkb_point(500000, 2000000, 10.0)], {"n": np.array([1])}, "EPSG:32643", driver="GeoJSON")
    assert "urn:ogc:def:crs:EPSG::32643" in path.read_text()
    run = cli(services, path, "gj")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["source_crs"].endswith("32643")
    x, y = items(http, "gj")["features"][0]["geometry"]["coordinates"]
    assert round(x, 4) == 75.0 and round(y, 4) == 18.0887
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        feat(pt(1, 2), {}, "fine"), feat({"type": "Point", "coordinates": [1, None]}, {}, "holey")]}))
    run = cli(services, bad, "gj-bad")
    assert run.returncode == 1 and "holey" in run.stderr and "numbers" in run.stderr
    assert http.get(f"/collections/{P}gj-bad").status_code == 404
