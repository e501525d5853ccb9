"""Banks: a race's runs, each knob moved across its values, in one batched call (the explorer's scrub).

A person drags one knob of one run (its lr, a beta, the clip threshold, a schedule argument, the
gradient noise); the page already holds the trajectory for every value the knob stops at, computed
here by the same engine as the race, so the browser only switches between them. One Variation is
(run index, target, values): a group of len(values) rows, each the run with that one field changed
(targets as trajectories.sweep.Target reads them, plus "noise": the race's gradient noise, which
every run meets, so a noise variation of run i keeps the other runs' settings out of it). Row j of a
variation equals race() of the changed run alone (the same start, steps, noise sequence and seed), up
to the last bits: a hyperparameter that is a (rows, 1) tensor here rounds unlike a float (~1e-14).

    result, rows = bank(surface, runs, start, steps, [Variation(0, "lr", (1e-3, 3e-3, 1e-2)), ...])
    rows[k] == (0, "lr", slice(lo, hi))   # which rows of result.xy belong to variation k
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from optimizers.run import RunConfig

from .engine import make_group, run
from .result import Result
from .simulate import as_result, as_starts, as_surface, check_steps_noise
from .sweep import Axis, apply_axes

NOISE = "noise"  # the target of a variation of the race's gradient noise (standard deviation)
MAX_BANK_ROWS = 1024  # rows of one bank: a run's knobs at ~25 values each, and the noise for every run
MAX_BANK_WORK = 4 * 10**6  # rows x steps of one bank (about 4 s of engine time on 2 cores)


@dataclass(frozen=True)
class Variation:
    run: int  # index into the race's runs
    target: str  # "lr", "betas.0", "clip", "schedule.<argument>", or NOISE
    values: tuple[float, ...]


def bank(surface, runs: Sequence[RunConfig], start, steps: int, variations: Sequence[Variation], *,
         noise: float = 0.0, seed: int = 0, progress: Callable[[float], None] | None = None,
         deadline: float | None = None) -> tuple[Result, list[tuple[int, str, slice]]]:
    """Simulate every variation's rows in one loop (no smoothness estimate: the scrub does not show it).

    Returns (result, rows): result has one row per value of every variation, in order; rows[k] is
    (run, target, slice of result rows) of variation k. Raises ValueError for a bad run index,
    target or value (the engine's own checks) and past MAX_BANK_ROWS or MAX_BANK_WORK.
    """
    s = as_surface(surface)
    x0 = as_starts(start)
    if x0.shape[0] != 1:
        raise ValueError("bank() takes one start point (x, y)")
    check_steps_noise(steps, noise)
    n = sum(len(v.values) for v in variations)
    if not 1 <= n <= MAX_BANK_ROWS:
        raise ValueError(f"a bank has 1 to {MAX_BANK_ROWS} rows, got {n}")
    if n * steps > MAX_BANK_WORK:
        raise ValueError(f"a bank of {n} rows x {steps} steps exceeds {MAX_BANK_WORK:,} row-steps")
    groups, rows, noise_col, lo = [], [], torch.full((n,), float(noise), dtype=torch.float64), 0
    for v in variations:
        if not 0 <= v.run < len(runs):
            raise ValueError(f"variation of run {v.run}: the race has {len(runs)} runs")
        r, k = runs[v.run], len(v.values)
        if k == 0:
            continue
        vals = torch.tensor([float(x) for x in v.values], dtype=torch.float64)
        h, clip, sched = dict(r.hparams), r.clip_pair, r.sequential
        if v.target == NOISE:
            if not bool((vals >= 0).all() & torch.isfinite(vals).all()):
                raise ValueError("noise values must be finite numbers >= 0")
            noise_col[lo:lo + k] = vals
        else:
            h, clip, sched = apply_axes([Axis(v.target, v.values)], [vals], h, clip, sched, r.optimizer)
        groups.append(make_group(slice(lo, lo + k), r.optimizer, h, clip, sched, steps))
        rows.append((v.run, v.target, slice(lo, lo + k)))
        lo += k
    per_row_noise = noise_col if bool((noise_col != float(noise)).any()) else float(noise)
    out = run(s, s.bounds, groups, x0.expand(n, 2), steps, noise=per_row_noise, seed=seed, smoothness=False,
              progress=progress, deadline=deadline)
    return as_result(out), rows
