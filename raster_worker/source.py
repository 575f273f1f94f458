"""An uploaded Zarr store as a grid: its variables (time, y, x), CRS, and the EPSG:3857 grid it maps onto.

Reads Zarr v2 or v3 with xarray (CF decoding applies `_FillValue`, `missing_value`, `scale_factor`,
`add_offset`), accepts dims (time, y, x), (time, band, y, x) and lat/lon grids, and finds the CRS from CF
`grid_mapping`, a `spatial_ref`/`crs` variable or attribute, or the caller's override.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from pyproj import CRS

Y_NAMES = ("y", "lat", "latitude", "northing", "rows")
X_NAMES = ("x", "lon", "longitude", "easting", "cols")
T_NAMES = ("time", "t", "date", "datetime")
CRS_VARS = ("spatial_ref", "crs", "grid_mapping", "transverse_mercator", "projection")


class SourceError(ValueError):
    """The store cannot be read as a cube (the message says what is missing and how to fix it)."""


def _remote_errors() -> tuple[type[BaseException], ...]:
    """What reading a store can raise besides the Zarr errors: OS errors, and aiohttp's for http(s) stores
    (fsspec's HTTP backend: a 5xx answer, a dropped connection)."""
    try:
        from aiohttp import ClientError
    except ImportError:
        return (OSError, TimeoutError)
    return (OSError, TimeoutError, ClientError)


READ_ERRORS: tuple[type[BaseException], ...] = _remote_errors()
OPEN_ERRORS: tuple[type[BaseException], ...] = (KeyError, ValueError, *READ_ERRORS)


@dataclass
class Source:
    path: str
    variables: dict[str, xr.DataArray]   # each (time, y, x), y descending
    times: np.ndarray                    # datetime64[ns]
    src_x: np.ndarray
    src_y: np.ndarray
    crs: CRS
    attrs: dict[str, Any]
    dst_transform: Any = None            # affine.Affine of the EPSG:3857 grid
    width: int = 0
    height: int = 0

    @property
    def crs_name(self) -> str:
        epsg = self.crs.to_epsg()
        return f"EPSG:{epsg}" if epsg else self.crs.to_string()

    @property
    def resolution(self) -> tuple[float, float]:
        return (abs(float(self.src_x[1] - self.src_x[0])), abs(float(self.src_y[1] - self.src_y[0])))

    @property
    def src_transform(self) -> Any:
        from affine import Affine

        dx, dy = float(self.src_x[1] - self.src_x[0]), float(self.src_y[1] - self.src_y[0])
        return Affine(dx, 0, float(self.src_x[0]) - dx / 2, 0, dy, float(self.src_y[0]) - dy / 2)

    @property
    def src_bounds(self) -> tuple[float, float, float, float]:
        dx, dy = self.resolution
        return (float(self.src_x[0]) - dx / 2, float(self.src_y[-1]) - dy / 2,
                float(self.src_x[-1]) + dx / 2, float(self.src_y[0]) + dy / 2)

    @property
    def dst_x(self) -> np.ndarray:
        t = self.dst_transform
        return t.c + (np.arange(self.width) + 0.5) * t.a

    @property
    def dst_y(self) -> np.ndarray:
        t = self.dst_transform
        return t.f + (np.arange(self.height) + 0.5) * t.e

    @property
    def bbox_wgs84(self) -> list[float]:
        from rasterio.warp import transform_bounds

        b = transform_bounds(self.crs, "EPSG:4326", *self.src_bounds, densify_pts=21)
        return [round(float(v), 8) for v in b]

    def time_strings(self) -> list[str]:
        return [str(t.astype("datetime64[s]")) + "Z" for t in self.times]

    def read(self, name: str, t: int, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        """A window of one time slice of one variable in the source grid, float32, NaN = nodata."""
        var = self.variables[name]
        try:
            data = np.asarray(var.isel(time=t, y=rows, x=cols).values, dtype=np.float32)
        except READ_ERRORS as e:
            raise SourceError(f"reading {name} (time index {t}) from {self.path} failed: {e}") from None
        nodata = var.attrs.get("nodata", var.attrs.get("_FillValue"))
        if nodata is not None and np.isfinite(nodata):
            data[data == np.float32(nodata)] = np.nan
        return data

    def reproject(self, name: str, t: int, rows: slice | None = None,
                  index: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Rows `rows` (default all) of one slice on the EPSG:3857 grid: each served pixel takes the source pixel
        containing its centre (nearest neighbour, exact: values stay as measured, no resampling blur). Only the
        source window under those rows is read; `index` is `index_rows(rows)`, computed once per stripe."""
        rows = rows or slice(0, self.height)
        if index is None and self.crs.to_epsg() == 3857:   # the served grid is the source grid
            return self.read(name, t, rows)
        r, c = index if index is not None else self.index_rows(rows)
        out = np.full(r.shape, np.nan, dtype=np.float32)
        valid = r >= 0
        if valid.any():
            rv, cv = r[valid], c[valid]
            r0, c0 = int(rv.min()), int(cv.min())
            window = self.read(name, t, slice(r0, int(rv.max()) + 1), slice(c0, int(cv.max()) + 1))
            out[valid] = window[rv - r0, cv - c0]
        return out

    def index_rows(self, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """For each served pixel of rows `rows`, the (row, col) of the source pixel under its centre (-1 outside).

        Exact PROJ transforms of every pixel centre (GDAL's warper approximates the transform to 0.125 px, which
        moves values across pixel edges); computed once per stripe of rows, every variable and time step then
        reuses it as a plain gather.
        """
        from pyproj import Transformer

        tr = Transformer.from_crs("EPSG:3857", self.crs, always_xy=True)
        left, bottom, right, top = self.src_bounds
        dx, dy = float(self.src_x[1] - self.src_x[0]), float(self.src_y[1] - self.src_y[0])
        n = rows.stop - rows.start
        out_r = np.full((n, self.width), -1, np.int32)
        out_c = np.full((n, self.width), -1, np.int32)
        for start in range(0, n, 256):
            X, Y = np.meshgrid(self.dst_x, self.dst_y[rows.start + start:rows.start + min(n, start + 256)])
            ux, uy = tr.transform(X, Y)
            c = np.floor((ux - left) / dx)
            r = np.floor((uy - top) / dy)
            ok = np.isfinite(c) & np.isfinite(r) & (c >= 0) & (c < len(self.src_x)) & (r >= 0) & \
                (r < len(self.src_y))
            out_r[start:start + 256][ok] = r[ok]
            out_c[start:start + 256][ok] = c[ok]
        return out_r, out_c

    def chunk_rows(self) -> int:
        """The largest source chunk height (pixels) among the variables; 0 when unknown."""
        sizes = [0]
        for var in self.variables.values():
            preferred = var.encoding.get("preferred_chunks") or {}
            sizes += [int(v) for k, v in preferred.items() if str(k).lower() in Y_NAMES]
        return max(sizes)


def open_store(path: str) -> xr.Dataset:
    try:
        return xr.open_zarr(path, consolidated=None, chunks=None, mask_and_scale=True, decode_times=True)
    except OPEN_ERRORS as e:
        raise SourceError(f"cannot open {path} as a Zarr store (v2 or v3): {e}") from None


def _dim(ds: xr.Dataset, names: tuple[str, ...]) -> str | None:
    return next((str(d) for d in ds.dims if str(d).lower() in names), None)


def normalize(ds: xr.Dataset) -> tuple[xr.Dataset, dict[str, xr.DataArray], bool]:
    """Rename dims to (time, y, x), split band dimensions; returns (ds, variables, geographic)."""
    ydim, xdim, tdim = _dim(ds, Y_NAMES), _dim(ds, X_NAMES), _dim(ds, T_NAMES)
    if ydim is None or xdim is None:
        raise SourceError(f"no spatial dimensions found (dims: {', '.join(map(str, ds.dims))}); "
                          f"expected one of {Y_NAMES} and one of {X_NAMES}")
    geographic = str(ydim).lower() in ("lat", "latitude")
    ds = ds.rename({ydim: "y", xdim: "x", **({tdim: "time"} if tdim and tdim != "time" else {})})
    if "time" not in ds.dims:
        when = np.datetime64(str(ds.attrs.get("datetime") or ds.attrs.get("date") or "1970-01-01"), "ns")
        ds = ds.expand_dims(time=[when])
    out: dict[str, xr.DataArray] = {}
    for name, var in ds.data_vars.items():
        if not {"y", "x"} <= set(var.dims) or var.dtype.kind not in "iufb":
            continue
        extra = [d for d in var.dims if d not in ("time", "y", "x")]
        if "time" not in var.dims:
            var = var.expand_dims(time=ds["time"].values)
        if len(extra) > 1:
            raise SourceError(f"variable {name} has more than one non-spatial dimension: {extra}")
        if extra:
            out.update(_split(str(name), var, str(extra[0]), several=len(ds.data_vars) > 1))
        else:
            out[str(name)] = var.transpose("time", "y", "x")
    if not out:
        raise SourceError("no numeric variable with spatial dimensions found in the store")
    return ds, out, geographic


def _split(name: str, var: xr.DataArray, dim: str, several: bool) -> dict[str, xr.DataArray]:
    labels = var[dim].values if dim in var.coords else np.arange(var.sizes[dim])
    out = {}
    for i, label in enumerate(labels):
        text = str(label.item() if hasattr(label, "item") else label)
        key = text if not text.lstrip("-").isdigit() else f"band{text}"
        out[f"{name}_{key}" if several else key] = var.isel({dim: i}).transpose("time", "y", "x")
    return out


def crs_from_attrs(attrs: dict[str, Any]) -> CRS | None:
    for key in ("crs_wkt", "spatial_ref", "crs", "proj4", "proj4text", "proj:wkt2", "proj:projjson"):
        value = attrs.get(key)
        if isinstance(value, (str, dict)) and value:
            try:
                return CRS.from_user_input(value)
            except Exception:
                continue
    for key in ("epsg", "epsg_code", "proj:epsg", "EPSG"):
        value = attrs.get(key)
        if value:
            return CRS.from_user_input(f"EPSG:{str(value).split(':')[-1]}")
    if "grid_mapping_name" in attrs:
        try:
            return CRS.from_cf(attrs)
        except Exception:
            return None
    return None


def detect_crs(ds: xr.Dataset, variables: dict[str, xr.DataArray], override: str | None,
               geographic: bool) -> CRS:
    if override:
        try:
            return CRS.from_user_input(override)
        except Exception as e:
            raise SourceError(f"--crs {override!r} is not a CRS pyproj knows: {e}") from None
    names = [v.encoding.get("grid_mapping") or v.attrs.get("grid_mapping") for v in variables.values()]
    for name in [*(n for n in names if n), *CRS_VARS]:
        if isinstance(name, str) and name in ds.variables:
            found = crs_from_attrs(dict(ds[name].attrs))
            if found:
                return found
    found = crs_from_attrs(dict(ds.attrs))
    if found:
        return found
    if geographic:
        return CRS.from_epsg(4326)
    raise SourceError("cannot find the store's CRS (no CF grid_mapping, spatial_ref or crs attribute); "
                      "pass it, e.g. --crs EPSG:32644")


def _regular(values: np.ndarray, axis: str) -> None:
    if len(values) < 2:
        raise SourceError(f"the {axis} axis needs at least 2 pixels")
    steps = np.diff(values.astype(np.float64))
    if np.any(np.abs(steps - steps.mean()) > 1e-3 * abs(steps.mean())):
        raise SourceError(f"the {axis} coordinates are not evenly spaced; only regular grids are supported")


def load_source(path: str, crs_override: str | None = None) -> Source:
    ds, variables, geographic = normalize(open_store(path))
    crs = detect_crs(ds, variables, crs_override, geographic)
    x, y = np.asarray(ds["x"].values, dtype=np.float64), np.asarray(ds["y"].values, dtype=np.float64)
    _regular(x, "x")
    _regular(y, "y")
    if x[1] < x[0]:
        variables = {k: v.isel(x=slice(None, None, -1)) for k, v in variables.items()}
        x = x[::-1]
    if y[1] > y[0]:  # north-up: rows from north to south
        variables = {k: v.isel(y=slice(None, None, -1)) for k, v in variables.items()}
        y = y[::-1]
    times = np.asarray(ds["time"].values)
    if times.dtype.kind != "M":
        raise SourceError("the time coordinate is not a date-time (CF units like 'days since ...' are needed)")
    src = Source(str(path), variables, times.astype("datetime64[ns]"), x, y, crs, dict(ds.attrs))
    _plan_grid(src)
    return src


def _plan_grid(src: Source) -> None:
    from rasterio.warp import calculate_default_transform

    if src.crs.to_epsg() == 3857:
        src.dst_transform, src.width, src.height = src.src_transform, len(src.src_x), len(src.src_y)
        return
    transform, width, height = calculate_default_transform(
        src.crs, "EPSG:3857", len(src.src_x), len(src.src_y), *src.src_bounds)
    src.dst_transform, src.width, src.height = transform, int(width), int(height)
