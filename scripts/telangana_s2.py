"""A synthetic but realistic Sentinel-2 L2A cube over Telangana, with the field parcels it shows.

78-79 E, 17-18 N in UTM 44N (EPSG:32644), the ten 10/20 m bands (B02-B08, B8A, B11, B12) plus the scene
classification (SCL), weekly from June to September 2025 (the kharif season). Bands are stored as L2A digital
numbers (uint16, `scale_factor` 0.0001, `add_offset` -0.1, `_FillValue` 0, processing baseline >= 04.00), so the
upload exercises CF decoding. Field parcels (rice, cotton, maize, red gram, soybean) green up after their
sowing week along a crop growth curve; lakes stay dark; monsoon clouds cover some pixels each week (SCL 8/9).
Pixels are coarse (500 m by default) so the demo stays small and fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
SOIL = np.array([0.10, 0.13, 0.17, 0.20, 0.22, 0.23, 0.25, 0.26, 0.33, 0.27])
VEG = np.array([0.03, 0.07, 0.035, 0.11, 0.30, 0.38, 0.42, 0.43, 0.20, 0.10])
WATER = np.array([0.06, 0.06, 0.04, 0.03, 0.02, 0.02, 0.015, 0.012, 0.005, 0.003])
CLOUD = np.array([0.55, 0.56, 0.58, 0.59, 0.60, 0.60, 0.61, 0.61, 0.40, 0.30])
CRS = "EPSG:32644"
CROPS = {  # crop: (sowing week index, weeks to peak, peak vegetation fraction)
    "rice": (3, 9, 0.95), "cotton": (1, 11, 0.85), "maize": (2, 8, 0.9), "red gram": (2, 12, 0.75),
    "soybean": (1, 7, 0.85),
}
FARMERS = ("Ramesh Reddy", "Lakshmi Devi", "Srinivas Rao", "Anjali Goud", "Venkatesh Yadav", "Padma Naidu",
           "Mahesh Kumar", "Sarita Bai", "Ravi Teja", "Kavitha Rani", "Naresh Chary", "Swathi Varma")


@dataclass
class Parcel:
    id: str
    crop: str
    farmer: str
    ph: float
    sowing: str
    ring_utm: list[tuple[float, float]]     # closed ring, EPSG:32644
    ring_wgs84: list[tuple[float, float]]   # closed ring, lon/lat
    centroid_wgs84: tuple[float, float]

    def feature(self) -> dict[str, Any]:
        return {"type": "Feature", "id": self.id,
                "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in self.ring_wgs84]]},
                "properties": {"crop": self.crop, "farmer": self.farmer, "ph": self.ph,
                               "sowing_date": self.sowing, "datetime": self.sowing}}


def weeks() -> list[date]:
    start, out = date(2025, 6, 2), []
    while start <= date(2025, 9, 29):
        out.append(start)
        start += timedelta(days=7)
    return out


def grid(pixel: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x ascending, y descending) covering 78-79 E, 17-18 N in UTM 44N."""
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    xs, ys = tr.transform([78, 79, 79, 78, 78.5, 78.5], [17, 17, 18, 18, 17, 18])
    x0, x1 = np.floor(min(xs) / pixel) * pixel, np.ceil(max(xs) / pixel) * pixel
    y0, y1 = np.floor(min(ys) / pixel) * pixel, np.ceil(max(ys) / pixel) * pixel
    return np.arange(x0 + pixel / 2, x1, pixel), np.arange(y1 - pixel / 2, y0, -pixel)


def growth(crop: str, week: int) -> float:
    """Vegetation fraction of a crop in a week: bare soil before sowing, a logistic rise, a late decline."""
    sow, to_peak, peak = CROPS[crop]
    if week < sow:
        return 0.05
    t = week - sow
    rise = peak / (1 + np.exp(-(t - to_peak / 2) / (to_peak / 6)))
    decline = max(0.0, (t - to_peak - 3) * 0.04)
    return float(max(0.05, rise - decline))


def make_parcels(x: np.ndarray, y: np.ndarray, pixel: float, rng: np.random.Generator, n: int = 36
                 ) -> list[Parcel]:
    from pyproj import Transformer

    tr = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    crops, out = list(CROPS), []
    for i in range(n):
        w, h = rng.uniform(4, 8) * pixel, rng.uniform(4, 8) * pixel
        cx = rng.uniform(x[0] + w, x[-1] - w)
        cy = rng.uniform(y[-1] + h, y[0] - h)
        ring = [(cx - w / 2, cy - h / 2), (cx + w / 2, cy - h / 2), (cx + w / 2, cy + h / 2),
                (cx - w / 2, cy + h / 2), (cx - w / 2, cy - h / 2)]
        lon, lat = tr.transform([p[0] for p in ring], [p[1] for p in ring])
        clon, clat = tr.transform(cx, cy)
        crop = crops[i % len(crops)]
        sowing = weeks()[CROPS[crop][0]].isoformat() + "T00:00:00Z"
        out.append(Parcel(f"parcel-{i + 1:03d}", crop, FARMERS[i % len(FARMERS)], round(rng.uniform(5.6, 8.2), 1),
                          sowing, ring, [(round(a, 7), round(b, 7)) for a, b in zip(lon, lat, strict=True)],
                          (float(clon), float(clat))))
    return out


def _blobs(shape: tuple[int, int], rng: np.random.Generator, count: int, radius: tuple[float, float]
           ) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    mask = np.zeros(shape, bool)
    for _ in range(count):
        cy, cx, r = rng.uniform(0, shape[0]), rng.uniform(0, shape[1]), rng.uniform(*radius)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
    return mask


def parcel_ids(x: np.ndarray, y: np.ndarray, parcels: list[Parcel]) -> np.ndarray:
    """(y, x) index of the parcel each pixel centre falls in, -1 outside every parcel."""
    ids = np.full((len(y), len(x)), -1)
    for i, p in enumerate(parcels):
        (xa, ya), (xb, yb) = p.ring_utm[0], p.ring_utm[2]
        ids[np.ix_((y > ya) & (y < yb), (x > xa) & (x < xb))] = i
    return ids


def scene(x: np.ndarray, y: np.ndarray, parcels: list[Parcel], seed: int) -> dict[str, np.ndarray]:
    """(time, y, x) reflectances per band and the SCL classes."""
    rng = np.random.default_rng(seed)
    shape, times = (len(y), len(x)), weeks()
    ids = parcel_ids(x, y, parcels)
    lakes = _blobs(shape, rng, 6, (2, 6)) & (ids < 0)
    base = np.clip(rng.normal(0.25, 0.06, shape), 0.05, 0.6)
    refl = np.zeros((len(BANDS), len(times), *shape), np.float32)
    scl = np.zeros((len(times), *shape), np.uint8)
    for t in range(len(times)):
        frac = np.clip(base + 0.02 * t, 0, 0.7)  # monsoon greening of the background
        for i, p in enumerate(parcels):
            frac[ids == i] = growth(p.crop, t)
        frac = np.clip(frac + rng.normal(0, 0.02, shape), 0, 1)
        cube = SOIL[:, None, None] * (1 - frac) + VEG[:, None, None] * frac
        cube[:, lakes] = WATER[:, None]
        clouds = _blobs(shape, rng, 3, (3, 10))
        cube[:, clouds] = CLOUD[:, None] + rng.normal(0, 0.02, (len(BANDS), int(clouds.sum())))
        refl[:, t] = cube + rng.normal(0, 0.004, cube.shape)
        scl[t] = np.where(clouds, 9, np.where(lakes, 6, np.where(frac > 0.3, 4, 5)))
    return {**{b: refl[i] for i, b in enumerate(BANDS)}, "SCL": scl}


def generate(path: Path, pixel: float = 500.0, seed: int = 2025) -> list[Parcel]:
    """Write the L2A cube to `path` (Zarr v3, CF grid_mapping) and return the field parcels."""
    import xarray as xr
    from pyproj import CRS as ProjCRS

    x, y = grid(pixel)
    parcels = make_parcels(x, y, pixel, np.random.default_rng(seed))
    data = scene(x, y, parcels, seed)
    cf = ProjCRS.from_user_input(CRS).to_cf()
    times = np.array([np.datetime64(d.isoformat() + "T05:30:00", "ns") for d in weeks()])
    variables: dict[str, Any] = {}
    for band in BANDS:
        dn = np.clip(np.round((data[band] + 0.1) * 10000), 1, 65535).astype(np.uint16)
        variables[band] = (("time", "y", "x"), dn, {"grid_mapping": "spatial_ref", "long_name": band,
                                                    "units": "1"})
    variables["SCL"] = (("time", "y", "x"), data["SCL"], {"grid_mapping": "spatial_ref",
                                                          "long_name": "Scene classification"})
    ds = xr.Dataset(variables, coords={"time": times, "y": y, "x": x, "spatial_ref": ((), 0, cf)},
                    attrs={"title": "Sentinel-2 L2A over Telangana, kharif 2025 (synthetic)",
                           "platform": "sentinel-2", "processing_baseline": "05.11"})
    enc: dict[str, Any] = {b: {"scale_factor": 0.0001, "add_offset": -0.1, "_FillValue": 0, "dtype": "uint16",
                               "chunks": (1, 128, 128)} for b in BANDS}
    enc["SCL"] = {"_FillValue": 0, "dtype": "uint8", "chunks": (1, 128, 128)}
    for band in BANDS:  # the values are already digital numbers: store them as they are
        ds[band] = ds[band].astype(np.float64) * 0.0001 - 0.1
    ds.to_zarr(path, mode="w", encoding=enc, consolidated=True)
    return parcels
