"""The Surface type: a 2D loss function plus what a view needs to draw it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

Fn = Callable[..., torch.Tensor]  # fn(x, y, **params) -> loss; x, y: Tensor[...]


@dataclass(frozen=True)
class Param:
    """A knob of a parametrized surface (ravine's condition number, cliff's height)."""

    name: str
    default: float
    low: float
    high: float
    log: bool = False
    help: str = ""


@dataclass(frozen=True)
class Surface:
    """A 2D loss surface.

    `s(xy)` maps xy: Tensor[..., 2] to Tensor[...] (differentiable, any leading shape).
    `fn(x, y, **params)` is the formula itself on the two coordinate tensors, so one
    function serves autograd and the plotting grid.
    """

    name: str
    title: str
    formula: str  # LaTeX
    fn: Fn
    bounds: tuple[tuple[float, float], tuple[float, float]]  # ((xmin, xmax), (ymin, ymax))
    start: tuple[float, float]
    minima: list[tuple[float, float]] = field(default_factory=list)
    min_value: float | None = None  # None only where no finite minimum exists
    params: tuple[Param, ...] = ()
    values: tuple[tuple[str, float], ...] = ()  # the current value of each param
    about: str = ""  # one or two sentences for the UI
    # params -> (minima, min_value) where the minima move with a parameter (e.g. cliff)
    solve: Callable[..., tuple[list[tuple[float, float]], float | None]] | None = None
    # A time-varying (online) objective: fn(x, y, t=..., **params) with t the step (1, 2, ...; the
    # loss a run meets at its t-th update), t=None what the map draws (each surface says which).
    online: bool = False
    # A feasible set ((xmin, xmax), (ymin, ymax)): the engine projects every update onto it (Euclidean,
    # i.e. clamped coordinate by coordinate), so a run that leaves it is projected back, not diverged.
    box: tuple[tuple[float, float], tuple[float, float]] | None = None

    def __call__(self, xy: torch.Tensor, t: int | None = None) -> torch.Tensor:
        """The loss at xy (..., 2); t: the step, for an online surface (ignored by the others)."""
        x, y = xy.unbind(-1)  # one op (and one in backward), where two selects cost four
        if self.online:
            return self.fn(x, y, t=t, **dict(self.values))
        return self.fn(x, y, **dict(self.values))

    def with_params(self, **kw: float) -> Surface:
        """A copy with some parameters changed; unknown names or values out of range raise ValueError."""
        known = {p.name: p for p in self.params}
        values = dict(self.values)
        for k, v in kw.items():
            if k not in known:
                raise ValueError(f"{self.name} has no parameter {k!r}; it has {sorted(known) or 'none'}")
            p = known[k]
            v = float(v)
            if not (p.low <= v <= p.high):
                raise ValueError(f"{self.name}.{k} must lie in [{p.low}, {p.high}], got {v}")
            values[k] = v
        new = replace(self, values=tuple(sorted(values.items())))
        if self.solve is not None:
            minima, min_value = self.solve(**values)
            new = replace(new, minima=minima, min_value=min_value)
        return new
