"""scripts/upload_features.py with the formats real data comes in: Shapefile (also zipped), FlatGeobuf,
GeoParquet, GeoJSONSeq and GDAL's other formats (SQLite, CSV), written here with pyogrio and pyarrow from the
CQL2 standard's Natural Earth GeoPackage and from small synthetic layers, uploaded through the CLI (a
subprocess) into the test database and checked over HTTP: counts, property types, coordinates back in WGS84
where pyproj puts them, the recorded source CRS, and errors (exit code 2, one line, nothing stored).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
from pyproj import CRS, Transformer

from scripts.upload_features import main
from tests.conftest import ROOT, Services
from tests.conftest import testdata as shared_testdata

PREFIX = "test-upload-formats-"
CLI = ROOT / "scripts" / "upload_features.py"
BIG = 2**62 + 1                         # an int64 a double cannot hold
LON, LAT = 75.0, 18.0                   # where the synthetic squares lie (UTM zone 43N)
CUSTOM_TM = "+proj=tmerc +lat_0=0 +lon_0=77.3 +k=0.9996 +x_0=500000 +y_0=0 +datum=WGS84 +units=m +no_defs"


@dataclass
class Files:
    dir: Path
    countries: Path      # Natural Earth countries (the GeoPackage's layer)
    places: Path         # Natural Earth populated places (dates, datetimes, booleans, int64)


def squares(crs: str, n: int = 5) -> tuple[pa.Table, list[list[tuple[float, float]]]]:
    """`n` squares (100 m, or 0.001 degree) in `crs` near (LON, LAT) with typed properties; their corners in
    WGS84 (pyproj), sorted."""
    to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x0, y0 = to_crs.transform(LON, LAT)
    size = 0.001 if CRS(crs).is_geographic else 100
    boxes = [shapely.box(x0 + i * 2 * size, y0, x0 + (i * 2 + 1) * size, y0 + size) for i in range(n)]
    back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    corners = [sorted(back.transform(x, y) for x, y in b.exterior.coords[:-1]) for b in boxes]
    table = pa.table({
        "id": pa.array([f"sq{i}" for i in range(n)]),
        "big": pa.array([BIG + i for i in range(n)], pa.int64()),
        "plot": pa.array([101 + i for i in range(n)], pa.int32()),
        "ok": pa.array([i % 2 == 0 for i in range(n)]),
        "sown": pa.array([dt.date(2025, 6, 1 + i) for i in range(n)], pa.date32()),
        "ph": pa.array([6.5 + i / 10 for i in range(n)]),
        "note": pa.array([None] + [f"n{i}" for i in range(1, n)], pa.string()),
        "geometry": pa.array(shapely.to_wkb(np.array(boxes)), pa.binary()),
    })
    return table, corners


def write_ogr(table: pa.Table, path: Path, driver: str, crs: str | None, layer: str | None = None,
              append: bool = False, geometry_type: str = "Polygon") -> Path:
    pyogrio.write_arrow(table, path, layer=layer, driver=driver, crs=crs, geometry_name="geometry",
                        geometry_type=geometry_type, append=append)
    return path


def write_geoparquet(table: pa.Table, path: Path, crs: Any = "absent", encoding: str = "WKB",
                     covering: str | None = None) -> Path:
    column: dict[str, Any] = {"encoding": encoding, "geometry_types": []}
    if covering:
        column["covering"] = {"bbox": {k: [covering, k] for k in ["xmin", "ymin", "xmax", "ymax"]}}
    if crs != "absent":
        column["crs"] = crs
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": column}}
    pq.write_table(table.replace_schema_metadata({"geo": json.dumps(geo)}), path)
    return path


def fiboa_fields(n: int = 4) -> pa.Table:
    """Field boundaries shaped like fiboa's GeoParquet: id, WKB geometry, a bbox covering column,
    determination_datetime (UTC), float32 area, extension properties with a colon in their names."""
    boxes = [shapely.box(LON + i * 0.01, LAT, LON + i * 0.01 + 0.005, LAT + 0.004) for i in range(n)]
    bounds = shapely.bounds(np.array(boxes))
    return pa.table({
        "id": [f"field-{i}" for i in range(n)],
        "geometry": pa.array(shapely.to_wkb(np.array(boxes)), pa.binary()),
        "bbox": pa.StructArray.from_arrays([pa.array(bounds[:, k]) for k in range(4)],
                                           names=["xmin", "ymin", "xmax", "ymax"]),
        "determination_datetime": pa.array([dt.datetime(2024, 5, 1 + i, 10, tzinfo=dt.timezone.utc)
                                            for i in range(n)], pa.timestamp("ms", tz="UTC")),
        "area": pa.array([0.25 + i for i in range(n)], pa.float32()),
        "crop:name": ["rice", "wheat", "rice", "maize"][:n],
    })


def native_polygons(table: pa.Table) -> pa.Table:
    """The table with its WKB geometry column in GeoParquet 1.1's native polygon encoding (GeoArrow)."""
    _, coords, (ring_offsets, polygon_offsets) = shapely.to_ragged_array(
        shapely.from_wkb(table.column("geometry").to_numpy()))
    points = pa.StructArray.from_arrays([pa.array(coords[:, 0]), pa.array(coords[:, 1])], names=["x", "y"])
    rings = pa.ListArray.from_arrays(pa.array(ring_offsets, pa.int32()), points)
    polygons = pa.ListArray.from_arrays(pa.array(polygon_offsets, pa.int32()), rings)
    return table.set_column(table.column_names.index("geometry"), "geometry", polygons)


def zip_shapefile(shp: Path, archive: Path, mode: str = "w") -> Path:
    with zipfile.ZipFile(archive, mode) as z:
        for part in shp.parent.glob(shp.stem + ".*"):
            z.write(part, f"data/{part.name}")
    return archive


def natural_earth(layer: str) -> pa.Table:
    gpkg = shared_testdata("cql2", "standard", "data", "ne110m4cql2.gpkg")
    meta, table = pyogrio.read_arrow(gpkg, layer=layer)
    return table.rename_columns([c if c != meta["geometry_name"] else "geometry" for c in table.column_names])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    d = tmp_path_factory.mktemp("formats")
    countries, places = natural_earth("ne_110m_admin_0_countries"), natural_earth("ne_110m_populated_places_simple")
    for sub in ["countries", "utm", "custom"]:
        (d / sub).mkdir()
    write_ogr(countries, d / "countries.fgb", "FlatGeobuf", "EPSG:4326", geometry_type="MultiPolygon")
    write_ogr(countries, d / "countries" / "countries.shp", "ESRI Shapefile", "EPSG:4326",
              geometry_type="MultiPolygon")
    zip_shapefile(d / "countries" / "countries.shp", d / "countries.zip")
    write_geoparquet(places, d / "places.parquet")
    utm, _ = squares("EPSG:32643")
    write_ogr(utm, d / "utm" / "fields_utm.shp", "ESRI Shapefile", "EPSG:32643")
    zip_shapefile(d / "countries" / "countries.shp", zip_shapefile(d / "utm" / "fields_utm.shp", d / "two.zip"), "a")
    write_geoparquet(squares("EPSG:7755")[0], d / "fields_7755.parquet", CRS("EPSG:7755").to_json_dict())
    write_geoparquet(squares("EPSG:4326")[0], d / "unknown_crs.parquet", None)
    write_geoparquet(fiboa_fields(), d / "fiboa.parquet", covering="bbox")
    write_geoparquet(native_polygons(squares("EPSG:7755")[0]), d / "native_7755.parquet",
                     CRS("EPSG:7755").to_json_dict(), encoding="polygon")
    write_ogr(utm, d / "custom" / "custom_tm.shp", "ESRI Shapefile", CRS(CUSTOM_TM).to_wkt())
    seq = squares("EPSG:4326")[0].drop_columns("sown")
    write_ogr(seq, d / "fields.geojsonl", "GeoJSONSeq", "EPSG:4326")
    write_ogr(seq, d / "layers.sqlite", "SQLite", "EPSG:4326", layer="north")
    write_ogr(seq.slice(0, 2), d / "layers.sqlite", "SQLite", "EPSG:4326", layer="south", append=True)
    (d / "plain.csv").write_text("name,value\na,1\nb,2\n")
    pq.write_table(pa.table({"name": ["a"]}), d / "plain.parquet")
    (d / "noise.xyz").write_bytes(bytes(range(256)) * 4)
    return Files(d, d / "countries.fgb", d / "places.parquet")


def upload(database_url: str, path: Path, cid: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CLI), str(path), "--collection-id", PREFIX + cid, "--quiet",
                           "--json", *args], env={**os.environ, "DATABASE_URL": database_url},
                          capture_output=True, text=True, timeout=300)


UPLOADS: dict[str, tuple[str, ...]] = {    # collection -> file (under the files' directory) and options
    "countries-fgb": ("countries.fgb",),
    "countries-zip": ("countries.zip",),
    "places-parquet": ("places.parquet",),
    "utm-shp": ("utm/fields_utm.shp",),
    "two-zip": ("two.zip", "--layer", "fields_utm", "--id-field", ""),
    "parquet-7755": ("fields_7755.parquet",),
    "custom-crs": ("custom/custom_tm.shp", "--crs", "EPSG:32643", "--id-field", "plot"),
    "seq": ("fields.geojsonl",),
    "fiboa": ("fiboa.parquet", "--datetime-property", "determination_datetime"),
    "native-7755": ("native_7755.parquet",),
    "sqlite-south": ("layers.sqlite", "--layer", "south"),
}


@pytest.fixture(scope="module")
def uploaded(services: Services, files: Files) -> Iterator[dict[str, dict[str, Any]]]:
    """Every good upload, three at a time (each is mostly a Python start-up: imports, then a small COPY)."""
    def run(cid: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        name, *options = UPLOADS[cid]
        return cid, upload(services.database_url, files.dir / name, cid, *options)

    with ThreadPoolExecutor(3) as pool:
        runs = dict(pool.map(run, UPLOADS))
    for cid, r in runs.items():
        assert r.returncode == 0, f"{cid}: {r.stderr}"
    yield {cid: json.loads(r.stdout) for cid, r in runs.items()}
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute("SET search_path = pgstac, public")
        conn.execute("DELETE FROM pgstac.collections WHERE id LIKE %s", (PREFIX + "%",))


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=services.url, timeout=60) as client:
        yield client


def flat(points: list[Any]) -> list[float]:
    return [float(v) for p in points for v in p]


def features(api: httpx.Client, cid: str, **query: Any) -> list[dict[str, Any]]:
    r = api.get(f"/collections/{PREFIX}{cid}/items", params={"limit": 1000, **query})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["numberMatched"] == len(doc["features"])
    return list(doc["features"])


def test_natural_earth_countries_as_flatgeobuf_and_zipped_shapefile(api: httpx.Client,
                                                                     uploaded: dict[str, Any]) -> None:
    gpkg = natural_earth("ne_110m_admin_0_countries")
    names = sorted(gpkg.column("NAME").to_pylist())
    for cid, fmt in [("countries-fgb", "FlatGeobuf"), ("countries-zip", "Shapefile")]:
        assert uploaded[cid]["format"] == fmt
        assert uploaded[cid]["source_crs"] == "EPSG:4326"
        got = features(api, cid)
        assert sorted(f["properties"]["NAME"] for f in got) == names
        india = next(f for f in got if f["properties"]["NAME"] == "India")
        assert india["properties"]["POP_EST"] == 1366417754
        assert shapely.geometry.shape(india["geometry"]).contains(shapely.Point(78.96, 20.59))


def test_geoparquet_keeps_property_types(api: httpx.Client, uploaded: dict[str, Any]) -> None:
    assert uploaded["places-parquet"]["source_crs"] == "EPSG:4326"       # no crs in the geo metadata: CRS84
    places = natural_earth("ne_110m_populated_places_simple").to_pylist()
    got = {f["properties"]["name"]: f for f in features(api, "places-parquet")}
    assert len(got) == len(places) == 243
    for place in places[:20]:
        props = got[place["name"]]["properties"]
        assert props["pop_max"] == place["pop_max"] and type(props["pop_max"]) is int
        assert props["boolean"] is place["boolean"]
        assert props["date"] == (place["date"].isoformat() if place["date"] else None)
        assert props["start"] == (place["start"].strftime("%Y-%m-%dT%H:%M:%SZ") if place["start"] else None)
        assert got[place["name"]]["geometry"]["coordinates"] == pytest.approx(
            list(shapely.from_wkb(place["geometry"]).coords[0]), abs=1e-9)


def corners_of(feature: dict[str, Any]) -> list[list[float]]:
    return sorted(feature["geometry"]["coordinates"][0][:-1])


@pytest.mark.parametrize("cid,crs", [("utm-shp", "EPSG:32643"), ("two-zip", "EPSG:32643"),
                                     ("parquet-7755", "EPSG:7755"), ("custom-crs", "EPSG:32643"),
                                     ("native-7755", "EPSG:7755")])
def test_projected_files_land_where_pyproj_puts_them(api: httpx.Client, uploaded: dict[str, Any], cid: str,
                                                     crs: str) -> None:
    assert uploaded[cid]["source_crs"] == crs
    got = sorted(features(api, cid), key=lambda f: f["properties"]["ph"])
    _, corners = squares(crs)
    assert len(got) == len(corners)
    for feature, expected in zip(got, corners):
        assert flat(corners_of(feature)) == pytest.approx(flat(expected), abs=1e-7)   # 1 cm: PostGIS = pyproj
    r = api.get(f"/collections/{PREFIX}{cid}")
    lower_left = [min(p[0] for p in corners[0]), min(p[1] for p in corners[0])]
    assert r.json()["extent"]["spatial"]["bbox"][0][:2] == pytest.approx(lower_left, abs=1e-5)  # a float4 box


def test_ids_from_the_id_field_else_generated_or_chosen(api: httpx.Client, uploaded: dict[str, Any]) -> None:
    assert sorted(f["id"] for f in features(api, "utm-shp")) == [f"sq{i}" for i in range(5)]
    assert all("id" not in f["properties"] for f in features(api, "utm-shp"))
    generated = features(api, "two-zip")                                   # --id-field ''
    assert len({f["id"] for f in generated}) == 5 and not {f["id"] for f in generated} & {"sq0", "sq1"}
    assert {f["properties"]["id"] for f in generated} == {f"sq{i}" for i in range(5)}
    chosen = features(api, "custom-crs")                                   # --id-field plot
    assert sorted(f["id"] for f in chosen) == [str(101 + i) for i in range(5)]
    assert all("plot" not in f["properties"] and f["properties"]["id"].startswith("sq") for f in chosen)


def test_exact_types_in_geoparquet_and_geojsonseq(api: httpx.Client, uploaded: dict[str, Any]) -> None:
    got = {f["id"]: f["properties"] for f in features(api, "parquet-7755")}
    expected = {"big": BIG + 3, "plot": 104, "ok": False, "sown": "2025-06-04", "ph": 6.8, "note": "n3"}
    assert {k: got["sq3"][k] for k in expected} == expected
    assert got["sq0"]["note"] is None and got["sq0"]["ok"] is True
    assert uploaded["seq"]["format"] == "GeoJSONSeq" and uploaded["seq"]["source_crs"] == "EPSG:4326"
    seq = {f["properties"]["id"]: f["properties"] for f in features(api, "seq")}   # GDAL writes no feature id
    assert seq["sq1"]["big"] == BIG + 1 and seq["sq1"]["ok"] is False and seq["sq1"]["ph"] == 6.6


def test_fiboa_shaped_geoparquet(api: httpx.Client, uploaded: dict[str, Any]) -> None:
    got = {f["id"]: f for f in features(api, "fiboa")}
    assert sorted(got) == [f"field-{i}" for i in range(4)]
    field = got["field-2"]
    assert {k: field["properties"][k] for k in ["determination_datetime", "area", "crop:name"]} == {
        "determination_datetime": "2024-05-03T10:00:00Z", "area": 2.25, "crop:name": "rice"}
    assert "bbox" not in field["properties"]                              # the covering column
    assert field["properties"]["datetime"] == "2024-05-03T10:00:00Z"      # --datetime-property
    assert [f["id"] for f in features(api, "fiboa", datetime="2024-05-02T00:00:00Z/2024-05-03T23:00:00Z",
                                      sortby="id")] == ["field-1", "field-2"]


def test_a_layer_of_a_multi_layer_file(api: httpx.Client, uploaded: dict[str, Any]) -> None:
    assert uploaded["sqlite-south"]["layer"] == "south" and uploaded["sqlite-south"]["format"] == "SQLite"
    assert sorted(f["id"] for f in features(api, "sqlite-south")) == ["1", "2"]       # its FID column


@pytest.mark.parametrize("name,options,message", [
    ("noise.xyz", (), "unknown format"),
    ("missing.shp", (), "no such file"),
    ("layers.sqlite", (), "has 2 layers with geometries: choose one with --layer (north, south)"),
    ("layers.sqlite", ("--layer", "east"), "has no layer 'east'; its layers: north, south"),
    ("plain.csv", (), "has no layer with geometries"),
    ("two.zip", (), "holds 2 Shapefiles: choose one with --layer (countries, fields_utm)"),
    ("two.zip", ("--layer", "rivers"), "holds no Shapefile 'rivers'"),
    ("plain.parquet", (), "a Parquet file without GeoParquet 'geo' metadata"),
    ("unknown_crs.parquet", (), "the file says its CRS is unknown (crs: null): give the CRS with --crs"),
    ("custom/custom_tm.shp", (), "has no EPSG code: give the CRS with --crs"),
    ("two.zip", ("--layer", "fields_utm", "--id-field", "nope"), "has no field 'nope' for --id-field"),
    ("fields.geojsonl", ("--layer", "x"), "--layer and --id-field are not for GeoJSON"),
])
def test_errors_exit_2_with_one_line_and_store_nothing(api: httpx.Client, files: Files, name: str,
                                                       options: tuple[str, ...], message: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """In process (the CLI's main(): the file is refused before any connection); one case as a subprocess."""
    status = main([str(files.dir / name), "--collection-id", PREFIX + "refused", "--dsn", "postgresql:///none",
                   "--quiet", *options])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("upload_features: ") and err.count("\n") == 1, err
    assert message in err and "nothing was stored" in err
    assert api.get(f"/collections/{PREFIX}refused").status_code == 404


def test_a_refused_file_as_a_subprocess(services: Services, files: Files, api: httpx.Client) -> None:
    r = upload(services.database_url, files.dir / "plain.csv", "refused")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [f"upload_features: {files.dir / 'plain.csv'} has no layer with "
                                             "geometries (its layers: plain); nothing was stored"]
    assert api.get(f"/collections/{PREFIX}refused").status_code == 404


def test_help_lists_the_formats() -> None:
    r = subprocess.run([sys.executable, str(CLI), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    for fmt in ["GeoJSONSeq", "Shapefile", "FlatGeobuf", "GeoParquet", "KML", "GeoPackage", "--id-field"]:
        assert fmt in text


def test_a_bad_geojsonseq_line_is_named_and_nothing_stored(services: Services, api: httpx.Client, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.geojsonl"
    path.write_text('{"type": "Feature", "id": "a", "properties": {}, "geometry": {"type": "Point", '
                    '"coordinates": [1, 2]}}\n\n{"type": "Feature", "id": "b", "properties": [1], '
                    '"geometry": {"type": "Point", "coordinates": [1, 2]}}\n')
    status = main([str(path), "--collection-id", PREFIX + "badseq", "--dsn", services.database_url, "--quiet"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert f"{path} line 3 (feature b): properties must be an object or null; nothing was stored" in err
    assert api.get(f"/collections/{PREFIX}badseq").status_code == 404
