"""Sharpness: the top (largest) eigenvalue of the Hessian, by power iteration on Hessian-vector products.

    top_eigenvalue(hvp, v0, iters) -> (...,): one eigenvalue per row

hvp(v) returns H v for v shaped like the parameters (..., D): rows are independent models (their
Hessians act on the last dimension), as everywhere in this project: a surface's (N, 2) points, a
training model's flat (P,) buffer. Two passes of `iters` steps each, so the answer is the largest
eigenvalue itself and not the one largest in size (a saddle's negative curvature can be larger):
  1. power iteration on H gives rho = ||H v|| / ||v|| -> max_i |lambda_i| (exact at once where
     the top two are +-lambda, where the Rayleigh quotient would stall);
  2. power iteration on H + rho I from v0 again, whose eigenvalues lambda_i + rho are >= 0, gives
     its top one by the Rayleigh quotient: lambda_max = v.(H + rho I)v / v.v - rho.
Each row of a pass stops once its estimate changes by less than tol (relative), so a row's answer is
the same alone or among others; the pass ends when every row has. The start v0 should be random (a
fixed vector can be orthogonal to the top eigenvector); callers seed it.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

Tensor = torch.Tensor


def _unit(v: Tensor) -> Tensor:
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


def _power(op: Callable[[Tensor], Tensor], v: Tensor, iters: int, tol: float, estimate) -> tuple[Tensor, Tensor]:
    """(estimate per row, v) after power iteration of `op` from v (unit rows). A row stops (keeps its estimate
    and vector) once its estimate changes by less than tol: its answer never depends on the other rows."""
    value = done = None
    for _ in range(max(1, iters)):
        w = op(v)
        new, u = estimate(v, w), _unit(w)
        if value is None:
            value, v, done = new, u, torch.zeros(new.shape, dtype=torch.bool, device=new.device)
            continue
        live = ~done
        settled = live & ((new - value).abs() <= tol * new.abs().clamp_min(1e-300))
        value = torch.where(live, new, value)
        v = torch.where(live.unsqueeze(-1), u, v)
        done = done | settled
        if bool(done.all()):
            break
    return value, v


def top_eigenvalue(hvp: Callable[[Tensor], Tensor], v0: Tensor, iters: int = 100, tol: float = 1e-13) -> Tensor:
    """The largest Hessian eigenvalue per row (shape v0.shape[:-1]); see the module docstring."""
    v = _unit(v0)
    norm = lambda v, w: torch.linalg.vector_norm(w, dim=-1)  # noqa: E731  (v is unit)
    rho, _ = _power(hvp, v, iters, tol, norm)
    shift = rho.unsqueeze(-1)
    rayleigh = lambda v, w: (v * w).sum(-1)  # noqa: E731
    # from v0 again: pass 1's vector may be the bottom eigenvector, which pass 2 would never leave
    top, _ = _power(lambda u: hvp(u) + shift * u, v, iters, tol, rayleigh)
    return top - rho
