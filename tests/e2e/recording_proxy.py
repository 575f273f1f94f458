"""A recording HTTP proxy in front of the gateway: what a client really asked the server, and what it got back.

Real HTTP both ways. It runs in its own process (`python -m tests.e2e.recording_proxy UPSTREAM LOG`): a client
that holds the GIL while it waits for its HTTP answer (GDAL through pyogrio) would block a proxy thread of the
test's own process. Each exchange is one JSON line in LOG. Tests use it to show that a client sent a filter to
the server instead of downloading everything and filtering locally.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Exchange:
    method: str
    path: str              # path and query, as the client sent them
    status: int
    features: int | None   # len(features) of a JSON answer that has them


@dataclass
class Recording:
    url: str   # the proxy's base URL (stands in for the gateway's), with a trailing /
    log: Path

    @property
    def exchanges(self) -> list[Exchange]:
        return [Exchange(**json.loads(line)) for line in self.log.read_text().splitlines()]

    def items_requests(self, collection_id: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.path.startswith(f"/collections/{collection_id}/items")]


@contextmanager
def recording_proxy(upstream: str, log: Path) -> Iterator[Recording]:
    log.write_text("")
    proc = subprocess.Popen([sys.executable, "-m", "tests.e2e.recording_proxy", upstream, str(log)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield Recording(url=proc.stdout.readline().strip(), log=log)
    finally:
        proc.terminate()
        proc.wait(10)


def _features(body: bytes, content_type: str) -> int | None:
    if "json" not in content_type:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return len(doc["features"]) if isinstance(doc, dict) and isinstance(doc.get("features"), list) else None


def serve(upstream: str, log: Path) -> None:
    client = httpx.Client(base_url=upstream, timeout=60)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "authorization")}
            r = client.get(self.path, headers=headers)
            # links name the proxy, so that a client following them stays on the record
            body = r.content.replace(upstream.rstrip("/").encode(), own.encode())
            with log.open("a") as f:
                f.write(json.dumps({"method": "GET", "path": self.path, "status": r.status_code,
                                    "features": _features(body, r.headers.get("content-type", ""))}) + "\n")
            self.send_response(r.status_code)
            if "content-type" in r.headers:
                self.send_header("Content-Type", r.headers["content-type"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    own = f"http://127.0.0.1:{server.server_address[1]}"
    print(own + "/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], Path(sys.argv[2]))
