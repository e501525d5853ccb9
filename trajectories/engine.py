"""The batched simulator: N independent rows (start points and/or hyperparameter settings)
descend one surface together, one tensor op per update step for all rows.

Shapes: x (N, 2) positions; g (N, 2) gradients; every hyperparameter a float or (N, 1).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

import optimizers
from optimizers.chain import as_sequential
from optimizers.clipping import check_clip, clip_with_coef_
from optimizers.sharpness import top_eigenvalue

from .oracle import Draws, oracle_gradients

Tensor = torch.Tensor
INF = float("inf")
LR_TABLE = 1 << 20  # steps x rows up to which a per-row lr schedule is computed once, as a table (8 MB)
BOX_SPANS = 10.0  # a row that moves this many surface spans beyond the bounds has diverged


def loss_and_grad(f: Callable[[Tensor, int], Tensor], x: Tensor, t: int) -> tuple[Tensor, Tensor]:
    """f(x, t) (N,) and its gradient (N, 2), by autograd (rows are independent, so sum is safe)."""
    with torch.enable_grad():
        xr = x.detach().requires_grad_(True)
        loss = f(xr, t)
        (g,) = torch.autograd.grad(loss.sum(), xr)
    return loss.detach(), g


def objective(surface) -> Callable[[Tensor, int], Tensor]:
    """f(x, t): the loss the update at step t (1-based) meets; t matters only on an online surface."""
    if getattr(surface, "online", False):
        return lambda x, t: surface(x, t=t)
    return lambda x, t: surface(x)


def feasible(surface) -> tuple[Tensor, Tensor] | None:
    """(lo, hi), each (2,): the surface's feasible box (surfaces.Surface.box), or None."""
    b = getattr(surface, "box", None)
    if b is None:
        return None
    (x0, x1), (y0, y1) = b
    return (torch.tensor([x0, y0], dtype=torch.float64), torch.tensor([x1, y1], dtype=torch.float64))


def box(bounds) -> tuple[Tensor, Tensor]:
    """(lo, hi), each (2,): the bounds widened by BOX_SPANS spans on every side."""
    (x0, x1), (y0, y1) = bounds
    lo = torch.tensor([x0 - BOX_SPANS * (x1 - x0), y0 - BOX_SPANS * (y1 - y0)], dtype=torch.float64)
    hi = torch.tensor([x1 + BOX_SPANS * (x1 - x0), y1 + BOX_SPANS * (y1 - y0)], dtype=torch.float64)
    return lo, hi


def as_row_hparams(h: dict, n: int) -> dict:
    """Tensor[N] hyperparameters (also inside pairs like betas) become (N, 1) float64 columns."""

    def col(v):
        if isinstance(v, Tensor):
            v = v.to(torch.float64)
            if v.numel() == 1:
                return float(v)
            if v.shape != (n,):
                raise ValueError(f"a hyperparameter tensor must have shape ({n},) (one value per row), "
                                 f"got {tuple(v.shape)}")
            return v.reshape(n, 1)
        return v

    return {k: tuple(col(e) for e in v) if isinstance(v, tuple) else col(v) for k, v in h.items()}


def noise_table(noise, seed, n: int, steps: int) -> Callable[[int], Tensor] | None:
    """Gaussian gradient noise, (N, 2) per step, or None for none.

    Every row with the same seed sees the same noise sequence (common random numbers): runs
    compared on one surface meet the same "minibatches", and a row of a sweep equals a single run.
    noise: the standard deviation, a float, or Tensor[N] (one per row: the same draws, scaled).
    seed: an int, or Tensor[N] of ints (a seeds axis in sweeps).
    """
    per_row = isinstance(noise, Tensor)
    if not per_row and noise == 0:
        return None
    seeds = torch.as_tensor(seed, dtype=torch.int64).reshape(-1)
    uniq, index = torch.unique(seeds, return_inverse=True)  # index: (N,) or (1,)
    table = torch.stack([
        torch.randn(steps, 2, generator=torch.Generator().manual_seed(int(s)), dtype=torch.float64)
        for s in uniq
    ], dim=1) * (1.0 if per_row else noise)  # (steps, U, 2)
    if len(uniq) > 1 and index.shape[0] != n:
        raise ValueError(f"seed must be an int or have one value per row ({n}), got {index.shape[0]}")
    pick = (lambda t: table[t, 0]) if len(uniq) == 1 else (lambda t: table[t, index])  # (2,) or (N, 2)
    if not per_row:
        return pick
    if noise.shape != (n,):
        raise ValueError(f"a noise tensor must have shape ({n},) (one value per row), got {tuple(noise.shape)}")
    std = noise.to(torch.float64).reshape(n, 1)
    return lambda t: pick(t) * std  # (N, 2)


@dataclass
class Group:
    """Rows [lo, hi) that share one optimizer: its rule, hyperparameters, clipping and lr per step."""

    rows: slice
    rule: optimizers.Rule
    h: dict  # hyperparameters: floats or (rows, 1) tensors
    clip_kind: str
    threshold: float | Tensor  # float or (rows,)
    lr_at: Callable[[int], float | Tensor]  # step -> a float or a (rows, 1) tensor
    state: dict | None = None
    draw: Callable[[int], Tensor] | None = None  # random directions of a zeroth-order rule (trajectories/oracle.py)


def make_group(rows: slice, name: str, hparams: dict, clip, schedule, steps: int) -> Group:
    """Resolve and check one optimizer configuration for `rows` (hyperparameter tensors have one value per row)."""
    n = rows.stop - rows.start
    spec, h = optimizers.resolve(name, **hparams)
    h = as_row_hparams(h, n)
    kind, threshold = clip if clip is not None else ("none", 1.0)
    if isinstance(threshold, Tensor):
        threshold = threshold.to(torch.float64)
    check_clip(kind, threshold)
    return Group(rows, spec.rule, h, kind, threshold, lr_sequence(h["lr"], steps, schedule))


def run(f, bounds, groups: list[Group], x0: Tensor, steps: int, *, noise: float | Tensor, seed,
        smoothness: bool = True, record: bool = True, target: float | None = None,
        progress: Callable[[float], None] | None = None, deadline: float | None = None) -> dict:
    """The simulation loop over all rows at once; returns tensors (see Result for their meaning).

    One loss/gradient evaluation per step serves every group; each group's rule then updates its
    own rows in place (x_new[rows] is a view), so runs of different optimizers race in one loop.
    A rule that evaluates the loss itself (zeroth-order, SAM) gets its points evaluated first,
    all such groups at once (trajectories/oracle.py), and its rows of the gradient then hold the
    gradient its update uses: clipping and the recorded gradient norm apply to that one.
    f is the Surface: on an online one the update at step t (1-based) meets f_t, and the loss
    recorded at a point is that of the step that starts there; with a feasible box every update is
    projected onto it (clamped), so leaving the box is projection, not divergence.
    record=False (sweeps) keeps no histories: only the final point and loss, diverged_at and
    hit_at, the first step whose loss is <= target (-1 never; needs target).
    deadline: a time.monotonic() value; past it the loop stops after the step in progress and
    out["stopped_at"] says how many steps were done (None: all of them); histories hold those.
    """
    n = x0.shape[0]
    eps_noise = noise_table(noise, seed, n, steps)
    lo, hi = box(bounds)
    proj, online, f = feasible(f), bool(getattr(f, "online", False)), objective(f)
    oracles = with_oracles(groups, seed)
    # per row: (loss values, gradients) each update uses; a gradient method (0, 1)
    evals = torch.tensor([0, 1], dtype=torch.int64).repeat(n, 1)

    x, loss, g, alive, diverged_at, hit_at = initial_state(f, groups, x0, target)

    # histories as lists of per-step tensors, stacked once at the end (cheaper than indexed writes)
    xs, losses, grads, smooth = [x], [loss], [], []  # smooth: g at each step's midpoint
    norms, coefs = [], []
    lrs = {i: [] for i in range(len(groups))}
    every = max(1, steps // 50)
    # persistent buffers with each group's views made once: no slicing or allocation per step
    x_new, gn = torch.empty_like(x), torch.empty_like(x)
    views = [(gr, x_new[gr.rows], gn[gr.rows]) for gr in groups]
    clip_all = one_clip(groups, n)  # (kind, threshold for all rows) when every group clips alike

    stopped_at = None
    for t in range(steps):
        if deadline is not None and t > 0 and time.monotonic() > deadline:
            stopped_at = t  # steps 0 .. t-1 are done: the histories hold exactly those
            break
        gn.copy_(g)
        xi = eps_noise(t) if eps_noise is not None else None
        if xi is not None:
            gn.add_(xi)  # the gradient the optimizers see
        x_new.copy_(x)
        if oracles:  # the oracle groups' rows of gn become the gradients their updates use
            per_row_counts(evals, groups, oracle_gradients(f, t + 1, views, xi), t)
        norm, coef = clip_rows(gn, clip_all, views)
        for i, (gr, xv, gv) in enumerate(views):
            gr.h["lr"] = lr_t = gr.lr_at(t)
            gr.rule.update(xv, gv, gr.state, gr.h, t + 1)  # in place on the view and the state
            if record:
                lrs[i].append(lr_t)
        project_(x_new, proj)
        if record:
            norms.append(norm)
            coefs.append(coef)
        loss_new, g_new, g_mid = new_point(f, x, x_new, t, record and smoothness, online)
        # finite (|v| < inf is False for NaN too; cheaper than isfinite) and inside the box
        ok = alive & (loss_new.abs() < INF) & ((x_new >= lo) & (x_new <= hi)).all(-1)
        if record:
            ok &= (g_new.abs() < INF).all(-1)
            grads.append(g)
            if smoothness:
                smooth.append(g_mid)  # the estimate itself is computed for all steps at once below
        diverged_at.masked_fill_(alive & ~ok, t + 1)
        alive = ok
        x = torch.where(ok.unsqueeze(-1), x_new, x)  # a new tensor: x_new is a reused buffer
        loss = torch.where(ok, loss_new, loss)
        # a dead row's g goes stale or NaN: harmless, its x and loss no longer change
        g = torch.where(ok.unsqueeze(-1), g_new, g) if record else g_new
        if target is not None:
            hit_at.masked_fill_((hit_at < 0) & ok & (loss_new <= target), t + 1)
        if record:
            xs.append(x)
            losses.append(loss)
        if progress is not None and (t + 1) % every == 0:
            progress((t + 1) / steps)
    out = dict(final_xy=x, final_loss=loss, diverged_at=diverged_at, hit_at=hit_at, stopped_at=stopped_at)
    out["switched_at"], out["switch_lr"] = switches(groups, n)
    if record:
        done = steps if stopped_at is None else stopped_at
        out.update(histories(xs, losses, grads, smooth, norms, coefs, lrs, groups, diverged_at, done))
        after = torch.arange(done).unsqueeze(-1) >= out["switched_at"].clamp(min=0)  # (done, N): SGD updates
        switched = (out["switched_at"] > 0) & after  # from update k + 1 on the row runs SGD at its learned lr
        out["lr"] = torch.where(switched, out["switch_lr"], out["lr"])
        out.update(evaluations=evals, sharpness=sharpness_at(f, x, done + 1))
    return out


def with_oracles(groups: list[Group], seed) -> bool:
    """Whether some group's rule evaluates the loss itself; each zeroth-order group gets its directions' stream."""
    for gr in groups:
        if gr.rule.oracle == "value":
            gr.draw = Draws(seed, gr.rows)
    return any(gr.rule.oracle for gr in groups)


def project_(x: Tensor, proj: tuple[Tensor, Tensor] | None) -> None:
    """x (N, 2) onto the feasible box, in place (the Euclidean projection onto a box is a clamp)."""
    if proj is not None:
        torch.clamp(x, proj[0], proj[1], out=x)


def new_point(f, x: Tensor, x_new: Tensor, t: int, midpoint: bool,
              online: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """(loss, gradient) at the new points on the next step's loss, and (midpoint=True) the gradient at each
    step's midpoint on this step's loss (the smoothness estimate), else None."""
    if midpoint and online:  # two losses: two autograd passes
        g_mid = loss_and_grad(f, x + (x_new - x) / 2, t + 1)[1]
        return (*loss_and_grad(f, x_new, t + 2), g_mid)
    if midpoint:  # the new point and the midpoint in one autograd pass: (2N, 2) rows
        n = x.shape[0]
        both_loss, both_g = loss_and_grad(f, torch.cat([x_new, x + (x_new - x) / 2]), t + 2)
        return both_loss[:n], both_g[:n], both_g[n:]
    return (*loss_and_grad(f, x_new, t + 2), None)


def per_row_counts(evals: Tensor, groups: list[Group], counts: list[tuple[int, int]], t: int) -> None:
    """Each group's (loss values, gradients) per update into its rows of evals, once (at step 0: they stay)."""
    if t > 0:
        return
    for gr, c in zip(groups, counts, strict=True):
        evals[gr.rows] = torch.tensor(c, dtype=torch.int64)


SHARPNESS_ITERS = 100  # power iterations per pass on a 2x2 Hessian: exact to rounding for any sane spectrum


def sharpness_at(f, x: Tensor, t: int) -> Tensor:
    """(N,) the top Hessian eigenvalue of f(., t) at each row's point (NaN where not finite), by power
    iteration on Hessian-vector products (optimizers.sharpness); the 2x2 Hessian is formed once by
    autograd, so each product is a matrix product."""
    with torch.enable_grad():
        xr = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(f(xr, t).sum(), xr, create_graph=True)
        if not g.requires_grad:  # a linear (or constant) loss: its Hessian is zero
            return torch.zeros(x.shape[0], dtype=torch.float64)
        rows = [torch.autograd.grad(g[:, i].sum(), xr, retain_graph=True, allow_unused=True)[0] for i in range(2)]
    hess = torch.stack([torch.zeros_like(x) if r is None else r for r in rows], dim=1).detach()  # (N, 2, 2)
    ok = torch.isfinite(hess).all(-1).all(-1)
    hess = torch.where(ok[:, None, None], hess, 0.0)
    v0 = torch.randn(2, generator=torch.Generator().manual_seed(0), dtype=torch.float64).expand_as(x)
    top = top_eigenvalue(lambda v: (hess @ v.unsqueeze(-1)).squeeze(-1), v0, SHARPNESS_ITERS)
    return torch.where(ok, top, float("nan"))


def initial_state(f, groups: list[Group], x0: Tensor, target: float | None) -> tuple[Tensor, ...]:
    """Step 0 of run: (x, loss, g, alive, diverged_at, hit_at) at the start points; each group's
    optimizer state made for its rows."""
    n = x0.shape[0]
    x = x0.to(torch.float64).clone()
    loss, g = loss_and_grad(f, x, 1)
    alive = torch.isfinite(loss) & torch.isfinite(g).all(-1)
    diverged_at = torch.where(alive, -1, 0)
    hit_at = torch.full((n,), -1, dtype=torch.int64)
    if target is not None:
        hit_at = torch.where(alive & (loss <= target), 0, hit_at)
    for gr in groups:
        gr.state = gr.rule.init(x[gr.rows], gr.h)
    return x, loss, g, alive, diverged_at, hit_at


def switches(groups: list[Group], n: int) -> tuple[Tensor, Tensor]:
    """(switched_at, switch_lr), (N,) each, from the rules that switch mid-run (SWATS: Rule.switch): the
    update after which a row ran its second rule (-1: it never switched, or its rule does not) and the
    lr it learned for it (NaN where it did not switch)."""
    at = torch.full((n,), -1, dtype=torch.int64)
    lr = torch.full((n,), float("nan"), dtype=torch.float64)
    for gr in groups:
        if gr.rule.switch is None or gr.state is None:
            continue
        k, learned = gr.rule.switch(gr.state)
        done = k > 0
        at[gr.rows] = torch.where(done, k.to(torch.int64), -1)
        lr[gr.rows] = torch.where(done, learned.to(torch.float64), float("nan"))
    return at, lr


def clip_rows(gn: Tensor, clip_all, views: list) -> tuple[Tensor, Tensor]:
    """(norm, coef), (N,) each: gn clipped in place, in one call where every group clips alike
    (clip_all from one_clip), else group by group on its view."""
    if clip_all is not None:
        return clip_with_coef_(gn, *clip_all, validate=False)
    parts = [clip_with_coef_(gv, gr.clip_kind, gr.threshold, validate=False) for gr, _, gv in views]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def histories(xs: list, losses: list, grads: list, smooth: list, norms: list, coefs: list, lrs: dict,
              groups: list[Group], diverged_at: Tensor, done: int) -> dict:
    """run's per-step lists stacked into its recorded tensors (done: the steps taken)."""
    n = diverged_at.shape[0]
    xy = torch.stack(xs)
    grad = torch.stack(grads) if grads else torch.empty(0, n, 2, dtype=torch.float64)
    stack = lambda v: torch.stack(v) if v else torch.empty(0, n, dtype=torch.float64)
    return dict(xy=xy, loss=torch.stack(losses), grad=grad, grad_norm=stack(norms),
                clip_coef=stack(coefs), lr=per_row(lrs, groups, n, done),
                smoothness=smoothness_estimate(xy, grad, torch.stack(smooth), diverged_at) if smooth
                else torch.full((done, n), float("nan"), dtype=torch.float64))


def one_clip(groups: list[Group], n: int) -> tuple[str, float | Tensor] | None:
    """(kind, threshold) clipping all N rows in one call, where every group uses the same kind."""
    kinds = {gr.clip_kind for gr in groups}
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    ths = [gr.threshold for gr in groups]
    if all(not isinstance(v, Tensor) for v in ths) and len(set(ths)) == 1:
        return kind, ths[0]
    return kind, torch.cat([v.reshape(-1) if isinstance(v, Tensor) else
                            torch.full((gr.rows.stop - gr.rows.start,), float(v), dtype=torch.float64)
                            for gr, v in zip(groups, ths, strict=True)])


def per_row(hist: dict[int, list], groups: list[Group], n: int, steps: int) -> Tensor:
    """(steps, N) from each group's per-step values: (rows,) tensors, (rows, 1) tensors or floats."""
    out = torch.empty(steps, n, dtype=torch.float64)
    for i, gr in enumerate(groups):
        vals = hist[i]
        if vals and isinstance(vals[0], Tensor):
            out[:, gr.rows] = torch.stack([v.reshape(-1) for v in vals]).to(torch.float64)
        else:
            out[:, gr.rows] = torch.tensor(vals, dtype=torch.float64).unsqueeze(-1)
    return out


def smoothness_estimate(xy: Tensor, g: Tensor, g_mid: Tensor, diverged_at: Tensor) -> Tensor:
    """(steps, N) ||g(x + d/2) - g(x)|| / (||d||/2), d = x[t+1] - x[t] the step taken (Zhang et al. 2020).

    xy (steps+1, N, 2), g and g_mid (steps, N, 2); NaN where d = 0 or the row had diverged.
    All steps at once after the loop: a handful of ops instead of a handful per step.
    """
    half = torch.linalg.vector_norm(xy[1:] - xy[:-1], dim=-1) / 2
    est = torch.linalg.vector_norm(g_mid - g, dim=-1) / half
    t = torch.arange(1, g.shape[0] + 1).unsqueeze(-1)  # (steps, 1): the update number
    alive = (diverged_at < 0) | (t < diverged_at)  # the update at t kept the row finite
    return est.masked_fill_(~(alive & (half > 0) & (est.abs() < INF)), float("nan"))


def lr_sequence(lr, steps: int, schedule) -> Callable[[int], float | Tensor]:
    """lr_at(t): the lr of step t, a float (scalar lr) or an (N, 1) tensor (per-row lr or schedule kw).

    schedule: None, (name, kwargs) or an optimizers.Sequential (a chain of phases). Scalar schedules
    are computed once (floats keep the optimizers' fused scalar path); per-row ones once as a (steps, N)
    table where it is small (LR_TABLE values: a bank of the tune strip, whose rows each have their own lr;
    asked at every step the schedule cost it a fifth of its time), else step by step, so a 10^6-row sweep never holds
    a (steps, N) table. Both give the same numbers: the table is `at` over every step at once.
    """
    chain = as_sequential(schedule)
    if chain is None:
        return lambda t: lr
    flat = lambda v: v.to(torch.float64).reshape(-1) if isinstance(v, Tensor) else v  # noqa: E731
    chain = optimizers.Sequential(tuple((name, {k: flat(v) for k, v in kw.items()}) for name, kw in chain.schedules),
                                  chain.milestones)
    lr_flat = flat(lr)
    first = chain.at(lr_flat, steps, 0)  # validates names, arguments and values
    if first.dim() == 0:
        table = chain.values(lr_flat, steps).tolist()
        return lambda t: table[t]
    if steps * first.numel() <= LR_TABLE:
        rows = chain.values(lr_flat, steps).unsqueeze(-1)  # (steps, N, 1)
        return lambda t: rows[t]
    return lambda t: chain.at(lr_flat, steps, t, validate=False).unsqueeze(-1)


def to_numpy(out: dict) -> dict:
    return {k: v.numpy() if isinstance(v, Tensor) else np.asarray(v) for k, v in out.items()}
