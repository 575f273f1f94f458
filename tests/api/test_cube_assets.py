"""DataCube items for remote clients: the served Zarr store over HTTP (GET|HEAD /collections/{id}/zarr/{key}),
opened by xarray through fsspec's HTTP filesystem, and the time slices' `data` asset pointing at it on the
request's surface.

Two cubes are uploaded over HTTP from one small synthetic Sentinel-2 store (scripts/telangana_s2.py): one
written as Zarr v3 (the default, no consolidated metadata on disk: the gateway serves it) and one as Zarr v2
(`use_v2`, with its `.zmetadata`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import xarray as xr

from scripts.telangana_s2 import generate
from tests.conftest import AUTH

V3, V2 = "test-cube-assets-v3", "test-cube-assets-v2"
LAYERS = ["blue", "green", "red", "nir"]


@pytest.fixture(scope="module")
def cubes(tmp_path_factory: pytest.TempPathFactory, services) -> Iterator[dict[str, Path]]:
    """{collection id: its served store on disk}."""
    source = tmp_path_factory.mktemp("cube-assets") / "l2a.zarr"
    generate(source, pixel=4000.0)
    stores = {}
    with httpx.Client(base_url=services.url, headers=AUTH, timeout=120) as client:
        for cid, v2 in ((V3, False), (V2, True)):
            client.delete(f"/collections/{cid}")
            r = client.post(f"/collections/{cid}/cube", json={"href": str(source), "layers": LAYERS, "use_v2": v2})
            assert r.status_code == 201, r.text
            stores[cid] = Path(r.json()["store_path"])
        yield stores
        for cid in stores:
            client.delete(f"/collections/{cid}")


def zarr_url(services, cid: str, surface: str = "") -> str:
    return f"{services.url}{surface}/collections/{cid}/zarr"


@pytest.mark.parametrize("cid", [V3, V2])
def test_xarray_opens_the_store_over_http(cubes: dict[str, Path], services, cid: str) -> None:
    """xarray.open_zarr(url) (fsspec HTTP, no directory listing) reads the same values as the store on disk."""
    local = xr.open_zarr(cubes[cid], consolidated=False)
    remote = xr.open_zarr(zarr_url(services, cid))
    assert set(remote.data_vars) == set(local.data_vars) and "NDVI" in remote.data_vars
    assert remote.sizes == local.sizes
    np.testing.assert_array_equal(remote["time"].values, local["time"].values)
    for name in ("NDVI", "B04"):
        np.testing.assert_array_equal(remote[name].isel(time=3).values, local[name].isel(time=3).values)
        assert np.isfinite(remote[name].isel(time=3).values).any()


def test_item_data_asset_opens_with_its_open_kwargs(cubes: dict[str, Path], services, http: httpx.Client) -> None:
    """What xpystac does: xr.open_dataset(asset href, **xarray:open_kwargs); the slice is stapi:time_index."""
    item = http.get(f"/collections/{V3}/items", params={"limit": 1}).json()["features"][0]
    asset = item["assets"]["data"]
    assert asset["type"] == "application/vnd+zarr" and asset["roles"] == ["data"]
    assert asset["href"] == zarr_url(services, V3)
    ds = xr.open_dataset(asset["href"], **asset["xarray:open_kwargs"])
    one = ds["NDVI"].isel(time=item["properties"]["stapi:time_index"])
    assert str(one["time"].values)[:19] == item["properties"]["datetime"][:19]
    local = xr.open_zarr(cubes[V3], consolidated=False)["NDVI"].isel(time=item["properties"]["stapi:time_index"])
    np.testing.assert_array_equal(one.values, local.values)


@pytest.mark.parametrize("surface", ["", "/api/v2"])
def test_hrefs_follow_the_surface(cubes: dict[str, Path], services, http: httpx.Client, surface: str) -> None:
    want = zarr_url(services, V3, surface)
    page = http.get(f"{surface}/collections/{V3}/items", params={"limit": 2}).json()
    assert [f["assets"]["data"]["href"] for f in page["features"]] == [want, want]
    found = http.get(f"{surface}/search", params={"collections": V3, "limit": 1}).json()["features"][0]
    assert found["assets"]["data"]["href"] == want
    one = http.get(f"{surface}/collections/{V3}/items/{found['id']}").json()
    assert one["assets"]["data"]["href"] == want
    picked = http.get(f"{surface}/search", params={"collections": V3, "limit": 1,
                                                    "fields": "assets,properties"}).json()["features"][0]
    assert picked["assets"]["data"]["href"] == want
    collection = http.get(f"{surface}/collections/{V3}").json()
    assert collection["assets"]["data"]["href"] == want
    assert collection["assets"]["data"]["type"] == "application/vnd+zarr"
    assert "https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json" in collection["stac_extensions"]
    assert "https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json" in one["stac_extensions"]


def test_metadata_and_chunks_have_their_media_types(cubes: dict[str, Path], http: httpx.Client) -> None:
    meta = http.get(f"/collections/{V3}/zarr/NDVI/zarr.json")
    assert meta.status_code == 200 and meta.headers["content-type"].startswith("application/json")
    assert meta.json()["node_type"] == "array"
    assert meta.headers["etag"] and "max-age" in meta.headers["cache-control"]
    chunk = http.get(f"/collections/{V3}/zarr/NDVI/c/0/0/0")
    assert chunk.status_code == 200 and chunk.headers["content-type"] == "application/octet-stream"
    assert chunk.content == (cubes[V3] / "NDVI" / "c" / "0" / "0" / "0").read_bytes()
    assert "content-encoding" not in chunk.headers   # chunks are compressed already
    again = http.get(f"/collections/{V3}/zarr/NDVI/c/0/0/0", headers={"If-None-Match": chunk.headers["etag"]})
    assert again.status_code == 304
    v2 = http.get(f"/api/v2/collections/{V2}/zarr/.zmetadata")
    assert v2.status_code == 200 and "NDVI/.zarray" in v2.json()["metadata"]


def test_v3_root_carries_consolidated_metadata(cubes: dict[str, Path], http: httpx.Client) -> None:
    """The upload writes none; the served root zarr.json has it, as zarr-python would write it."""
    assert "consolidated_metadata" not in json.loads((cubes[V3] / "zarr.json").read_text())
    root = http.get(f"/collections/{V3}/zarr/zarr.json")
    assert root.status_code == 200 and root.headers["etag"]
    metadata = root.json()["consolidated_metadata"]["metadata"]
    assert metadata["NDVI"] == json.loads((cubes[V3] / "NDVI" / "zarr.json").read_text())
    assert {"B04", "NDVI", "time", "x", "y"} <= set(metadata)
    assert http.get(f"/collections/{V3}/zarr/zarr.json",
                    headers={"If-None-Match": root.headers["etag"]}).status_code == 304


def test_range_requests(cubes: dict[str, Path], http: httpx.Client) -> None:
    path = f"/collections/{V3}/zarr/NDVI/c/0/0/0"
    data = (cubes[V3] / "NDVI" / "c" / "0" / "0" / "0").read_bytes()
    r = http.get(path, headers={"Range": "bytes=2-9"})
    assert r.status_code == 206 and r.content == data[2:10]
    assert r.headers["content-range"] == f"bytes 2-9/{len(data)}"
    suffix = http.get(path, headers={"Range": "bytes=-5"})   # how sharded readers fetch a shard's index
    assert suffix.status_code == 206 and suffix.content == data[-5:]
    assert http.get(path, headers={"Range": f"bytes={len(data) + 10}-{len(data) + 20}"}).status_code == 416


def test_head(cubes: dict[str, Path], http: httpx.Client) -> None:
    data = (cubes[V3] / "NDVI" / "c" / "0" / "0" / "0").read_bytes()
    r = http.head(f"/collections/{V3}/zarr/NDVI/c/0/0/0")
    assert r.status_code == 200 and r.content == b"" and int(r.headers["content-length"]) == len(data)
    assert r.headers["accept-ranges"] == "bytes"
    assert http.head(f"/collections/{V3}/zarr/no-such-key").status_code == 404


@pytest.mark.parametrize("key", ["zarr.json", ".zgroup", ".zarray", ".zattrs", ".zmetadata", "NDVI/.zarray",
                                 "NDVI/c/9/9/9", "no/such/key", "NDVI", "NDVI/"])
def test_missing_keys_are_404_json(cubes: dict[str, Path], http: httpx.Client, key: str) -> None:
    cid = V2 if key == "zarr.json" else V3
    r = http.get(f"/collections/{cid}/zarr/{key}")
    assert r.status_code == 404 and r.json()["code"] == "NotFound", (key, r.text)


@pytest.mark.parametrize("raw", ["/zarr/../../../../../../etc/passwd", "/zarr/NDVI/../../../../../etc/passwd",
                                 "/zarr/%2E%2E/%2E%2E/%2E%2E/%2E%2E/etc/passwd", "/zarr/NDVI/%2E%2E/zarr.json",
                                 "/zarr/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/zarr/%2Fetc%2Fpasswd",
                                 "/zarr//etc/passwd", "/zarr/NDVI%5C..%5Czarr.json", "/zarr/.%2Fzarr.json"])
def test_traversal_is_refused(cubes: dict[str, Path], services, raw: str) -> None:
    """Keys that would leave (or re-enter) the store: 404 (or 400), never a file from elsewhere, never a 500.
    Sent by http.client exactly as written (httpx would remove the dot segments first)."""
    url = urlsplit(services.url)
    conn = HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request("GET", f"/collections/{V3}{raw}")
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    assert r.status in (400, 404), (raw, r.status, body[:200])
    assert r.getheader("content-type", "").startswith("application/json") and b"root:" not in body


def test_symlinks_out_of_the_store_are_404(cubes: dict[str, Path], http: httpx.Client, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for clients")
    link = cubes[V3] / "leak"
    os.symlink(secret, link)
    try:
        assert http.get(f"/collections/{V3}/zarr/leak").status_code == 404
    finally:
        link.unlink()


def test_unknown_collection_and_non_cubes_are_404(cubes: dict[str, Path], http: httpx.Client) -> None:
    for path in ("/collections/no-such-cube/zarr/zarr.json", "/collections/no-such-cube/zarr"):
        r = http.get(path)
        assert r.status_code == 404 and r.json()["code"] == "NotFound", path


@pytest.mark.parametrize(("cid", "version", "key"), [(V3, 3, "zarr.json"), (V2, 2, ".zmetadata")])
def test_the_store_url_describes_the_store(cubes: dict[str, Path], services, http: httpx.Client, cid: str,
                                           version: int, key: str) -> None:
    """The asset href answers (link checkers, browsers) with where the store's metadata is."""
    doc = http.get(f"/api/v2/collections/{cid}/zarr").json()
    assert doc["zarr_format"] == version and doc["metadata"] == f"{zarr_url(services, cid, '/api/v2')}/{key}"
    assert http.get(doc["metadata"]).status_code == 200


def stac_validator(doc: dict, tmp_path: Path) -> list[dict]:
    """stac-validator (the CLI) on a document, offline: schemas from the shared mirror and the extension schemas
    copied into tests/e2e/stac_extension_schemas (datacube, xarray-assets, web-map-links, PROJJSON)."""
    from tests.conftest import SHARED
    from tests.e2e.test_stac_validator import schema_dir

    offline = SHARED / "tools" / "stac-offline"
    if not offline.exists():
        pytest.skip(f"{offline} not found (shared/ must sit beside the checkout)")
    path = tmp_path / f"{doc['id']}.json"
    path.write_text(json.dumps(doc))
    env = {**os.environ, "PYTHONPATH": str(offline), "STAC_SCHEMA_DIR": str(schema_dir())}
    out = subprocess.run([str(Path(sys.executable).parent / "stac-validator"), "validate", str(path)],
                         env=env, capture_output=True, text=True, timeout=120)
    report = json.loads(out.stdout[out.stdout.index("["):out.stdout.rindex("]") + 1])
    assert out.returncode == 0 and all(r["valid_stac"] for r in report), out.stdout[-3000:]
    return report


def test_items_and_collection_validate_with_stac_validator(cubes: dict[str, Path], http: httpx.Client,
                                                           tmp_path: Path) -> None:
    item = http.get("/api/v2/search", params={"collections": V3, "limit": 1}).json()["features"][0]
    collection = http.get(f"/api/v2/collections/{V3}").json()
    for doc in (item, collection):
        report = stac_validator(doc, tmp_path)
        schemas = {s for r in report for s in r["schema"]}
        assert {"https://stac-extensions.github.io/datacube/v2.2.0/schema.json",
                "https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json"} <= schemas
