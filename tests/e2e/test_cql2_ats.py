"""The CQL2 standard's abstract test suite, on its own test dataset (Natural Earth, three feature collections).

Every row of ../shared/testdata/cql2/ats_expected_counts.json (predicate -> expected number of features) runs
through the same path as an HTTP request: the gateway's parser (`api_gateway.params.parse_filter`, cql2-text to
cql2-json) and `api.features_list` (numberMatched). The standard's example expressions (text and JSON) all parse
to the same JSON and run against the data. Known errata of the standard are listed in ERRATA.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from api_gateway.errors import BadRequest
from api_gateway.params import parse_filter
CQL2 = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "cql2"
LAYERS = ["ne_110m_admin_0_countries", "ne_110m_populated_places_simple", "ne_110m_rivers_lake_centerlines"]
PREFIX = "ats-"
# opengeospatial/ogcapi-features#1011: the standard's counts for these ACCENTI + LIKE rows are wrong.
ERRATA = {
    "ACCENTI(name) LIKE accenti('Ch%')": 3,
    "ACCENTI(CASEI(name)) LIKE accenti(casei('Chiș%'))": 1,
    "ACCENTI(CASEI(name)) LIKE accenti(casei('cHis%'))": 1,
}
COMBINATION = "(NOT ({p2}) AND {p1}) OR ({p3} and {p4}) or not ({p1} OR {p4})"
# Example expressions that call functions the standard leaves to each server (avg, Buffer, Foo, Bar):
# they parse, and the server answers with a 400 naming the function.
CUSTOM_FUNCTIONS = {"clause6_01", "clause6_02b", "clause7_18", "example68", "example69"}


def _rows() -> list[tuple[str, str, int]]:
    path = CQL2 / "ats_expected_counts.json"
    if not path.exists():
        return []
    out = []
    for row in json.loads(path.read_text()):
        if "p1" in row:
            predicate = COMBINATION.format(**{k: row[k] for k in ("p1", "p2", "p3", "p4")})
            out.append(("ne_110m_populated_places_simple", predicate, row["expected"]))
        else:
            predicate = row["Predicate"]
            out.append((row["Data Source"], predicate, ERRATA.get(predicate, row["expected"])))
    return out


def _examples() -> list[str]:
    folder = CQL2 / "standard" / "schema" / "examples" / "text"
    return sorted(p.stem for p in folder.glob("*.txt")) if folder.exists() else []


@pytest.fixture(scope="module")
def ats_db(database_url: str) -> Iterator[psycopg.Connection]:
    """The three layers loaded once, as feature collections ats-<layer>, through api.features_upload."""
    if not (CQL2 / "geojson").exists():
        pytest.skip(f"shared test data not found: {CQL2 / 'geojson'}")
    with psycopg.connect(database_url, autocommit=True) as conn:
        for layer in LAYERS:
            body = json.loads((CQL2 / "geojson" / f"{layer}.geojson").read_text())
            conn.execute("SELECT api.features_upload(%s, %s, %s)",
                         (PREFIX + layer, Jsonb(body), Jsonb({"force": True})))
        yield conn
        conn.execute("SET search_path TO pgstac, public")
        conn.execute("DELETE FROM pgstac.collections WHERE id LIKE 'ats-%'")


def matched(conn: psycopg.Connection, layer: str, filter_json: dict[str, Any] | None) -> int:
    params = {"limit": 1, "filter": filter_json, "query": {}}
    doc = conn.execute("SELECT api.features_list(%s, %s)", (PREFIX + layer, Jsonb(params))).fetchone()[0]
    return int(doc["numberMatched"])


@pytest.mark.parametrize(("layer", "predicate", "expected"), _rows(), ids=lambda v: str(v)[:80])
def test_ats_predicate_count(ats_db: psycopg.Connection, layer: str, predicate: str, expected: int) -> None:
    filter_json = parse_filter(predicate, "cql2-text")
    assert matched(ats_db, layer, filter_json) == expected, predicate


def test_ats_rows_were_read() -> None:
    rows = _rows()
    if not rows:
        pytest.skip("ats_expected_counts.json not found")
    assert len(rows) == 351


@pytest.mark.parametrize("name", _examples())
def test_standard_example_parses_and_runs(ats_db: psycopg.Connection, name: str) -> None:
    folder = CQL2 / "standard" / "schema" / "examples"
    from_text = parse_filter((folder / "text" / f"{name}.txt").read_text().strip(), "cql2-text")
    base = name.split("-")[0]  # exampleNN-alt01.txt: another text form of exampleNN.json
    from_json = parse_filter(json.loads((folder / "json" / f"{base}.json").read_text()), "cql2-json")
    assert from_text == from_json
    sql = "SELECT libs.cql2_to_sql(%s)"
    if name in CUSTOM_FUNCTIONS:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown function|cannot use"):
            ats_db.execute(sql, (Jsonb(from_json),))
        return
    # Run without the queryables check: the examples name properties of other datasets (eo:cloud_cover...),
    # which then read as absent (NULL) values.
    count = ats_db.execute("SELECT libs.features_count(%s, %s, false)",
                           (PREFIX + LAYERS[0], Jsonb(from_json))).fetchone()[0]
    assert count >= 0


def test_unknown_property_is_a_400_naming_it(ats_db: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown property: nosuch"):
        matched(ats_db, "ne_110m_populated_places_simple", parse_filter("nosuch = 1 AND name = 'x'"))


def test_malformed_filter_is_a_400() -> None:
    with pytest.raises(BadRequest, match="not valid CQL2"):
        parse_filter("name = = 'x'")


def test_examples_were_found() -> None:
    if not (CQL2 / "standard").exists():
        pytest.skip("shared test data not found")
    assert len(_examples()) > 100
    assert Path(CQL2 / "standard" / "schema" / "examples" / "json").exists()
