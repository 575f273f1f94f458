"""Exact integer literals in CQL2 filters.

The `cql2` parser reads every number as a 64-bit float, so an integer literal beyond 2^53 comes out rounded
(9007199254740993 becomes 9007199254740992.0) and `big = 9007199254740993` would match the wrong feature. The
literals are read again from what the client sent (the JSON value, or the cql2-text outside quoted strings
and identifiers) and put back, exactly, where the parsed expression holds their rounded value.
"""

from __future__ import annotations

import json
import re
from typing import Any

EXACT = 2**53  # integers below this magnitude are exact as floats (and 2**53 itself, but its neighbours round to it)
# quoted strings and identifiers (skipped), or an integer literal not part of a name or a decimal number
_TEXT_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|(?<![\w.])(-?\d+)(?![\w.])""")


def _json_integers(node: Any, out: list[int]) -> None:
    if isinstance(node, bool):
        return
    if isinstance(node, int) and abs(node) >= EXACT:
        out.append(node)
    elif isinstance(node, list):
        for n in node:
            _json_integers(n, out)
    elif isinstance(node, dict):
        for n in node.values():
            _json_integers(n, out)


def literal_integers(value: str | dict[str, Any]) -> list[int]:
    """The integer literals of 2^53 or more (in magnitude) in a filter as sent (cql2-json object or text, or cql2-text)."""
    out: list[int] = []
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return out
    if isinstance(value, str):
        out = [int(m.group(1)) for m in _TEXT_TOKEN.finditer(value) if m.group(1) is not None]
        return [n for n in out if abs(n) >= EXACT]
    _json_integers(value, out)
    return out


def restore_integers(node: Any, exact: list[int]) -> Any:
    """node (parsed cql2-json) with each float that is the rounding of one of `exact` replaced by that
    integer; when several literals round to the same float, they are taken in the order they were written."""
    if not exact:
        return node
    pending = list(exact)

    def walk(n: Any) -> Any:
        if isinstance(n, float) and n.is_integer() and abs(n) >= EXACT:
            match = next((i for i in pending if float(i) == n), None)
            if match is not None:
                pending.remove(match)
                return match
            return n
        if isinstance(n, list):
            return [walk(v) for v in n]
        if isinstance(n, dict):
            return {k: walk(v) for k, v in n.items()}
        return n

    return walk(node)
