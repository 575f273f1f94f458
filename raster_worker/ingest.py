"""Upload a Zarr cube: read (v2/v3), find the CRS, reproject to EPSG:3857, derive layers, write, register.

Used by `scripts/upload_local_zarr.py` (the CLI) and by the raster worker's `POST /cubes/{id}` (the HTTP
registration the gateway proxies). The served store follows the storage contract (see `layers.py`): dims
(time, y, x), x/y pixel centres in EPSG:3857 metres, one float32 variable per layer, NaN = nodata, chunks
(1, 256, 256), plus the overview levels in groups ``overviews/<factor>`` (see `overviews.py`), written to
``<data_dir>/cubes/<collection_id>/<version>.zarr``; then `api.cube_register` switches
the database rows in one transaction. A failure removes the new folder and leaves the previous state intact.
"""

from __future__ import annotations

import math
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import expressions, geotiff, overviews, sentinel2, versions
from .source import Source, load_source

CHUNK = 256
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class IngestError(ValueError):
    """The input cannot be uploaded as asked (the message says why and what would work)."""


@dataclass
class Options:
    collection_id: str
    data_dir: Path
    layers: list[str] | None = None
    all_layers: bool = False
    use_v2: bool = False
    force: bool = False
    rebuild_rgb_composites: bool = False
    crs: str | None = None
    title: str | None = None
    description: str | None = None
    asset_href: str | None = None
    datetime: list[str] | None = None     # GeoTIFF sources: one time for every file, or one per file



@dataclass
class Plan:
    """What will be written: the bands (source variable -> layer name) and the derived layers."""

    bands: dict[str, str]
    derived: list[dict[str, Any]]
    sentinel2: bool
    layers: list[dict[str, Any]] = field(default_factory=list)
    reflectance: bool = True     # False: Sentinel-2 digital numbers (0..10000), see `sentinel2.derived_layers`


def check_id(collection_id: str) -> str:
    if not ID_PATTERN.match(collection_id or ""):
        raise IngestError(f"collection id {collection_id!r} must match {ID_PATTERN.pattern} "
                          "(letters, digits, '.', '_', '-'; at most 128 characters)")
    return collection_id


def plan_layers(src: Source, opts: Options) -> Plan:
    """Choose the variables to upload and the layers derived from them."""
    if src.attrs.get("stapi:rgb"):
        return photo_plan(src, opts)
    ids = {name: sentinel2.band_id(name) for name in src.variables}
    found = sum(1 for v in ids.values() if v)
    is_s2 = found >= 3 or found == len(ids) == 2   # 3 bands, or nothing but 2 (B04.tif B08.tif -> NDVI)
    if opts.layers:
        chosen = [_match(src, ids, want) for want in opts.layers]
    elif opts.all_layers or not is_s2:
        chosen = list(src.variables)
    else:
        chosen = [n for n, b in ids.items() if b] + [n for n in src.variables if n.upper() == "SCL"]
    bands = {n: (ids[n] or n) if is_s2 else n for n in dict.fromkeys(chosen)}
    reflectance = not src.attrs.get("stapi:digital_numbers")
    derived = sentinel2.derived_layers(set(bands.values()), reflectance=reflectance) if is_s2 else []
    return Plan(bands, derived, is_s2, reflectance=reflectance)


def photo_plan(src: Source, opts: Options) -> Plan:
    """An RGB(A) photo (drone orthophoto): its bands as they are, and the RGB composite over red, green, blue
    (stretched 0..255 for uint8, else to the data's 98th percentile)."""
    chosen = [_match(src, {n: None for n in src.variables}, want) for want in opts.layers or src.variables]
    bands = {n: n for n in dict.fromkeys(chosen)}
    rgb = list(src.attrs["stapi:rgb"])
    derived = [{"name": "RGB", "kind": "composite", "bands": rgb, "rescale": src.attrs.get("stapi:rgb_range"),
                "description": "True colour: " + ", ".join(rgb)}] if set(rgb) <= set(bands) else []
    return Plan(bands, derived, False)


def open_source(path: str | list[str], opts: Options) -> Source:
    """A Zarr store, or GeoTIFF/COG files (`geotiff.is_raster`: several paths, a raster file name, a file)."""
    if not isinstance(path, str) and len(path) == 1:
        path = str(path[0])
    if geotiff.is_raster(path):
        return geotiff.load_rasters([path] if isinstance(path, str) else list(path), opts.crs, opts.datetime)
    if opts.datetime:
        raise IngestError("--datetime applies to GeoTIFF sources; a Zarr store carries its own time axis")
    return load_source(path, opts.crs)


def _match(src: Source, ids: dict[str, str | None], want: str) -> str:
    for name in src.variables:
        if name == want or name.lower() == want.lower() or (ids[name] and ids[name] == sentinel2.band_id(want)):
            return name
    raise IngestError(f"layer {want!r} is not in the store; variables: {', '.join(src.variables)}")


def version_name() -> str:
    return datetime.now(timezone.utc).strftime("v%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def ingest(path: str | list[str], opts: Options, register: Callable[[dict[str, Any]], dict[str, Any]],
           progress: Callable[[int], None] | None = None, total: Callable[[int], None] | None = None,
           check: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Upload `path` as collection `opts.collection_id`; `register(params)` runs `api.cube_register`.

    `check()` runs `api.cube_upload_check` before anything is read or written (a collection that already has a
    cube and no `force` fails at once). The collection's upload lock (`versions.upload_lock`) is held from the
    check until the replaced versions are removed. Returns a summary (collection, kind, store path, shape,
    layers, times, bbox, seconds).
    """
    started = time.monotonic()
    check_id(opts.collection_id)
    with versions.upload_lock(opts.data_dir, opts.collection_id):
        if check:
            check()
        src = open_source(path, opts)
        plan = plan_layers(src, opts)
        folder = opts.data_dir / "cubes" / opts.collection_id
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{version_name()}.zarr"
        try:
            if total:
                total(upload_steps(src, plan))
            stats = write_store(src, plan, target, opts.use_v2, progress)
            params = registration(src, plan, stats, target, src.path, opts)
            result = register(params)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        finally:
            if isinstance(src, geotiff.GeoTiffSource):
                src.close()
        removed = versions.prune(folder, keep=target)
    return {**summary(result, src, plan, params, time.monotonic() - started),
            "removed_versions": [str(p) for p in removed]}


def write_store(src: Source, plan: Plan, target: Path, use_v2: bool,
                progress: Callable[[int], None] | None) -> dict[str, list[float]]:
    """Write the served store and its overviews, stripe by stripe of rows (see `stripe_rows`: memory stays
    bounded for a 10980 px scene); returns per-layer value percentiles (2, 98, max), see `layer_stats`."""
    import zarr

    names = list(plan.bands.values()) + [d["name"] for d in plan.derived if d["kind"] == "index"]
    levels = overviews.factors(src.height, src.width)
    for factor in [1, *levels]:
        template(src, names, factor).to_zarr(
            target, group=None if factor == 1 else overviews.group_path(factor), mode="w-", compute=False,
            consolidated=False, zarr_format=2 if use_v2 else 3,
            encoding={n: _encoding(src, factor) for n in names})
    if use_v2:
        zarr.consolidate_metadata(str(target))
    group = zarr.open_group(target, mode="r+", use_consolidated=False)
    masks = {name for var, name in plan.bands.items() if is_mask(src, var, name)}
    height = stripe_rows(src)
    for r0 in range(0, src.height, height):
        rows = slice(r0, min(src.height, r0 + height))
        index = None if src.crs.to_epsg() == 3857 else src.index_rows(rows)
        for t in range(len(src.times)):
            slab: dict[str, np.ndarray] = {}
            for var, name in plan.bands.items():
                slab[name] = src.reproject(var, t, rows, index)
                _store(group, name, t, rows, slab[name], levels, name in masks)
                if progress:
                    progress(1)
            for layer in plan.derived:
                if layer["kind"] == "index":
                    data = expressions.evaluate(layer["expression"], slab)
                    _store(group, layer["name"], t, rows, data, levels, False)
                    if progress:
                        progress(1)
    return layer_stats(group, names, len(src.times), levels)


STRIPE = 1024        # served rows written at a time (a multiple of the chunk height)
STATS_PIXELS = 2048 ** 2


def stripe_rows(src: Source) -> int:
    """Rows per stripe: STRIPE, or more so a stripe is a multiple of every overview factor (each level's blocks
    then lie in one stripe) and covers a source chunk (a store chunked by whole slices is read once per slice,
    not once per stripe)."""
    levels = overviews.factors(src.height, src.width)
    base = max(STRIPE, levels[-1] if levels else 1)
    chunk = math.ceil(src.chunk_rows() * src.height / max(1, len(src.src_y)))
    return math.ceil(max(base, chunk) / base) * base


def upload_steps(src: Source, plan: Plan) -> int:
    """The progress bar's total: stripes x time steps x written layers."""
    layers = len(plan.bands) + sum(1 for d in plan.derived if d["kind"] == "index")
    return math.ceil(src.height / stripe_rows(src)) * len(src.times) * layers


def _store(group: Any, name: str, t: int, rows: slice, data: np.ndarray, levels: list[int], mask: bool) -> None:
    group[name][t, rows, :] = data
    overviews.write(group, name, t, data, levels, mask, rows.start)


def layer_stats(group: Any, names: list[str], times: int, levels: list[int]) -> dict[str, list[float]]:
    """Per layer, the 2nd and 98th percentiles and the maximum of the first time step that has data, read
    back from the store: full resolution up to 2048 x 2048 pixels, else the finest overview level that small."""
    h, w = group[names[0]].shape[1:]
    path = ""
    if h * w > STATS_PIXELS and levels:
        factor = next((f for f in levels if h * w / f ** 2 <= STATS_PIXELS), levels[-1])
        path = overviews.group_path(factor) + "/"
    stats: dict[str, list[float]] = {}
    for name in names:
        for t in range(times):
            data = np.asarray(group[path + name][t])
            if np.isfinite(data).any():
                p2, p98, top = np.nanpercentile(data, [2, 98, 100])
                stats[name] = [float(p2), float(p98), float(top)]
                break
    return stats


def is_mask(src: Source, var: str, name: str) -> bool:
    """Class codes (SCL, CF flags): rendered with a colormap, never averaged into overviews."""
    attrs = src.variables[var].attrs
    return name.upper() == "SCL" or "flag_meanings" in attrs or "flag_masks" in attrs


def _encoding(src: Source, factor: int = 1) -> dict[str, Any]:
    h, w = math.ceil(src.height / factor), math.ceil(src.width / factor)
    return {"chunks": (1, min(CHUNK, h), min(CHUNK, w)), "_FillValue": np.float32("nan"), "dtype": "float32"}


def template(src: Source, names: list[str], factor: int = 1) -> xr.Dataset:
    """A lazy (dask) dataset: to_zarr(compute=False) writes metadata and coordinates, no data.

    `factor` > 1: the overview level with pixels `factor` times larger (see `overviews`)."""
    x, y = overviews.level_coords(src.dst_x, src.dst_y, factor) if factor > 1 else (src.dst_x, src.dst_y)
    attrs: dict[str, Any] = {"Conventions": "CF-1.8", "source": src.path}
    if factor > 1:
        attrs["overview_factor"] = factor
    return overviews.dataset(names, src.times, x, y, attrs)


def registration(src: Source, plan: Plan, stats: dict[str, list[float]], target: Path, path: str,
                 opts: Options) -> dict[str, Any]:
    """The params document of `api.cube_register`."""
    layers = band_layers(src, plan, stats) + derived_layers(plan, stats, opts.rebuild_rgb_composites)
    dx, dy = float(src.dst_x[1] - src.dst_x[0]), float(src.dst_y[1] - src.dst_y[0])
    extent = [float(src.dst_x[0] - dx / 2), float(src.dst_y[-1] + dy / 2),
              float(src.dst_x[-1] + dx / 2), float(src.dst_y[0] - dy / 2)]
    return {
        "store_path": str(target.resolve()), "source_path": str(path), "native_crs": src.crs_name,
        "resolution": list(src.resolution), "bbox": src.bbox_wgs84, "extent_3857": extent, "step": [dx, dy],
        "shape": [len(src.times), src.height, src.width], "times": src.time_strings(), "layers": layers,
        "attrs": {"sentinel2": plan.sentinel2, "source_attrs": _plain(src.attrs)}, "force": opts.force,
        "title": opts.title or src.attrs.get("title"), "description": opts.description,
        "asset_href": opts.asset_href,
        "levels": overviews.describe(overviews.factors(src.height, src.width), len(src.times), src.height,
                                     src.width, (dx, dy)),
    }


def band_layers(src: Source, plan: Plan, stats: dict[str, list[float]]) -> list[dict[str, Any]]:
    out = []
    for var, name in plan.bands.items():
        attrs = src.variables[var].attrs
        mask = is_mask(src, var, name)
        lo, hi, _ = stats.get(name, [0.0, 1.0, 1.0])
        if plan.sentinel2 and not mask and sentinel2.band_id(name):
            lo, hi = 0.0, 0.4 if plan.reflectance else 4000.0
        if src.attrs.get("stapi:rgb_range") and name in src.attrs.get("stapi:rgb", ()):
            lo, hi = src.attrs["stapi:rgb_range"]
        out.append({"name": name, "kind": "mask" if mask else "band", "variable": name,
                    "dtype": "float32", "units": attrs.get("units"),
                    "rescale": [round(lo, 6), round(hi if hi > lo else lo + 1, 6)],
                    "colormap": "greys" if (plan.sentinel2 or src.attrs.get("stapi:rgb")) and not mask
                    else "viridis",
                    "description": attrs.get("long_name") or (
                        sentinel2.BANDS.get(name) if plan.sentinel2 else None)})
    return out


def derived_layers(plan: Plan, stats: dict[str, list[float]], stretch: bool) -> list[dict[str, Any]]:
    out = []
    for layer in plan.derived:
        layer = dict(layer)
        if layer["kind"] == "composite" and (stretch or not layer.get("rescale")):
            highs = [stats[b][1] for b in layer["bands"] if b in stats]
            if highs:
                layer["rescale"] = [0.0, round(max(highs), 6)]
        out.append(layer)
    return out


def _plain(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if isinstance(v, (str, int, float, bool))}


def summary(result: dict[str, Any], src: Source, plan: Plan, params: dict[str, Any], seconds: float
            ) -> dict[str, Any]:
    kinds: dict[str, list[str]] = {}
    for layer in params["layers"]:
        kinds.setdefault(layer["kind"], []).append(layer["name"])
    return {**result, "source": src.path, "native_crs": src.crs_name, "shape": params["shape"],
            "bbox": params["bbox"], "times": [params["times"][0], params["times"][-1]],
            "layers_by_kind": kinds, "seconds": round(seconds, 2)}


def db_register(conn: Any, collection_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run `api.cube_register` in one transaction as `stapi_writer` on a psycopg connection."""
    from psycopg.types.json import Jsonb

    with conn.transaction():
        conn.execute("SET LOCAL ROLE stapi_writer")
        row = conn.execute("SELECT api.cube_register(%s, %s::jsonb)", (collection_id, Jsonb(params))).fetchone()
    return dict(row[0])


def db_check(conn: Any, collection_id: str, force: bool) -> dict[str, Any]:
    """Run `api.cube_upload_check` as `stapi_writer`: 23505 when the cube exists and `force` is not set."""
    from psycopg.types.json import Jsonb

    with conn.transaction():
        conn.execute("SET LOCAL ROLE stapi_writer")
        row = conn.execute("SELECT api.cube_upload_check(%s, %s::jsonb)",
                           (collection_id, Jsonb({"force": force}))).fetchone()
    return dict(row[0])
