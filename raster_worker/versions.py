"""Served store versions on disk: the upload lock, and removal of versions no cube is registered with.

Uploads write ``<data_dir>/cubes/<id>/<version>.zarr`` and register it; the previous version is then garbage.
Three paths remove garbage, all through `collect`, which never removes a registered store (`api.cube_stores`)
and never touches a collection while an upload of it holds its lock:

- the upload itself, right after its registration committed (`prune`: the other versions of its collection);
- the raster worker, when `NOTIFY stapi_cubes` names a collection whose cube changed or was deleted (deleting
  the collection cascades to `data.cubes`): that collection's folder only;
- ``python scripts/cube_gc.py`` (``make cubes-gc``): a sweep of every collection folder (``--dry-run`` lists),
  e.g. after the worker was down while collections were deleted.

One data directory belongs to one database: a store the database does not list is garbage.

The lock is an exclusive `flock` on ``<data_dir>/cubes/.locks/<id>.lock``: an upload holds it from before it
checks the database until its own prune is done; a second upload of the same collection waits for it, and the
garbage collector skips the collection meanwhile (it never waits).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCKS = ".locks"


def _lock_file(data_dir: Path, collection_id: str) -> Path:
    folder = Path(data_dir) / "cubes" / LOCKS
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{collection_id}.lock"


@contextmanager
def upload_lock(data_dir: Path, collection_id: str, wait: bool = True) -> Iterator[bool]:
    """Hold the collection's upload lock; yields False (without the lock) when `wait` is False and it is held."""
    fd = os.open(_lock_file(data_dir, collection_id), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def _resolved(paths: Iterable[str]) -> set[Path]:
    out = set()
    for p in paths:
        if p and "://" not in p:
            out.add(Path(p).resolve())
    return out


def collect(data_dir: Path, registered: Callable[[], Iterable[str]], collection_id: str | None = None,
            dry_run: bool = False) -> list[Path]:
    """Remove the store versions under ``<data_dir>/cubes`` (of one collection, or all) that are not registered.

    `registered()` returns every registered store path (`api.cube_stores`); it is asked while the collection's
    lock is held, so an upload that registers meanwhile is seen. A collection folder left with no version is
    removed too. Returns what was (dry_run: would be) removed.
    """
    root = Path(data_dir) / "cubes"
    if collection_id is not None:
        if not _safe_name(collection_id):
            return []
        folders = [root / collection_id]
    else:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name != LOCKS) if root.is_dir() else []
    removed: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        with upload_lock(data_dir, folder.name, wait=False) as held:
            if held:
                removed += _collect_folder(folder, _resolved(registered()), dry_run)
    return removed


def _safe_name(collection_id: str) -> bool:
    """One path component under cubes/ (collection ids come from the database: never follow '..' or '/')."""
    return bool(collection_id) and collection_id not in (".", "..", LOCKS) and "/" not in collection_id \
        and "\\" not in collection_id and "\0" not in collection_id


def _collect_folder(folder: Path, keep: set[Path], dry_run: bool) -> list[Path]:
    removed = []
    for version in sorted(folder.glob("*.zarr")):
        if version.resolve() not in keep:
            removed.append(version)
            if not dry_run:
                shutil.rmtree(version, ignore_errors=True)
    if not dry_run and not any(folder.iterdir()):
        folder.rmdir()
    return removed


def prune(folder: Path, keep: Path) -> list[Path]:
    """After a registration committed: remove the collection's other versions (the caller holds the lock)."""
    return _collect_folder(folder, {keep.resolve()}, dry_run=False)
