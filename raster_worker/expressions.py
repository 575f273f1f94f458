"""Band math, evaluated safely: an `ast` walk over a whitelist of operators and functions (never `eval`).

An expression names layers of a cube (``B08``, ``NDVI``, ``conc_chl``) and combines them with numbers:

    (B08 - B04) / (B08 + B04)
    2.5 * (B08 - B04) / (B08 + 6 * B04 - 7.5 * B02 + 1)
    where(SCL == 8, nan, NDVI)
    clip(log10(conc_chl), -1, 2)

Operators: ``+ - * / ** %``, unary ``-``/``+``, comparisons ``< <= > >= == !=`` (yield 1.0 / 0.0),
``&`` / ``|`` / ``~`` on comparisons. Constants: numbers, ``nan``, ``pi``, ``e``. Functions: see `FUNCTIONS`.
Anything else (attributes, subscripts, calls of other names, strings, lambdas ...) is rejected with
`ExpressionError` saying what is allowed.

Public API (stable; the analytics worker uses it too):

- ``parse(text) -> Expression``: validate once; ``Expression.names`` is the sorted tuple of layer names used.
- ``Expression.evaluate(arrays) -> np.ndarray``: arrays maps each name to a float array (same shape, NaN =
  nodata); the result is float32, NaN where any input is NaN or the maths is undefined (x/0, log(-1)).
- ``evaluate(text, arrays)``: both in one call.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

MAX_LENGTH = 500
MAX_NODES = 200


class ExpressionError(ValueError):
    """The expression is not valid band math (the message says what was wrong and what is allowed)."""


def _where(cond: Any, a: Any, b: Any) -> Any:
    return np.where(np.asarray(cond) != 0, a, b)


FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    # name: (function, min args, max args)
    "sqrt": (np.sqrt, 1, 1),
    "abs": (np.abs, 1, 1),
    "log": (np.log, 1, 1),
    "log10": (np.log10, 1, 1),
    "log2": (np.log2, 1, 1),
    "exp": (np.exp, 1, 1),
    "sin": (np.sin, 1, 1),
    "cos": (np.cos, 1, 1),
    "tan": (np.tan, 1, 1),
    "arctan": (np.arctan, 1, 1),
    "floor": (np.floor, 1, 1),
    "ceil": (np.ceil, 1, 1),
    "round": (np.round, 1, 1),
    "min": (np.fmin, 2, 2),
    "max": (np.fmax, 2, 2),
    "clip": (np.clip, 3, 3),
    "where": (_where, 3, 3),
    "isnan": (lambda a: np.isnan(a).astype(np.float32), 1, 1),
}

CONSTANTS = {"nan": np.float64(math.nan), "pi": np.float64(math.pi), "e": np.float64(math.e),
             "inf": np.float64(math.inf)}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Pow: operator.pow, ast.Mod: np.fmod,
    ast.BitAnd: lambda a, b: ((np.asarray(a) != 0) & (np.asarray(b) != 0)).astype(np.float32),
    ast.BitOr: lambda a, b: ((np.asarray(a) != 0) | (np.asarray(b) != 0)).astype(np.float32),
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos,
    ast.Invert: lambda a: (np.asarray(a) == 0).astype(np.float32),
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.Mod: "%",
            ast.BitAnd: "&", ast.BitOr: "|"}


def _allowed() -> str:
    return (f"allowed: layer names, numbers, {' '.join(_SYMBOLS.values())}, comparisons, "
            f"functions {', '.join(sorted(FUNCTIONS))}, constants {', '.join(sorted(CONSTANTS))}")


def _check(node: ast.AST, names: set[str]) -> None:
    """Raise ExpressionError unless every node of the tree is whitelisted; collect layer names."""
    if isinstance(node, ast.Expression):
        _check(node.body, names)
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"only numbers are allowed as constants, got {node.value!r}")
    elif isinstance(node, ast.Name):
        if node.id not in CONSTANTS:
            names.add(node.id)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check(node.left, names)
        _check(node.right, names)
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        _check(node.operand, names)
    elif isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        for child in (node.left, *node.comparators):
            _check(child, names)
    elif isinstance(node, ast.Call):
        _check_call(node, names)
    else:
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression; {_allowed()}")


def _check_call(node: ast.Call, names: set[str]) -> None:
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
        what = node.func.id if isinstance(node.func, ast.Name) else type(node.func).__name__
        raise ExpressionError(f"function {what!r} is not allowed; functions: {', '.join(sorted(FUNCTIONS))}")
    _, lo, hi = FUNCTIONS[node.func.id]
    if node.keywords or not lo <= len(node.args) <= hi:
        raise ExpressionError(f"{node.func.id}() takes {lo if lo == hi else f'{lo} to {hi}'} positional "
                              f"argument(s), got {len(node.args)}")
    for arg in node.args:
        _check(arg, names)


@dataclass(frozen=True)
class Expression:
    """A validated expression: its text, its syntax tree, and the layer names it reads."""

    text: str
    tree: ast.Expression
    names: tuple[str, ...]

    def evaluate(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """The result as float32 (NaN where undefined); `arrays` must hold every name in `names`."""
        missing = [n for n in self.names if n not in arrays]
        if missing:
            raise ExpressionError(f"expression needs layer(s) {', '.join(missing)}")
        with np.errstate(all="ignore"):
            out = np.asarray(_eval(self.tree.body, arrays), dtype=np.float32)
            shape = next((np.shape(a) for a in arrays.values()), ())
            out = np.broadcast_to(out, shape).copy() if out.shape != shape else out
            out[~np.isfinite(out)] = np.nan
        return out


def _eval(node: ast.AST, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(node, ast.Constant):
        return np.float64(node.value)
    if isinstance(node, ast.Name):
        return CONSTANTS[node.id] if node.id in CONSTANTS else arrays[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_eval(node.left, arrays), _eval(node.right, arrays))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, arrays))
    if isinstance(node, ast.Compare):
        result: Any = None
        left = _eval(node.left, arrays)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, arrays)
            part = _COMPARE[type(op)](left, right)
            result = part if result is None else np.logical_and(result, part)
            left = right
        return np.asarray(result).astype(np.float32)
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return FUNCTIONS[node.func.id][0](*(_eval(a, arrays) for a in node.args))
    raise ExpressionError(f"{type(node).__name__} is not allowed")  # unreachable after _check


@lru_cache(maxsize=256)
def parse(text: str) -> Expression:
    """Parse and validate; raises ExpressionError with a message fit for a 400 response."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"expression is not valid band math: {e.msg} at column {e.offset}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExpressionError(f"expression has more than {MAX_NODES} terms")
    names: set[str] = set()
    _check(tree, names)
    return Expression(text.strip(), tree, tuple(sorted(names)))


def evaluate(text: str, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """Parse (cached) and evaluate in one call."""
    return parse(text).evaluate(arrays)


__all__ = ["Expression", "ExpressionError", "FUNCTIONS", "evaluate", "parse"]
