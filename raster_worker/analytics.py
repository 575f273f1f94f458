"""Raster worker routes: time series and summary statistics of cube layers over zones.

The gateway has validated the parameters and asked the database where the cube is (`source`) and which
zones to aggregate over (`zones`: ids and GeoJSON geometries in EPSG:3857). This module turns the request
into an `aggregate.Query`, runs it off the event loop and writes the answer as JSON or CSV.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import aggregate, stats, timebins

SUMMARY_STATS = ["count", "min", "max", "mean", "std"]
DEFAULT_PERCENTILES = [2.0, 25.0, 50.0, 75.0, 98.0]


def instant(text: str | None) -> np.datetime64 | None:
    """An RFC 3339 date-time (or date) -> naive UTC datetime64[s]."""
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("z", "Z"))
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(value, "s")


def iso(t: np.datetime64) -> str:
    return str(np.asarray(t).astype("datetime64[s]")) + "Z"


def percentile_name(q: float) -> str:
    return f"p{q:g}"


def _spec(body: dict[str, Any], aggregation: list[str]) -> stats.Spec:
    wanted = [stats.percentile_of(a) for a in aggregation]
    percentiles = tuple(dict.fromkeys(q for q in wanted if q is not None))
    bins = body.get("bins")
    if isinstance(bins, list):
        return stats.Spec(percentiles, 0, tuple(float(b) for b in bins))
    return stats.Spec(percentiles, int(bins or 0))


def query_of(body: dict[str, Any], summary: bool) -> tuple[aggregate.Query, list[str]]:
    """The request body -> (query, the aggregation names to report)."""
    if summary:
        aggregation = SUMMARY_STATS + [percentile_name(q) for q in body.get("percentiles", DEFAULT_PERCENTILES)]
    else:
        aggregation = [stats.check_aggregation(a) for a in body.get("aggregation") or ["mean"]]
    start, end = (body.get("datetime") or [None, None])[:2]
    resolution = None if summary else timebins.parse_duration(body.get("resolution") or "P1D")
    q = aggregate.Query(source=body["source"], zones=body.get("zones") or [], layers=body.get("layers") or [],
                        expression=body.get("expression") or None, start=instant(start), end=instant(end),
                        step=resolution, spec=_spec(body, aggregation), mask=str(body.get("mask") or "auto"))
    if not q.names:
        raise aggregate.RequestError(400, "name at least one layer (layers=) or an expression (expression=)")
    return q, aggregation


def _row(result: aggregate.Result, name: str, b: int, z: int | None, width: int) -> np.ndarray:
    if z is None:
        row = np.full(width, np.nan)
        row[0] = 0
        return row
    return result.table[name][b, z]


def steps(result: aggregate.Result, q: aggregate.Query, aggregation: list[str], z: int | None) -> list[Any]:
    """The time steps of one zone (`z`: its position among the zones holding pixels, None if none)."""
    out = []
    for b in range(len(result.bins)):
        values = {n: stats.aggregations(_row(result, n, b, z, q.spec.width), aggregation, q.spec)
                  for n in q.names}
        out.append({"start": iso(result.bins.starts[b]), "end": iso(result.bins.ends[b]),
                    "acquisitions": int(result.acquisitions[b]), "values": values})
    return out


def summaries(result: aggregate.Result, q: aggregate.Query, aggregation: list[str], z: int | None) -> Any:
    out = {}
    for n in q.names:
        row = _row(result, n, 0, z, q.spec.width)
        values = stats.aggregations(row, aggregation, q.spec)
        values["histogram"] = stats.histogram(row, q.spec)
        out[n] = values
    return out


def zone_positions(result: aggregate.Result) -> list[int | None]:
    """For each zone of the request, its position among the zones holding pixels (None: it holds none)."""
    where = {i: k for k, i in enumerate(result.selection.selected)}
    return [where.get(i) for i in range(len(result.selection.ids))]


def document(body: dict[str, Any], result: aggregate.Result, q: aggregate.Query, aggregation: list[str],
             summary: bool) -> dict[str, Any]:
    per_zone = summaries if summary else steps
    key = "statistics" if summary else "steps"
    doc: dict[str, Any] = {
        "collection": body.get("collection"),
        "datetime": f"{iso(result.bins.starts[0])}/{iso(result.bins.ends[-1])}",
        "layers": q.names,
        "aggregation": aggregation,
        "pixel_selection": "centre",
    }
    if not summary:
        doc["resolution"] = q.step.iso if q.step else None
    positions = zone_positions(result)
    if body.get("groupby") == "feature":
        doc["features"] = [{"id": zid, "pixels": n, key: per_zone(result, q, aggregation, z)}
                           for zid, n, z in zip(result.selection.ids, result.selection.pixels, positions)]
    else:
        doc["pixels"] = result.selection.pixels[0]
        doc["acquisitions"] = int(result.acquisitions.sum())
        doc[key] = per_zone(result, q, aggregation, positions[0])
    doc["links"] = body.get("links") or []
    return doc


def _cell(value: Any) -> Any:
    return "" if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def to_csv(doc: dict[str, Any], summary: bool) -> str:
    """Long form: one row per (feature,) time step and layer; empty cells where there is no value."""
    grouped = "features" in doc
    stat_names = [a for a in doc["aggregation"] if a != "count"]
    head = (["feature_id"] if grouped else []) + ([] if summary else ["start", "end", "acquisitions"])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*head, "layer", "count", *stat_names])
    zones = doc["features"] if grouped else [doc]
    for zone in zones:
        prefix = [zone["id"]] if grouped else []
        if summary:
            for name, values in zone["statistics"].items():
                writer.writerow([*prefix, name, values["count"], *(_cell(values[s]) for s in stat_names)])
            continue
        for step in zone["steps"]:
            for name, values in step["values"].items():
                writer.writerow([*prefix, step["start"], step["end"], step["acquisitions"], name,
                                 values["count"], *(_cell(values[s]) for s in stat_names)])
    return buf.getvalue()


def error(status: int, description: str, **extra: Any) -> JSONResponse:
    code = {400: "BadRequest", 413: "PayloadTooLarge"}.get(status, "Error")
    return JSONResponse({"code": code, "description": description, **extra}, status_code=status)


def answer(body: dict[str, Any], summary: bool) -> Response:
    q, aggregation = query_of(body, summary)
    result = aggregate.run(q, single=body.get("groupby") != "feature")
    doc = document(body, result, q, aggregation, summary)
    if body.get("format") == "csv":
        return Response(to_csv(doc, summary), media_type="text/csv; charset=utf-8")
    return Response(json.dumps(doc, allow_nan=False), media_type="application/json")


async def _handle(request: Request, summary: bool) -> Response:
    try:
        body = await request.json()
    except ValueError:
        return error(400, "the request body must be JSON")
    try:
        return await run_in_threadpool(answer, body, summary)
    except aggregate.RequestError as e:
        return error(e.status, e.description, **e.extra)
    except (stats.StatError, timebins.DurationError) as e:
        return error(400, str(e))
    except (KeyError, TypeError, ValueError) as e:
        return error(400, f"malformed analytics request: {e}")


async def time_series(request: Request) -> Response:
    return await _handle(request, summary=False)


async def summary(request: Request) -> Response:
    return await _handle(request, summary=True)


routes: list[BaseRoute] = [
    Route("/analytics/time-series", time_series, methods=["POST"]),
    Route("/analytics/summary", summary, methods=["POST"]),
]
