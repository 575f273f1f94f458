"""The map viewer page: served on both surfaces, and in headless Chromium it draws a collection."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import psycopg
import pytest
from conftest import empty_feature_collection
from test_maplibre import DIST, DevTools, chrome  # noqa: F401  (chrome is a fixture)

CID = "viewer-e2e"


@pytest.fixture(scope="module")
def fields(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        empty_feature_collection(conn, CID, [10, 10, 12, 12])
        conn.execute("INSERT INTO data.features (collection_id, id, geom, properties) VALUES "
                     "(%s, 'north', ST_MakeEnvelope(10, 11.2, 12, 12, 4326), '{\"crop\": \"rice\"}'), "
                     "(%s, 'south', ST_MakeEnvelope(10, 10, 12, 10.8, 4326), '{\"crop\": \"maize\"}')", (CID, CID))
        yield CID
        conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))


def wait_for_state(chrome: DevTools, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    state = "loading"
    while state == "loading" and time.monotonic() < deadline:
        time.sleep(0.2)
        state = chrome.evaluate("window.viewerState") or "loading"
    return str(state)


@pytest.mark.parametrize("prefix", ["", "/api/v2"])
def test_viewer_page_and_assets(http, prefix):
    page = http.get(prefix + "/viewer")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="viewer/maplibre-gl.js"' in page.text
    asset = http.get(prefix + "/viewer/maplibre-gl.js")
    if DIST.exists():
        assert asset.status_code == 200 and "maplibregl" in asset.text[:100000]
    else:
        assert asset.status_code == 302 and "unpkg.com/maplibre-gl@" in asset.headers["location"]
    missing = http.get(prefix + "/viewer/other.js")
    assert missing.status_code == 404 and "maplibre-gl.js" in missing.json()["description"]


def test_viewer_draws_the_chosen_collection(services, fields, chrome):  # noqa: F811
    if not (DIST / "maplibre-gl.js").exists():
        pytest.skip(f"maplibre-gl is not installed in {DIST.parent}: run `make e2e-deps`")
    chrome.send("Page.enable")
    chrome.send("Page.navigate", url=f"{services.url}/api/v2/viewer?collection={CID}")
    assert wait_for_state(chrome) == "idle"
    assert chrome.evaluate("document.getElementById('collection').value") == CID
    drawn = json.loads(chrome.evaluate(
        "JSON.stringify(map.queryRenderedFeatures().filter(f => f.source === 'vector')"
        ".map(f => f.properties.crop).sort())"))
    assert set(drawn) == {"maize", "rice"}
