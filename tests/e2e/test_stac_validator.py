"""stac-api-validator (from PyPI) against the live gateway: no errors for the conformance classes we claim.

Its schemas come from ../shared/testdata/stac-schemas through ../shared/tools/stac-offline (no internet), with
the extension schemas that mirror lacks (tests/e2e/stac_extension_schemas: datacube, xarray-assets, web-map-links;
the cube collections name them) merged in (`schema_dir`), and pystac's schema reads (urllib3) answered from it too
(tests/e2e/stac_offline_urllib3).
`make conformance` runs this module.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import httpx
import pytest

from tests.conftest import AUTH, SHARED, TESTDATA, WRITE_TOKEN

CID = "stac-validator"
TXN = "stac-validator-txn"
CLASSES = ["core", "collections", "features", "item-search", "filter", "item-search#sort",
           "item-search#fields", "transaction"]


def item(i: int) -> dict:
    x, y = -10.0 + i, 40.0 + i / 2
    return {"type": "Feature", "stac_version": "1.0.0", "id": f"scene-{i:02d}", "collection": CID,
            "stac_extensions": ["https://stac-extensions.github.io/eo/v1.0.0/schema.json"],
            "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1], [x, y]]]},
            "bbox": [x, y, x + 1, y + 1],
            "properties": {"datetime": f"2024-0{1 + i % 9}-1{i % 10}T10:00:00Z", "eo:cloud_cover": (i * 7) % 100,
                           "platform": "sentinel-2a"},
            "assets": {"visual": {"href": f"https://example.org/scene-{i:02d}.tif", "type": "image/tiff",
                                  "roles": ["visual"]}},
            "links": []}


@pytest.fixture(scope="module")
def validator_data(services) -> None:
    collection = {"type": "Collection", "stac_version": "1.0.0", "license": "CC-BY-4.0",
                  "description": "Scenes for stac-api-validator", "title": "Validator scenes",
                  "summaries": {"platform": ["sentinel-2a"]},
                  "extent": {"spatial": {"bbox": [[-10, 40, 10, 51]]},
                             "temporal": {"interval": [["2024-01-01T00:00:00Z", "2024-12-31T00:00:00Z"]]}},
                  "links": []}
    with httpx.Client(base_url=services.url, timeout=60, headers=AUTH) as client:
        for cid in (CID, TXN):
            client.delete(f"/collections/{cid}")
            assert client.post("/collections", json={**collection, "id": cid}).status_code == 201
        r = client.post(f"/collections/{CID}/items",
                        json={"type": "FeatureCollection", "features": [item(i) for i in range(15)]})
        assert r.status_code == 201, r.text


@cache
def schema_dir() -> Path:
    """The offline schema mirror and tests/e2e/stac_extension_schemas in one tree (stac-offline's STAC_SCHEMA_DIR)."""
    merged = Path(tempfile.mkdtemp(prefix="stac-schemas-"))
    atexit.register(shutil.rmtree, merged, True)
    shutil.copytree(TESTDATA / "stac-schemas", merged, dirs_exist_ok=True)
    shutil.copytree(Path(__file__).resolve().parent / "stac_extension_schemas", merged, dirs_exist_ok=True)
    return merged


def run_validator(services, collection: str, classes: list[str], geometry: dict, *extra: str) -> str:
    """stac-api-validator against the live gateway for `collection`: its report; asserts 'Errors: none'.

    Also used by tests/e2e/test_stac_validator_features.py.
    """
    offline = SHARED / "tools" / "stac-offline"
    if not offline.exists():
        pytest.skip(f"{offline} not found (shared/ must sit beside the checkout)")
    exe = Path(sys.executable).parent / "stac-api-validator"
    cmd = [str(exe), "--root-url", f"{services.url}/", "--collection", collection, "--geometry", json.dumps(geometry),
           "--log-level", "WARNING", *extra]
    for cc in classes:
        cmd += ["--conformance", cc]
    # the shared shim, wrapped by one that answers pystac's urllib3 requests too (stac_offline_urllib3/)
    wrapper = Path(__file__).resolve().parent / "stac_offline_urllib3"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(wrapper), os.environ.get("PYTHONPATH")])),
           "STAC_OFFLINE_SHIM": str(offline / "sitecustomize.py"), "STAC_SCHEMA_DIR": str(schema_dir())}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    report = out.stdout + out.stderr
    assert "Errors: none" in report and out.returncode == 0, report[-6000:]
    return report


def test_stac_api_validator_reports_no_errors(services, validator_data):
    geometry = {"type": "Polygon", "coordinates": [[[-20, 30], [20, 30], [20, 60], [-20, 60], [-20, 30]]]}
    run_validator(services, CID, CLASSES, geometry, "--fields-nested-property", "properties.eo:cloud_cover",
                  "--transaction-collection", TXN, "--auth-bearer-token", WRITE_TOKEN)
