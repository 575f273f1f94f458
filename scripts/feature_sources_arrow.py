"""Feature sources read as Arrow batches: Shapefile, FlatGeobuf, GeoParquet and every vector format GDAL reads.

The rows are the staging rows of ``scripts/feature_sources.py`` (``(id, geojson, wkb, properties)``): the
geometry goes to the database as the file's WKB (reprojection, repair and validation stay in SQL), the
properties as a JSON object with their types kept (64-bit integers exact, booleans, nulls, dates and times as
RFC 3339 strings, lists as arrays). Files are read in batches of ``BATCH`` features, so a large file streams
in bounded memory.

- GDAL formats (Shapefile, also zipped; FlatGeobuf; KML, GML, GPX, FileGDB, ...) through pyogrio's bundled
  GDAL (``pyogrio.raw.open_arrow``, WKB geometry); the CRS is the layer's SRS (a Shapefile's .prj).
- GeoParquet with pyarrow (the wheels of pyogrio bundle no Parquet driver): the primary geometry column and
  its CRS (PROJJSON; absent means OGC:CRS84) come from the ``geo`` metadata.

A CRS is passed on as ``EPSG:n`` (pyproj's ``to_epsg``), so PostGIS reprojects it; one without an EPSG code
is an error asking for ``--crs``.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from itertools import repeat
from pathlib import Path
from typing import Any

import orjson

from scripts.feature_sources import Row, Source, SourceError

BATCH = 20_000          # features per Arrow batch (the upload stores 20,000 per round)
MIN_CONFIDENCE = 70     # pyproj's default: how sure the match of a CRS definition to an EPSG code must be
DRIVER_NAMES = {"ESRI Shapefile": "Shapefile", "LIBKML": "KML"}
JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


# --- properties and CRS -------------------------------------------------------------------------------------------

def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"a property value of type {type(value).__name__} cannot be stored")


def properties_json(props: dict[str, Any]) -> str:
    """A JSON object of the properties: datetimes as RFC 3339 (a datetime without a zone is taken as UTC),
    dates as YYYY-MM-DD, NaN as null, decimals as numbers, binary as hex."""
    return orjson.dumps(props, default=_json_default, option=JSON_OPTIONS).decode()


def epsg_code(crs: Any, where: str) -> str:
    """``EPSG:n`` (or ``OGC:CRS84``) for a CRS given as WKT, PROJJSON or an authority string."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        c = CRS.from_user_input(crs)
    except CRSError as e:
        raise SourceError(f"{where}: its CRS is not understood ({e}): give the CRS with --crs EPSG:n") from e
    code = c.to_epsg(min_confidence=MIN_CONFIDENCE)
    if code is not None:
        return f"EPSG:{code}"
    if c.to_authority("OGC", min_confidence=MIN_CONFIDENCE) == ("OGC", "CRS84"):
        return "OGC:CRS84"
    raise SourceError(f"{where}: its CRS {c.name!r} has no EPSG code: give the CRS with --crs EPSG:n "
                      "(the EPSG code of the same CRS)")


def arrow_rows(batches: Iterable[Any], geometry: str, id_column: str | None, drop: set[str],
               where: str, to_wkb: Callable[[Any], list[bytes | None]] | None = None) -> Iterator[Row]:
    """Staging rows from Arrow record batches: WKB from `geometry` (`to_wkb` converts other encodings), the
    id from `id_column` (None: the database gives one), every other column but `drop` as a property."""
    import pyarrow as pa

    n = 0
    try:
        for batch in batches:
            names = batch.schema.names
            keep = [i for i, name in enumerate(names) if name not in drop and name not in (geometry, id_column)]
            ids = batch.column(id_column).to_pylist() if id_column else repeat(None)
            column = batch.column(geometry)
            wkbs = to_wkb(column) if to_wkb else column.to_pylist()
            for fid, wkb, props in zip(ids, wkbs, batch.select(keep).to_pylist()):
                n += 1
                yield None if fid is None else str(fid), None, wkb, properties_json(props)
    except (pa.ArrowException, OSError, RuntimeError, TypeError, ValueError) as e:
        raise SourceError(f"{where}: reading failed after {n} features ({e})") from e


# --- GDAL formats through pyogrio ---------------------------------------------------------------------------------

def _zip_member(path: Path, layer: str | None) -> tuple[str, str | None]:
    """The GDAL path of the Shapefile inside a .zip (``--layer`` names it when there are several)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.lower().endswith(".shp") and not n.startswith("__MACOSX/")]
    except zipfile.BadZipFile as e:
        raise SourceError(f"{path}: not a readable .zip ({e})") from e
    if not names:
        raise SourceError(f"{path}: the .zip holds no Shapefile (.shp)")
    stems = {Path(n).stem: n for n in sorted(names)}
    if layer is None and len(names) > 1:
        raise SourceError(f"{path} holds {len(names)} Shapefiles: choose one with --layer ({', '.join(stems)})")
    member = names[0] if layer is None else stems.get(layer) or (layer if layer in names else None)
    if member is None:
        raise SourceError(f"{path} holds no Shapefile {layer!r}; it holds: {', '.join(stems)}")
    return f"/vsizip/{path.resolve()}/{member}", None


def _ogr_layer(target: str, path: Path, layer: str | None) -> str:
    import pyogrio

    try:
        layers = pyogrio.list_layers(target)
    except pyogrio.errors.DataSourceError as e:
        if "not recognized as being in a supported file format" in str(e):
            raise SourceError(f"{path}: unknown format (not GeoJSON, GeoJSONSeq, GeoPackage, GeoParquet or a "
                              "vector format GDAL reads)") from e
        raise SourceError(f"{path}: cannot be read ({str(e).split('; ')[0]})") from e
    spatial = [str(name) for name, kind in layers if kind is not None]
    names = [str(name) for name, _ in layers]
    if layer is not None:
        if layer not in names:
            raise SourceError(f"{path} has no layer {layer!r}; its layers: {', '.join(names)}")
        if layer not in spatial:
            raise SourceError(f"{path}: layer {layer!r} has no geometry; layers with geometries: "
                              f"{', '.join(spatial) or 'none'}")
        return layer
    if not spatial:
        raise SourceError(f"{path} has no layer with geometries (its layers: {', '.join(names) or 'none'})")
    if len(spatial) > 1:
        raise SourceError(f"{path} has {len(spatial)} layers with geometries: choose one with --layer "
                          f"({', '.join(spatial)})")
    return spatial[0]


def _id_column(fields: list[str], id_field: str | None, fid_column: str | None, where: str) -> str | None:
    """The column holding feature ids: --id-field (``''``: none), else the layer's own FID column (as for
    GeoPackages: their primary key), else a field named ``id``, else none (the database gives UUIDs)."""
    if id_field is not None:
        if id_field and id_field not in fields:
            raise SourceError(f"{where} has no field {id_field!r} for --id-field; its fields: {', '.join(fields)}")
        return id_field or None
    if fid_column:
        return fid_column
    return "id" if "id" in fields else None


def open_ogr(path: Path, layer: str | None, crs: str | None, id_field: str | None) -> Source:
    """A layer of any vector file GDAL reads (a .zip: the Shapefile inside it)."""
    import pyogrio

    target, layer = _zip_member(path, layer) if path.suffix.lower() == ".zip" else (str(path), layer)
    layer = _ogr_layer(target, path, layer)
    where = f"{path} (layer {layer})"
    try:
        info = pyogrio.read_info(target, layer=layer)
    except pyogrio.errors.DataLayerError as e:
        raise SourceError(f"{where}: cannot be read ({e})") from e
    fid = info["fid_column"] or None
    id_column = _id_column([str(f) for f in info["fields"]], id_field, fid, where)
    source_crs = crs or (epsg_code(info["crs"], where) if info["crs"] else None)
    count = info["features"] if info["features"] >= 0 else None
    return Source(path, DRIVER_NAMES.get(info["driver"], info["driver"]), source_crs, count,
                  _ogr_rows(target, layer, id_column, fid, where), layer)


def _ogr_rows(target: str, layer: str, id_column: str | None, fid: str | None, where: str) -> Iterator[Row]:
    """Rows of the layer, read in the thread that iterates them (GDAL opens the file there)."""
    import pyogrio
    from pyogrio.raw import open_arrow

    try:
        with open_arrow(target, layer=layer, use_pyarrow=True, batch_size=BATCH,
                        return_fids=id_column is not None and id_column == fid) as (meta, reader):
            geometry = meta["geometry_name"] or "wkb_geometry"
            drop = {str(meta["fid_column"])} if meta["fid_column"] and meta["fid_column"] != id_column else set()
            yield from arrow_rows(reader, geometry, id_column, drop, where)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError) as e:
        raise SourceError(f"{where}: cannot be read ({e})") from e


# --- GeoParquet ---------------------------------------------------------------------------------------------------

def _geo_metadata(pf: Any, path: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    raw = (pf.schema_arrow.metadata or {}).get(b"geo")
    if raw is None:
        raise SourceError(f"{path}: a Parquet file without GeoParquet 'geo' metadata (no geometry column named)")
    try:
        geo = json.loads(raw)
        primary = geo["primary_column"]
        return primary, geo["columns"][primary], geo["columns"]
    except (ValueError, KeyError, TypeError) as e:
        raise SourceError(f"{path}: its GeoParquet 'geo' metadata is not understood ({e!r})") from e


def _geoparquet_crs(column: dict[str, Any], crs: str | None, where: str) -> str | None:
    if crs is not None:
        return crs
    if "crs" not in column:
        return "OGC:CRS84"          # GeoParquet: an absent crs means OGC:CRS84
    if column["crs"] is None:
        raise SourceError(f"{where}: the file says its CRS is unknown (crs: null): give the CRS with --crs EPSG:n")
    return epsg_code(column["crs"], where)


def open_geoparquet(path: Path, layer: str | None, crs: str | None, id_field: str | None) -> Source:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if layer is not None:
        raise SourceError(f"{path}: --layer is for files with layers; a GeoParquet file has one table")
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise SourceError(f"{path}: not a readable Parquet file ({e})") from e
    primary, column, columns = _geo_metadata(pf, path)
    where = f"{path} (column {primary})"
    encoding = str(column.get("encoding", "WKB")).lower()
    if encoding != "wkb" and encoding not in NATIVE_DEPTH:
        raise SourceError(f"{where}: geometry encoding {column.get('encoding')!r} is not one of GeoParquet's "
                          f"(WKB, {', '.join(NATIVE_DEPTH)})")
    covering = [v[0] for v in (column.get("covering") or {}).get("bbox", {}).values() if isinstance(v, list)]
    drop = {c for c in columns if c != primary} | set(covering)
    fields = [n for n in pf.schema_arrow.names if n not in drop and n != primary]
    id_column = _id_column(fields, id_field, None, where)
    return Source(path, "GeoParquet", _geoparquet_crs(column, crs, where), pf.metadata.num_rows,
                  arrow_rows(pf.iter_batches(batch_size=BATCH), primary, id_column, drop, where,
                             None if encoding == "wkb" else lambda a: native_wkb(a, encoding)))


# GeoParquet 1.1 native (GeoArrow) encodings: how many list levels lie above the coordinates
NATIVE_DEPTH = {"point": 0, "linestring": 1, "polygon": 2, "multipoint": 1, "multilinestring": 2,
                "multipolygon": 3}


def native_wkb(array: Any, encoding: str) -> list[bytes | None]:
    """WKB of a GeoArrow-encoded column (coordinates as a struct of x, y[, z, m] or an interleaved fixed-size
    list): shapely builds the geometries from the coordinates and the list offsets, 2D (the database keeps 2D)."""
    import numpy as np
    import shapely

    valid = array.is_valid().to_numpy(zero_copy_only=False)
    offsets, values = [], array
    for _ in range(NATIVE_DEPTH[encoding]):
        offsets.append(values.offsets.to_numpy())
        values = values.values
    if hasattr(values, "field"):        # separated: struct<x, y, ...>
        coords = np.column_stack([values.field("x").to_numpy(zero_copy_only=False),
                                  values.field("y").to_numpy(zero_copy_only=False)])
    else:                               # interleaved: fixed_size_list<double>[2..4]
        coords = values.values.to_numpy(zero_copy_only=False).reshape(-1, values.type.list_size)[:, :2]
    kind = getattr(shapely.GeometryType, encoding.upper())
    wkbs = shapely.to_wkb(shapely.from_ragged_array(kind, coords, tuple(reversed(offsets)) or None))
    return [bytes(w) if ok else None for w, ok in zip(wkbs, valid)]
