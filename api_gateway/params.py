"""Parsing and validating query parameters into plain values, with a clear 400 on anything malformed.

Shared by every route module: bbox, datetime, limit, numbers and lists.
"""

from __future__ import annotations

import functools
import json
import math
import re
from datetime import datetime
from typing import Any

from starlette.datastructures import QueryParams

from . import config, cql2_numbers
from .errors import BadRequest

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?)?$"
)


def parse_bbox(value: str | list[Any] | None, name: str = "bbox") -> list[float] | None:
    """4 or 6 finite numbers; minx > maxx is allowed (a box crossing the antimeridian); miny <= maxy."""
    if value is None or value == "":
        return None
    if not isinstance(value, (str, list)):
        raise BadRequest(f"{name} must be 4 or 6 numbers (an array, or comma-separated), got {value!r}"[:200])
    parts: list[Any] = value.split(",") if isinstance(value, str) else list(value)
    if len(parts) not in (4, 6):
        raise BadRequest(f"{name} must have 4 or 6 numbers (minx,miny,maxx,maxy), got {len(parts)}")
    try:
        nums = [float(p) for p in parts]
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be comma-separated numbers, got {value!r}") from None
    if not all(math.isfinite(n) for n in nums):
        raise BadRequest(f"{name} numbers must be finite")
    miny, maxy = (nums[1], nums[3]) if len(nums) == 4 else (nums[1], nums[4])
    if miny > maxy:
        raise BadRequest(f"{name}: miny ({miny}) is greater than maxy ({maxy})")
    if miny < -90 or maxy > 90:
        raise BadRequest(f"{name}: latitudes must be within [-90, 90]")
    return nums


def _check_instant(text: str) -> str:
    if not _RFC3339.match(text):
        raise BadRequest(f"datetime {text!r} is not an RFC 3339 date-time (e.g. 2025-06-01T00:00:00Z)")
    try:
        datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError:
        raise BadRequest(f"datetime {text!r} is not a valid date-time") from None
    return text


def parse_datetime(value: str | None) -> str | None:
    """An instant, or an interval 'a/b' with '..' or '' for an open end. Returns the value, validated."""
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    if "/" not in value:
        _check_instant(value)
        return value
    parts = value.split("/")
    if len(parts) != 2:
        raise BadRequest(f"datetime interval {value!r} must be 'start/end'")
    start, end = (p.strip() for p in parts)
    open_ = ("", "..")
    if start in open_ and end in open_:
        raise BadRequest("datetime interval must have at least one closed end")
    if start not in open_:
        _check_instant(start)
    if end not in open_:
        _check_instant(end)
    if start not in open_ and end not in open_:
        a = datetime.fromisoformat(start.upper().replace("Z", "+00:00"))
        b = datetime.fromisoformat(end.upper().replace("Z", "+00:00"))
        if a.tzinfo is None:
            a = a.replace(tzinfo=b.tzinfo)
        if b.tzinfo is None:
            b = b.replace(tzinfo=a.tzinfo)
        if a > b:
            raise BadRequest(f"datetime interval {value!r} ends before it starts")
    return value


def parse_limit(value: Any, default: int | None = None, maximum: int | None = None) -> int:
    """A positive integer; values above the configured maximum are clamped, never rejected."""
    default = config.DEFAULT_LIMIT if default is None else default
    maximum = config.MAX_LIMIT if maximum is None else maximum
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"limit must be a positive integer, got {value!r}") from None
    if isinstance(value, float) and not float(value).is_integer():
        raise BadRequest(f"limit must be a positive integer, got {value!r}")
    if n < 1:
        raise BadRequest(f"limit must be a positive integer, got {n}")
    return min(n, maximum)


def parse_list(value: str | list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, (str, list)) or not all(isinstance(v, (str, int, float)) for v in value):
        raise BadRequest(f"expected a list of names (an array of strings, or comma-separated), got {value!r}"[:200])
    items = value.split(",") if isinstance(value, str) else value
    out = [str(v).strip() for v in items if str(v).strip()]
    return out or None


def parse_json(value: str, name: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        raise BadRequest(f"{name} is not valid JSON: {e}") from None


def reject_unknown(query: QueryParams, allowed: set[str], where: str) -> None:
    unknown = sorted(set(query.keys()) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter(s) for {where}: {', '.join(unknown)}; "
                         f"allowed: {', '.join(sorted(allowed))}")


CRS84 = {"http://www.opengis.net/def/crs/OGC/1.3/CRS84", "https://www.opengis.net/def/crs/OGC/1.3/CRS84",
         "http://www.opengis.net/def/crs/EPSG/0/4326", "EPSG:4326", "OGC:CRS84"}


def parse_filter(value: str | dict[str, Any] | None, lang: str | None = None,
                 crs: str | None = None) -> dict[str, Any] | None:
    """A CQL2 filter (text or JSON) as validated cql2-json, the one form the database accepts.

    Parsed with the `cql2` package (it parses every example of the CQL2 standard).
    """
    import cql2  # imported here: a compiled module, only needed by routes that filter

    if crs and crs not in CRS84:
        raise BadRequest(f"filter-crs {crs!r} is not supported; use http://www.opengis.net/def/crs/OGC/1.3/CRS84")
    if lang not in (None, "", "cql2-text", "cql2-json", "cql-text"):
        raise BadRequest(f"filter-lang {lang!r} is not supported; use cql2-text or cql2-json")
    if lang == "cql-text" and isinstance(value, str):
        value, lang = draft_cql_text(value), "cql2-text"
    if value is None or value == "" or value == {}:
        return None
    try:
        if isinstance(value, dict):
            expr = cql2.Expr(value)
        elif lang == "cql2-json" or (lang in (None, "") and value.lstrip().startswith("{")):
            expr = cql2.parse_json(value)
        else:
            expr = cql2.parse_text(value)
        out: dict[str, Any] = unwrap_lone_and_or(
            cql2_numbers.restore_integers(expr.to_json(), cql2_numbers.literal_integers(value)))
        if not isinstance(value, str) or lang == "cql2-json" or value.lstrip().startswith("{"):
            # cql2-text that parsed is well-formed by construction (the grammar admits nothing else);
            # JSON input can still be shaped wrong ({"op": "=", "args": [1]}), so only it is validated.
            _validate_cql2(json.dumps(out, sort_keys=True))
    except Exception as e:  # cql2 raises a bare Exception for JSON that matches no CQL2 expression
        raise BadRequest(f"filter is not valid CQL2: {str(e).strip()}") from None
    _check_condition(out)
    return out


def _check_condition(node: Any) -> None:
    """Where CQL2 needs a condition (the filter, the arguments of and/or/not), a bare property or value is no
    condition, though cql2-text parses `filter=abc` and `abc AND x=1` (pgSTAC would put `abc` in SQL as is)."""
    if isinstance(node, bool):
        return
    if isinstance(node, dict) and isinstance(node.get("op"), str):
        if node["op"].lower() in ("and", "or", "not"):
            for arg in node.get("args") or []:
                _check_condition(arg)
        return
    raise BadRequest(f"filter is not valid CQL2: {json.dumps(node)[:100]} is not a condition; "
                     "compare it with something (for example: abc = true, abc IS NULL)")


def unwrap_lone_and_or(node: Any) -> Any:
    """`{"op": "and"|"or", "args": [x]}` -> x, at any depth. The CQL2 schema asks for two or more args, but STAC
    Browser wraps even a single filter in an `and` (its "match all filters" over a list of one): it means x."""
    if isinstance(node, list):
        return [unwrap_lone_and_or(n) for n in node]
    if not isinstance(node, dict):
        return node
    args = node.get("args")
    if str(node.get("op", "")).lower() in ("and", "or") and isinstance(args, list) and len(args) == 1:
        return unwrap_lone_and_or(args[0])
    return {k: unwrap_lone_and_or(v) for k, v in node.items()}


_ILIKE = re.compile(r'("(?:[^"]|"")+"|[A-Za-z_][\w.:]*)\s+ILIKE\s+$', re.IGNORECASE)


def draft_cql_text(text: str) -> str:
    """filter-lang=cql-text, the drafts' name of CQL2 text (what GDAL's OAPIF driver sends): CQL2 text, plus the
    drafts' `name ILIKE 'pattern'`, which CQL2 writes CASEI(name) LIKE CASEI('pattern'). Read outside string
    literals only."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "'":
            out.append(text[i])
            i += 1
            continue
        end = i + 1
        while end < len(text) and not (text[end] == "'" and text[end + 1:end + 2] != "'"):
            end += 2 if text[end] == "'" else 1
        literal = text[i:end + 1]
        before = "".join(out)
        m = _ILIKE.search(before)
        if m:
            out = [before[:m.start()], f"CASEI({m.group(1)}) LIKE CASEI({literal})"]
        else:
            out.append(literal)
        i = end + 1
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _validate_cql2(canonical_json: str) -> None:
    """cql2's JSON Schema validation, remembered per expression: cql2 0.6 compiles its schema on every
    validate() (about 50 ms), while parsing takes microseconds. Map clients repeat the same filter on every
    tile and page, so each distinct expression pays once. Invalid expressions raise and are not cached."""
    import cql2

    cql2.parse_json(canonical_json).validate()


def parse_sortby(value: str | list[Any] | None) -> list[dict[str, str]] | None:
    """'+a,-b,c' (GET) or [{"field": "a", "direction": "asc"}] (POST) -> the POST form."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        out = []
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            direction = "desc" if part.startswith("-") else "asc"
            field = part.lstrip("+-").strip()
            if not field:
                raise BadRequest(f"sortby term {part!r} has no field name")
            out.append({"field": field, "direction": direction})
        return out or None
    if not isinstance(value, list):
        raise BadRequest("sortby must be a list of {field, direction} objects")
    for term in value:
        if not isinstance(term, dict) or not isinstance(term.get("field"), str) or not term["field"]:
            raise BadRequest(f"sortby term {term!r} must be an object with a 'field'")
        direction = str(term.get("direction", "asc")).lower()
        if direction not in ("asc", "desc"):
            raise BadRequest(f"sortby direction {term.get('direction')!r} must be 'asc' or 'desc'")
        term["direction"] = direction
    return value


def parse_fields(value: str | dict[str, Any] | None) -> dict[str, list[str]] | None:
    """'a,-b,+c' (GET) or {"include": [...], "exclude": [...]} (POST) -> the POST form."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        include, exclude = [], []
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            (exclude if part.startswith("-") else include).append(part.lstrip("+-"))
        return {"include": include, "exclude": exclude}
    if not isinstance(value, dict) or any(k not in ("include", "exclude") for k in value):
        raise BadRequest("fields must be an object with 'include' and/or 'exclude' lists")
    for k, v in value.items():
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise BadRequest(f"fields.{k} must be a list of strings")
    return {"include": value.get("include", []), "exclude": value.get("exclude", [])}
