"""STAC Browser (radiantearth/stac-browser, built by `make e2e-deps`) in headless Chromium, at our root URL.

STAC Browser's files are served by a small static server on another origin than the API (so CORS is
exercised), with `catalogUrl` set in its runtime config.js, in history mode (unknown paths answer index.html,
as its docs ask of a host). The tests open what a user opens: the root catalog, a collection of each kind (STAC
items, features, cube, hybrid) with its items, an item of each, item search with a filter and paging,
collection search, a feature collection's items filtered on a property, and the /api/v2/ surface. They assert on
what the page shows (titles, item ids), that no error banner is shown, that nothing was logged as an error to
the console and that every request to our API succeeded.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import AUTH, ROOT, free_port
from test_maplibre import DevTools, chrome  # noqa: F401  (chrome is a fixture)

from scripts import telangana_s2

SB_DIST = ROOT / ".local" / "e2e" / "stac-browser"
STAC, FEATURES, CUBE, HYBRID = "sb-stac", "sb-features", "sb-cube", "sb-hybrid"
TITLES = {STAC: "Browser scenes", FEATURES: "Browser parcels", CUBE: "Browser cube", HYBRID: "Browser hybrid"}
WIDTH, HEIGHT = 1280, 1024
EXTERNAL_SCHEMA_HOSTS = ("https://geojson.org/", "https://schemas.stacspec.org/")


@pytest.fixture(scope="module")
def collections(services) -> Iterator[dict[str, list[str]]]:
    """One collection of each kind, made over HTTP; yields the ids of each collection's items."""
    work = Path(tempfile.mkdtemp(prefix="sb-cube-"))
    store = work / "s2.zarr"
    parcels = telangana_s2.generate(store, pixel=2000.0)
    with httpx.Client(base_url=services.url, headers=AUTH, timeout=120) as client:
        for cid in TITLES:
            client.delete(f"/collections/{cid}")
        make_stac(client)
        for cid in (FEATURES, HYBRID):
            r = client.post(f"/collections/{cid}/features:upload", json={
                "type": "FeatureCollection", "features": [p.feature() for p in parcels[:6]],
                "collection": {"title": TITLES[cid], "description": f"{cid} field parcels"}})
            assert r.status_code == 201, r.text
        for cid in (CUBE, HYBRID):
            r = client.post(f"/collections/{cid}/cube", json={"href": str(store), "crs": telangana_s2.CRS})
            assert r.status_code == 201, r.text
        r = client.patch(f"/collections/{CUBE}", json={"title": TITLES[CUBE]})
        assert r.status_code in (200, 204), r.text
        items = {cid: [f["id"] for f in client.get(f"/collections/{cid}/items",
                                                   params={"limit": 3}).json()["features"]] for cid in TITLES}
        yield items
        for cid in TITLES:
            client.delete(f"/collections/{cid}")
    shutil.rmtree(work, ignore_errors=True)


def make_stac(client: httpx.Client) -> None:
    r = client.post("/collections", json={
        "id": STAC, "description": "quokka scenes for STAC Browser", "license": "CC-BY-4.0", "title": TITLES[STAC],
        "extent": {"spatial": {"bbox": [[10, 45, 11, 46]]},
                   "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]}}})
    assert r.status_code == 201, r.text
    items = [{"type": "Feature", "stac_version": "1.0.0", "id": f"sb-scene-{i}", "collection": STAC,
              "geometry": {"type": "Point", "coordinates": [10 + i / 10, 45.5]}, "bbox": [10 + i / 10, 45.5] * 2,
              "properties": {"datetime": f"2024-03-0{i + 1}T10:00:00Z", "eo:cloud_cover": 10 * i + 3.25},
              "assets": {"B04": {"href": f"https://example.org/{i}/B04.tif", "title": "Red band",
                                 "type": "image/tiff; application=geotiff", "roles": ["data"]}}, "links": []}
             for i in range(4)]
    r = client.post(f"/collections/{STAC}/items", json={"type": "FeatureCollection", "features": items})
    assert r.status_code == 201, r.text


class SinglePageApp(http.server.SimpleHTTPRequestHandler):
    """Static files; any other path is the app's index.html (history mode routes live in the URL path)."""

    def send_head(self):  # type: ignore[no-untyped-def]
        local = Path(self.translate_path(self.path))
        if not local.is_file():
            self.path = "/index.html"
        return super().send_head()

    def log_message(self, *args: Any) -> None:
        pass


def serve_stac_browser(site: Path, catalog_url: str) -> http.server.ThreadingHTTPServer:
    """STAC Browser's files copied to site, its config.js pointing at catalog_url, served on a free port."""
    if not (SB_DIST / "index.html").exists():
        pytest.skip(f"STAC Browser is not built in {SB_DIST}: run `make e2e-deps`")
    shutil.copytree(SB_DIST, site)
    config = {"catalogUrl": catalog_url, "detectLocaleFromBrowser": False, "storeLocale": False,
              "socialSharing": []}
    (site / "config.js").write_text(f"window.STAC_BROWSER_CONFIG = {json.dumps(config)};\n")
    handler = lambda *a: SinglePageApp(*a, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def browser_url(services, tmp_path_factory) -> Iterator[str]:
    server = serve_stac_browser(tmp_path_factory.mktemp("stac-browser") / "site", f"{services.url}/")
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser_url_v2(services, tmp_path_factory) -> Iterator[str]:
    """The same, pointed at the /api/v2/ surface."""
    server = serve_stac_browser(tmp_path_factory.mktemp("stac-browser-v2") / "site", f"{services.url}/api/v2/")
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class Page:
    """A STAC Browser tab: open a path, wait for text, and what went wrong on the way (console, network)."""

    def __init__(self, chrome: DevTools, origin: str, api: str):
        self.chrome, self.origin, self.api = chrome, origin, api
        for domain in ("Page", "Runtime", "Log", "Network"):
            chrome.send(f"{domain}.enable")
        chrome.send("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1,
                    mobile=False)

    def open(self, path: str, *expected: str, timeout: float = 60) -> str:
        self.chrome.events.clear()
        self.chrome.send("Page.navigate", url=self.origin + path)
        return self.wait_for(*expected, timeout=timeout)

    def text(self) -> str:
        return str(self.chrome.evaluate("document.body ? document.body.innerText : ''") or "")

    def wait_for(self, *expected: str, timeout: float = 60) -> str:
        """Until every expected text is on the page and no request to the API is in flight."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if all(e in text for e in expected) and not self.pending() and "Loading" not in text:
                return text
            time.sleep(0.25)
        return text

    def wait_until(self, read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 60) -> Any:
        """Reads the page (read()) until done(what was read); returns the last reading."""
        deadline = time.monotonic() + timeout
        value = read()
        while not done(value) and time.monotonic() < deadline:
            time.sleep(0.25)
            value = read()
        self.wait_for(timeout=timeout)
        return value

    def pending(self) -> set[str]:
        sent, done = set(), set()
        for e in self.chrome.events:
            p = e.get("params", {})
            if e["method"] == "Network.requestWillBeSent" and p["request"]["url"].startswith(self.api):
                sent.add(p["requestId"])
            elif e["method"] in ("Network.loadingFinished", "Network.loadingFailed"):
                done.add(p["requestId"])
        return sent - done

    @staticmethod
    def dropped_tile(url: str, error: str) -> bool:
        """A PNG tile of a cube's xyz web map link the map stopped loading (it does on every zoom and pan; Chromium
        reports the cancelled image as ERR_ABORTED or ERR_BLOCKED_BY_ORB): not a failure of the API."""
        return "/tiles/WebMercatorQuad/" in url and ".png" in url and error in ("net::ERR_ABORTED",
                                                                               "net::ERR_BLOCKED_BY_ORB")

    def problems(self) -> list[str]:
        """Error banners, console errors, exceptions, and API requests that failed or answered >= 400."""
        found = [f"banner: {t}" for t in json.loads(self.chrome.evaluate(
            "JSON.stringify([...document.querySelectorAll('.alert-danger')].map(e => e.innerText))"))]
        urls: dict[str, str] = {}
        for e in self.chrome.events:
            m, p = e["method"], e.get("params", {})
            if m == "Network.requestWillBeSent":
                urls[p["requestId"]] = p["request"]["url"]
            elif m == "Network.responseReceived" and p["response"]["url"].startswith(self.api):
                if p["response"]["status"] >= 400:
                    found.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
            elif m == "Network.loadingFailed" and urls.get(p["requestId"], "").startswith(self.api) \
                    and not self.dropped_tile(urls[p["requestId"]], p.get("errorText", "")):
                found.append(f"failed ({p.get('errorText')}, {p.get('blockedReason') or p.get('corsErrorStatus')}): "
                             f"{urls[p['requestId']]}")
            elif m == "Runtime.exceptionThrown":
                found.append(f"exception: {p['exceptionDetails'].get('exception', {}).get('description')}")
            elif m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                message = " ".join(str(a.get("value", a.get("description"))) for a in p["args"])
                if not self.offline(message):
                    found.append(f"console: {message}")
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error" and self.own(p["entry"]):
                found.append(f"log: {p['entry']['text']} {p['entry'].get('url', '')}")
        return found

    def click(self, text: str, within: str = "button, a, .dropdown-item") -> None:
        """Clicks the first visible element matching `within` whose text is text (a dropdown's items, visible or not,
        only need to hold it)."""
        clicked = self.chrome.evaluate(f"""(() => {{
            const all = [...document.querySelectorAll({json.dumps(within)})]
                .filter(e => e.offsetParent || e.matches('.dropdown-item'));
            const el = all.find(e => e.innerText.trim() === {json.dumps(text)})
                    || all.find(e => e.matches('.dropdown-item') && e.innerText.includes({json.dumps(text)}));
            if (el) el.click();
            return Boolean(el); }})()""")
        assert clicked, f"nothing to click named {text!r} on {self.text()}"

    def add_filter(self, queryable: str, value: str) -> None:
        """Search form: "Add filter", pick the queryable, type the value (the operator stays "=")."""
        self.click(queryable, within=".queryables .dropdown-item")
        script = f"""(() => {{
            const inputs = [...document.querySelectorAll('input.value')].filter(e => e.offsetParent);
            const input = inputs[inputs.length - 1];
            if (!input) return false;
            input.value = {json.dumps(value)};
            input.dispatchEvent(new Event('input', {{bubbles: true}}));
            input.dispatchEvent(new Event('change', {{bubbles: true}}));
            return true; }})()"""
        deadline = time.monotonic() + 10
        while not self.chrome.evaluate(script):  # the filter's row is drawn on the next tick
            assert time.monotonic() < deadline, f"no value input for {queryable}: {self.text()}"
            time.sleep(0.1)

    def type_and_enter(self, element_id: str, text: str) -> None:
        """Types into an input as a user does (a tag input takes its value on Enter)."""
        self.chrome.evaluate(f"document.getElementById({json.dumps(element_id)}).focus()")
        self.chrome.send("Input.insertText", text=text)
        for kind in ("keyDown", "keyUp"):
            self.chrome.send("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                             windowsVirtualKeyCode=13, **({"text": "\r"} if kind == "keyDown" else {}))

    def collection_cards(self) -> list[str]:
        return list(json.loads(self.chrome.evaluate(
            "JSON.stringify([...document.querySelectorAll('.catalog-card .card-title')].map(e => e.innerText.trim()))")))

    def api_requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.chrome.events
                if e["method"] == "Network.requestWillBeSent" and e["params"]["request"]["url"].startswith(self.api)]

    def item_cards(self) -> list[str]:
        """The ids (or titles) on the item cards shown, in order."""
        return list(json.loads(self.chrome.evaluate(
            "JSON.stringify([...document.querySelectorAll('.items .item-card .card-title')].map(e => e.innerText.trim()))")))

    @staticmethod
    def offline(message: str) -> bool:
        """STAC Browser resolving a queryable's `$ref` to a third-party schema (geojson.org, schemas.stacspec.org):
        this machine has no internet, so the download fails; STAC Browser logs it and uses the schema as is."""
        match = re.match(r"ResolverError: Error downloading (https://[^/]+/)\S*: Failed to fetch", message)
        return bool(match) and match.group(1) in EXTERNAL_SCHEMA_HOSTS

    def own(self, entry: dict[str, Any]) -> bool:
        """A log entry about our API or the app itself (not a basemap tile the offline machine cannot fetch)."""
        url = entry.get("url", "")
        return not url or url.startswith(self.api) or url.startswith(self.origin)


@pytest.fixture()
def page(chrome, browser_url, services, collections) -> Page:  # noqa: F811
    return Page(chrome, browser_url, services.url)


def titles(services) -> dict[str, str]:
    return {cid: httpx.get(f"{services.url}/collections/{cid}", timeout=30).json()["title"] for cid in TITLES}


def test_root_catalog_lists_a_collection_of_each_kind(page, services):
    shown = titles(services)
    landing = httpx.get(f"{services.url}/", timeout=30).json()
    text = page.open("/", landing["title"], *shown.values())
    assert landing["title"] in text and all(title in text for title in shown.values()), text
    assert page.problems() == []


@pytest.mark.parametrize("cid", list(TITLES))
def test_collection_page_shows_its_items(page, services, collections, cid):
    title = titles(services)[cid]
    text = page.open(f"/collections/{cid}", title, *collections[cid])
    assert title in text and all(item_id in text for item_id in collections[cid]), text
    assert page.problems() == []


@pytest.mark.parametrize("cid", list(TITLES))
def test_item_page(page, services, collections, cid):
    item_id = collections[cid][0]
    item = httpx.get(f"{services.url}/collections/{cid}/items/{item_id}", timeout=30).json()
    title = titles(services)[cid]
    expected = [item_id, title, *(a["title"] for a in item["assets"].values() if a.get("title"))]
    text = page.open(f"/collections/{cid}/items/{item_id}", *expected)
    assert all(e in text for e in expected), text
    assert page.problems() == []


def test_search_items_with_a_filter(page, services, collections):
    """STAC Browser's search page: items, one queryable filter (sent as cql2-json `and` of one), POST /search."""
    page.open("/search", "Search for Items")
    page.click("Search for Items")
    page.wait_for("Add filter")
    page.add_filter("eo:cloud_cover", "13.25")
    page.chrome.events.clear()
    page.click("Submit")
    shown = page.wait_until(page.item_cards, lambda cards: cards == ["sb-scene-1"])
    assert shown == ["sb-scene-1"], page.text()
    assert page.problems() == []


def test_search_pages_through_items(page, services, collections):
    page.open("/search", "Search for Items")
    page.click("Search for Items")
    page.click("Submit")
    first = page.wait_until(page.item_cards, lambda cards: len(cards) == 10)
    matched = httpx.post(f"{services.url}/search", json={"limit": 1}, timeout=30).json()["numberMatched"]
    heading = f"Items{matched}"   # the heading and the count of all matches, "Items 24"
    assert len(first) == 10 and matched > 10 and heading in page.text().replace(" ", "").replace("\n", "")
    page.click("Next ›")
    second = page.wait_until(page.item_cards, lambda cards: bool(cards) and cards != first)
    assert second and not set(second) & set(first), (first, second)
    assert page.problems() == []


def test_collection_items_filtered_by_a_property(page, services, collections):
    """The items of a feature collection, filtered on a property: GET /collections/{id}/items?filter=..."""
    crop = httpx.get(f"{services.url}/collections/{FEATURES}/items/{collections[FEATURES][0]}",
                     timeout=30).json()["properties"]["crop"]
    expected = [f["id"] for f in httpx.get(f"{services.url}/collections/{FEATURES}/items",
                                            params={"filter": f"crop = '{crop}'"}, timeout=30).json()["features"]]
    page.open(f"/collections/{FEATURES}", *collections[FEATURES])
    page.click("Show Filters")
    page.wait_for("Add filter")
    page.add_filter("crop", crop)
    page.click("Submit")
    shown = page.wait_until(page.item_cards, lambda cards: sorted(cards) == sorted(expected))
    assert sorted(shown) == sorted(expected) and len(expected) < 6, page.text()
    assert page.problems() == []


def test_search_collections_by_a_term(page, services, collections):
    """Collection search (free text, GET /collections?q=): only the collection whose description has the word."""
    page.open("/search", "Search for Collections")
    page.click("Search for Collections")
    page.type_and_enter("q1", "quokka")
    page.click("Submit")
    shown = page.wait_until(page.collection_cards, lambda cards: cards == [TITLES[STAC]])
    assert shown == [TITLES[STAC]], page.text()
    assert any("q=quokka" in url for url in page.api_requests())
    assert page.problems() == []


def test_the_api_v2_surface(chrome, browser_url_v2, services, collections):  # noqa: F811
    """Pointed at /api/v2/, STAC Browser stays there: every request it sends to the API is under /api/v2/."""
    page = Page(chrome, browser_url_v2, services.url)
    shown = titles(services)
    text = page.open("/", *shown.values())
    assert all(title in text for title in shown.values()), text
    requests = page.api_requests()
    text = page.open(f"/collections/{HYBRID}/items/{collections[HYBRID][0]}", collections[HYBRID][0], shown[HYBRID])
    assert collections[HYBRID][0] in text and shown[HYBRID] in text, text
    requests += page.api_requests()
    assert requests and all(url.startswith(f"{services.url}/api/v2/") for url in requests), requests
    assert page.problems() == []
