"""Vector tiles of a collection uploaded over HTTP (the features' features:upload), from UTM coordinates."""

from __future__ import annotations

import mapbox_vector_tile
import morecantile
import pytest
from conftest import AUTH
from pyproj import Transformer

CID = "tiles-upload-utm"


@pytest.fixture(scope="module")
def uploaded(services):
    import httpx

    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32644", always_xy=True)
    x0, y0 = to_utm.transform(78.5, 17.5)
    ring = [[x0, y0], [x0 + 500, y0], [x0 + 500, y0 + 500], [x0, y0 + 500], [x0, y0]]
    body = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "plot-1", "geometry": {"type": "Polygon", "coordinates": [ring]},
         "properties": {"crop": "rice", "ph": 6.8}}]}
    with httpx.Client(base_url=services.url, timeout=60) as client:
        client.delete(f"/collections/{CID}", headers=AUTH)
        r = client.post(f"/collections/{CID}/features:upload", params={"crs": "EPSG:32644", "force": "true"},
                        json=body, headers=AUTH)
        assert r.status_code == 201, r.text
        yield CID
        client.delete(f"/collections/{CID}", headers=AUTH)


def test_uploaded_features_are_in_their_tile(http, uploaded):
    tile = morecantile.tms.get("WebMercatorQuad").tile(78.502, 17.502, 15)
    r = http.get(f"/collections/{CID}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}")
    assert r.status_code == 200
    feats = mapbox_vector_tile.decode(r.content)[CID]["features"]
    assert [(f["properties"]["id"], f["properties"]["crop"]) for f in feats] == [("plot-1", "rice")]


def test_uploaded_collection_lists_its_vector_tileset(http, uploaded):
    tilesets = http.get(f"/collections/{CID}/tiles").json()["tilesets"]
    assert [t["dataType"] for t in tilesets] == ["vector"]
    tilejson = http.get(f"/collections/{CID}/tiles/WebMercatorQuad/tilejson.json").json()
    assert tilejson["vector_layers"][0]["fields"] == {"id": "String", "crop": "String", "ph": "Number"}
    west, south = tilejson["bounds"][:2]
    assert west == pytest.approx(78.5, abs=1e-4) and south == pytest.approx(17.5, abs=1e-4)
