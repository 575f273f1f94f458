"""The upload CLI: reads a Sentinel-2 L2A store in UTM, writes the served EPSG:3857 cube, registers it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
import xarray as xr

from raster_worker import layers
from scripts import upload_local_zarr
from scripts.telangana_s2 import generate

CID = "test-cube-upload"


def drop(conn: psycopg.Connection, cid: str) -> None:
    conn.execute("SET search_path = pgstac, public")  # pgstac's delete trigger needs it
    conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (cid,))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("s2") / "l2a.zarr"
    generate(path, pixel=2500.0)
    return path


@pytest.fixture(scope="module")
def uploaded(source: Path, database_url: str, data_dir: Path) -> Iterator[dict]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        drop(conn, CID)
    code = upload_local_zarr.main([str(source), "--collection-id", CID, "--dsn", database_url,
                                   "--data-dir", str(data_dir), "--quiet"])
    assert code == 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn.execute("SELECT api.raster_source(%s)", (CID,)).fetchone()[0]
        drop(conn, CID)


def test_layers_registered(uploaded: dict) -> None:
    kinds = {layer["name"]: layer["kind"] for layer in uploaded["layers"]}
    assert {n for n, k in kinds.items() if k == "band"} == {"B02", "B03", "B04", "B05", "B06", "B07", "B08",
                                                            "B8A", "B11", "B12"}
    assert {n for n, k in kinds.items() if k == "index"} == {"NDVI", "NDMI", "NDRE", "GNDVI", "EVI"}
    assert {n for n, k in kinds.items() if k == "composite"} == {"RGB", "CIR", "AGRICULTURE", "SWIR"}
    assert kinds["SCL"] == "mask"
    assert uploaded["native_crs"] == "EPSG:32644"
    minx, miny, maxx, maxy = uploaded["bbox"]
    assert minx < 78.01 and maxx > 78.99 and miny < 17.01 and maxy > 17.99
    assert len(uploaded["times"]) == 18 and uploaded["times"][0].startswith("2025-06-02")


def test_served_store_follows_the_contract(uploaded: dict) -> None:
    ds = xr.open_zarr(uploaded["store_path"])
    assert ds["NDVI"].dims == ("time", "y", "x") and ds["NDVI"].dtype == np.float32
    assert ds["NDVI"].encoding["chunks"][0] == 1
    assert np.all(np.diff(ds["y"].values) < 0) and np.all(np.diff(ds["x"].values) > 0)
    assert ds["time"].dtype.kind == "M"


def test_index_equals_numpy_from_source_bands(uploaded: dict, source: Path) -> None:
    """The stored NDVI at a ground point equals NDVI computed from the source's CF-decoded bands there."""
    from pyproj import Transformer

    src = xr.open_zarr(source)
    cube = layers.from_source(CID, uploaded)
    t = 8
    for ux, uy in [(src.x.values[5], src.y.values[7]), (src.x.values[30], src.y.values[20])]:
        b8 = float(src["B08"].isel(time=t).sel(x=ux, y=uy))
        b4 = float(src["B04"].isel(time=t).sel(x=ux, y=uy))
        mx, my = Transformer.from_crs("EPSG:32644", "EPSG:3857", always_xy=True).transform(ux, uy)
        row, col = cube.grid.index(mx, my)
        got = cube.read("NDVI", t, slice(row, row + 1), slice(col, col + 1))[0, 0]
        assert got == pytest.approx((b8 - b4) / (b8 + b4), abs=1e-5)
        assert cube.read("B08", t, slice(row, row + 1), slice(col, col + 1))[0, 0] == pytest.approx(b8, abs=1e-6)


def same_arrays(a: Path, b: Path) -> list[str]:
    """The array paths of store a (root and overview groups), each equal (NaN = NaN) in store b."""
    import zarr

    ga, gb = zarr.open_group(a, mode="r"), zarr.open_group(b, mode="r")
    checked = []
    for path, arr in _arrays(ga):
        np.testing.assert_array_equal(np.asarray(arr[...]), np.asarray(gb[path][...]), err_msg=path)
        checked.append(path)
    return checked


def _arrays(group, prefix: str = ""):
    for name, member in group.members():
        if hasattr(member, "shape"):
            yield prefix + name, member
        else:
            yield from _arrays(member, prefix + name + "/")


def test_stripes_write_the_same_store(uploaded: dict, source: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Written 8 rows at a time (reprojected from UTM stripe by stripe), the store is the one written whole."""
    from raster_worker import ingest
    from raster_worker.source import Source

    monkeypatch.setattr(ingest, "STRIPE", 8)
    monkeypatch.setattr(Source, "chunk_rows", lambda self: 0)
    out = ingest.ingest(str(source), ingest.Options(collection_id="stripes", data_dir=tmp_path),
                        register=lambda params: {"collection_id": "stripes", "kind": "cube"})
    store = next((tmp_path / "cubes" / "stripes").glob("*.zarr"))
    assert out["shape"][1] > 4 * 8   # six stripes
    assert "NDVI" in same_arrays(Path(uploaded["store_path"]), store)


def test_items_per_time_slice(uploaded: dict, db: psycopg.Connection) -> None:
    n = db.execute("SELECT count(*) FROM pgstac.items WHERE collection = %s", (CID,)).fetchone()[0]
    assert n == 18
    coll = db.execute("SELECT content FROM pgstac.collections WHERE id = %s", (CID,)).fetchone()[0]
    assert coll["cube:dimensions"]["time"]["values"][0].startswith("2025-06-02")
    assert "NDVI" in coll["cube:variables"] and "RGB" not in coll["cube:variables"]
    assert any("datacube" in e for e in coll["stac_extensions"])
    kind = db.execute("SELECT kind FROM data.collection_meta WHERE collection_id = %s", (CID,)).fetchone()[0]
    assert kind == "cube"


def test_second_upload_needs_force(uploaded: dict, source: Path, database_url: str, data_dir: Path) -> None:
    folder = data_dir / "cubes" / CID
    before = sorted(p.name for p in folder.iterdir())
    code = upload_local_zarr.main([str(source), "--collection-id", CID, "--dsn", database_url,
                                   "--data-dir", str(data_dir), "--quiet"])
    assert code == 1
    assert sorted(p.name for p in folder.iterdir()) == before
    with psycopg.connect(database_url) as conn:
        store = conn.execute("SELECT store_path FROM data.cubes WHERE collection_id = %s", (CID,)).fetchone()[0]
    assert store == uploaded["store_path"]


def test_existing_cube_is_refused_before_the_source_is_read(uploaded: dict, database_url: str, data_dir: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Without --force, the database is asked first: a store that does not even exist is never opened."""
    code = upload_local_zarr.main(["/no/such/store.zarr", "--collection-id", CID, "--dsn", database_url,
                                   "--data-dir", str(data_dir), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "already has a DataCube" in err and "--force" in err and "cannot open" not in err


def test_failed_upload_leaves_nothing(source: Path, database_url: str, data_dir: Path) -> None:
    code = upload_local_zarr.main([str(source), "--collection-id", "test-cube-bad", "--dsn", database_url,
                                   "--data-dir", str(data_dir), "--quiet", "--layers", "B04,NOPE"])
    assert code == 2
    assert not any((data_dir / "cubes" / "test-cube-bad").glob("*.zarr"))
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM pgstac.collections WHERE id = 'test-cube-bad'").fetchone()[0] == 0


def test_force_replaces_atomically(uploaded: dict, source: Path, database_url: str, data_dir: Path) -> None:
    code = upload_local_zarr.main([str(source), "--collection-id", CID, "--dsn", database_url,
                                   "--data-dir", str(data_dir), "--quiet", "--force", "--layers", "B04,B08"])
    assert code == 0
    with psycopg.connect(database_url) as conn:
        src = conn.execute("SELECT api.raster_source(%s)", (CID,)).fetchone()[0]
        items = conn.execute("SELECT count(*) FROM pgstac.items WHERE collection = %s", (CID,)).fetchone()[0]
    assert src["store_path"] != uploaded["store_path"]
    assert {layer["name"] for layer in src["layers"]} == {"B04", "B08", "NDVI"}
    assert items == 18
    assert [str(p.resolve()) for p in (data_dir / "cubes" / CID).glob("*.zarr")] == [src["store_path"]]
    assert not Path(uploaded["store_path"]).exists()   # the replaced version is removed after the switch


def test_gc_removes_only_unregistered_versions(uploaded: dict, database_url: str, data_dir: Path) -> None:
    """scripts/cube_gc.py: orphans (an old version, a deleted collection's folder) go; registered stores stay;
    a collection whose upload holds the lock is skipped."""
    from raster_worker import versions
    from scripts import cube_gc

    with psycopg.connect(database_url) as conn:
        current = conn.execute("SELECT store_path FROM data.cubes WHERE collection_id = %s", (CID,)).fetchone()[0]
    orphan = data_dir / "cubes" / CID / "v20000101T000000-orphan.zarr"
    gone = data_dir / "cubes" / "test-cube-deleted-long-ago" / "v20000101T000000-abcdef.zarr"
    for path in (orphan, gone):
        (path / "NDVI").mkdir(parents=True)
        (path / "zarr.json").write_text("{}")
    args = ["--dsn", database_url, "--data-dir", str(data_dir)]
    assert cube_gc.main([*args, "--dry-run"]) == 0 and orphan.exists() and gone.exists()
    with versions.upload_lock(data_dir, CID):
        assert cube_gc.main(args) == 0
    assert orphan.exists() and not gone.parent.exists()     # CID was locked (an upload running): skipped
    assert cube_gc.main([*args, "--collection-id", CID]) == 0
    assert not orphan.exists() and Path(current).is_dir()

