"""Print a checked formula AST as LaTeX, with only the parentheses the meaning needs."""
from __future__ import annotations

import ast

# Binding strength: higher binds tighter. A fraction is not an atom (it needs parentheses as the
# base of a power) but needs none next to + - * or a unary minus.
SUM, PRODUCT, UNARY, FRACTION, POWER, ATOM = 1, 2, 3, 4, 5, 6

NAMES = {"x": "x", "y": "y", "t": "t", "pi": r"\pi", "e": "e"}
FUNCTIONS = {"sin": r"\sin", "cos": r"\cos", "tan": r"\tan", "exp": r"\exp", "log": r"\log",
             "tanh": r"\tanh", "sinh": r"\sinh", "cosh": r"\cosh"}


def to_latex(node: ast.expr) -> str:
    return latex(node)[0]


def latex(node: ast.expr) -> tuple[str, int]:
    """(LaTeX, binding strength) of a node; recursive, the grammar caps the depth."""
    if isinstance(node, ast.Constant):
        return number(node.value), ATOM
    if isinstance(node, ast.Name):
        return NAMES[node.id], ATOM
    if isinstance(node, ast.Call):
        name, (arg, _) = node.func.id, latex(node.args[0])
        if name == "sqrt":
            return rf"\sqrt{{{arg}}}", ATOM
        if name == "abs":
            return rf"\left|{arg}\right|", ATOM
        return rf"{FUNCTIONS[name]}\left({arg}\right)", ATOM
    if isinstance(node, ast.UnaryOp):
        s, p = latex(node.operand)
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return sign + (paren(s) if p in (SUM, UNARY) else s), UNARY
    # BinOp
    (a, pa), (b, pb) = latex(node.left), latex(node.right)
    op = type(node.op)
    if op is ast.Pow:  # Python's ** is right-associative: the base is wrapped unless it is an atom
        return f"{paren(a) if pa < ATOM else a}^{{{b}}}", POWER
    if op is ast.Div:
        return rf"\frac{{{a}}}{{{b}}}", FRACTION
    if op is ast.Mult:
        left = paren(a) if pa < PRODUCT else a
        right = paren(b) if pb < PRODUCT or pb == UNARY else b
        return rf"{left} \cdot {right}", PRODUCT
    right = paren(b) if pb == UNARY or (op is ast.Sub and pb == SUM) else b
    return f"{a} {'+' if op is ast.Add else '-'} {right}", SUM


def paren(s: str) -> str:
    return rf"\left({s}\right)"


def number(v: int | float) -> str:
    """12 -> '12', 0.5 -> '0.5', 1e-3 -> '1 \\cdot 10^{-3}'."""
    v = float(v)
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    text = repr(v)
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \cdot 10^{{{int(exponent)}}}"
    return text
