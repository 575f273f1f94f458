"""DataCube items for remote clients: the served Zarr store over HTTP (GET|HEAD /collections/{id}/zarr/{key}),
opened by xarray through fsspec's HTTP filesystem; the time slices' and collections' `data` asset pointing at
it on the request's surface; web map links (xyz, tilejson); PNG maps of a whole cube (GET /collections/{id}/map).

Two cubes are uploaded over HTTP from one small synthetic Sentinel-2 store (scripts/telangana_s2.py): one
written as Zarr v3 (the default, no consolidated metadata on disk: the gateway serves it) and one as Zarr v2
(`use_v2`, with its `.zmetadata`).
"""

from __future__ import annotations

import io
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
from PIL import Image

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


WEB_MAP = "https://stac-extensions.github.io/web-map-links/v1.2.0/schema.json"


def png_image(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


@pytest.mark.parametrize("surface", ["", "/api/v2"])
def test_web_map_links_of_a_slice(cubes: dict[str, Path], services, http: httpx.Client, surface: str) -> None:
    """xyz (PNG tile template with layers= and the slice's datetime=) and tilejson links, on the request's surface;
    the template renders when filled in."""
    item = http.get(f"{surface}/search", params={"collections": V3, "limit": 1}).json()["features"][0]
    assert WEB_MAP in item["stac_extensions"]
    links = {link["rel"]: link for link in item["links"]}
    base = f"{services.url}{surface}/collections/{V3}/tiles/WebMercatorQuad/"
    when = item["properties"]["datetime"].replace(":", "%3A")
    xyz = links["xyz"]
    assert xyz["type"] == "image/png" and xyz["href"] == f"{base}{{z}}/{{x}}/{{y}}.png?layers=NDVI&datetime={when}"
    tile = httpx.get(xyz["href"].format(z=7, x=91, y=57), timeout=30)
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
    assert tile.headers["x-cube-datetime"] == item["properties"]["datetime"]
    assert png_image(tile.content).size == (256, 256)
    tilejson = httpx.get(links["tilejson"]["href"], timeout=30)
    assert tilejson.status_code == 200 and tilejson.json()["tiles"][0].startswith(f"{base}{{z}}/{{x}}/{{y}}.png?")
    assert "layers=NDVI" in tilejson.json()["tiles"][0] and f"datetime={when}" in tilejson.json()["tiles"][0]


def test_web_map_links_of_the_collection(cubes: dict[str, Path], services, http: httpx.Client) -> None:
    collection = http.get(f"/api/v2/collections/{V3}").json()
    assert WEB_MAP in collection["stac_extensions"]
    links = {link["rel"]: link["href"] for link in collection["links"]}
    base = f"{services.url}/api/v2/collections/{V3}"
    assert links["xyz"] == f"{base}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png?layers=NDVI"
    assert links["tilejson"] == f"{base}/tiles/WebMercatorQuad/tilejson.json?layers=NDVI"
    assert httpx.get(links["xyz"].format(z=7, x=91, y=57), timeout=30).status_code == 200


def test_map_of_a_slice(cubes: dict[str, Path], services, http: httpx.Client) -> None:
    """GET /collections/{id}/map: a PNG of the slice's default layer over the cube's extent, longest side 512 px,
    not fully transparent, cacheable; the slice it shows is the one asked for."""
    item = http.get(f"/collections/{V3}/items", params={"limit": 1}).json()["features"][0]
    href = f"{services.url}/collections/{V3}/map?layers=NDVI&datetime={item['properties']['datetime']}"
    r = httpx.get(href, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.headers["etag"] and "max-age" in r.headers["cache-control"]
    assert r.headers["x-cube-datetime"] == item["properties"]["datetime"]
    image = png_image(r.content).convert("RGBA")
    assert max(image.size) == 512 and min(image.size) > 100
    alpha = np.asarray(image)[..., 3]
    assert (alpha > 0).mean() > 0.5
    assert httpx.get(href, headers={"If-None-Match": r.headers["etag"]}, timeout=60).status_code == 304


def test_map_sizes_and_errors(cubes: dict[str, Path], http: httpx.Client) -> None:
    one = http.get(f"/collections/{V3}/map", params={"layers": "RGB", "width": 200})
    assert one.status_code == 200 and png_image(one.content).size[0] == 200
    two = http.get(f"/collections/{V3}/map", params={"layers": "B04,B03,B02", "width": 64, "height": 32})
    assert png_image(two.content).size == (64, 32)
    assert http.get(f"/collections/{V3}/map", params={"width": 0}).status_code == 400
    assert http.get(f"/collections/{V3}/map", params={"width": 99999}).status_code == 400
    assert http.get(f"/collections/{V3}/map", params={"layers": "NDRE"}).status_code == 400
    assert http.get(f"/collections/{V3}/map", params={"bbox": "1,2,3,4"}).status_code == 400
    assert http.get("/collections/no-such-cube/map").status_code == 404


def test_items_validate_with_the_web_map_links_schema(cubes: dict[str, Path], http: httpx.Client,
                                                      tmp_path: Path) -> None:
    item = http.get("/search", params={"collections": V2, "limit": 1}).json()["features"][0]
    collection = http.get(f"/collections/{V2}").json()
    for doc in (item, collection):
        assert WEB_MAP in {s for r in stac_validator(doc, tmp_path) for s in r["schema"]}


def test_migrations_bring_older_items_to_this_form(cubes: dict[str, Path], db, http: httpx.Client) -> None:
    """Items as cubes registered before migrations 303 and 304 stored them (a filesystem path as the data asset,
    no links, the datacube extension only) are served as new ones after those migrations run."""
    ids = [f["id"] for f in http.get(f"/collections/{V2}/items", params={"limit": 3}).json()["features"]]
    before = {i: http.get(f"/collections/{V2}/items/{i}").json() for i in ids}
    with db.transaction():
        db.execute("SET LOCAL search_path = pgstac, public")
        db.execute("UPDATE pgstac.items SET content = content || jsonb_build_object("
                   "'assets', jsonb_build_object('data', jsonb_build_object('href', %s::text, 'roles', '[\"data\"]'"
                   "::jsonb, 'type', 'application/vnd+zarr')), 'links', '[]'::jsonb, 'stac_extensions', "
                   "'[\"https://stac-extensions.github.io/datacube/v2.2.0/schema.json\"]'::jsonb) "
                   "WHERE collection = %s", (str(cubes[V2]), V2))
    old = http.get(f"/collections/{V2}/items/{ids[0]}").json()
    assert old["assets"]["data"]["href"] == str(cubes[V2]) and not any(l["rel"] == "xyz" for l in old["links"])
    root = Path(__file__).resolve().parents[2] / "db" / "migrations"
    for name in ("303_cube_items_zarr_http.sql", "304_cube_items_web_map.sql"):
        with db.transaction():
            db.execute((root / name).read_text())
    after = {i: http.get(f"/collections/{V2}/items/{i}").json() for i in ids}
    for i in ids:
        assert after[i]["assets"] == before[i]["assets"]
        assert sorted(after[i]["stac_extensions"]) == sorted(before[i]["stac_extensions"])
        assert [link for link in after[i]["links"] if link["rel"] in ("xyz", "tilejson")] == \
               [link for link in before[i]["links"] if link["rel"] in ("xyz", "tilejson")]
