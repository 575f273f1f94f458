"""Registering a cube on a feature collection (making it a hybrid) whose features already have the ids its time
slices would get is a 409 naming them, and changes nothing; the slices would otherwise be shadowed."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import xarray as xr

from scripts.telangana_s2 import generate
from tests.conftest import AUTH

CID = "hybrid-slice-ids"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("slice-ids") / "l2a.zarr"
    generate(path, pixel=4000.0)
    return path


def _slice_ids(store: Path) -> list[str]:
    times = xr.open_zarr(store).time.values.astype("datetime64[s]")
    return [f"{CID}-{np.datetime_as_string(t).replace('-', '').replace(':', '')}" for t in times]


def _features(http: httpx.Client, ids: list[str]) -> None:
    http.delete(f"/collections/{CID}", headers=AUTH)
    features = [{"type": "Feature", "id": fid, "properties": {"n": i},
                 "geometry": {"type": "Point", "coordinates": [78.4, 17.4]}} for i, fid in enumerate(ids)]
    r = http.post(f"/collections/{CID}/features:upload", headers=AUTH,
                  json={"type": "FeatureCollection", "features": features})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("surface", ["", "/api/v2"])
def test_a_cube_whose_slice_ids_are_feature_ids_is_a_409(http, services, store, surface):
    slices = _slice_ids(store)
    _features(http, ["parcel-1", slices[0], slices[2]])
    r = http.post(f"{surface}/collections/{CID}/cube", headers=AUTH,
                  json={"href": str(store), "layers": ["blue", "green", "red", "nir"]})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "Conflict" and slices[0] in body["description"] and slices[2] in body["description"]
    assert "parcel-1" not in body["description"]
    assert "cube:dimensions" not in http.get(f"/collections/{CID}").json()  # no cube was registered
    assert http.get("/search", params={"collections": CID}).json()["numberMatched"] == 3  # its features only
    r = http.get(f"/collections/{CID}/items/{slices[0]}")
    assert r.status_code == 200 and r.json()["properties"]["n"] == 1


def test_a_cube_on_features_of_other_ids_makes_a_hybrid(http, services, store):
    slices = _slice_ids(store)
    _features(http, ["parcel-1", "parcel-2"])
    r = http.post(f"/collections/{CID}/cube", headers=AUTH,
                  json={"href": str(store), "layers": ["blue", "green", "red", "nir"]})
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "hybrid"
    item = http.get(f"/collections/{CID}/items/{slices[0]}").json()
    assert "stapi:time_index" in item["properties"]
    http.delete(f"/collections/{CID}", headers=AUTH)
