"""What a simulation returns: numpy arrays, ready for plots (no tensors, no NaN in positions)."""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Result:
    """A batched run of N rows for `steps` steps.

    A row that diverged at update k (its position or loss became non-finite, or it left the
    surface's generous box) keeps its last finite point from xy[k-1] on: every array stays finite.
    """

    xy: np.ndarray  # (steps+1, N, 2) positions; xy[0] are the starts
    loss: np.ndarray  # (steps+1, N) loss at each position
    grad: np.ndarray  # (steps, N, 2) true gradient at xy[t] (before noise and clipping)
    grad_norm: np.ndarray  # (steps, N) norm of the gradient the optimizer saw, before clipping
    lr: np.ndarray  # (steps, N) learning rate the optimizer used at step t (after the schedule; SWATS' learned
    # SGD lr from its switch on)
    clip_coef: np.ndarray  # (steps, N) factor clipping scaled the gradient by (1 = untouched)
    smoothness: np.ndarray  # (steps, N) ||g(x + d/2) - g(x)|| / (||d||/2); NaN where d = 0 or not computed
    diverged_at: np.ndarray  # (N,) int: the update that diverged (1..steps), 0 if the start is bad, -1 never
    # SWATS' switch to SGD (Keskar & Socher 2017): the Adam update k that met the criterion (SGD from update
    # k + 1, from the point xy[k]; -1: never, or another optimizer) and the learned SGD lr (NaN: none)
    switched_at: np.ndarray | None = None  # (N,) int
    switch_lr: np.ndarray | None = None  # (N,) float
    stopped_at: int | None = None  # the compute deadline stopped the run after this many steps (None: ran all)
    # (N, 2) int: the loss values and gradients each update of the row used (a gradient method (0, 1),
    # SAM (0, 2), a zeroth-order method with q directions (q + 1, 0)); None where not recorded
    evaluations: np.ndarray | None = None
    sharpness: np.ndarray | None = None  # (N,) top Hessian eigenvalue at each row's final point (NaN: not finite)

    def __post_init__(self) -> None:
        n = self.diverged_at.shape[0]  # results made without them (older pickles, hand-made ones): none switched
        if self.switched_at is None:
            object.__setattr__(self, "switched_at", np.full(n, -1, dtype=np.int64))
        if self.switch_lr is None:
            object.__setattr__(self, "switch_lr", np.full(n, np.nan))

    @property
    def steps(self) -> int:
        return self.grad_norm.shape[0]

    def evaluations_done(self) -> np.ndarray:
        """(N, 2) int: the loss values and gradients each row's optimizer used over the updates it took."""
        per = np.zeros((self.diverged_at.shape[0], 2), np.int64) if self.evaluations is None else self.evaluations
        k = self.diverged_at
        taken = np.where(k < 0, self.steps, np.minimum(np.maximum(k, 0), self.steps))
        return per * taken[:, None]

    @property
    def effective_lr(self) -> np.ndarray:
        """(steps, N) lr x clip coefficient: the step size the gradient really got."""
        return self.lr * self.clip_coef


# the arrays indexed (step, row, ...) and those indexed (row, ...): what take() and stack() slice and join
BY_STEP = ("xy", "loss", "grad", "grad_norm", "lr", "clip_coef", "smoothness")
BY_ROW = ("diverged_at", "switched_at", "switch_lr", "evaluations", "sharpness")


def take(result: Result, rows) -> Result:
    """The result of rows `rows` (a list of indices) alone: every row's numbers are its own (the engine's
    rows never depend on each other), so this equals the race of those runs."""
    idx = list(rows)
    kw = {f: getattr(result, f)[:, idx] for f in BY_STEP}
    kw |= {f: None if getattr(result, f) is None else getattr(result, f)[idx] for f in BY_ROW}
    return Result(**kw, stopped_at=result.stopped_at)


def stack(results: list[Result]) -> Result:
    """The rows of several results of equal length side by side (their order kept): take()'s inverse."""
    if not results:
        raise ValueError("stack() needs at least one result")
    stopped = {r.stopped_at for r in results}
    if len(stopped) != 1 or len({r.xy.shape[0] for r in results}) != 1:
        raise ValueError("stack() joins results of the same length only")
    kw = {f: np.concatenate([getattr(r, f) for r in results], axis=1) for f in BY_STEP}
    for f in BY_ROW:
        parts = [getattr(r, f) for r in results]
        kw[f] = None if any(p is None for p in parts) else np.concatenate(parts, axis=0)
    return Result(**kw, stopped_at=stopped.pop())


assert set(BY_STEP) | set(BY_ROW) | {"stopped_at"} == {f.name for f in fields(Result)}, "a Result field take() misses"
