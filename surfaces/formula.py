"""parse(text) -> Surface: a person's formula in x and y, made safe.

The text is read by Python's `ast` parser only (never eval/exec/compile), checked node by node
against a whitelist (grammar.py), compiled into closures over torch ops (compile.py) and
printed as LaTeX (latex.py). Anything outside the language raises FormulaError.
"""
from __future__ import annotations

import math

import torch

from .base import Surface
from .compile import build
from .grammar import FormulaError, check, to_ast
from .latex import to_latex

DEFAULT_BOUNDS = ((-3.0, 3.0), (-3.0, 3.0))


def parse(text: str, *, bounds=DEFAULT_BOUNDS, start=None) -> Surface:
    """The Surface of the formula `text`, e.g. "x**4 + y**2" or "sin(x) * cos(y)".

    Grammar: numbers (1, 2.5, 1e-3), x, y, pi, e, + - * / ** (^ means **), unary - and +,
    parentheses, and the functions sin cos tan exp log sqrt abs tanh sinh cosh.
    bounds default to [-3, 3]^2; start defaults to a point one sixth in from the top-left corner.
    Minima are unknown: minima == [] and min_value is None.
    """
    body = to_ast(text)
    check(body)
    node = build(body)
    bounds = check_bounds(bounds)
    (xmin, xmax), (ymin, ymax) = bounds
    if start is None:
        start = (xmin + (xmax - xmin) / 6, ymax - (ymax - ymin) / 6)
    start = (float(start[0]), float(start[1]))

    def fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # x, y: Tensor[...] (broadcastable) -> Tensor[broadcast shape]
        if isinstance(node, float):  # a constant: keep a (zero) gradient path to x and y
            out = (x + y) * 0.0 + node
        else:
            out = node(x, y)
        shape = torch.broadcast_shapes(x.shape, y.shape)
        return out if out.shape == shape else out.expand(shape)  # e.g. a formula in x only

    return Surface(
        name="custom", title="Custom formula", formula=to_latex(body), fn=fn, bounds=bounds,
        start=start, minima=[], min_value=None, about=f"Your formula: {text.strip()}",
    )


def check_bounds(bounds) -> tuple[tuple[float, float], tuple[float, float]]:
    try:
        (xmin, xmax), (ymin, ymax) = ((float(a), float(b)) for a, b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be ((xmin, xmax), (ymin, ymax)), got {bounds!r}") from None
    if not all(map(math.isfinite, (xmin, xmax, ymin, ymax))) or not (xmin < xmax and ymin < ymax):
        raise ValueError(f"bounds must be finite with min < max, got {bounds!r}")
    return (xmin, xmax), (ymin, ymax)


__all__ = ["parse", "FormulaError"]
