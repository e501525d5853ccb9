"""parse(text) -> Surface: a person's formula in x and y, made safe.

The text is read by Python's `ast` parser only (never eval/exec/compile), checked node by node
against a whitelist (grammar.py), compiled into closures over torch ops (compile.py) and
printed as LaTeX (latex.py). Anything outside the language raises FormulaError.
"""
from __future__ import annotations

import ast
import math

import torch

from .base import Surface
from .compile import build
from .grammar import MAX_T, FormulaError, check, to_ast
from .latex import to_latex

DEFAULT_BOUNDS = ((-3.0, 3.0), (-3.0, 3.0))


def parse(text: str, *, bounds=DEFAULT_BOUNDS, start=None) -> Surface:
    """The Surface of the formula `text`, e.g. "x**4 + y**2" or "sin(x) * cos(y)".

    Grammar: numbers (1, 2.5, 1e-3), x, y, t, pi, e, + - * / ** (^ means **), unary - and +,
    parentheses, and the functions sin cos tan exp log sqrt abs tanh sinh cosh.
    t is the step: 1 on the first update, 2 on the second, ... (1-based, as the step a rule sees);
    a formula in t is a time-varying (online) objective, `online` is True, and the map draws it at
    t = 1. t must be a whole number from 1 to grammar.MAX_T (ValueError otherwise).
    bounds default to [-3, 3]^2; start defaults to a point one sixth in from the top-left corner.
    Minima are unknown: minima == [] and min_value is None.
    """
    body = to_ast(text)
    check(body)
    node = build(body)
    online = uses(body, "t")
    in_xy = uses(body, "x") or uses(body, "y")
    bounds = check_bounds(bounds)
    (xmin, xmax), (ymin, ymax) = bounds
    if start is None:
        start = (xmin + (xmax - xmin) / 6, ymax - (ymax - ymin) / 6)
    start = (float(start[0]), float(start[1]))

    def fn(x: torch.Tensor, y: torch.Tensor, t=None) -> torch.Tensor:
        # x, y: Tensor[...] (broadcastable) -> Tensor[broadcast shape]; t: the step (None: 1)
        if isinstance(node, float):  # a constant: keep a (zero) gradient path to x and y
            out = (x + y) * 0.0 + node
        else:
            out = node(x, y, step_tensor(t, x))
            if not in_xy:  # a formula in t alone: the same (zero) gradient path
                out = (x + y) * 0.0 + out
        shape = torch.broadcast_shapes(x.shape, y.shape)
        return out if out.shape == shape else out.expand(shape)  # e.g. a formula in x only

    return Surface(
        name="custom", title="Custom formula", formula=to_latex(body), fn=fn, bounds=bounds,
        start=start, minima=[], min_value=None, about=f"Your formula: {text.strip()}", online=online,
    )


def uses(body: ast.expr, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(body))


def step_tensor(t, like: torch.Tensor) -> torch.Tensor:
    """t as a 0-dim tensor of like's dtype and device: a whole number from 1 to MAX_T (None: 1)."""
    if t is None:
        t = 1
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not (1 <= t <= MAX_T) or float(t) != int(t):
        raise ValueError(f"the step t must be a whole number from 1 to {MAX_T}, got {t!r}")
    return torch.tensor(float(t), dtype=like.dtype if like.is_floating_point() else torch.float64,
                        device=like.device)


def check_bounds(bounds) -> tuple[tuple[float, float], tuple[float, float]]:
    try:
        (xmin, xmax), (ymin, ymax) = ((float(a), float(b)) for a, b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be ((xmin, xmax), (ymin, ymax)), got {bounds!r}") from None
    if not all(map(math.isfinite, (xmin, xmax, ymin, ymax))) or not (xmin < xmax and ymin < ymax):
        raise ValueError(f"bounds must be finite with min < max, got {bounds!r}")
    return (xmin, xmax), (ymin, ymax)


__all__ = ["parse", "FormulaError"]
