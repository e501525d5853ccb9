"""What the figures draw: plain numpy arrays, taken from any object that has them (a trajectories Result).

plots/ never imports the simulator: `as_race(result, labels)` copies the arrays it needs into a
small dataclass, so a test can hand in arrays it made itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Race:
    """R runs over `steps` updates (shapes as in trajectories.Result)."""

    xy: np.ndarray  # (steps+1, R, 2) positions; xy[0] is the start
    loss: np.ndarray  # (steps+1, R)
    grad_norm: np.ndarray  # (steps, R) before clipping
    lr: np.ndarray  # (steps, R) after the schedule
    clip_coef: np.ndarray  # (steps, R) 1 = untouched
    smoothness: np.ndarray  # (steps, R), NaN where undefined
    diverged_at: np.ndarray  # (R,) int: -1 never, 0 bad start, k: update k diverged (xy frozen at xy[k-1])
    labels: tuple[str, ...]
    grad: np.ndarray | None = None  # (steps, R, 2) true gradient at xy[t]; only the arrows need it
    switched_at: np.ndarray | None = None  # (R,) int: SWATS' last Adam update k (SGD from xy[k]); -1 never
    switch_lr: np.ndarray | None = None  # (R,) its learned SGD lr (NaN where it did not switch)
    evaluations: np.ndarray | None = None  # (R, 2) int: loss values and gradients each update used
    sharpness: np.ndarray | None = None  # (R,) top Hessian eigenvalue at each run's final point

    @property
    def steps(self) -> int:
        return self.xy.shape[0] - 1

    @property
    def runs(self) -> int:
        return self.xy.shape[1]

    @property
    def last_position(self) -> np.ndarray:
        """(R,) int: the last step whose position is real (after it, a diverged run is frozen)."""
        k = self.diverged_at
        return np.where(k < 0, self.steps, np.maximum(k - 1, 0))

    @property
    def updates_taken(self) -> np.ndarray:
        """(R,) int: how many per-update entries are real (a diverged run's fatal update counts)."""
        k = self.diverged_at
        return np.where(k < 0, self.steps, np.minimum(k, self.steps))

    def positions_mask(self) -> np.ndarray:
        """(steps+1, R) bool: True where the position is real."""
        return np.arange(self.steps + 1)[:, None] <= self.last_position[None, :]

    def updates_mask(self) -> np.ndarray:
        """(steps, R) bool: True where the per-update arrays are real."""
        return np.arange(self.steps)[:, None] < self.updates_taken[None, :]


def as_race(race, labels=None) -> Race:
    """A Race from a Race, a trajectories Result, or any object with the same attribute names.

    labels: one str per run; else the object's own `labels`; else "run 1", "run 2", ...
    """
    if isinstance(race, Race) and labels is None:
        return race
    xy = np.asarray(race.xy, dtype=np.float64)
    if xy.ndim != 3 or xy.shape[2] != 2:
        raise ValueError(f"xy must be (steps+1, R, 2), got {xy.shape}")
    steps, n = xy.shape[0] - 1, xy.shape[1]

    def arr(name, shape, dtype=np.float64):
        a = np.asarray(getattr(race, name), dtype=dtype)
        if a.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
        return a

    if labels is None:
        labels = getattr(race, "labels", None)
    labels = tuple(str(s) for s in labels) if labels is not None else tuple(f"run {i + 1}" for i in range(n))
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} runs")
    grad = getattr(race, "grad", None)
    switched_at = getattr(race, "switched_at", None)
    switch_lr = getattr(race, "switch_lr", None)
    evals, sharp = getattr(race, "evaluations", None), getattr(race, "sharpness", None)
    return Race(
        xy=xy,
        loss=arr("loss", (steps + 1, n)),
        grad_norm=arr("grad_norm", (steps, n)),
        lr=arr("lr", (steps, n)),
        clip_coef=arr("clip_coef", (steps, n)),
        smoothness=arr("smoothness", (steps, n)),
        diverged_at=arr("diverged_at", (n,), np.int64),
        labels=labels,
        grad=None if grad is None else arr("grad", (steps, n, 2)),
        switched_at=None if switched_at is None else arr("switched_at", (n,), np.int64),
        switch_lr=None if switch_lr is None else arr("switch_lr", (n,)),
        evaluations=None if evals is None else arr("evaluations", (n, 2), np.int64),
        sharpness=None if sharp is None else arr("sharpness", (n,)),
    )


@dataclass(frozen=True)
class Grid:
    xs: np.ndarray  # (nx,)
    ys: np.ndarray  # (ny,)
    z: np.ndarray  # (ny, nx): z[j, i] = f(xs[i], ys[j]); NaN where not finite


def as_grid(grid) -> Grid:
    """A Grid from (xs, ys, z) (what trajectories.grid returns) or an object with xs, ys, z."""
    xs, ys, z = (grid.xs, grid.ys, grid.z) if hasattr(grid, "z") else grid
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    if z.shape != (ys.size, xs.size):
        raise ValueError(f"z must be (len(ys), len(xs)) = {(ys.size, xs.size)}, got {z.shape}")
    return Grid(xs, ys, np.where(np.isfinite(z), z, np.nan))


def distance_to_nearest(xy: np.ndarray, minima) -> np.ndarray | None:
    """(...,) Euclidean distance from each point of xy (..., 2) to the nearest of `minima`; None if none."""
    m = np.asarray(list(minima or []), dtype=np.float64).reshape(-1, 2)
    if m.shape[0] == 0:
        return None
    d = np.linalg.norm(xy[..., None, :] - m, axis=-1)  # (..., M)
    return d.min(axis=-1)


def sig(values, digits: int = 5) -> list:
    """Plain Python floats rounded to `digits` significant digits (None for NaN/inf): small JSON."""
    out = []
    for v in np.asarray(values, dtype=np.float64).ravel().tolist():
        out.append(float(f"{v:.{digits}g}") if np.isfinite(v) else None)
    return out
