"""GeoTIFF / COG sources (any raster GDAL reads through rasterio) as a `Source` of the cube upload pipeline.

One file or several: each file's bands become layers (names: `geotiff_names`), files of one time step add
their bands (one file per band: ``B04.tif B08.tif``), files of different time steps are the time axis (one file
per date). Every file's GDAL mask (alpha band, internal mask, nodata) becomes NaN, its scale/offset tags are
applied. Files may lie on different grids (B11 at 20 m, B04 at 10 m, even different CRSs): the served
EPSG:3857 grid takes the finest resolution among them and the union of their extents; each layer is gathered
from its own grid by the exact nearest-neighbour index map of `Source.index_rows`. Reads are windowed (only the
source window under a stripe of served rows), so memory stays bounded as for Zarr.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS

from . import geotiff_names as names
from . import sentinel2
from .source import Source, SourceError

RGB = ("red", "green", "blue")
SUFFIXES = (".tif", ".tiff", ".gtiff", ".cog", ".jp2", ".vrt", ".img")


@dataclass(frozen=True)
class Grid:
    """A file's pixel grid: CRS (WKT), north-up affine transform (a, c, e, f), size."""

    crs_wkt: str
    a: float
    c: float
    e: float
    f: float
    width: int
    height: int

    @property
    def x(self) -> np.ndarray:
        return self.c + (np.arange(self.width) + 0.5) * self.a

    @property
    def y(self) -> np.ndarray:
        return self.f + (np.arange(self.height) + 0.5) * self.e

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.c, self.f + self.height * self.e, self.c + self.width * self.a, self.f)


@dataclass
class Band:
    """Band `index` (1-based) of `path` on `grid`, with the file's scale/offset, its nodata value, and whether it
    has a mask to read (alpha band or internal mask; a nodata mask is computed from the values, not read twice)."""

    path: str
    index: int
    grid: Grid
    scale: float = 1.0
    offset: float = 0.0
    masked: bool = False
    nodata: float | None = None


@dataclass
class Layer:
    """A layer of the source: one `Band` per time step; `attrs`/`encoding` as the pipeline reads a variable's."""

    steps: list[Band]
    attrs: dict[str, Any] = field(default_factory=dict)
    encoding: dict[str, Any] = field(default_factory=dict)


@dataclass
class File:
    path: str
    grid: Grid
    tags: dict[str, str]
    bands: list[tuple[str | None, Band, dict[str, Any]]]   # (name or None when unnamed, band, attrs)
    rgb: bool                                                # red, green, blue colour interpretation
    dtype: str
    block_rows: int


def is_raster(path: str | list[str] | Path) -> bool:
    """True for what this module reads: several paths, a raster file name, or a local file (not a folder)."""
    if isinstance(path, (list, tuple)):
        return len(path) != 1 or is_raster(path[0])
    lower = str(path).lower().split("?")[0]
    return lower.endswith(SUFFIXES) or (not lower.startswith(("http://", "https://", "s3://"))
                                        and Path(path).is_file())


class GeoTiffSource(Source):
    """A `Source` whose variables are `Layer`s read with rasterio, window by window."""

    grids: list[Grid]
    _datasets: dict[str, Any]
    _index: dict[tuple[Grid, int, int], tuple[np.ndarray, np.ndarray]]

    def dataset(self, path: str) -> Any:
        import rasterio

        if path not in self._datasets:
            self._datasets[path] = rasterio.open(path)
        return self._datasets[path]

    def close(self) -> None:
        for ds in self._datasets.values():
            ds.close()
        self._datasets.clear()

    def read(self, name: str, t: int, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        from rasterio.errors import RasterioError
        from rasterio.windows import Window

        band = self.variables[name].steps[t]
        r0, r1, _ = rows.indices(band.grid.height)
        c0, c1, _ = cols.indices(band.grid.width)
        window = Window(c0, r0, c1 - c0, r1 - r0)
        try:
            ds = self.dataset(band.path)
            data = ds.read(band.index, window=window, out_dtype="float32")
            if band.masked:
                data[ds.read_masks(band.index, window=window) == 0] = np.nan
            if band.nodata is not None and not np.isnan(band.nodata):
                data[data == np.float32(band.nodata)] = np.nan
        except (RasterioError, OSError) as e:
            raise SourceError(f"reading band {band.index} of {band.path} failed: {e.__cause__ or e}") from None
        if band.scale != 1.0 or band.offset != 0.0:
            data = data * np.float32(band.scale) + np.float32(band.offset)
        return data

    def reproject(self, name: str, t: int, rows: slice | None = None,
                  index: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """As `Source.reproject`; with several grids, each layer gathers through its own grid's index map (the
        served grid is the union of the files' extents, not one file's grid)."""
        if len(self.grids) == 1:
            return super().reproject(name, t, rows, index)
        grid, rows = self.variables[name].steps[t].grid, rows or slice(0, self.height)
        if grid != self.grids[0] or index is None:
            index = self.grid_index(grid, rows)
        return super().reproject(name, t, rows, index)

    def grid_index(self, grid: Grid, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """`index_rows` of another grid, computed once per stripe (only the current stripe's are kept)."""
        key = (grid, rows.start, rows.stop)
        if key not in self._index:
            self._index = {k: v for k, v in self._index.items() if k[1:] == key[1:]}
            view = Source(self.path, {}, self.times, grid.x, grid.y, CRS.from_wkt(grid.crs_wkt), {},
                          self.dst_transform, self.width, self.height)
            self._index[key] = view.index_rows(rows)
        return self._index[key]

    def chunk_rows(self) -> int:
        return max([int(v.encoding.get("block_rows", 0)) for v in self.variables.values()] or [0])

    @property
    def bbox_wgs84(self) -> list[float]:
        from rasterio.warp import transform_bounds

        boxes = [transform_bounds(CRS.from_wkt(g.crs_wkt), "EPSG:4326", *g.bounds, densify_pts=21)
                 for g in self.grids]
        return [round(float(v), 8) for v in (min(b[0] for b in boxes), min(b[1] for b in boxes),
                                              max(b[2] for b in boxes), max(b[3] for b in boxes))]


def load_rasters(paths: list[str], crs_override: str | None = None,
                 datetimes: list[str] | None = None) -> GeoTiffSource:
    """The files as one source (see the module docstring); a clear `SourceError` for what cannot be read."""
    override = _crs(crs_override) if crs_override else None
    files = [describe(p, override) for p in paths]
    times = names.file_times(paths, [f.tags for f in files], datetimes)
    order = sorted(set(times))
    several = len(order) < len(files)   # some time step has several files: one file per band
    steps: list[dict[str, tuple[Band, dict[str, Any]]]] = [
        step_layers([f for f, t in zip(files, times) if t == when], when, several) for when in order]
    _same_layers(steps, order)
    variables = {n: Layer([s[n][0] for s in steps], dict(steps[0][n][1]),
                          {"block_rows": max(f.block_rows for f in files)}) for n in steps[0]}
    grids = sorted({b.grid for v in variables.values() for b in v.steps}, key=_pixel_size)
    g = grids[0]
    src = GeoTiffSource(", ".join(paths), variables, np.array(order, dtype="datetime64[ns]"), g.x, g.y,  # type: ignore[arg-type]
                        CRS.from_wkt(g.crs_wkt), _attrs(files, variables))
    src.grids, src._datasets, src._index = grids, {}, {}
    _plan(src)
    return src


def _crs(text: str) -> CRS:
    try:
        return CRS.from_user_input(text)
    except Exception as e:
        raise SourceError(f"--crs {text!r} is not a CRS pyproj knows: {e}") from None


def describe(path: str, override: CRS | None) -> File:
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            return _file(path, ds, override)
    except (RasterioError, OSError) as e:
        raise SourceError(f"cannot read {path} as a raster (GeoTIFF, COG, JP2 or any GDAL format): {e}") from None


def _file(path: str, ds: Any, override: CRS | None) -> File:
    from rasterio.enums import ColorInterp, MaskFlags

    grid = _grid(path, ds, override)
    interp = list(ds.colorinterp)
    rgb = [ci for ci in interp if ci != ColorInterp.alpha][:4] == [ColorInterp.red, ColorInterp.green,
                                                                      ColorInterp.blue]
    bands = []
    for i in range(1, ds.count + 1):
        if interp[i - 1] == ColorInterp.alpha:
            continue
        desc = (ds.descriptions[i - 1] or "").strip()
        label = desc or (interp[i - 1].name if interp[i - 1].name in RGB else None)
        flags = ds.mask_flag_enums[i - 1]
        band = Band(path, i, grid, float(ds.scales[i - 1] or 1.0), float(ds.offsets[i - 1] or 0.0),
                    MaskFlags.per_dataset in flags or MaskFlags.alpha in flags,
                    None if ds.nodatavals[i - 1] is None else float(ds.nodatavals[i - 1]))
        attrs = {k: v for k, v in (("units", ds.units[i - 1] or None), ("long_name", desc or None)) if v}
        bands.append((label, band, attrs))
    if not bands:
        raise SourceError(f"{path} has no band besides its alpha band")
    rgb = rgb and [label for label, _, _ in bands] == list(RGB)
    return File(path, grid, dict(ds.tags()), bands, rgb, ds.dtypes[0],
                int(ds.block_shapes[0][0]))


def _grid(path: str, ds: Any, override: CRS | None) -> Grid:
    t = ds.transform
    if ds.crs is None and override is None:
        raise SourceError(f"{path} has no CRS; pass it, e.g. --crs EPSG:32633 (HTTP: \"crs\")")
    if t.is_identity:
        raise SourceError(f"{path} has no georeferencing (no geotransform); only georeferenced rasters "
                          "can be uploaded")
    if t.b != 0 or t.d != 0 or t.e >= 0:
        raise SourceError(f"{path} is rotated or not north-up ({tuple(t)[:6]}); warp it to a north-up grid "
                          "first, e.g. gdalwarp in.tif out.tif")
    crs = override or CRS.from_wkt(ds.crs.to_wkt())
    return Grid(crs.to_wkt(), float(t.a), float(t.c), float(t.e), float(t.f), int(ds.width), int(ds.height))


def step_layers(files: list[File], when: np.datetime64, several: bool) -> dict[str, tuple[Band, dict[str, Any]]]:
    """The layers the files of one time step give, by name; two files giving one name is an error.
    `several`: some time step has several files (then file names name the unnamed bands)."""
    out: dict[str, tuple[Band, dict[str, Any]]] = {}
    origin: dict[str, str] = {}
    for f in files:
        single = len(f.bands) == 1
        for label, band, attrs in f.bands:
            name = label or (names.band_token(f.path) if single else None) or (
                (names.file_layer_name(f.path) if single else f"{names.stem(f.path)}_band{band.index}")
                if several else f"band{band.index}")
            if name in out:
                raise SourceError(f"{origin[name]} and {f.path} both give layer {name!r} at "
                                  f"{str(when)[:19]}Z; give each file of one time step its own band names "
                                  "(band descriptions or file names), or different --datetime values")
            out[name], origin[name] = (band, attrs), f.path
    return out


def _same_layers(steps: list[dict[str, Any]], order: list[np.datetime64]) -> None:
    first = sorted(steps[0])
    for step, when in zip(steps[1:], order[1:]):
        if sorted(step) != first:
            raise SourceError(f"the files of {str(when)[:19]}Z give layers {sorted(step)}, those of "
                              f"{str(order[0])[:19]}Z give {first}; every time step needs the same layers")


def _pixel_size(grid: Grid) -> float:
    """The grid's pixel width once in EPSG:3857 (the finest grid is planned first)."""
    from rasterio.warp import calculate_default_transform

    transform, _, _ = calculate_default_transform(CRS.from_wkt(grid.crs_wkt), "EPSG:3857", grid.width,
                                                  grid.height, *grid.bounds)
    return float(transform.a)


def _attrs(files: list[File], variables: dict[str, Layer]) -> dict[str, Any]:
    """Source attrs: the file names; for an RGB photo the composite hint the layer plan reads; whether the
    Sentinel-2 bands are digital numbers (integers without a scale tag: 0..10000, not reflectance)."""
    attrs: dict[str, Any] = {"source_files": ", ".join(names.stem(f.path) for f in files)}
    dtypes = {f.path: np.dtype(f.dtype) for f in files}
    steps = [b for n, v in variables.items() if sentinel2.band_id(n) for b in v.steps]
    if steps and all(dtypes[b.path].kind in "iu" and b.scale == 1.0 and b.offset == 0.0 for b in steps):
        attrs["stapi:digital_numbers"] = True
    if all(f.rgb for f in files):
        attrs["stapi:rgb"] = list(RGB)
        if all(f.dtype == "uint8" for f in files):
            attrs["stapi:rgb_range"] = [0.0, 255.0]
    return attrs


def _plan(src: GeoTiffSource) -> None:
    """The served EPSG:3857 grid: as for Zarr for one grid; else the finest pixel over the union extent."""
    from affine import Affine
    from rasterio.warp import transform_bounds

    from .source import _plan_grid

    _plan_grid(src)
    if len(src.grids) == 1:
        return
    size = abs(src.dst_transform.a)
    boxes = [transform_bounds(CRS.from_wkt(g.crs_wkt), "EPSG:3857", *g.bounds, densify_pts=21) for g in src.grids]
    left, bottom = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, top = max(b[2] for b in boxes), max(b[3] for b in boxes)
    src.dst_transform = Affine(size, 0, left, 0, -size, top)
    src.width, src.height = math.ceil((right - left) / size), math.ceil((top - bottom) / size)
