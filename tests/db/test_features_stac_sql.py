"""SQL level: features as STAC Items (libs.feature_stac, libs.feature_stac_times) and data.features.written_at."""

import json
from datetime import datetime

import pytest

CID = "features-stac-sql"


@pytest.fixture()
def fields(db):
    db.execute("SET search_path = pgstac, public")
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))
    db.execute("SELECT api.features_collection_create(%s::jsonb, %s::jsonb)",
               (json.dumps({"id": CID}), json.dumps({"end_datetime_property": "harvest"})))
    body = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "timed", "geometry": {"type": "Point", "coordinates": [78.5, 17.25]},
         "properties": {"datetime": "2025-06-01", "crop": "rice"}},
        {"type": "Feature", "id": "span", "geometry": {"type": "Point", "coordinates": [78.6, 17.3]},
         "properties": {"datetime": "2025-06-01T00:00:00Z", "harvest": "2025-10-15T00:00:00Z"}},
        {"type": "Feature", "id": "timeless", "geometry": {"type": "LineString", "coordinates": [[78, 17], [79, 18]]},
         "properties": {"crop": "maize"}}]}
    db.execute("SELECT api.features_create(%s, %s::jsonb)", (CID, json.dumps(body)))
    yield CID
    db.execute("DELETE FROM pgstac.collections WHERE id = %s", (CID,))


def get(db, fid: str, params: dict | None = None) -> dict:
    return db.execute("SELECT api.feature_get(%s, %s, %s::jsonb)", (CID, fid, json.dumps(params or {}))).fetchone()[0]


def test_stac_members_and_times(db, fields):
    timed = get(db, "timed")
    assert timed["stac_version"] == "1.0.0" and timed["assets"] == {} and timed["collection"] == CID
    assert timed["bbox"] == [78.5, 17.25, 78.5, 17.25]
    assert timed["properties"] == {"crop": "rice", "datetime": "2025-06-01T00:00:00Z"}
    span = get(db, "span")["properties"]
    assert (span["datetime"], span["start_datetime"], span["end_datetime"]) == (
        "2025-06-01T00:00:00Z", "2025-06-01T00:00:00Z", "2025-10-15T00:00:00Z")
    line = get(db, "timeless")
    assert line["bbox"] == [78, 17, 79, 18] and line["properties"]["datetime"] is None
    written = db.execute("SELECT libs.rfc3339(date_trunc('milliseconds', written_at)) FROM data.features "
                         "WHERE collection_id = %s AND id = 'timeless'", (CID,)).fetchone()[0]
    assert line["properties"]["start_datetime"] == line["properties"]["end_datetime"] == written
    assert get(db, "timeless", {"query": {"properties": "crop"}})["properties"] == {"crop": "maize"}


def test_an_update_moves_written_at(db, fields):
    before = db.execute("SELECT written_at FROM data.features WHERE collection_id = %s AND id = 'timeless'",
                        (CID,)).fetchone()[0]
    db.execute("UPDATE data.features SET properties = properties || '{\"crop\": \"rice\"}' "
               "WHERE collection_id = %s AND id = 'timeless'", (CID,))
    after = db.execute("SELECT written_at FROM data.features WHERE collection_id = %s AND id = 'timeless'",
                       (CID,)).fetchone()[0]
    assert after > before
    shown = datetime.fromisoformat(get(db, "timeless")["properties"]["start_datetime"])
    assert shown == after.replace(microsecond=after.microsecond // 1000 * 1000)


def test_written_at_is_shown_to_the_millisecond(db):
    """GDAL (3.12 via pyogrio) rounds a fraction of .9995 s or more up to 1000 ms and fails to read the feature:
    the fallback times of a feature without its own time carry at most three fractional digits."""
    times = db.execute("SELECT libs.feature_stac_times(NULL, NULL, '2025-06-01 10:00:00.999876Z')").fetchone()[0]
    assert times == {"datetime": None, "start_datetime": "2025-06-01T10:00:00.999Z",
                     "end_datetime": "2025-06-01T10:00:00.999Z"}


def test_rfc3339_keeps_fractions_only_when_present(db):
    row = db.execute("SELECT libs.rfc3339('2025-06-01 05:30:00+05:30'), "
                     "libs.rfc3339('2025-06-01 00:00:00.25Z'), libs.rfc3339(NULL)").fetchone()
    assert row == ("2025-06-01T00:00:00Z", "2025-06-01T00:00:00.25Z", None)
