"""Chained schedules: torch's SequentialLR as a closed form (so a phase's arguments sweep as tensors too).

    Sequential([("warmup", {"start_factor": 0.01, "total_iters": 100}), ("cosine", {})], milestones=[100])

Phase i runs schedules[i] = (name, kwargs) from step milestones[i-1] (0 for the first) until
milestones[i] (the run's end for the last), its own step counter starting at 0 there and its lr
scaled from the run's lr: exactly torch.optim.lr_scheduler.SequentialLR(optimizer, [sched_0,
sched_1, ...], milestones) stepped once per step (tests/test_chain.py steps the real schedulers).
Each phase's derived arguments (cosine's T_max, one_cycle's length, sgdr's T_0, ...) come from
the phase's own length: milestones[i] - milestones[i-1], the rest of the run for the last one.
A phase that starts at or after the run's end never runs.

Where torch's SequentialLR departs from this, and why we do not follow it: OneCycleLR writes the
param group's initial_lr (= max_lr / div_factor) when it is constructed, and every other scheduler
of the chain reads its base lr from there, so in torch each other phase of a chain holding a
one_cycle phase is scaled from lr / div_factor instead of lr (a side effect of construction order,
not a schedule anyone writes on purpose). Here every phase scales the run's lr; the tests show the
difference is exactly that factor. Likewise a later ConstantLR or LinearLR with total_iters = 0: torch
takes its closed form at the milestone (ConstantLR then drops its factor, LinearLR divides by zero),
where the schedule alone keeps the factor for good (optimizers/schedules.py); a phase here is always
what its schedule is alone.

Shapes: as optimizers.schedule: lr a float or a tensor of shape S, float arguments tensors
broadcasting against it; at(..., step) gives (*K, *S) for a step tensor of shape K.
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .base import shown
from .schedules import MAX_INT, _resolve, schedule_at, schedule_spec

Tensor = torch.Tensor
MAX_PHASES = 8  # phases in one chain: a warm-up, a hold, a decay and room to spare (links stay short)


@dataclass(frozen=True, eq=False)
class Sequential:
    """A chain of schedules with the milestones where each next one takes over (see the module doc).

    schedules: ((name, kwargs), ...), one to MAX_PHASES of them; milestones: one fewer step numbers,
    strictly increasing, each >= 1. Checks its structure when made (names, counts, milestones); the
    arguments' values are checked against the run's length by at()/values(), as optimizers.schedule.
    """

    schedules: tuple[tuple[str, Mapping], ...]
    milestones: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        phases = []
        for item in self.schedules:
            if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
                raise ValueError(f"a phase is (schedule name, arguments), got {shown(item)}")
            name, kw = item
            schedule_spec(name)  # ValueError naming the valid ones
            if kw is not None and not isinstance(kw, Mapping):
                raise ValueError(f"schedule {name}: arguments must be a mapping, got {shown(kw)}")
            phases.append((name, dict(kw or {})))
        if not 1 <= len(phases) <= MAX_PHASES:
            raise ValueError(f"a chain has 1 to {MAX_PHASES} phases, got {len(phases)}")
        milestones = tuple(self.milestones)
        if len(milestones) != len(phases) - 1:
            raise ValueError(f"{len(phases)} phases need {len(phases) - 1} milestone(s), got {len(milestones)}")
        previous = 0
        for m in milestones:
            if isinstance(m, bool) or not isinstance(m, numbers.Integral) or not previous < m <= MAX_INT:
                raise ValueError(f"milestones must be whole numbers, each after the one before (the first >= 1), "
                                 f"got {shown(list(milestones))}")
            previous = int(m)
        object.__setattr__(self, "schedules", tuple(phases))
        object.__setattr__(self, "milestones", tuple(int(m) for m in milestones))

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Sequential) and (self.schedules, self.milestones) == (other.schedules,
                                                                                       other.milestones)

    __hash__ = None  # kwargs may hold tensors (sweeps): not a cache key

    def starts(self) -> tuple[int, ...]:
        """The first step of each phase: (0, *milestones)."""
        return (0, *self.milestones)

    def lengths(self, total_steps: int) -> tuple[int, ...]:
        """Each phase's length, the `total_steps` its derived arguments come from (at least 1)."""
        ends = (*self.milestones, total_steps)
        return tuple(max(1, end - start) for start, end in zip(self.starts(), ends, strict=True))

    def checked(self, lr, total_steps: int) -> tuple[tuple[str, dict], ...]:
        """Every phase's arguments validated over its length (ValueError naming the phase)."""
        if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps < 1:
            raise ValueError(f"total_steps must be an integer >= 1, got {total_steps!r}")
        out = []
        for i, ((name, kw), length) in enumerate(zip(self.schedules, self.lengths(int(total_steps)), strict=True)):
            try:
                _, _, _, full = _resolve(name, lr, length, kw)
            except ValueError as e:
                if len(self.schedules) == 1:
                    raise
                raise ValueError(f"phase {i + 1} ({name}, from step {self.starts()[i]}): {e}") from None
            out.append((name, full))
        return tuple(out)

    def at(self, lr, total_steps: int, step, *, validate: bool = True) -> Tensor:
        """The learning rate at the given step(s): (*K, *S) for an integer step tensor of shape K."""
        if len(self.schedules) == 1:  # one phase: the schedule itself
            name, kw = self.schedules[0]
            return schedule_at(name, lr, total_steps, step, validate=validate, **kw)
        phases = self.checked(lr, total_steps) if validate else self.schedules
        device = next((v.device for v in (lr, *(x for _, kw in phases for x in kw.values()))
                       if isinstance(v, Tensor)), torch.device("cpu"))
        steps = torch.as_tensor(step, device=device)
        if validate and (steps.is_floating_point() or steps.is_complex() or steps.dtype == torch.bool
                         or bool((steps < 0).any())):
            raise ValueError(f"step must be an integer >= 0 or a tensor of them, got {step!r}")
        tensors = [v for v in (lr, *(x for _, kw in phases for x in kw.values())) if isinstance(v, Tensor)]
        rows = torch.broadcast_shapes(*(v.shape for v in tensors)) if tensors else torch.Size()  # S
        k = steps.dim()
        out = None
        for (name, kw), start, length in zip(phases, self.starts(), self.lengths(total_steps), strict=True):
            # the phase's own step counter: 0 at its milestone (steps before it are masked out below)
            value = schedule_at(name, lr, length, (steps - start).clamp(min=0), validate=False, **kw)
            value = value.reshape((*steps.shape, *[1] * (len(rows) + k - value.dim()), *value.shape[k:]))
            here = (steps >= start).reshape((*steps.shape, *[1] * len(rows)))
            out = value if out is None else torch.where(here, value, out)
        full = (*steps.shape, *rows)
        return out if out.shape == full else torch.broadcast_to(out, full).clone()

    def values(self, lr, total_steps: int) -> Tensor:
        """The learning rate at steps 0 .. total_steps-1: Tensor[total_steps, *S], as optimizers.schedule."""
        self.checked(lr, total_steps)
        device = next((v.device for v in (lr, *(x for _, kw in self.schedules for x in kw.values()))
                       if isinstance(v, Tensor)), torch.device("cpu"))
        return self.at(lr, total_steps, torch.arange(total_steps, device=device), validate=False)


def as_sequential(schedule) -> Sequential | None:
    """The engine's and the runner's spellings as a Sequential: None (constant lr), a (name, kwargs)
    pair, or a Sequential already."""
    if schedule is None or isinstance(schedule, Sequential):
        return schedule
    if isinstance(schedule, (tuple, list)) and len(schedule) == 2 and isinstance(schedule[0], str):
        return Sequential(((schedule[0], schedule[1] or {}),))
    raise ValueError(f"a schedule is (name, arguments) or an optimizers.Sequential, got {shown(schedule)}")


def natural_length(schedule: str, kw: Mapping) -> int | None:
    """How many steps a schedule takes to reach where it then stays, where it has such an end: a warm-up's
    total_iters (LinearLR, and ConstantLR with a factor other than 1). The next phase of a chain may start
    there when nobody says where ("--then cosine" after "--schedule warmup:total_iters=100": at 100)."""
    spec = schedule_spec(schedule)
    if schedule == "warmup" or (schedule == "constant" and kw.get("factor", spec.param("factor").default) != 1):
        n = kw.get("total_iters", spec.param("total_iters").default)
        return int(n) if isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 else None
    return None
