"""Hyperparameter maps: every configuration of a grid is one row of one batched simulation.

An axis names what varies ("lr", "momentum", "betas.0", "clip" for the clip threshold,
"schedule.gamma" for a schedule argument, "schedule.1.eta_min" for an argument of a chained schedule's
second phase) and its values; the grid is their product, times
the seeds. Rows are simulated in chunks so memory stays bounded for 10^6 rows. Target.parse is
the one reader of those names (the Sweeps page's spec and the plots' axis titles use it too).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

import optimizers
from optimizers.chain import as_sequential

from .engine import make_group, run
from .limits import CHUNK_ROWS, MAX_CELLS, MAX_SEEDS, TimeLimit, check_work
from .simulate import as_starts, as_surface


@dataclass(frozen=True)
class Target:
    """What an axis varies, read from its name (Axis.target); str() gives the name back.

        "lr", "momentum", ...  a hyperparameter           Target("hparam", "lr")
        "betas.0"              one element of a pair       Target("pair", "betas", 0)
        "clip"                 the clipping threshold      Target("clip", "clip")
        "schedule.gamma"       a schedule's argument       Target("schedule", "gamma")
        "schedule.1.eta_min"   an argument of phase 2 of    Target("schedule", "eta_min", 1)
                               a chained schedule (phase k counts from 0, the first; "schedule.0.x"
                               reads as "schedule.x")

    Only the grammar: whether the optimizer, its clipping or its schedule has that name is checked
    where the axis is applied (apply_axes) or offered (ui.sweep_spec.axis_targets).
    """

    kind: str  # "hparam", "pair", "clip" or "schedule"
    name: str  # the hyperparameter, the pair, "clip", or the schedule's argument
    index: int | None = None  # the element of a pair; a later phase of a chained schedule (None: the first)

    @staticmethod
    def parse(target: str) -> Target:
        if target == "clip":
            return Target("clip", "clip")
        if target.startswith("schedule."):
            rest = target.split(".", 1)[1]
            phase, dot, name = rest.partition(".")
            if dot and phase.isascii() and phase.isdigit() and len(phase) <= 2:
                return Target("schedule", name, int(phase) or None)
            return Target("schedule", rest)
        if "." in target:
            base, idx = target.split(".", 1)
            try:
                index = int(idx)
            except ValueError:
                raise ValueError(f"axis {target}: {idx!r} is not the index of a pair's element") from None
            return Target("pair", base, index)
        return Target("hparam", target)

    def __str__(self) -> str:
        if self.kind == "clip":
            return "clip"
        if self.kind == "schedule":
            return f"schedule.{self.name}" if not self.index else f"schedule.{self.index}.{self.name}"
        if self.kind == "pair":
            return f"{self.name}.{self.index}"
        return self.name


@dataclass(frozen=True)
class Axis:
    target: str  # what varies, read by Target.parse: "lr", any hyperparameter, "betas.0", "clip", "schedule.<kw>"
    values: tuple[float, ...]

    @staticmethod
    def span(target: str, low: float, high: float, n: int, log: bool = False) -> Axis:
        """n values from low to high, log-spaced or linear."""
        if n < 1 or not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(f"axis {target}: need n >= 1 and finite bounds, got {low}, {high}, n={n}")
        if log and (low <= 0 or high <= 0):
            raise ValueError(f"axis {target}: a log axis needs bounds > 0, got {low} .. {high}")
        vals = np.geomspace(low, high, n) if log else np.linspace(low, high, n)
        return Axis(target, tuple(float(v) for v in vals))


@dataclass(frozen=True)
class SweepResult:
    """Arrays of shape (seeds, *axis lengths): one entry per configuration and seed."""

    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    final_loss: np.ndarray  # last finite loss
    final_xy: np.ndarray  # (..., 2) last finite point
    hit_at: np.ndarray  # first step whose loss <= target (-1 never or no target)
    diverged_at: np.ndarray  # -1 never
    target: float | None  # min_value + tol, where the surface's minimum is known

    @property
    def converged(self) -> np.ndarray:
        return (self.hit_at >= 0) & (self.diverged_at < 0)


def apply_axes(axes: Sequence[Axis], grids: list[torch.Tensor], hparams: dict, clip, schedule, optimizer: str):
    """Put each axis's (rows,) values where simulate() takes them; returns (hparams, clip, schedule).

    schedule: None, (name, kwargs) or an optimizers.Sequential; returned as a Sequential where it is set."""
    h = dict(hparams)
    chain = as_sequential(schedule)
    phases = [(name, dict(kw)) for name, kw in chain.schedules] if chain is not None else None
    for ax, vals in zip(axes, grids, strict=True):
        t = Target.parse(ax.target)
        if t.kind == "clip":
            if clip is None or clip[0] == "none":
                raise ValueError("a clip-threshold axis needs a clipping kind (norm, smooth or value)")
            clip = (clip[0], vals)
        elif t.kind == "schedule":
            k = t.index or 0
            if phases is None or k >= len(phases):
                raise ValueError(f"axis {ax.target} needs a schedule" + (f" with {k + 1} phases" if k else ""))
            phases[k][1][t.name] = vals
        elif t.kind == "pair":
            pair = list(h.get(t.name, optimizers.spec(optimizer).hparam(t.name).default))
            pair[t.index] = vals
            h[t.name] = tuple(pair)
        else:
            optimizers.spec(optimizer).hparam(t.name)  # KeyError naming the valid ones
            h[t.name] = vals
    return h, clip, None if phases is None else optimizers.Sequential(phases, chain.milestones)


def sweep(surface, optimizer: str, start, steps: int, axes: Sequence[Axis], *, hparams: dict | None = None,
          clip: tuple | None = None, schedule: tuple | None = None, noise: float = 0.0,
          seeds: Sequence[int] = (0,), tol: float = 1e-3,
          progress: Callable[[float], None] | None = None, deadline: float | None = None,
          total_work: int | None = None) -> SweepResult:
    """Simulate every configuration of the axes' grid (x seeds) from one start; see SweepResult.

    A cell converged when its loss came within tol of the surface's known minimum value.
    deadline: a time.monotonic() value; past it the sweep raises limits.TimeLimit (a ValueError).
    total_work: rows x steps of the whole request this call belongs to (several optimizers), for the cap.
    """
    s = as_surface(surface)
    x0 = as_starts(start)
    if x0.shape[0] != 1:
        raise ValueError("sweep() takes one start point (x, y)")
    if not 1 <= len(axes) <= 3:
        raise ValueError("give one to three axes")
    seeds = tuple(int(v) for v in seeds)
    if not 1 <= len(seeds) <= MAX_SEEDS:
        raise ValueError(f"give 1 to {MAX_SEEDS} seeds")
    shape = tuple(len(a.values) for a in axes)
    cells = int(np.prod(shape))
    check_work(cells * len(seeds), steps, cells, MAX_CELLS, "this map", total_work)
    # rows: seed-major, then the axes' grid in C order -> reshape to (seeds, *shape) at the end
    mesh = torch.meshgrid(*[torch.tensor(a.values, dtype=torch.float64) for a in axes], indexing="ij")
    cols = [m.reshape(-1).repeat(len(seeds)) for m in mesh]  # each (rows,)
    seed_col = torch.tensor(seeds, dtype=torch.int64).repeat_interleave(cells)
    target = None if s.min_value is None else s.min_value + tol
    # validate once on a single row, so a bad axis fails before any work
    h1, c1, s1 = apply_axes(axes, [c[:1] for c in cols], dict(hparams or {}), clip, schedule, optimizer)
    make_group(slice(0, 1), optimizer, h1, c1, s1, steps)
    out = simulate_rows(s, optimizer, x0, steps, axes, cols, seed_col, hparams or {}, clip, schedule,
                        noise, target, progress, deadline)
    shaped = lambda a: a.reshape(len(seeds), *shape, *a.shape[1:])
    return SweepResult(tuple(axes), seeds, shaped(out["final_loss"]), shaped(out["final_xy"]),
                       shaped(out["hit_at"]), shaped(out["diverged_at"]), target)


def simulate_rows(s, optimizer, x0, steps, axes, cols, seed_col, hparams, clip, schedule, noise, target,
                  progress, deadline=None) -> dict:
    """Run all rows chunk by chunk (record=False); returns numpy arrays over all rows.

    Raises TimeLimit past the deadline: a map of half-run cells would be wrong, not partial."""
    rows = seed_col.shape[0]
    parts: dict[str, list] = {k: [] for k in ("final_loss", "final_xy", "hit_at", "diverged_at")}
    for lo in range(0, rows, CHUNK_ROWS):
        hi = min(rows, lo + CHUNK_ROWS)
        h, c, sch = apply_axes(axes, [col[lo:hi] for col in cols], dict(hparams), clip, schedule, optimizer)
        group = make_group(slice(0, hi - lo), optimizer, h, c, sch, steps)
        sub = None if progress is None else (lambda f, lo=lo, hi=hi: progress((lo + f * (hi - lo)) / rows))
        out = run(s, s.bounds, [group], x0.expand(hi - lo, 2), steps, noise=noise, seed=seed_col[lo:hi],
                  smoothness=False, record=False, target=target, progress=sub, deadline=deadline)
        stopped(out, lo, rows, steps)
        for k in parts:
            parts[k].append(out[k].numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def stopped(out: dict, lo: int, rows: int, steps: int) -> None:
    """Raise TimeLimit where the engine stopped a chunk (rows lo.. of `rows`) at the deadline."""
    if out["stopped_at"] is not None:
        done = lo * steps + out["stopped_at"] * out["final_loss"].shape[0]
        raise TimeLimit(f"stopped at the compute limit after {done / (rows * steps):.0%} of the work "
                        f"({rows:,} runs x {steps:,} steps)")
