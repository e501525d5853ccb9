"""Summaries of sweep and basins results: statistics over seeds, the best cell, robustness over the lr
range, shares of basins outcomes. numpy only (no plotly, no streamlit): plots.sweeps draws them,
the Sweeps page reads them.

Results are read by attribute name (duck-typed), so a trajectories.SweepResult / BasinsResult
works, and so does any object a test builds:

    map result     r.axes (each .target, .values), r.final_loss, r.hit_at, r.diverged_at with shape
                   (seeds, *axis lengths); r.target (the loss that counts as reached) optional
    basins labels  (ny, nx) with minimum index, -1 not converged, -2 diverged

Several seeds: every statistic is the median over seeds (a seed that diverged counts as +inf, so
a cell counts as diverged when at least half its seeds diverged), with the spread (IQR).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .basins import DIVERGED

# ---------------------------------------------------------------- statistics over seeds


@dataclass(frozen=True)
class CellStats:
    """One optimizer's map summarised over seeds; every array is (nx, ny) (ny = 1 for a 1-D map)."""

    xs: np.ndarray  # (nx,) the x axis's cell centres
    ys: np.ndarray  # (ny,) the y axis's cell centres ([0.0] for a 1-D map)
    loss: np.ndarray  # median final loss over seeds (+inf where at least half diverged)
    loss_spread: np.ndarray  # interquartile range of the final loss over the seeds that did not diverge
    hit_at: np.ndarray  # median first step within tol (+inf: not reached by at least half)
    diverged_fraction: np.ndarray  # share of seeds that diverged
    diverged_at: np.ndarray  # median step it diverged at (+inf: at least half never did)
    seeds: int

    @property
    def diverged(self) -> np.ndarray:
        """(nx, ny) bool: drawn as diverged (at least half the seeds diverged)."""
        return ~np.isfinite(self.loss)


def _as_3d(a, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2:  # (seeds, nx): a 1-D map
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"{what} must have shape (seeds, nx) or (seeds, nx, ny), got {a.shape}")
    return a


def cell_stats(result) -> CellStats:
    """Median and spread over seeds of one map (see the module docstring for what `result` holds)."""
    loss = _as_3d(result.final_loss, "final_loss").astype(np.float64)
    hit = _as_3d(result.hit_at, "hit_at").astype(np.float64)
    div = _as_3d(result.diverged_at, "diverged_at").astype(np.float64)
    if not loss.shape == hit.shape == div.shape:
        raise ValueError(f"final_loss, hit_at and diverged_at differ in shape: {loss.shape}, {hit.shape}, {div.shape}")
    axes = list(result.axes)
    xs = np.asarray(axes[0].values, dtype=np.float64)
    ys = np.asarray(axes[1].values, dtype=np.float64) if len(axes) > 1 else np.zeros(1)
    if loss.shape[1:] != (xs.size, ys.size):
        raise ValueError(f"arrays of shape {loss.shape} do not match axes of lengths {(xs.size, ys.size)}")
    diverged = div >= 0
    loss = np.where(diverged | ~np.isfinite(loss), np.inf, loss)  # (seeds, nx, ny)
    hit = np.where((hit >= 0) & ~diverged, hit, np.inf)
    spread = _iqr(loss) if loss.shape[0] > 1 else np.zeros(loss.shape[1:])
    return CellStats(
        xs=xs, ys=ys,
        loss=np.median(loss, axis=0), loss_spread=spread,
        hit_at=np.median(hit, axis=0),
        diverged_fraction=diverged.mean(axis=0),
        diverged_at=np.median(np.where(diverged, div, np.inf), axis=0),
        seeds=loss.shape[0],
    )


def _iqr(a: np.ndarray) -> np.ndarray:
    """Interquartile range over axis 0 of the finite entries (NaN where none), as np.nanpercentile's
    linear method gives it, vectorized: nanpercentile loops in Python over the 90 000 cells of a map."""
    s = np.sort(np.where(np.isfinite(a), a, np.nan), axis=0)  # NaN sort last
    n = np.isfinite(s).sum(axis=0)  # (...)

    def q(p: float) -> np.ndarray:
        pos = p * np.maximum(n - 1, 0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        a_lo = np.take_along_axis(s, lo[None], axis=0)[0]
        a_hi = np.take_along_axis(s, hi[None], axis=0)[0]
        return a_lo + (pos - lo) * (a_hi - a_lo)

    with np.errstate(invalid="ignore"):
        return np.where(n > 0, q(0.75) - q(0.25), np.nan)


def best_cell(stats: CellStats, color: str = "final_loss") -> tuple[int, int] | None:
    """(i, j) of the best cell: the earliest hit for "hit_at" (ties: lower loss), else the lowest
    median final loss among cells that did not diverge; None where every cell diverged (or none hit)."""
    if color == "hit_at":
        if not np.isfinite(stats.hit_at).any():
            return None
        key = np.lexsort((stats.loss.ravel(), stats.hit_at.ravel()))[0]  # hit first, then loss
    else:
        if not np.isfinite(stats.loss).any():
            return None
        key = int(np.argmin(stats.loss.ravel()))
    i, j = np.unravel_index(key, stats.loss.shape)
    return int(i), int(j)


# ---------------------------------------------------------------- robustness


@dataclass(frozen=True)
class Robustness:
    """How forgiving one optimizer is over a log-spaced lr range."""

    lrs: np.ndarray  # (n,)
    converged_fraction: np.ndarray  # (n,) share of seeds that converged at each lr
    fraction: float  # share of the (log-spaced) range where at least half the seeds converged
    interval: tuple[float, float] | None  # the longest run of converging lrs, (low, high)

    @property
    def decades(self) -> float:
        """Width of `interval` in powers of ten (0 for a single lr, or none)."""
        return 0.0 if self.interval is None else float(np.log10(self.interval[1] / self.interval[0]))


def robustness(result, *, stable_only: bool | None = None) -> Robustness:
    """Summarise a 1-D lr sweep (SweepResult-like). A run converged when it reached the tolerance
    and did not diverge; where the surface has no known minimum (result.target None) or
    stable_only=True, when it did not diverge."""
    axes = list(result.axes)
    if len(axes) != 1:
        raise ValueError(f"a robustness curve needs a sweep over one axis (lr), got {len(axes)}")
    lrs = np.asarray(axes[0].values, dtype=np.float64)
    hit = np.asarray(result.hit_at).reshape(-1, lrs.size)
    div = np.asarray(result.diverged_at).reshape(-1, lrs.size)
    if stable_only is None:
        stable_only = getattr(result, "target", 0.0) is None
    ok = (div < 0) if stable_only else (hit >= 0) & (div < 0)  # (seeds, n)
    frac = ok.mean(axis=0)
    good = frac >= 0.5
    best, run_start, interval = 0, None, None
    for k, g in enumerate([*good, False]):
        if g and run_start is None:
            run_start = k
        elif not g and run_start is not None:
            if k - run_start > best:
                best, interval = k - run_start, (float(lrs[run_start]), float(lrs[k - 1]))
            run_start = None
    return Robustness(lrs, frac, float(good.mean()), interval)


# ---------------------------------------------------------------- basins of attraction


def basin_codes(label: np.ndarray, n_minima: int) -> np.ndarray:
    """Labels (minimum index, -1, -2) as category codes 0 .. n_minima+1 (minima, not converged, diverged)."""
    label = np.asarray(label)
    return np.where(label >= 0, label, np.where(label == DIVERGED, n_minima + 1, n_minima)).astype(np.float64)


def basins_fractions(label: np.ndarray, n_minima: int) -> np.ndarray:
    """(n_minima + 2,) share of start points per category code."""
    codes = basin_codes(label, n_minima).astype(np.int64).ravel()
    return np.bincount(codes, minlength=n_minima + 2)[: n_minima + 2] / max(codes.size, 1)
