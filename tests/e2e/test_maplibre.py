"""MapLibre GL JS in headless Chromium draws the collection's vector tiles from its generated style.

Needs chromium and maplibre-gl (`make e2e-deps`, which `make test` runs first). The page is served by a tiny
static server in the test; the map loads /collections/{id}/styles/default from the real gateway, which points
at the TileJSON, which points at the tiles. Chromium is driven over the DevTools protocol (websockets).
"""

from __future__ import annotations

import base64
import http.server
import io
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from conftest import ROOT, empty_feature_collection, free_port
from PIL import Image
from websockets.sync.client import ClientConnection, connect

CID = "tiles-e2e-maplibre"
DIST = ROOT / ".local" / "e2e" / "node_modules" / "maplibre-gl" / "dist"
SIZE = 512
PAGE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="maplibre-gl.css">
<style>html,body{margin:0;background:#fff}#map{width:%(size)spx;height:%(size)spx}</style></head>
<body><div id="map"></div><script src="maplibre-gl.js"></script><script>
window.mapState = "loading";
const map = new maplibregl.Map({container: "map", style: %(style)s, center: [0, 0], zoom: 4,
                                fadeDuration: 0, attributionControl: false,
                                canvasContextAttributes: {preserveDrawingBuffer: true}});
map.on("error", (e) => { window.mapState = "error: " + (e.error && e.error.message); });
map.on("idle", () => { if (window.mapState === "loading") window.mapState = "idle"; });
</script></body></html>"""


def browser() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    pytest.skip("chromium is not installed: run `make e2e-deps`")


@pytest.fixture(scope="module")
def features(database_url: str) -> Iterator[str]:
    """A 4x4-degree square across the tiles around (0, 0), a point at (5, 5), a 2x2-degree field inside one tile."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        empty_feature_collection(conn, CID, [-2, -2, 5, 5])
        conn.execute("INSERT INTO data.features (collection_id, id, geom, properties) VALUES "
                     "(%s, 'square', ST_MakeEnvelope(-2, -2, 2, 2, 4326), '{\"crop\": \"wheat\"}'), "
                     "(%s, 'well', ST_Point(5, 5, 4326), '{}'), "
                     "(%s, 'field', ST_MakeEnvelope(5, -6, 7, -4, 4326), '{}')", (CID, CID, CID))
        yield CID
        conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))


@pytest.fixture(scope="module")
def page_url(services, features, tmp_path_factory) -> Iterator[str]:
    if not (DIST / "maplibre-gl.js").exists():
        pytest.skip(f"maplibre-gl is not installed in {DIST.parent}: run `make e2e-deps`")
    site = tmp_path_factory.mktemp("site")
    for name in ("maplibre-gl.js", "maplibre-gl.css"):
        shutil.copy(DIST / name, site / name)
    style = json.dumps(f"{services.url}/collections/{CID}/styles/default")
    (site / "index.html").write_text(PAGE % {"size": SIZE, "style": style})
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    server.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()


class DevTools:
    """Just enough of the Chrome DevTools protocol: evaluate JavaScript, take a screenshot; the events that
    arrive meanwhile (console messages, network responses, once their domain is enabled) are kept in `events`."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg["result"])
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression: str) -> Any:
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")


@pytest.fixture()
def chrome(tmp_path: Path) -> Iterator[DevTools]:
    port = free_port()
    proc = subprocess.Popen([browser(), "--headless", "--no-sandbox", "--disable-gpu",
                             "--disable-background-networking", "--enable-unsafe-swiftshader",
                             f"--remote-debugging-port={port}", f"--user-data-dir={tmp_path / 'profile'}",
                             f"--window-size={SIZE},{SIZE}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                pages = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                target = next(p for p in pages if p["type"] == "page")
                break
            except (httpx.HTTPError, StopIteration):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("chromium did not open its DevTools port") from None
                time.sleep(0.2)
        with connect(target["webSocketDebuggerUrl"], max_size=50_000_000, open_timeout=30) as ws:
            yield DevTools(ws)
    finally:
        proc.terminate()
        proc.wait(10)


def wait_for_map(chrome: DevTools, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    state = "loading"
    while time.monotonic() < deadline:
        state = chrome.evaluate("window.mapState") or "loading"
        if state != "loading":
            return str(state)
        time.sleep(0.2)
    return state


def test_maplibre_renders_the_vector_tiles(chrome, page_url):
    chrome.send("Page.enable")
    chrome.send("Emulation.setDeviceMetricsOverride", width=SIZE, height=SIZE, deviceScaleFactor=1, mobile=False)
    chrome.send("Page.navigate", url=page_url)
    assert wait_for_map(chrome) == "idle"
    # where MapLibre itself puts the features on screen
    square = chrome.evaluate("JSON.stringify(map.project([0, 0]))")
    well = chrome.evaluate("JSON.stringify(map.project([5, 5]))")
    field = chrome.evaluate("JSON.stringify(map.project([6, -5]))")
    shot = base64.b64decode(chrome.send("Page.captureScreenshot", format="png")["data"])
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert image.size == (SIZE, SIZE)

    def pixel(point_json: str) -> tuple[int, int, int]:
        p = json.loads(point_json)
        return image.getpixel((round(p["x"]), round(p["y"])))

    r, g, b = pixel(square)
    assert r > g + 40 and r > b + 40, (r, g, b)         # the orange fill (#e4572e at 45 % over white)
    r, g, b = pixel(field)
    assert r > g + 40 and r > b + 40, (r, g, b)         # a polygon inside one tile (the no-clip path) is filled
    r, g, b = pixel(well)
    assert g > r + 20 and b > r + 20, (r, g, b)         # the teal circle (#2a9d8f)
    assert image.getpixel((8, SIZE - 8)) == (255, 255, 255)   # far from any feature: the white page
    rendered = chrome.evaluate("map.queryRenderedFeatures().map(f => f.properties.id).sort().join(',')")
    assert set(rendered.split(",")) == {"square", "well", "field"}
