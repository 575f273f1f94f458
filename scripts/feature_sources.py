"""Feature sources for scripts/upload_features.py: GeoJSON, GeoJSONSeq and GeoPackage files read as staging rows
(other formats: ``scripts/feature_sources_arrow.py``).

A source yields rows ``(id, geojson, wkb, properties)`` shaped like ``pg_temp.features_staging`` (see
``db/src/api/features_write.sql``): ``id`` is text or None (the database then generates one), the geometry is
WKB or GeoJSON text, ``properties`` is a JSON object as text. Reprojection, repair and validation happen in the
database (``libs.features_ingest``); the database is the bottleneck of a bulk upload, so the client does what
is cheap for it: GeoJSON files are read with msgspec, which keeps each feature's geometry and properties as raw
JSON text instead of building Python objects for every coordinate (0.06 s instead of 1.2 s for 100,000
polygons), and well-formed GeoJSON geometries are sent as WKB (``geojson_wkb``), which PostGIS reads for less
than GeoJSON text; anything unusual (empty, unclosed rings, odd coordinates) goes as GeoJSON text, so the
database decides about it exactly as before.

GeoPackages are read with the standard library's sqlite3: the GeoPackage binary header (``GP``, version, flags,
srs_id, optional envelope) is skipped and the WKB after it is passed on as is. No GDAL needed.

GeoJSONSeq (newline-delimited GeoJSON, RFC 8142 record separators allowed) is read line by line with the same
msgspec decoding as GeoJSON, so a large file streams in bounded memory.
"""

from __future__ import annotations

import sqlite3
import struct
from array import array
from collections.abc import Callable, Iterator
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

try:
    import msgspec
except ImportError:  # pragma: no cover - a dependency; without it GeoJSON is read with orjson (slower)
    msgspec = None

Row = tuple[str | None, str | None, bytes | None, str]

# GeoPackage binary header: envelope sizes by the envelope indicator (flags bits 1-3)
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


class SourceError(ValueError):
    """A file (or one of its features) that cannot be read; the message names the file or the feature."""


@dataclass
class Source:
    path: Path
    format: str                      # "GeoJSON" | "GeoPackage" | "Shapefile" | "GeoParquet" | a GDAL driver ...
    crs: str | None                  # the CRS the file declares, or --crs (None: none declared)
    count: int | None                # number of features (None: unknown before reading)
    rows: Iterator[Row] = field(repr=False)
    layer: str | None = None         # GeoPackage layer


SEQ_SUFFIXES = (".geojsonl", ".geojsons", ".geojsonseq", ".ndjson", ".jsonl")
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
FORMATS = ("GeoJSON (.geojson, .json), GeoJSONSeq (.geojsonl, .geojsons, .ndjson), GeoPackage (.gpkg), "
           "Shapefile (.shp, or a .zip holding it), FlatGeobuf (.fgb), GeoParquet (.parquet, .geoparquet) "
           "and any other vector format GDAL reads (KML, GML, GPX, FileGDB, ...)")


def open_source(path: Path, layer: str | None = None, crs: str | None = None,
                id_field: str | None = None) -> Source:
    """A feature file as a Source, its format told by content and suffix. `crs` (--crs) overrides the file's
    own; `id_field` names the field holding feature ids (formats read as Arrow batches and GeoPackages)."""
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    with path.open("rb") as f:
        magic = f.read(16)
    suffix = path.suffix.lower()
    if magic.startswith(b"SQLite format 3") and id_field is None and _is_geopackage(path):
        return open_geopackage(path, layer, crs)
    if magic[:4] == b"PAR1" or suffix in PARQUET_SUFFIXES:
        from scripts.feature_sources_arrow import open_geoparquet
        return open_geoparquet(path, layer, crs, id_field)
    json_like = suffix in SEQ_SUFFIXES + (".geojson", ".json") or magic.lstrip()[:1] in (b"{", b"\x1e")
    if json_like and (layer is not None or id_field is not None):
        raise SourceError(f"{path}: --layer and --id-field are not for GeoJSON (a feature's id member is its id)")
    if suffix in SEQ_SUFFIXES or magic[:1] == b"\x1e":
        return _with_crs(open_geojsonseq(path), crs)
    if json_like:
        return _with_crs(open_geojson(path), crs)
    from scripts.feature_sources_arrow import open_ogr
    return open_ogr(path, layer, crs, id_field)


def _with_crs(source: Source, crs: str | None) -> Source:
    if crs is not None:
        source.crs = crs
    return source


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
    data = path.read_bytes()
    raw = _raw_collection(data)
    if raw is not None:
        return Source(path, "GeoJSON", geojson_crs({"crs": raw.crs}), len(raw.features), _raw_rows(raw.features))
    try:
        doc = _loads(data)
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
        wkb = None if geom is None else geojson_wkb(geom)
        yield (None if fid is None else str(fid), None if geom is None or wkb is not None else _dumps(geom), wkb,
               _dumps(props or {}))


if msgspec is not None:
    class _RawFeature(msgspec.Struct):
        type: Any = None
        id: Any = None
        geometry: msgspec.Raw = msgspec.Raw(b"null")
        properties: msgspec.Raw = msgspec.Raw(b"null")

    class _RawCollection(msgspec.Struct):
        type: Any = None
        features: list[_RawFeature] | None = None
        crs: Any = None


def _raw_collection(data: bytes) -> Any:
    """A FeatureCollection whose features are objects, decoded with geometry and properties left as raw JSON;
    None for anything else (a Feature, invalid JSON, a feature that is not an object ...): the orjson path then
    reads it and names what is wrong."""
    if msgspec is None:
        return None
    try:
        doc = msgspec.json.decode(data, type=_RawCollection)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return doc if doc.type == "FeatureCollection" and doc.features is not None else None


def _raw_rows(features: list[Any]) -> Iterator[Row]:
    for n, f in enumerate(features, 1):
        if f.type != "Feature":
            raise SourceError(f"feature number {n} is not a GeoJSON Feature (type {f.type})")
        yield _feature_row(f, lambda fid, n=n: f"feature {fid} (number {n})")


def _feature_row(feature: Any, where: Callable[[str], str]) -> Row:
    """The staging row of one raw GeoJSON Feature; an error names it by ``where(id or '(no id)')``."""
    fid = None if feature.id is None else str(feature.id)
    try:
        return _raw_row(fid, bytes(feature.geometry).strip(), bytes(feature.properties).strip())
    except (SourceError, UnicodeDecodeError) as e:
        raise SourceError(f"{where(fid if fid is not None else '(no id)')}: "
                          f"{e if isinstance(e, SourceError) else 'not valid UTF-8'}") from e


def _raw_row(fid: str | None, geom: bytes, props: bytes) -> Row:
    if props[:1] != b"{" and props != b"null":
        raise SourceError("properties must be an object or null")
    text = "{}" if props == b"null" else props.decode()
    if geom == b"null":
        return fid, None, None, text
    wkb = _raw_geojson_wkb(geom)
    return fid, None if wkb is not None else geom.decode(), wkb, text


def _raw_geojson_wkb(raw: bytes) -> bytes | None:
    try:
        return geojson_wkb(_loads(raw))
    except ValueError:   # e.g. a number beyond float range: the database reads the text and judges
        return None


# --- GeoJSONSeq ---------------------------------------------------------------------------------------------------

def open_geojsonseq(path: Path) -> Source:
    """One GeoJSON Feature per line (RFC 8142 record separators allowed, blank lines skipped); CRS84."""
    if msgspec is None:  # pragma: no cover - msgspec is a dependency
        raise SourceError(f"{path}: reading GeoJSONSeq needs msgspec")
    with path.open("rb") as f:
        count = sum(1 for line in f if line.strip(b" \t\r\n\x1e"))
    return Source(path, "GeoJSONSeq", None, count, _seq_rows(path))


def _seq_rows(path: Path) -> Iterator[Row]:
    decoder = msgspec.json.Decoder(_RawFeature)
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            text = line.strip(b" \t\r\n\x1e")
            if not text:
                continue
            try:
                feature = decoder.decode(text)
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                raise SourceError(f"{path} line {number}: not a GeoJSON Feature ({e})") from e
            if feature.type != "Feature":
                raise SourceError(f"{path} line {number}: not a GeoJSON Feature (type {feature.type})")
            yield _feature_row(feature, lambda fid, number=number: f"{path} line {number} (feature {fid})")


# --- GeoJSON geometry -> WKB (little endian, 2D: the database keeps 2D anyway) ------------------------------------

_WKB_TYPES = {"Point": 1, "LineString": 2, "Polygon": 3, "MultiPoint": 4, "MultiLineString": 5, "MultiPolygon": 6,
              "GeometryCollection": 7}


class _NotPlain(Exception):
    """A geometry the database should read from GeoJSON text itself (and judge)."""


def geojson_wkb(geom: Any) -> bytes | None:
    """WKB of a well-formed, non-empty GeoJSON geometry (positions of 2 or 3 numbers, closed rings of 4+
    positions, lines of 2+); None for anything else, which then goes to the database as GeoJSON text."""
    try:
        return b"".join(_wkb(geom))
    except (_NotPlain, TypeError, KeyError, AttributeError, OverflowError):
        return None


def _wkb(g: dict[str, Any]) -> list[bytes]:
    kind = _WKB_TYPES.get(g.get("type"))  # type: ignore[arg-type]
    if kind is None:
        raise _NotPlain
    if kind == 7:
        parts = g["geometries"]
        if not isinstance(parts, list) or not parts:
            raise _NotPlain
        return [struct.pack("<BII", 1, 7, len(parts))] + [b for p in parts for b in _wkb(p)]
    c = g["coordinates"]
    if kind == 1:
        return [struct.pack("<BI", 1, 1), _coords([c])]
    if kind in (2, 3):
        return [struct.pack("<BI", 1, kind)] + _body(kind, c)
    if not isinstance(c, list) or not c:
        raise _NotPlain
    return [struct.pack("<BII", 1, kind, len(c))] + [b for part in c for b in
                                                      [struct.pack("<BI", 1, kind - 3)] + _part(kind - 3, part)]


def _part(kind: int, c: Any) -> list[bytes]:
    return [_coords([c])] if kind == 1 else _body(kind, c)


def _body(kind: int, c: Any) -> list[bytes]:
    if kind == 2:
        return [struct.pack("<I", _count(c, 2)), _coords(c)]
    if not isinstance(c, list) or not c:
        raise _NotPlain
    out = [struct.pack("<I", len(c))]
    for ring in c:
        if _count(ring, 4) and ring[0] != ring[-1]:
            raise _NotPlain
        out += [struct.pack("<I", len(ring)), _coords(ring)]
    return out


def _count(c: Any, least: int) -> int:
    if not isinstance(c, list) or len(c) < least:
        raise _NotPlain
    return len(c)


def _coords(positions: list[Any]) -> bytes:
    flat = array("d")
    for p in positions:
        if type(p) is not list or not 2 <= len(p) <= 3 or any(type(v) not in (float, int) for v in p):
            raise _NotPlain
        flat.append(p[0])
        flat.append(p[1])
    return flat.tobytes()


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


def _is_geopackage(path: Path) -> bool:
    """An SQLite file with the GeoPackage catalogue (other SQLite files, e.g. SpatiaLite, are read by GDAL)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_contents'").fetchone() is not None
    except sqlite3.DatabaseError:
        return False


def open_geopackage(path: Path, layer: str | None, crs: str | None = None) -> Source:
    # check_same_thread=False: the upload reads the rows in a worker thread (one thread at a time uses it)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
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
    return Source(path, "GeoPackage", crs or gpkg_crs(conn, srs_id), count,
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
