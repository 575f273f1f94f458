"""Feature and hybrid collections through STAC eyes: stac-api-validator and pystac-client on the live gateway.

Every feature served at /collections/{id}/items is also a STAC Item (and the page a STAC ItemCollection), and
/search of exactly one features collection searches its features. Two collections:

- FIELDS, a pure feature collection (uploaded over HTTP); half its features carry a `datetime` property, the
  others have no time of their own (STAC: datetime null, start/end_datetime = when the feature was written);
- HYBRID, a hybrid-like collection: features uploaded the same way, the collection's kind set to 'hybrid' and
  pgSTAC items standing for the cube's time slices (what /search returns for a hybrid). It is built without a
  Zarr cube and without the datacube extension on purpose: the offline schema mirror
  (../shared/tools/stac-offline) lacks the datacube extension schema, so a real cube collection cannot be
  validated offline. What is validated here is the hybrid's feature side (/items) and its pgSTAC side (/search).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb
from pystac_client import Client

from tests.conftest import AUTH
from tests.e2e.test_stac_validator import run_validator

FIELDS = "stac-validator-fields"
HYBRID = "stac-validator-hybrid"
CLASSES = ["core", "collections", "features", "item-search", "filter"]
AREA = {"type": "Polygon", "coordinates": [[[77.5, 16.5], [79.5, 16.5], [79.5, 18.5], [77.5, 18.5], [77.5, 16.5]]]}
N = 14
SLICES = 6


def parcel(i: int) -> dict:
    x, y = 78 + i * 0.05, 17 + i * 0.03
    props = {"crop": ["rice", "cotton", "maize"][i % 3], "ph": round(5.5 + i / 10, 1), "farmer": f"farmer-{i % 4}"}
    if i % 2 == 0:
        props["datetime"] = f"2025-06-{i + 1:02d}T06:00:00Z"
    return {"type": "Feature", "id": f"parcel-{i:02d}", "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + .02, y], [x + .02, y + .02], [x, y + .02],
                                                            [x, y]]]}}


def time_slice(i: int) -> dict:
    """A pgSTAC item standing for one time slice of the hybrid's cube."""
    return {"type": "Feature", "stac_version": "1.0.0", "stac_extensions": [], "id": f"{HYBRID}-2025-06-{i + 1:02d}",
            "collection": HYBRID, "bbox": [78, 17, 78.7, 17.42],
            "geometry": {"type": "Polygon", "coordinates": [[[78, 17], [78.7, 17], [78.7, 17.42], [78, 17.42], [78, 17]]]},
            "properties": {"datetime": f"2025-06-{i + 1:02d}T05:30:00Z"}, "assets": {}, "links": []}


def upload(client: httpx.Client, cid: str, title: str) -> None:
    client.delete(f"/collections/{cid}")
    body = {"type": "FeatureCollection", "features": [parcel(i) for i in range(N)],
            "collection": {"title": title, "description": f"{title}: field parcels"}}
    r = client.post(f"/collections/{cid}/features:upload", json=body)
    assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def collections(services) -> Iterator[str]:
    with httpx.Client(base_url=services.url, headers=AUTH, timeout=60) as client:
        upload(client, FIELDS, "Validator parcels")
        upload(client, HYBRID, "Validator hybrid")
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute("SET search_path = pgstac, public")  # pgSTAC's functions and triggers need it
        conn.execute("UPDATE data.collection_meta SET kind = 'hybrid' WHERE collection_id = %s", (HYBRID,))
        conn.execute("SELECT pgstac.create_items(%s)", (Jsonb([time_slice(i) for i in range(SLICES)]),))
        yield f"{services.url}/"
        conn.execute("DELETE FROM pgstac.collections WHERE id = ANY(%s)", ([FIELDS, HYBRID],))


def test_validator_on_a_feature_collection(services, collections):
    run_validator(services, FIELDS, CLASSES, AREA)


def test_validator_on_a_hybrid_collection(services, collections):
    run_validator(services, HYBRID, CLASSES, AREA)


def test_a_feature_is_a_stac_item_and_an_ogc_feature(http, collections, db):
    page = http.get(f"/collections/{FIELDS}/items", params={"limit": 3}).json()
    assert {link["rel"] for link in page["links"]} >= {"self", "root", "parent", "collection", "next"}
    assert (page["numberMatched"], page["numberReturned"]) == (N, 3)
    timed, untimed = page["features"][0], page["features"][1]     # parcel-00 has a datetime, parcel-01 none
    for item in (timed, untimed):
        assert item["type"] == "Feature" and item["stac_version"] == "1.0.0" and item["stac_extensions"] == []
        assert item["collection"] == FIELDS and item["assets"] == {}
        assert {link["rel"] for link in item["links"]} == {"self", "parent", "collection", "root"}
        x, y = item["geometry"]["coordinates"][0][0]
        assert item["bbox"] == pytest.approx([x, y, x + .02, y + .02])
    assert timed["properties"]["datetime"] == "2025-06-01T06:00:00Z" and "start_datetime" not in timed["properties"]
    written = db.execute("SELECT date_trunc('milliseconds', written_at) FROM data.features "
                         "WHERE collection_id = %s AND id = 'parcel-01'", (FIELDS,)).fetchone()[0]
    props = untimed["properties"]
    assert props["datetime"] is None and props["start_datetime"] == props["end_datetime"]
    assert props["start_datetime"].endswith("Z") and datetime.fromisoformat(props["start_datetime"]) == written
    # OGC property selection still returns exactly the selected properties
    one = http.get(f"/collections/{FIELDS}/items/parcel-01", params={"properties": "crop,ph"}).json()
    assert one["properties"] == {"crop": "cotton", "ph": 5.6} and one["stac_version"] == "1.0.0"
    # the fields extension: top-level members stay, properties as selected (STAC times only when asked for)
    found = http.get("/search", params={"collections": FIELDS, "ids": "parcel-00,parcel-01",
                                        "fields": "id,properties.crop,properties.datetime"}).json()["features"]
    assert [(f["id"], f["properties"]) for f in found] == [
        ("parcel-00", {"crop": "rice", "datetime": "2025-06-01T06:00:00Z"}),
        ("parcel-01", {"crop": "cotton", "datetime": None})]
    assert all(f["bbox"] and f["links"] for f in found)


def test_pystac_client_reads_a_feature_collection(collections):
    client = Client.open(collections)
    items = list(client.get_collection(FIELDS).get_items())
    assert sorted(item.id for item in items) == [f"parcel-{i:02d}" for i in range(N)]
    assert all(item.collection_id == FIELDS for item in items)
    search = client.search(collections=[FIELDS], limit=4)
    assert search.matched() == N and len(list(search.pages())) == 4
    assert len({item.id for item in search.items()}) == N
    rice = client.search(collections=[FIELDS], filter="crop = 'rice'", method="POST", limit=2)
    assert sorted(item.id for item in rice.items()) == [f"parcel-{i:02d}" for i in range(0, N, 3)]
    assert client.get_collection(FIELDS).get_item("parcel-05").properties["farmer"] == "farmer-1"


def test_pystac_client_reads_a_hybrid(collections):
    client = Client.open(collections)
    features = list(client.get_collection(HYBRID).get_items())
    assert len(features) == N and all(f.id.startswith("parcel-") for f in features)
    slices = list(client.search(collections=[HYBRID], limit=4).items())
    assert sorted(s.id for s in slices) == [time_slice(i)["id"] for i in range(SLICES)]
