"""Turn a checked formula AST into a tree of closures over torch ops, folding constants safely.

A compiled node is either a float (a constant subexpression, folded here with `math`, so a
tower like 9**9**9 fails fast instead of hanging) or a function (x, y, t) -> Tensor, t the step
(a 0-dim tensor of x's dtype; formula.py checks its range).
Only nodes that `grammar.check` accepted reach this module.
"""
from __future__ import annotations

import ast
import math
from collections.abc import Callable

import torch

from .grammar import FormulaError

MAX_CONSTANT = 1e300  # a folded constant beyond this is almost surely a mistake, and near float overflow
MAX_EXPONENT = 1000.0  # x**p with |p| larger overflows for any |x| > 2 and underflows for |x| < 0.5

Node = float | Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

TORCH_FUNCTIONS = {
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "exp": torch.exp, "log": torch.log,
    "sqrt": torch.sqrt, "abs": torch.abs, "tanh": torch.tanh, "sinh": torch.sinh, "cosh": torch.cosh,
}
MATH_FUNCTIONS = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "log": math.log,
    "sqrt": math.sqrt, "abs": abs, "tanh": math.tanh, "sinh": math.sinh, "cosh": math.cosh,
}
BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,  # tensor ** float, float ** tensor, tensor ** tensor: all torch.pow
}
MATH_BINARY = {**BINARY, ast.Pow: math.pow}  # math.pow raises instead of returning complex numbers


def build(node: ast.expr) -> Node:
    """The compiled form of a checked AST node (recursive; the grammar caps the depth)."""
    if isinstance(node, ast.Constant):
        return literal(node.value)
    if isinstance(node, ast.Name):
        return {"x": lambda x, y, t: x, "y": lambda x, y, t: y, "t": lambda x, y, t: t, "pi": math.pi,
                "e": math.e}[node.id]
    if isinstance(node, ast.UnaryOp):
        f = build(node.operand)
        if isinstance(node.op, ast.UAdd):
            return f
        return -f if isinstance(f, float) else (lambda x, y, t: -f(x, y, t))
    if isinstance(node, ast.BinOp):
        return build_binop(node)
    if isinstance(node, ast.Call):
        name = node.func.id
        f = build(node.args[0])
        if isinstance(f, float):
            return fold(MATH_FUNCTIONS[name], (f,), node)
        g = TORCH_FUNCTIONS[name]
        return lambda x, y, t: g(f(x, y, t))
    raise FormulaError(f"{type(node).__name__} is not allowed in a formula")  # unreachable after check()


def build_binop(node: ast.BinOp) -> Node:
    a, b = build(node.left), build(node.right)
    op = type(node.op)
    if isinstance(a, float) and isinstance(b, float):
        return fold(MATH_BINARY[op], (a, b), node)
    if op is ast.Pow and isinstance(b, float) and abs(b) > MAX_EXPONENT:
        raise FormulaError(f"the exponent in {snippet(node)} is too large (at most {MAX_EXPONENT:g} in size)")
    f = BINARY[op]
    if isinstance(a, float):
        return lambda x, y, t: f(a, b(x, y, t))
    if isinstance(b, float):
        return lambda x, y, t: f(a(x, y, t), b)
    return lambda x, y, t: f(a(x, y, t), b(x, y, t))


def literal(value: int | float) -> float:
    try:
        v = float(value)
    except OverflowError:
        v = math.inf
    if not abs(v) <= MAX_CONSTANT:  # 1e999 reads as inf, a 400-digit integer overflows float()
        shown = "" if math.isinf(v) else " " + snippet_text(str(value))
        raise FormulaError(f"the number{shown} is too large (max {MAX_CONSTANT:g})")
    return v


def fold(f: Callable[..., float], args: tuple[float, ...], node: ast.expr) -> float:
    """f(*args) for a constant subexpression, or a FormulaError naming it if it overflows or is undefined."""
    try:
        v = float(f(*args))
    except OverflowError:
        v = math.inf
    except ZeroDivisionError:
        raise FormulaError(f"division by zero in the constant {snippet(node)}") from None
    except ValueError:
        raise FormulaError(f"the constant {snippet(node)} is undefined (not a real number)") from None
    if math.isnan(v):
        raise FormulaError(f"the constant {snippet(node)} is undefined (not a number)")
    if not abs(v) <= MAX_CONSTANT:
        raise FormulaError(f"a constant like {snippet(node)} is too large (it exceeds {MAX_CONSTANT:g})")
    return v


def snippet(node: ast.expr) -> str:
    try:
        return snippet_text(ast.unparse(node))
    except (RecursionError, ValueError):  # never expected for checked trees; the message must not fail
        return "this part"


def snippet_text(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n] + "..."
