"""Polish an approximate minimum to float64 precision with Newton's method (autograd Hessian).

Used once at import for minima without a closed form (himmelblau, six_hump_camel, ...), and by
`solve` where a minimum moves with a parameter (cliff).
"""
from __future__ import annotations

import torch

from .base import Fn


def polish(fn: Fn, x0: float, y0: float, steps: int = 60, **params: float) -> tuple[float, float]:
    """The stationary point of fn(x, y, **params) that Newton reaches from (x0, y0).

    Raises ValueError if it does not converge to a point with a positive definite Hessian,
    so a bad starting guess fails loudly at import instead of listing a saddle as a minimum.
    """
    p = torch.tensor([x0, y0], dtype=torch.float64)
    for _ in range(steps):
        g, h = _grad_hess(fn, p, params)
        step = torch.linalg.solve(h, g)  # (2,)
        p = p - step
        if float(step.abs().max()) <= 1e-15 * (1.0 + float(p.abs().max())):
            break
    g, h = _grad_hess(fn, p, params)
    if not (float(g.abs().max()) < 1e-9 and bool((torch.linalg.eigvalsh(h) > 0).all())):
        raise ValueError(f"Newton from ({x0}, {y0}) did not reach a minimum: at {p.tolist()} gradient {g.tolist()}")
    return float(p[0]), float(p[1])


def value(fn: Fn, x: float, y: float, **params: float) -> float:
    """fn at one point, in float64."""
    t = torch.tensor([x, y], dtype=torch.float64)
    return float(fn(t[0], t[1], **params))


def _grad_hess(fn: Fn, p: torch.Tensor, params: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient (2,) and Hessian (2, 2) of fn at p (2,)."""
    p = p.detach().requires_grad_(True)
    f = fn(p[0], p[1], **params)
    (g,) = torch.autograd.grad(f, p, create_graph=True)
    rows = [torch.autograd.grad(g[i], p, retain_graph=True)[0] for i in range(2)]
    return g.detach(), torch.stack(rows).detach()
