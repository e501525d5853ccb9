"""The 2D engine's side of a rule that evaluates the loss itself (zeroth-order methods, SAM).

Such a rule (optimizers/base.py, Rule) names points where it needs the loss or the gradient; here
the points of every such group of a step are evaluated in one call per kind, all rows at once,
as the loss of that step's "minibatch": with gradient noise xi (the noise the gradient methods
meet, engine.noise_table) the loss is f_t(x) + xi . x, whose gradient is exactly g + xi. So a
zeroth-order run and a gradient run with the same seed meet the same noise, and SAM's second
gradient carries the step's noise as a second pass over one minibatch would.

Random directions come from a stream per seed of their own (not the noise's), shared by every
row with that seed: row i of a batch equals the same run alone (a sweep cell equals its link).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

Tensor = torch.Tensor
DIRECTION_SEED = 1 << 33  # added to a seed: the directions' stream differs from the noise's


class Draws:
    """draw(k) -> (k, B, 2) standard normal numbers for one group's rows, B = 1 (one seed) or rows."""

    def __init__(self, seed, rows: slice):
        seeds = torch.as_tensor(seed, dtype=torch.int64).reshape(-1)
        if seeds.numel() > 1:
            seeds = seeds[rows]
        uniq, self.index = torch.unique(seeds, return_inverse=True)
        self.gens = [torch.Generator().manual_seed(int(s) + DIRECTION_SEED) for s in uniq]

    def __call__(self, k: int) -> Tensor:
        z = torch.stack([torch.randn(k, 2, generator=g, dtype=torch.float64) for g in self.gens], dim=1)
        return z if len(self.gens) == 1 else z[:, self.index]


def oracle_gradients(f: Callable, t: int, views: list, noise: Tensor | None) -> list[tuple[int, int]]:
    """For each group whose rule has an oracle: its rows of the gradient buffer replaced by the gradient its
    update will use (rule.probe, one evaluation per kind for all groups, rule.estimate).

    views: (group, x view (rows, 2), gradient view (rows, 2)) per group, the gradient views holding g + noise;
    t: the update's step (1-based); noise: the step's noise, (2,) or (N, 2), or None.
    Returns per group (loss values, gradients) its update used this step."""
    jobs = {"value": [], "grad": []}
    counts = []
    for gr, xv, gv in views:
        kind = gr.rule.oracle
        if not kind:
            counts.append((0, 1))
            continue
        g = gv.clone() if kind == "grad" else None
        points = gr.rule.probe(xv, g, gr.state, gr.h, t, gr.draw)  # (K, rows, 2)
        jobs[kind].append((gr, xv, gv, g, points))
        k = points.shape[0]
        counts.append((k, 0) if kind == "value" else (0, 1 + k))
    if jobs["value"]:
        _answer(jobs["value"], lambda pts: _values(f, pts, t), noise, t, value=True)
    if jobs["grad"]:
        _answer(jobs["grad"], lambda pts: _gradients(f, pts, t), noise, t, value=False)
    return counts


def _answer(jobs: list, evaluate: Callable[[Tensor], Tensor], noise: Tensor | None, t: int, value: bool) -> None:
    flat = torch.cat([points.reshape(-1, 2) for *_, points in jobs])
    out = evaluate(flat)  # (M,) values or (M, 2) gradients
    at = 0
    for gr, xv, gv, g, points in jobs:
        k, rows = points.shape[0], points.shape[1]
        part = out[at: at + k * rows].reshape(k, rows, *out.shape[1:])
        at += k * rows
        if noise is not None:
            xi = noise if noise.dim() == 1 else noise[gr.rows]  # (2,) or (rows, 2)
            part = part + ((points * xi).sum(-1) if value else xi)
        answers = part.unsqueeze(-1) if value else part  # (K, rows, 1) or (K, rows, 2)
        gv.copy_(gr.rule.estimate(xv, g, answers, gr.state, gr.h, t))


def _values(f, pts: Tensor, t: int) -> Tensor:
    with torch.no_grad():
        return f(pts, t)


def _gradients(f, pts: Tensor, t: int) -> Tensor:
    with torch.enable_grad():
        xr = pts.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(f(xr, t).sum(), xr)
    return g
