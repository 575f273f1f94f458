"""DataCube HTTP surface: registration over HTTP, capabilities, raster TileJSON, STAC items in /search."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from scripts.telangana_s2 import generate
from tests.conftest import AUTH

CID = "test-cubes-api"


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory, services) -> Iterator[dict]:
    path = tmp_path_factory.mktemp("s2api") / "l2a.zarr"
    generate(path, pixel=4000.0)
    with httpx.Client(base_url=services.url, timeout=120) as http:
        http.delete(f"/collections/{CID}", headers=AUTH)
        r = http.post(f"/api/v2/collections/{CID}/cube", json={"href": str(path), "layers": ["B02", "B03", "B04",
                                                                                           "B08"]})
        assert r.status_code == 401
        r = http.post(f"/api/v2/collections/{CID}/cube", json={"href": str(path), "force": True,
                                                               "layers": ["blue", "green", "red", "nir"]},
                      headers=AUTH)
        assert r.status_code == 201, r.text
        yield {"path": path, **r.json()}
        http.delete(f"/collections/{CID}", headers=AUTH)


def test_registration_summary(registered: dict) -> None:
    assert registered["collection_id"] == CID and registered["items"] == 18
    assert set(registered["layers_by_kind"]["index"]) == {"NDVI", "GNDVI", "EVI"}
    assert registered["layers_by_kind"]["composite"] == ["RGB", "CIR"]


def test_capabilities(registered: dict, http: httpx.Client) -> None:
    r = http.get(f"/api/v2/collections/{CID}/capabilities")
    assert r.status_code == 200
    doc = r.json()
    names = {layer["name"]: layer for layer in doc["layers"]}
    assert names["NDVI"]["kind"] == "index" and names["NDVI"]["colormap"] == "rdylgn"
    assert names["NDVI"]["rescale"] == [0, 1] and names["NDVI"]["dtype"] == "float32"
    assert names["RGB"]["bands"] == ["B04", "B03", "B02"]
    assert doc["native_crs"] == "EPSG:32644" and doc["resolution"] == [4000, 4000]
    assert doc["times"][0] == "2025-06-02T05:30:00Z" and len(doc["times"]) == 18
    assert doc["bbox"][0] < 78.01 and doc["bbox"][2] > 78.99
    assert doc["default_layer"] == "NDVI" and "viridis" in doc["colormaps"]
    assert any(link["href"].startswith(http.base_url.join("/api/v2/").__str__()) for link in doc["links"])


def test_colormap_names_match_the_worker(registered: dict, http: httpx.Client) -> None:
    from raster_worker.colormaps import NAMES

    assert tuple(http.get(f"/collections/{CID}/capabilities").json()["colormaps"]) == NAMES


def test_tilejson_for_leaflet_and_maplibre(registered: dict, http: httpx.Client) -> None:
    r = http.get(f"/api/v2/collections/{CID}/tiles/WebMercatorQuad/tilejson.json",
                 params={"layers": "NDVI", "datetime": "2025-07-01T00:00:00Z", "colormap": "viridis"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["tilejson"] == "3.0.0" and doc["scheme"] == "xyz"
    url = doc["tiles"][0]
    assert "/api/v2/collections/test-cubes-api/tiles/WebMercatorQuad/{z}/{x}/{y}.png?" in url
    assert "layers=NDVI" in url and "colormap=viridis" in url and "datetime=2025-07-01T00%3A00%3A00Z" in url
    assert 0 <= doc["minzoom"] < doc["maxzoom"] <= 24
    assert len(doc["bounds"]) == 4 and len(doc["center"]) == 3
    tile = url.replace("{z}", "7").replace("{x}", "91").replace("{y}", "57")
    assert httpx.get(tile, timeout=30).headers["content-type"] == "image/png"


def test_tilejson_unknown_layer_is_400(registered: dict, http: httpx.Client) -> None:
    r = http.get(f"/collections/{CID}/tiles/WebMercatorQuad/tilejson.json", params={"layers": "NDRE"})
    assert r.status_code == 400 and "NDRE" in r.json()["description"]


def test_capabilities_of_unknown_collection_is_404(http: httpx.Client) -> None:
    assert http.get("/collections/no-such-cube/capabilities").status_code == 404


def test_bad_registration_is_400(services, http: httpx.Client) -> None:
    r = http.post("/collections/test-cubes-bad/cube", json={"href": "/no/such/store.zarr"}, headers=AUTH)
    assert r.status_code == 400 and "cannot open" in r.json()["description"]
    r = http.post("/collections/test-cubes-bad/cube", json={"hrefx": "x"}, headers=AUTH)
    assert r.status_code == 400


def test_second_registration_without_force_is_409(registered: dict, http: httpx.Client) -> None:
    r = http.post(f"/collections/{CID}/cube", json={"href": str(registered["path"])}, headers=AUTH)
    assert r.status_code == 409 and "force" in r.json()["description"]


def test_items_per_slice_are_searchable(registered: dict, db) -> None:
    row = db.execute("SELECT count(*) FROM pgstac.items WHERE collection = %s AND datetime >= '2025-07-01' "
                     "AND datetime < '2025-08-01'", (CID,)).fetchone()
    assert row[0] == 4


def test_search_by_bbox_and_datetime(registered: dict, http: httpx.Client) -> None:
    r = http.get("/search", params={"collections": CID, "bbox": "78.4,17.4,78.6,17.6",
                                    "datetime": "2025-07-01T00:00:00Z/2025-07-31T23:59:59Z"})
    assert r.status_code == 200, r.text
    ids = sorted(f["id"] for f in r.json()["features"])
    assert ids == [f"{CID}-202507{d:02d}T053000" for d in (7, 14, 21, 28)]
    assert r.json()["features"][0]["assets"]["data"]["type"] == "application/vnd+zarr"


def test_collection_links_its_time_slice_items(registered: dict, http: httpx.Client) -> None:
    links = {link["rel"]: link["href"] for link in http.get(f"/collections/{CID}").json()["links"]}
    assert links["items"].endswith(f"/collections/{CID}/items")
    page = http.get(links["items"], params={"limit": 3}).json()
    assert page["type"] == "FeatureCollection" and len(page["features"]) == 3
    assert all(f["collection"] == CID and "data" in f["assets"] for f in page["features"])


def test_registration_is_refused_before_reading(registered: dict, http: httpx.Client) -> None:
    """An existing cube without force: 409 from the database before the store is even opened."""
    r = http.post(f"/collections/{CID}/cube", json={"href": "/no/such/store.zarr"}, headers=AUTH)
    assert r.status_code == 409 and "already has a DataCube" in r.json()["description"]


def test_deleting_the_collection_removes_its_store(registered: dict, services, http: httpx.Client) -> None:
    """DELETE /collections/{id} cascades to data.cubes; the worker hears NOTIFY stapi_cubes and removes the
    collection's store folder (polled: the removal runs in the worker's own thread)."""
    cid = "test-cubes-api-delete"
    http.delete(f"/collections/{cid}", headers=AUTH)
    r = http.post(f"/collections/{cid}/cube", json={"href": str(registered["path"]), "layers": ["B04", "B08"]},
                  headers=AUTH)
    assert r.status_code == 201, r.text
    folder = services.data_dir / "cubes" / cid
    assert Path(r.json()["store_path"]).is_dir() and folder.is_dir()
    assert http.delete(f"/collections/{cid}", headers=AUTH).status_code in (200, 204)
    deadline = time.monotonic() + 30
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not folder.exists()


@pytest.fixture(scope="module")
def zarr_over_http(registered: dict) -> Iterator[str]:
    """The source store's folder served by python's http.server in a thread (no internet): its URL."""
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    folder = registered["path"].parent
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{registered['path'].name}"
    server.shutdown()
    server.server_close()


def test_registration_by_url(registered: dict, zarr_over_http: str, http: httpx.Client, db) -> None:
    """A store at an http:// URL registers like one at a server path, and renders the same tiles."""
    cid = "test-cubes-api-url"
    http.delete(f"/collections/{cid}", headers=AUTH)
    try:
        r = http.post(f"/collections/{cid}/cube", json={"href": zarr_over_http, "layers": ["blue", "green", "red",
                                                                                         "nir"]}, headers=AUTH)
        assert r.status_code == 201, r.text
        assert r.json()["items"] == 18 and set(r.json()["layers_by_kind"]["index"]) == {"NDVI", "GNDVI", "EVI"}
        stored = db.execute("SELECT content -> 'assets' -> 'data' ->> 'href' FROM pgstac.items WHERE collection = %s "
                            "LIMIT 1", (cid,)).fetchone()[0]
        assert stored == "../zarr"   # the served store, relative to the item; read with this surface's URL
        item = http.get(f"/collections/{cid}/items", params={"limit": 1}).json()["features"][0]
        assert item["assets"]["data"]["href"] == str(http.base_url.join(f"/collections/{cid}/zarr"))
        tile = "/collections/{}/tiles/WebMercatorQuad/7/91/57.png"
        query = {"layers": "NDVI", "datetime": "2025-08-01T00:00:00Z"}
        by_url, by_path = http.get(tile.format(cid), params=query), http.get(tile.format(CID), params=query)
        assert by_url.status_code == 200 and by_url.content == by_path.content
    finally:
        http.delete(f"/collections/{cid}", headers=AUTH)


def test_registration_of_a_missing_url_is_400(zarr_over_http: str, http: httpx.Client) -> None:
    r = http.post("/collections/test-cubes-api-url-bad/cube", json={"href": zarr_over_http + "-nope"}, headers=AUTH)
    assert r.status_code == 400 and "cannot open" in r.json()["description"]
    assert http.get("/collections/test-cubes-api-url-bad").status_code == 404
