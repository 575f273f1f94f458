"""Feature sources for scripts/upload_features.py: GeoJSON and GeoPackage files read as staging rows.

A source yields rows ``(id, geojson, wkb, properties)`` shaped like ``pg_temp.features_staging`` (see
``db/src/api/features_write.sql``): ``id`` is text or None (the database then generates one), the geometry is
GeoJSON text (GeoJSON files) or WKB (GeoPackages), ``properties`` is a JSON object as text. Geometries are not
touched here: reprojection, repair and validation happen in the database (``libs.features_ingest``).

GeoPackages are read with the standard library's sqlite3: the GeoPackage binary header (``GP``, version, flags,
srs_id, optional envelope) is skipped and the WKB after it is passed on as is. No GDAL needed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import orjson

    def _dumps(value: Any) -> str:
        return orjson.dumps(value).decode()

    _loads = orjson.loads
except ImportError:  # pragma: no cover - orjson comes with pypgstac; the stdlib does the same, slower
    import json

    def _dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)

    _loads = json.loads

Row = tuple[str | None, str | None, bytes | None, str]

# GeoPackage binary header: envelope sizes by the envelope indicator (flags bits 1-3)
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


class SourceError(ValueError):
    """A file (or one of its features) that cannot be read; the message names the file or the feature."""


@dataclass
class Source:
    path: Path
    format: str                      # "GeoJSON" | "GeoPackage"
    crs: str | None                  # the CRS the file declares (None: none declared)
    count: int                       # number of features
    rows: Iterator[Row] = field(repr=False)
    layer: str | None = None         # GeoPackage layer


def open_source(path: Path, layer: str | None = None) -> Source:
    """A GeoJSON (.geojson/.json) or GeoPackage (.gpkg) file as a Source."""
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    with path.open("rb") as f:
        magic = f.read(16)
    if magic.startswith(b"SQLite format 3"):
        return open_geopackage(path, layer)
    if layer is not None:
        raise SourceError(f"{path}: --layer is for GeoPackages; this file is not one")
    return open_geojson(path)


# --- GeoJSON ---------------------------------------------------------------------------------------------------

def geojson_crs(doc: dict[str, Any]) -> str | None:
    """The legacy (GeoJSON 2008) ``crs`` member: named (``urn:ogc:def:crs:EPSG::7755``, ``EPSG:32644``) or EPSG."""
    crs = doc.get("crs")
    if crs is None:
        return None
    if isinstance(crs, str):
        return crs
    props = crs.get("properties") or {} if isinstance(crs, dict) else {}
    if isinstance(crs, dict) and crs.get("type") == "name" and isinstance(props.get("name"), str):
        return str(props["name"])
    if isinstance(crs, dict) and str(crs.get("type", "")).upper() == "EPSG" and "code" in props:
        return f"EPSG:{props['code']}"
    raise SourceError(f"the crs member {crs!r} is not understood: give a named CRS "
                      '({"type": "name", "properties": {"name": "EPSG:32644"}}) or --crs')


def open_geojson(path: Path) -> Source:
    try:
        doc = _loads(path.read_bytes())
    except ValueError as e:
        raise SourceError(f"{path}: not valid JSON ({e})") from e
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == "Feature":
        features = [doc]
    elif kind == "FeatureCollection" and isinstance(doc.get("features"), list):
        features = doc["features"]
    else:
        raise SourceError(f"{path}: expected a GeoJSON FeatureCollection (or Feature), got "
                          f"{kind or type(doc).__name__}")
    return Source(path, "GeoJSON", geojson_crs(doc), len(features), _geojson_rows(features))


def _geojson_rows(features: list[Any]) -> Iterator[Row]:
    for n, f in enumerate(features, 1):
        if not isinstance(f, dict) or f.get("type") != "Feature":
            raise SourceError(f"feature number {n} is not a GeoJSON Feature "
                              f"(type {f.get('type') if isinstance(f, dict) else type(f).__name__})")
        fid = f.get("id")
        props = f.get("properties")
        if props is not None and not isinstance(props, dict):
            raise SourceError(f"feature {fid if fid is not None else '(no id)'} (number {n}): "
                              f"properties must be an object or null")
        geom = f.get("geometry")
        yield (None if fid is None else str(fid), None if geom is None else _dumps(geom), None,
               _dumps(props or {}))


# --- GeoPackage ------------------------------------------------------------------------------------------------

def _layer_sql(template: str, layer: str, select: str = "") -> str:
    """A SQLite statement over a GeoPackage table. Identifiers cannot be bound parameters, so the table name
    (and the already quoted column list) are spliced in here, in one place, quoted by `_quote`."""
    return template.format(table=_quote(layer), select=select)


def _quote(name: str) -> str:
    """A SQLite identifier, quoted (layer and column names come from the file's own catalogue)."""
    return '"' + name.replace('"', '""') + '"'


def gpkg_wkb(blob: bytes | None) -> bytes | None:
    """The WKB inside a GeoPackage geometry blob (None for NULL or an empty geometry)."""
    if blob is None:
        return None
    if blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry (no GP magic)")
    flags = blob[3]
    if flags & 0b0010_0000:
        raise ValueError("extended GeoPackage geometry types are not supported")
    envelope = _ENVELOPE_BYTES.get((flags >> 1) & 0b111)
    if envelope is None:
        raise ValueError(f"invalid envelope indicator {(flags >> 1) & 0b111}")
    if flags & 0b0001_0000:
        return None
    return bytes(blob[8 + envelope:])


def gpkg_layers(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT table_name FROM gpkg_contents WHERE data_type = 'features' ORDER BY table_name")]


def gpkg_crs(conn: sqlite3.Connection, srs_id: int) -> str | None:
    """``EPSG:n`` for the layer's SRS; None for an undefined one; SourceError for a non-EPSG definition."""
    row = conn.execute("SELECT srs_name, organization, organization_coordsys_id FROM gpkg_spatial_ref_sys "
                       "WHERE srs_id = ?", (srs_id,)).fetchone()
    if row is None:
        raise SourceError(f"srs_id {srs_id} is not in gpkg_spatial_ref_sys: give the CRS with --crs")
    name, org, code = row
    if str(org).upper() == "EPSG" and code is not None and int(code) > 0:
        return f"EPSG:{int(code)}"
    if srs_id == 0:   # "undefined geographic": longitude/latitude
        return "OGC:CRS84"
    if srs_id == -1:
        return None
    raise SourceError(f"the layer's SRS {name!r} ({org}:{code}) is not an EPSG code: give the CRS with --crs")


def open_geopackage(path: Path, layer: str | None) -> Source:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        layers = gpkg_layers(conn)
    except sqlite3.DatabaseError as e:
        raise SourceError(f"{path}: not a GeoPackage ({e})") from e
    if not layers:
        raise SourceError(f"{path}: the GeoPackage has no feature layers")
    if layer is None and len(layers) > 1:
        raise SourceError(f"{path} has {len(layers)} feature layers: choose one with --layer "
                          f"({', '.join(layers)})")
    layer = layer or layers[0]
    if layer not in layers:
        raise SourceError(f"{path} has no feature layer {layer!r}; its layers: {', '.join(layers)}")
    geom_col, srs_id = conn.execute("SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?",
                                    (layer,)).fetchone()
    columns = conn.execute(_layer_sql("PRAGMA table_info({table})", layer)).fetchall()
    count = conn.execute(_layer_sql("SELECT count(*) FROM {table}", layer)).fetchone()[0]
    return Source(path, "GeoPackage", gpkg_crs(conn, srs_id), count,
                  _gpkg_rows(conn, layer, geom_col, columns), layer)


def _gpkg_rows(conn: sqlite3.Connection, layer: str, geom_col: str, columns: list[tuple[Any, ...]]) -> Iterator[Row]:
    pk = next((c[1] for c in columns if c[5] == 1), None)
    props = [(c[1], str(c[2]).upper()) for c in columns if c[1] not in (geom_col, pk)]
    select = ", ".join(_quote(c) for c in [pk or "rowid", geom_col] + [p[0] for p in props])
    try:
        for n, (fid, blob, *values) in enumerate(conn.execute(_layer_sql("SELECT {select} FROM {table}", layer, select)), 1):
            try:
                wkb = gpkg_wkb(blob)
            except (ValueError, IndexError) as e:
                raise SourceError(f"feature {fid} (number {n}) of layer {layer}: {e}") from e
            yield (str(fid), None, wkb,
                   _dumps({name: _gpkg_value(v, kind) for (name, kind), v in zip(props, values, strict=True)}))
    finally:
        conn.close()


def _gpkg_value(v: Any, kind: str) -> Any:
    if v is None:
        return None
    if kind == "BOOLEAN":
        return bool(v)
    if isinstance(v, bytes):
        return v.hex()
    return v
