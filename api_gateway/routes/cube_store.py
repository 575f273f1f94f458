"""Routes: a cube's served Zarr store, read-only over HTTP, for remote Zarr clients (xarray + fsspec, zarr-python,
STAC clients following a time slice's `data` asset).

    GET|HEAD /collections/{id}/zarr          what the store is: {zarr_format, metadata: its URL} (the asset href)
    GET|HEAD /collections/{id}/zarr/{key}    one file of the store the collection is registered with
                                             (api.cube_store_get): metadata documents (zarr.json, .zmetadata,
                                             .zgroup, .zarray, .zattrs) as application/json, chunks and shards
                                             as application/octet-stream; Range requests (206, 416), ETag, 304

Only files inside the registered store are served: a key with an empty, `.` or `..` segment, a backslash, or a
path that resolves (symlinks included) outside the store is a 404, as is a missing key (Zarr clients probe for
`zarr.json`, `.zgroup`, `.zmetadata` ... and read a missing chunk as the fill value). Files are streamed in 64 KB
pieces (Starlette's FileResponse), never read whole. The gateway serves them itself: it learns the store path
from the database (one call, as for every request) and reads the data directory the raster worker writes
(`STAPI_DATA_DIR`, shared as in docker-compose.yml); no second hop through the worker, whose threads stay free
for rendering.

Consolidated metadata, so `xarray.open_zarr(url)` needs no directory listing (HTTP has none): a Zarr v2 store has
its `.zmetadata` (written at upload); for a Zarr v3 store whose root `zarr.json` has no `consolidated_metadata`
(uploads write none), the root `zarr.json` is served with it, built from the store's metadata documents as
zarr-python's `consolidate_metadata` would write it (cached per store version; the files are not touched).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from .. import config, db, openapi
from ..errors import NotFound
from ..responses import JSON, document

METADATA = {"zarr.json", ".zmetadata", ".zgroup", ".zarray", ".zattrs"}
OCTETS = "application/octet-stream"


def key_parts(key: str) -> list[str]:
    """The segments of a store key; 404 for anything that could leave the store or name no file."""
    parts = key.split("/")
    if not key or "\\" in key or "\x00" in key or any(p in ("", ".", "..") for p in parts):
        raise NotFound(f"{key!r} is not a key of this Zarr store (keys are relative paths such as zarr.json, "
                       ".zmetadata or B04/c/0/0/0)")
    return parts


def store_file(root: Path, parts: list[str]) -> tuple[Path, os.stat_result]:
    """The regular file `parts` names inside `root` (symlinks resolved: one pointing outside is not found)."""
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        st = None
    if st is None or not path.is_relative_to(base) or not os.path.isfile(path):
        raise NotFound(f"no key {'/'.join(parts)!r} in this Zarr store")
    return path, st


def _members(root: Path, names: tuple[str, ...], is_leaf: str) -> dict[str, Path]:
    """{relative path of a metadata document: its file} below `root`, not descending into arrays (whose folders
    hold the chunks): `names` are the documents a node may have, `is_leaf` the one that marks an array."""
    out: dict[str, Path] = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        rel = folder.relative_to(root).as_posix()
        for name in names:
            if (folder / name).is_file() and folder != root:
                out[f"{rel}/{name}"] = folder / name
        if folder == root or not (folder / is_leaf).is_file():
            stack.extend(sorted((p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()), reverse=True))
    return out


def consolidated_v3(root: Path) -> bytes | None:
    """The root zarr.json with `consolidated_metadata` (zarr-python's layout), or None if it has one already or the
    store is not a Zarr v3 group."""
    doc = json.loads((root / "zarr.json").read_bytes())
    if doc.get("node_type") != "group" or doc.get("consolidated_metadata"):
        return None
    metadata: dict[str, Any] = {}
    for key, path in _members(root, ("zarr.json",), "zarr.json").items():
        node = json.loads(path.read_bytes())
        if node.get("node_type") == "group":
            node.setdefault("consolidated_metadata", {"kind": "inline", "must_understand": False, "metadata": {}})
        metadata[key.removesuffix("/zarr.json")] = node
    doc["consolidated_metadata"] = {"kind": "inline", "must_understand": False, "metadata": metadata}
    return json.dumps(doc).encode()


def consolidated_v2(root: Path) -> bytes | None:
    """A `.zmetadata` for a Zarr v2 group that has none."""
    if not (root / ".zgroup").is_file():
        return None
    metadata = {name: json.loads((root / name).read_bytes()) for name in (".zgroup", ".zattrs")
                if (root / name).is_file()}
    for key, path in _members(root, (".zgroup", ".zarray", ".zattrs"), ".zarray").items():
        metadata[key] = json.loads(path.read_bytes())
    return json.dumps({"zarr_consolidated_format": 1, "metadata": metadata}).encode()


@lru_cache(maxsize=64)
def consolidated(store_path: str, version: str, name: str) -> bytes | None:
    """The consolidated document `name` built for a store version, or None (serve the file as it is)."""
    root = Path(store_path)
    if name == "zarr.json" and (root / "zarr.json").is_file():
        return consolidated_v3(root)
    if name == ".zmetadata" and not (root / ".zmetadata").is_file():
        return consolidated_v2(root)
    return None


def file_response(request: Request, path: Path, st: os.stat_result, media_type: str) -> Response:
    """The file, streamed (Range: one or more byte ranges, 206; unsatisfiable, 416), with ETag and Cache-Control;
    a matching If-None-Match gets a 304."""
    tag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
    headers = {"ETag": tag, "Cache-Control": f"public, max-age={config.CACHE_MAX_AGE}"}
    inm = request.headers.get("if-none-match")
    if inm and (inm.strip() == "*" or tag in [t.strip() for t in inm.split(",")]):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, headers=headers, media_type=media_type, stat_result=st)


async def store_source(request: Request) -> dict[str, Any]:
    """api.cube_store_get: the registered store (404 for a collection without a cube)."""
    return dict(json.loads(await db.call(request, "SELECT api.cube_store_get(%s, %s::jsonb)::text",
                                         (request.path_params["collection_id"], db.jsonb({})))))


async def zarr_key(request: Request) -> Response:
    parts = key_parts(request.path_params["key"])
    source = await store_source(request)
    root = Path(source["store_path"])
    name = "/".join(parts)
    media_type = JSON if parts[-1] in METADATA else OCTETS
    if name in ("zarr.json", ".zmetadata"):
        built = consolidated(str(root), source["version"], name)
        if built is not None:
            return document(request, built, media_type=JSON)
    path, st = store_file(root, parts)
    return file_response(request, path, st, media_type)


async def zarr_root(request: Request) -> Response:
    """The asset href itself: what the store is and where its metadata is (HTTP lists no folders)."""
    root = Path((await store_source(request))["store_path"])
    version = 3 if (root / "zarr.json").is_file() else 2 if (root / ".zgroup").is_file() else None
    if version is None:
        raise NotFound("this collection's Zarr store is not on this server's disk")
    here = str(request.url.replace(query="")).rstrip("/")
    return document(request, json.dumps({
        "collection": request.path_params["collection_id"], "zarr_format": version, "consolidated": True,
        "metadata": f"{here}/{'zarr.json' if version == 3 else '.zmetadata'}",
        "description": "A Zarr store, read-only over HTTP: xarray.open_zarr(<this URL>); keys are paths below it"}))


ZARR = "/collections/{collection_id}/zarr"

routes: list[BaseRoute] = [
    Route(ZARR, zarr_root, methods=["GET", "HEAD"]),
    Route(ZARR + "/{key:path}", zarr_key, methods=["GET", "HEAD"]),
]

OPENAPI: dict[str, Any] = {
    "/collections/{collectionId}/zarr/{key}": {"get": openapi.op(
        "A file of the DataCube's Zarr store, read-only (metadata JSON, chunks; HEAD; Range requests give 206). "
        "The cube's data asset: xarray.open_zarr('.../collections/{collectionId}/zarr')",
        "DataCubes", media=OCTETS,
        extra={"parameters": [openapi.parameter("collectionId"),
                              {"name": "key", "in": "path", "required": True, "schema": {"type": "string"},
                               "description": "a path inside the store, e.g. zarr.json or NDVI/c/0/0/0"}]})},
}
