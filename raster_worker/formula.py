"""Band math for analytics requests, parsed with `ast` and evaluated node by node (never `eval`).

Stand-in until the cubes team's `raster_worker/expressions.py` lands: numbers, layer names,
+ - * / **, unary minus, parentheses and the functions sqrt, abs, log, exp.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

MAX_LENGTH = 500
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_FUNCTIONS: dict[str, Callable[[Any], Any]] = {"sqrt": np.sqrt, "abs": np.abs, "log": np.log, "exp": np.exp}


class FormulaError(ValueError):
    """An expression this module does not accept."""


def parse(expression: str) -> ast.expr:
    if not expression or len(expression) > MAX_LENGTH:
        raise FormulaError(f"expression must be 1 to {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as e:
        raise FormulaError(f"expression {expression!r} is not valid band math: {e.msg}") from None
    names(tree.body)  # validates every node
    return tree.body


def names(node: ast.expr) -> set[str]:
    """The layer names an expression uses; raises FormulaError on anything but allowed nodes."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return set()
    if isinstance(node, ast.Name):
        return set() if node.id in _FUNCTIONS else {node.id}
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return names(node.left) | names(node.right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return names(node.operand)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
            and len(node.args) == 1 and not node.keywords):
        return names(node.args[0])
    raise FormulaError(f"expression element {ast.unparse(node)!r} is not allowed: use layer names, numbers, "
                       f"+ - * / **, parentheses and {', '.join(sorted(_FUNCTIONS))}()")


def evaluate(node: ast.expr, env: Mapping[str, Any]) -> Any:
    """The value of a parsed expression with layer names bound to arrays (numpy, dask or xarray)."""
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](evaluate(node.left, env), evaluate(node.right, env))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](evaluate(node.operand, env))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _FUNCTIONS[node.func.id](evaluate(node.args[0], env))
    raise FormulaError(f"cannot evaluate {ast.unparse(node)!r}")
