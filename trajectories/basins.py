"""Basins of attraction: a grid of start points, coloured by the minimum each run ends in."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .engine import make_group, run
from .limits import CHUNK_ROWS, MAX_BASIN_CELLS, check_work
from .simulate import as_surface
from .sweep import stopped

NOT_CONVERGED = -1
DIVERGED = -2


@dataclass(frozen=True)
class BasinsResult:
    xs: np.ndarray  # (nx,) start x values
    ys: np.ndarray  # (ny,) start y values
    label: np.ndarray  # (ny, nx): index into minima, NOT_CONVERGED (-1) or DIVERGED (-2)
    final_xy: np.ndarray  # (ny, nx, 2)
    final_loss: np.ndarray  # (ny, nx)
    minima: tuple[tuple[float, float], ...]
    radius: float  # how close to a minimum counts as having reached it

    def fractions(self) -> dict:
        """Share of start points per outcome: {minimum index or -1/-2: fraction}."""
        vals, counts = np.unique(self.label, return_counts=True)
        return {int(v): float(c) / self.label.size for v, c in zip(vals, counts, strict=True)}


def classify(final_xy: np.ndarray, diverged_at: np.ndarray, minima, radius: float) -> np.ndarray:
    """Label each final point with its nearest minimum within radius, else -1; diverged rows -2."""
    label = np.full(final_xy.shape[0], NOT_CONVERGED, dtype=np.int64)
    if minima:
        m = np.asarray(minima, dtype=np.float64)  # (M, 2)
        dist = np.linalg.norm(final_xy[:, None, :] - m[None, :, :], axis=-1)  # (N, M)
        near = dist.argmin(axis=1)
        label = np.where(dist[np.arange(len(near)), near] <= radius, near, NOT_CONVERGED)
    return np.where(diverged_at >= 0, DIVERGED, label)


def basins(surface, optimizer: str, steps: int, *, n: int | tuple[int, int] = 100, bounds=None,
           hparams: dict | None = None, clip: tuple | None = None, schedule: tuple | None = None,
           noise: float = 0.0, seed: int = 0, radius: float | None = None,
           progress: Callable[[float], None] | None = None, deadline: float | None = None,
           total_work: int | None = None) -> BasinsResult:
    """Run `optimizer` from every point of an n x n (or (nx, ny)) grid over the bounds.

    radius: distance to a minimum that counts as converged (default 1% of the bounds' diagonal).
    deadline, total_work: as in sweep() (past the deadline it raises limits.TimeLimit).
    """
    s = as_surface(surface)
    nx, ny = (n, n) if isinstance(n, int) else n
    if nx < 1 or ny < 1:
        raise ValueError(f"the grid needs at least 1 x 1 points, got {nx} x {ny}")
    check_work(nx * ny, steps, nx * ny, MAX_BASIN_CELLS, "this basins map", total_work)
    (x0, x1), (y0, y1) = bounds or s.bounds
    if radius is None:
        radius = 0.01 * float(np.hypot(x1 - x0, y1 - y0))
    xs = torch.linspace(x0, x1, nx, dtype=torch.float64)
    ys = torch.linspace(y0, y1, ny, dtype=torch.float64)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    starts = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=-1)  # (ny*nx, 2), row-major over y
    make_group(slice(0, 1), optimizer, dict(hparams or {}), clip, schedule, steps)  # fail fast
    rows = starts.shape[0]
    finals, losses, div = [], [], []
    for lo in range(0, rows, CHUNK_ROWS):
        hi = min(rows, lo + CHUNK_ROWS)
        group = make_group(slice(0, hi - lo), optimizer, dict(hparams or {}), clip, schedule, steps)
        sub = None if progress is None else (lambda f, lo=lo, hi=hi: progress((lo + f * (hi - lo)) / rows))
        out = run(s, s.bounds, [group], starts[lo:hi], steps, noise=noise, seed=seed, smoothness=False,
                  record=False, progress=sub, deadline=deadline)
        stopped(out, lo, rows, steps)
        finals.append(out["final_xy"].numpy())
        losses.append(out["final_loss"].numpy())
        div.append(out["diverged_at"].numpy())
    final_xy, diverged_at = np.concatenate(finals), np.concatenate(div)
    label = classify(final_xy, diverged_at, s.minima, radius)
    return BasinsResult(xs.numpy(), ys.numpy(), label.reshape(ny, nx), final_xy.reshape(ny, nx, 2),
                        np.concatenate(losses).reshape(ny, nx), tuple(map(tuple, s.minima)), radius)
