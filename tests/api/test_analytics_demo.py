"""The README's example on the demo: "NDVI per rice field, weekly" in one call on telangana-ndvi-2025."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import psycopg
import pytest
import xarray as xr

from raster_worker import blocks, timebins, zones
from scripts import demo_cube

CID = demo_cube.COLLECTION


@pytest.fixture(scope="module")
def demo(services, database_url: str) -> Iterator[None]:
    demo_cube.load(database_url, services.data_dir)
    yield
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET search_path = pgstac, public")  # pgstac's delete trigger needs it
        conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))


def test_ndvi_per_rice_field_weekly(demo, http, db):
    r = http.get(f"/api/v2/collections/{CID}/aggregate/time-series",
                 params={"groupby": "feature", "filter": "crop='rice'", "layers": "NDVI", "resolution": "P1W",
                         "aggregation": "mean,count"})
    assert r.status_code == 200, r.text
    doc = r.json()
    rice = db.execute("SELECT array_agg(id ORDER BY id) FROM data.features WHERE collection_id = %s "
                      "AND properties ->> 'crop' = 'rice'", (CID,)).fetchone()[0]
    assert [f["id"] for f in doc["features"]] == rice
    field = next(f for f in doc["features"] if f["pixels"] > 0)
    # numpy on the served arrays: the field's pixels (by centre), SCL-masked, per ISO week
    source = db.execute("SELECT api.analytics_zones(%s, %s::jsonb)", (CID, '{"groupby": "feature"}')).fetchone()[0]
    geometry = next(z["geometry"] for z in source if z["id"] == field["id"])
    path = db.execute("SELECT store_path FROM data.cubes WHERE collection_id = %s", (CID,)).fetchone()[0]
    ds = xr.open_zarr(path, consolidated=False)
    found = zones.zone_pixels(geometry, zones.Grid(ds["x"].values, ds["y"].values))
    rows = slice(found.row, found.row + found.mask.shape[0])
    cols = slice(found.col, found.col + found.mask.shape[1])
    ndvi = ds["NDVI"].values[:, rows, cols][:, found.mask].astype(np.float64)
    valid = blocks.valid_pixels("SCL", ds["SCL"].values[:, rows, cols][:, found.mask])
    ndvi[~valid] = np.nan
    times = ds["time"].values.astype("datetime64[s]")
    bins = timebins.make_bins(times, times.min(), times.max(), timebins.parse_duration("P1W"))
    assert len(field["steps"]) == len(bins)
    for b, step in enumerate(field["steps"]):
        vals = ndvi[bins.members == b]
        vals = vals[~np.isnan(vals)]
        assert step["values"]["NDVI"]["count"] == vals.size
        if vals.size:
            assert step["values"]["NDVI"]["mean"] == pytest.approx(vals.mean(), rel=1e-6)
