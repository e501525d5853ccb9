"""simulate(): the public entry point of the 2D engine (docs/architecture.md: the public contract)."""
from __future__ import annotations

from collections.abc import Callable

import torch

import surfaces
from optimizers.run import RunConfig

from .engine import make_group, run, to_numpy
from .limits import MAX_SIMULATE_STEPS
from .result import Result

MAX_RECORDED = 2 * 10**7  # rows x steps with full histories (~72 bytes each): sweeps use sweep()


def as_surface(surface) -> surfaces.Surface:
    return surfaces.get(surface) if isinstance(surface, str) else surface


def as_starts(starts) -> torch.Tensor:
    """Tensor[N, 2] float64 from a tensor, array or list of points (a single (x, y) is one row)."""
    x = torch.as_tensor(starts, dtype=torch.float64)
    if x.dim() == 1:
        x = x.unsqueeze(0)
    if x.dim() != 2 or x.shape[-1] != 2 or x.shape[0] < 1:
        raise ValueError(f"starts must have shape (N, 2), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("starts must be finite numbers")
    return x


def simulate(surface, optimizer: str, starts, steps: int, *, hparams: dict | None = None,
             clip: tuple | None = None, schedule: tuple | None = None, noise: float = 0.0, seed=0,
             smoothness: bool = True, progress: Callable[[float], None] | None = None,
             deadline: float | None = None) -> Result:
    """Run `optimizer` from every start at once on `surface`, float64 throughout.

    surface: a Surface or its registry name; optimizer: a registry name.
    starts: Tensor[N, 2]; hparams: {name: float or Tensor[N]} (left-out ones take the defaults).
    clip: (kind, threshold) with threshold a float or Tensor[N], or None.
    schedule: (name, kwargs) or None: the lr of each step is optimizers.schedule(name, lr, steps, **kwargs);
    or an optimizers.Sequential, a chain of schedules (torch's SequentialLR).
    noise: standard deviation of Gaussian noise added to each gradient component (seeded by seed).
    smoothness: also estimate local smoothness each step (one more gradient evaluation per step).
    progress: called with the fraction done, about 50 times over the run.
    deadline: a time.monotonic() value (trajectories.limits.deadline()); past it the run stops and
    the result holds the steps done, with result.stopped_at saying how many.
    """
    s = as_surface(surface)
    x0 = as_starts(starts)
    check_steps_noise(steps, noise)
    if x0.shape[0] * steps > MAX_RECORDED:
        raise ValueError(f"{x0.shape[0]:,} rows x {steps:,} steps exceeds {MAX_RECORDED:,} recorded row-steps: "
                         "use trajectories.sweep() (no histories) or fewer rows or steps")
    group = make_group(slice(0, x0.shape[0]), optimizer, dict(hparams or {}), clip, schedule, steps)
    out = run(s, s.bounds, [group], x0, steps, noise=float(noise), seed=seed, smoothness=smoothness,
              progress=progress, deadline=deadline)
    return as_result(out)


# One contestant of a race is the project's one run configuration (optimizers/run.py):
# Run("adam", {"lr": 0.05}, clip=("norm", 1.0), schedule=("cosine", {})), checked when made.
Run = RunConfig


def race(surface, runs: list[Run], start, steps: int, *, noise: float = 0.0, seed: int = 0,
         smoothness: bool = True, progress: Callable[[float], None] | None = None,
         deadline: float | None = None) -> Result:
    """Several optimizers from one start on one surface, in one loop: row i of the result is runs[i].

    Each row equals simulate() of that run alone (they share only the surface evaluation and,
    with noise, the same noise sequence: a fair race meets the same minibatches).
    deadline: as in simulate() (the result keeps the steps done before it).
    """
    s = as_surface(surface)
    x0 = as_starts(start)
    if x0.shape[0] != 1:
        raise ValueError("race() takes one start point (x, y)")
    if not runs:
        raise ValueError("race() needs at least one run")
    check_steps_noise(steps, noise)
    groups = [make_group(slice(i, i + 1), r.optimizer, dict(r.hparams), r.clip_pair, r.sequential, steps)
              for i, r in enumerate(runs)]
    out = run(s, s.bounds, groups, x0.expand(len(runs), 2), steps, noise=float(noise), seed=seed,
              smoothness=smoothness, progress=progress, deadline=deadline)
    return as_result(out)


def as_result(out: dict) -> Result:
    keep = {k: out[k] for k in ("xy", "loss", "grad", "grad_norm", "lr", "clip_coef", "smoothness", "diverged_at",
                                "switched_at", "switch_lr", "evaluations", "sharpness")}
    return Result(**to_numpy(keep), stopped_at=out["stopped_at"])


def check_steps_noise(steps, noise) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or not (1 <= steps <= MAX_SIMULATE_STEPS):
        raise ValueError(f"steps must be an integer from 1 to {MAX_SIMULATE_STEPS}, got {steps!r}")
    if not (isinstance(noise, (int, float)) and 0 <= noise < float("inf")):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
