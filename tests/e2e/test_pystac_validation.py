"""Every kind of collection (stac, features, cube, hybrid) and a sample of its items, as STAC Browser would
read them, validated by pystac against the STAC JSON schemas (offline copies in ../shared/testdata/stac-schemas).

The collections are made the way clients make them, over HTTP: a STAC collection and items (POST), a feature
upload, and cube registrations of a generated Zarr store (POST /collections/{id}/cube); registering a cube on a
collection that already has features makes it a hybrid.

The extension schemas the offline mirror lacks (datacube v2.2.0, xarray-assets v1.0.0, web-map-links v1.2.0)
are read from tests/e2e/stac_extension_schemas (copies of the stac-extensions releases), so every schema a
document names is validated; `assert_datacube_fields` also checks what the datacube schema leaves open:
`cube:dimensions` (in an item's properties too), `cube:variables` as an object of variables with `dimensions`
and `type`, and no other `cube:*` field.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pystac.validation import validate_dict
from pystac.validation.stac_validator import JsonSchemaSTACValidator

from scripts import telangana_s2
from tests.conftest import AUTH, TESTDATA

DATACUBE = "https://stac-extensions.github.io/datacube/v2.2.0/schema.json"
SCHEMAS = TESTDATA / "stac-schemas"
EXTENSION_SCHEMAS = Path(__file__).resolve().parent / "stac_extension_schemas"  # what the mirror lacks
STAC, FEATURES, CUBE, HYBRID = "val-stac", "val-features", "val-cube", "val-hybrid"
KINDS = {STAC: "stac", FEATURES: "features", CUBE: "cube", HYBRID: "hybrid"}


class OfflineValidator(JsonSchemaSTACValidator):
    """pystac's validator reading every schema from the offline mirror or the copies beside this test (a schema in
    neither is an error)."""

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        if schema_uri not in self.schema_cache:
            host_path = schema_uri.split("://", 1)[1].split("#", 1)[0]
            path = SCHEMAS / host_path
            if not path.is_file():
                path = EXTENSION_SCHEMAS / host_path
            if not path.is_file():
                raise FileNotFoundError(f"{schema_uri} is not in the offline schema mirror {SCHEMAS}")
            self.schema_cache[schema_uri] = json.loads(path.read_text())
        return self.schema_cache[schema_uri]


def validate(doc: dict) -> None:
    """pystac validation of a collection or item against the core schemas and every extension it names."""
    if not SCHEMAS.is_dir():
        pytest.skip(f"offline STAC schemas not found: {SCHEMAS}")
    if DATACUBE in doc.get("stac_extensions", []):
        assert_datacube_fields(doc)
    assert validate_dict(doc, validator=OfflineValidator()), doc["id"]


def assert_datacube_fields(doc: dict) -> None:
    fields = doc["properties"] if doc["type"] == "Feature" else doc
    assert {k for k in fields if k.startswith("cube:")} == {"cube:dimensions", "cube:variables"}, doc["id"]
    dims, variables = fields["cube:dimensions"], fields["cube:variables"]
    assert {"x", "y", "time"} <= set(dims) and all(isinstance(d.get("type"), str) for d in dims.values())
    assert all(len(dims[a]["extent"]) == 2 and dims[a]["axis"] == a for a in ("x", "y"))
    assert dims["time"]["type"] == "temporal" and len(dims["time"]["extent"]) == 2
    assert isinstance(variables, dict) and variables
    assert all(v["type"] in ("data", "auxiliary") and set(v["dimensions"]) <= set(dims) for v in variables.values())


@pytest.fixture(scope="module")
def collections(services) -> Iterator[httpx.Client]:
    work = Path(tempfile.mkdtemp(prefix="val-cube-"))
    store = work / "s2.zarr"
    parcels = telangana_s2.generate(store, pixel=2000.0)
    with httpx.Client(base_url=services.url, headers=AUTH, timeout=120) as client:
        for cid in KINDS:
            client.delete(f"/collections/{cid}")
        make_stac(client)
        for cid in (FEATURES, HYBRID):
            r = client.post(f"/collections/{cid}/features:upload", json={
                "type": "FeatureCollection", "features": [p.feature() for p in parcels[:6]],
                "collection": {"title": f"{cid} parcels", "description": "field parcels"}})
            assert r.status_code == 201, r.text
        for cid in (CUBE, HYBRID):
            r = client.post(f"/api/v2/collections/{cid}/cube", json={"href": str(store), "crs": telangana_s2.CRS})
            assert r.status_code == 201, r.text
        yield client
        for cid in KINDS:
            client.delete(f"/collections/{cid}")
    shutil.rmtree(work, ignore_errors=True)


def make_stac(client: httpx.Client) -> None:
    r = client.post("/collections", json={
        "id": STAC, "description": "scenes", "license": "CC-BY-4.0", "title": "Validation scenes",
        "extent": {"spatial": {"bbox": [[10, 45, 11, 46]]},
                   "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]}}})
    assert r.status_code == 201, r.text
    items = [{"type": "Feature", "stac_version": "1.0.0", "id": f"scene-{i}", "collection": STAC,
              "stac_extensions": ["https://stac-extensions.github.io/eo/v1.0.0/schema.json"],
              "geometry": {"type": "Point", "coordinates": [10 + i / 10, 45.5]}, "bbox": [10 + i / 10, 45.5] * 2,
              "properties": {"datetime": f"2024-03-0{i + 1}T10:00:00Z", "eo:cloud_cover": 10 * i},
              "assets": {"B04": {"href": f"https://example.org/{i}/B04.tif", "type": "image/tiff; application=geotiff",
                                 "eo:bands": [{"name": "B04", "common_name": "red"}]}}, "links": []}
             for i in range(4)]
    r = client.post(f"/collections/{STAC}/items", json={"type": "FeatureCollection", "features": items})
    assert r.status_code == 201, r.text


def test_kinds_are_as_expected(collections: httpx.Client, db) -> None:
    rows = dict(db.execute("SELECT collection_id, kind FROM data.collection_meta WHERE collection_id = ANY(%s)",
                           (list(KINDS),)).fetchall())
    assert {cid: rows.get(cid, "stac") for cid in KINDS} == KINDS


@pytest.mark.parametrize("cid", list(KINDS))
def test_collection_validates(collections: httpx.Client, cid: str) -> None:
    for surface in ("", "/api/v2"):
        doc = collections.get(f"{surface}/collections/{cid}").json()
        validate(doc)
    listed = collections.get("/collections", params={"limit": 100}).json()["collections"]
    validate(next(c for c in listed if c["id"] == cid))


@pytest.mark.parametrize("cid", list(KINDS))
def test_items_validate(collections: httpx.Client, cid: str) -> None:
    """A sample from /collections/{id}/items, /search and each sample item's self link."""
    pages = [collections.get(f"/collections/{cid}/items", params={"limit": 3}).json(),
             collections.get("/search", params={"collections": cid, "limit": 3}).json()]
    sample = [item for page in pages for item in page["features"]]
    assert len(sample) == 6
    for item in sample:
        validate(item)
        self_href = next(link["href"] for link in item["links"] if link["rel"] == "self")
        r = httpx.get(self_href, timeout=30)
        assert r.status_code == 200 and r.json()["id"] == item["id"], self_href
        validate(r.json())
