"""How the torch.optim adapter evaluates what a rule with an oracle asks for, through a closure.

A rule with an oracle (optimizers/base.py, Rule: zeroth-order methods, SAM) names the points where
it needs the loss or the gradient. Here every parameter tensor's j-th point is set at once, the
closure runs once for all of them, and the parameters are put back exactly:

    estimate(opt, closure) -> (loss, (values, gradients))

leaves in each parameter's .grad the gradient its update will use (written in place where .grad
exists, so a flat gradient buffer, training/flat.py, stays the module's buffer) and returns the
loss and how many loss values and gradients the step used.

The closure is torch's: it re-evaluates the model and returns the loss.
  - "grad" rules (SAM): it must compute gradients (zero_grad, loss.backward()), as for LBFGS; it is
    called at the current point first, then at each probe point.
  - "value" rules (zeroth-order): it is called with gradients off and must return the loss without
    calling backward(): one loss (a scalar) for the whole model, or one per row of the parameter
    (shape p.shape[:-1]) for a batch of independent models, e.g. (N, 2) points.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

Tensor = torch.Tensor


def estimate(opt, closure: Callable[[], Tensor]) -> tuple[Tensor | None, tuple[int, int]]:
    rule, name = opt.spec.rule, opt.spec.name
    grad_kind = rule.oracle == "grad"
    loss, used_grads = None, 0
    if grad_kind:
        with torch.enable_grad():
            loss = closure()
        used_grads = 1
    entries = _probes(opt, grad_kind)
    if not entries:
        return loss, (0, used_grads)
    count = max(e[4].shape[0] for e in entries)
    saved = [e[0].detach().clone() for e in entries]
    answers: list[list[Tensor]] = [[] for _ in entries]
    try:
        for j in range(count):
            for (p, *_, points), x0 in zip(entries, saved, strict=True):
                p.copy_(points[j] if j < points.shape[0] else x0)
            out = _call(closure, grad_kind, name)
            if loss is None:
                loss = out  # a zeroth-order rule's first point is the current one
            for i, (p, *_, points) in enumerate(entries):
                if j < points.shape[0]:
                    answers[i].append(_gradient(p) if grad_kind else _value(out, p, name))
    finally:
        for (p, *_), x0 in zip(entries, saved, strict=True):
            p.copy_(x0)
    for (p, h, state, g, _), got in zip(entries, answers, strict=True):
        g_hat = rule.estimate(p, g, torch.stack(got), state, h, state["step"] + 1)
        if p.grad is None or p.grad.shape != p.shape:
            p.grad = g_hat.detach().clone()
        else:
            p.grad.copy_(g_hat)
    values = 0 if grad_kind else count
    return loss, (values, used_grads + (count if grad_kind else 0))


def _probes(opt, grad_kind: bool) -> list[tuple]:
    """(p, h, state, g, points (K, *p.shape)) for every parameter the step updates."""
    rule = opt.spec.rule
    out = []
    for group in opt.param_groups:
        h = opt._hparams(group)
        for p in group["params"]:
            if (grad_kind and p.grad is None) or not p.requires_grad:
                continue
            state = opt.state[p]
            if not state:
                state.update(rule.init(p, h))
                state["step"] = 0
            g = p.grad.detach().clone() if grad_kind else None  # before any closure call changes it
            points = rule.probe(p, g, state, h, state["step"] + 1, _draw(opt, p))
            out.append((p, h, state, g, points))
    return out


def _draw(opt, p: Tensor) -> Callable[[int], Tensor]:
    def draw(k: int) -> Tensor:
        return torch.randn((k, *p.shape), dtype=p.dtype, device=p.device, generator=opt.generator)

    return draw


def _call(closure, grad_kind: bool, name: str) -> Tensor:
    if grad_kind:
        with torch.enable_grad():
            return closure()
    try:
        with torch.no_grad():
            out = closure()
    except RuntimeError as e:
        raise RuntimeError(f"{name} evaluates the loss only: its closure is called with gradients off and must "
                           f"return the loss without calling backward() ({e})") from e
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}: the closure must return the loss as a tensor, got {type(out).__name__}")
    return out.detach()


def _value(out: Tensor, p: Tensor, name: str) -> Tensor:
    """The closure's loss shaped to broadcast against p: (1, ..., 1) for one loss, (*rows, 1) for one per row."""
    if out.numel() == 1:
        return out.reshape([1] * max(p.dim(), 1)).to(p.dtype)
    if p.dim() >= 1 and tuple(out.shape) == tuple(p.shape[:-1]):
        return out.unsqueeze(-1).to(p.dtype)
    raise ValueError(f"{name}: the closure returned a loss of shape {tuple(out.shape)}; give one loss, or one per "
                     f"row of the parameter (shape {tuple(p.shape[:-1])})")


def _gradient(p: Tensor) -> Tensor:
    return torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
