"""Shared fixtures: a real PostgreSQL (PostGIS + pgSTAC), the real gateway and raster worker over HTTP.

The database comes from, in order:
1. $DATABASE_URL when set (it is migrated; tests delete collections in it, so point it at a scratch database);
2. testcontainers (postgis/postgis) when a Docker engine answers;
3. otherwise a throwaway local cluster started with scripts/pg_local.sh in a temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
TESTDATA = SHARED / "testdata"
WRITE_TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {WRITE_TOKEN}"}

sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def _local_cluster() -> Iterator[str]:
    tmp = Path(tempfile.mkdtemp(prefix="stapi-test-"))
    os.chmod(tmp, 0o755)
    data_dir = tmp / "pgdata"
    port = free_port()
    script = ROOT / "scripts" / "pg_local.sh"
    out = subprocess.run(["bash", str(script), "start", str(data_dir), str(port), "stapi_test"],
                         check=True, capture_output=True, text=True)
    try:
        yield out.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(script), "stop", str(data_dir)], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _container() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer  # type: ignore[import-untyped]

    with PostgresContainer("postgis/postgis:15-3.4", username="postgres", password="postgres",
                           dbname="stapi_test", driver=None) as pg:
        yield pg.get_connection_url()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    from scripts.migrate import migrate

    if os.environ.get("DATABASE_URL"):
        source: contextlib.AbstractContextManager[str] = contextlib.nullcontext(os.environ["DATABASE_URL"])
    elif _docker_answers():
        source = _container()
    else:
        source = _local_cluster()
    with source as url:
        migrate(url)
        yield url


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the services keep uploaded data (cubes) during the test session."""
    return tmp_path_factory.mktemp("stapi-data")


@dataclass
class Services:
    url: str           # the gateway, e.g. http://127.0.0.1:PORT
    raster_url: str    # the raster worker
    database_url: str
    data_dir: Path
    env: dict[str, str]


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def services(database_url: str, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """The gateway and the raster worker as real uvicorn processes on free ports."""
    logs = tmp_path_factory.mktemp("logs")
    gw_port, rw_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "STAPI_WRITE_TOKEN": WRITE_TOKEN,
           "STAPI_DATA_DIR": str(data_dir), "RASTER_WORKER_URL": f"http://127.0.0.1:{rw_port}",
           "STAPI_MAX_LIMIT": "10000"}
    procs = []
    try:
        for app, port, name in (("raster_worker.app:app", rw_port, "raster"),
                                ("api_gateway.app:app", gw_port, "gateway")):
            log = logs / f"{name}.log"
            p = subprocess.Popen([sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1",
                                  "--port", str(port), "--log-level", "warning"],
                                 cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
            procs.append(p)
            _wait_http(f"http://127.0.0.1:{port}/healthz", p, log)
        yield Services(f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{rw_port}", database_url, data_dir, env)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)


@pytest.fixture()
def http(services: Services) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=services.url, timeout=60) as client:
        yield client


@pytest.fixture()
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """A direct connection (superuser, autocommit) for SQL-level tests and setup."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def reset_database(url: str) -> None:
    """Back to the known state: no collections (every data table cascades from pgstac.collections)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET search_path = pgstac, public")  # pgstac's delete trigger needs it
        conn.execute("DELETE FROM pgstac.collections")


@pytest.fixture()
def clean_db(database_url: str) -> str:
    reset_database(database_url)
    return database_url


def testdata(*parts: str) -> Path:
    """A path under ../shared/testdata; skips the test with a clear message when it is absent."""
    path = TESTDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not found: {path} (shared/ must sit beside the checkout)")
    return path


def empty_feature_collection(conn: psycopg.Connection, collection_id: str, bbox: list[float]) -> None:
    """A fresh, empty 'features' collection made in SQL (replacing one of that id); the test adds features."""
    from psycopg.types.json import Jsonb

    conn.execute("SET search_path TO pgstac, public")
    conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (collection_id,))
    conn.execute("SELECT pgstac.create_collection(%s)", (Jsonb({
        "type": "Collection", "stac_version": "1.0.0", "id": collection_id, "description": collection_id,
        "license": "CC0-1.0", "links": [],
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[None, None]]}},
    }),))
    conn.execute("INSERT INTO data.collection_meta (collection_id, kind) VALUES (%s, 'features')", (collection_id,))
