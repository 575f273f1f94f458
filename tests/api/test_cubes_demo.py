"""The demo: the hybrid collection telangana-ndvi-2025 (cube + parcels) with capabilities, TileJSON, tiles."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import numpy as np
import psycopg
import pytest
from PIL import Image

from scripts import demo_cube

CID = demo_cube.COLLECTION


@pytest.fixture(scope="module")
def demo(services, database_url: str) -> Iterator[str]:
    first = demo_cube.load(database_url, services.data_dir)
    again = demo_cube.load(database_url, services.data_dir)
    assert "skipped" in again
    yield first
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET search_path = pgstac, public")  # pgstac's delete trigger needs it
        conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))


def test_hybrid_with_parcels(demo: str, db) -> None:
    kind = db.execute("SELECT kind FROM data.collection_meta WHERE collection_id = %s", (CID,)).fetchone()[0]
    assert kind == "hybrid"
    n, crops = db.execute("SELECT count(*), array_agg(DISTINCT properties ->> 'crop') FROM data.features "
                          "WHERE collection_id = %s", (CID,)).fetchone()
    assert n == 36 and set(crops) == {"rice", "cotton", "maize", "red gram", "soybean"}
    row = db.execute("SELECT properties FROM data.features WHERE collection_id = %s LIMIT 1", (CID,)).fetchone()
    assert {"crop", "farmer", "ph"} <= set(row[0])


def test_capabilities_tilejson_and_tiles(demo: str, http: httpx.Client) -> None:
    caps = http.get(f"/api/v2/collections/{CID}/capabilities").json()
    assert caps["kind"] == "hybrid" and caps["native_crs"] == "EPSG:32644"
    assert {"NDVI", "EVI", "RGB", "B8A", "SCL"} <= {layer["name"] for layer in caps["layers"]}
    assert caps["times"][0] == "2025-06-02T05:30:00Z" and caps["times"][-1] == "2025-09-29T05:30:00Z"
    tj = http.get(f"/api/v2/collections/{CID}/tiles/WebMercatorQuad/tilejson.json", params={"layers": "NDVI"})
    assert tj.status_code == 200, tj.text
    url = tj.json()["tiles"][0].replace("{z}", "9").replace("{x}", "367").replace("{y}", "230")
    r = httpx.get(url, params={"datetime": "2025-08-20T00:00:00Z"}, timeout=30)
    assert r.status_code == 200 and r.headers["x-cube-datetime-match"] == "nearest"
    img = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
    assert (img[..., 3] == 255).mean() > 0.9


def test_vector_tileset_listed_too(demo: str, http: httpx.Client) -> None:
    r = http.get(f"/collections/{CID}/tiles")
    assert r.status_code == 200
    found = {(t["dataType"], t["links"][0]["href"].rsplit("/", 1)[1]) for t in r.json()["tilesets"]}
    assert found == {("map", "WebMercatorQuad"), ("vector", "WebMercatorQuad-Vector")}
