"""Gradient clipping, per row: norms reduce over the last dimension only.

A gradient is a tensor (..., D): the leading dimensions index independent models, the last
holds one model's parameters (docs/architecture.md). On a surface a (N, 2) gradient is N points and
every point is clipped on its own; in training the runner flattens a whole model's gradients
into one buffer (P,), so the same line of code clips by the model's global norm, exactly as
torch.nn.utils.clip_grad_norm_(model.parameters(), threshold) does.

Kinds (coef is the factor each row's gradient is scaled by; norm = ||g||_2 before clipping):
  "none":   coef = 1
  "norm":   coef = min(1, threshold / (norm + 1e-6))      torch.nn.utils.clip_grad_norm_
  "smooth": coef = threshold / (norm + threshold)         Zhang et al. 2020, gamma / (||g|| + gamma)
  "value":  g = clamp(g, -threshold, threshold)           torch.nn.utils.clip_grad_value_
            coef reported as ||clipped|| / ||g|| (1 where ||g|| = 0); the direction may change.

threshold: a float, or a tensor of shape grad.shape[:-1] (one threshold per row, for sweeps);
a tensor of shape grad.shape[:-1] + (1,), the (N, 1) layout hyperparameters use, is accepted too.
"""
from __future__ import annotations

import math

import torch

from .base import as_float, shown

Tensor = torch.Tensor

_KINDS = ("none", "norm", "smooth", "value")
_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_'s guard against a zero norm


def clip_kinds() -> list[str]:
    """The clipping kinds clip_ understands, in the order the UI lists them."""
    return list(_KINDS)


def check_clip(kind: str, threshold, shape: tuple[int, ...] | torch.Size | None = None) -> None:
    """Raise ValueError unless (kind, threshold) is a valid clipping setting.

    threshold must be a finite number > 0, or a tensor whose elements all are; with `shape`
    (the row shape grad.shape[:-1]) a tensor threshold must have that shape or broadcast to it
    without growing it. For kind "none" the threshold is ignored (it may be None).
    A tensor threshold costs one host sync here, which is why the engine validates once
    and then calls clip_with_coef_(..., validate=False) every step.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown clipping kind {kind!r}; choose one of: {', '.join(_KINDS)}")
    if kind == "none":
        return
    if isinstance(threshold, Tensor):
        if threshold.is_complex() or threshold.dtype == torch.bool:
            raise ValueError(f"clip threshold must be a real tensor, got dtype {threshold.dtype}")
        if threshold.numel() == 0:
            raise ValueError("clip threshold tensor is empty")
        t = threshold.detach()
        if not bool((torch.isfinite(t) & (t > 0)).all()):
            raise ValueError(f"clip threshold must be finite and > 0 in every row, got {threshold}")
        if shape is not None:
            shape = tuple(shape)
            tshape = _row_shape(threshold, shape)
            try:
                ok = torch.broadcast_shapes(tshape, shape) == torch.Size(shape)
            except RuntimeError:
                ok = False
            if not ok:
                raise ValueError(
                    f"clip threshold of shape {tuple(threshold.shape)} does not fit rows of shape {shape}: "
                    "give a float, or a tensor of shape grad.shape[:-1] (one threshold per row)"
                )
        return
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ValueError(f"clip threshold must be a number or a tensor, got {type(threshold).__name__}")
    if not (math.isfinite(as_float(threshold)) and threshold > 0):
        raise ValueError(f"clip threshold must be finite and > 0, got {shown(threshold)}")


def _row_shape(threshold: Tensor, rows: tuple[int, ...]) -> torch.Size:
    """The threshold's shape as seen against the rows: a trailing 1 of an (N, 1) layout dropped."""
    if threshold.dim() == len(rows) + 1 and threshold.shape[-1] == 1:
        return threshold.shape[:-1]
    return threshold.shape


def clip_with_coef_(grad: Tensor, kind: str, threshold, *, validate: bool = True) -> tuple[Tensor, Tensor]:
    """Clip grad (..., D) in place, per row; return (norms, coef), both of shape grad.shape[:-1].

    norms: the L2 norm of each row before clipping. coef: the factor each row was scaled by
    (for "value", ||clipped|| / ||g||, and 1 for a zero row). No Python loop over rows and,
    with validate=False, no host sync: a handful of tensor ops however many rows there are.
    """
    if validate:
        if not isinstance(grad, Tensor) or grad.dim() < 1:
            raise ValueError("clip_ needs a gradient tensor with at least one dimension (..., D)")
        check_clip(kind, threshold, grad.shape[:-1])
    norms = torch.linalg.vector_norm(grad, dim=-1)  # (...)
    if kind == "none":
        return norms, torch.ones_like(norms)
    if isinstance(threshold, Tensor):
        if threshold.dim() == grad.dim() and threshold.shape[-1] == 1:
            threshold = threshold.squeeze(-1)  # (N, 1) hyperparameter layout -> (N,)
        threshold = threshold.to(device=grad.device, dtype=norms.dtype)
    else:
        threshold = float(threshold)  # torch takes no Python int beyond int64 (10**19) as a bound
    if kind == "norm":
        coef = (threshold / (norms + _EPS)).clamp_(max=1.0)  # exactly clip_grad_norm_'s clip_coef_clamped
    elif kind == "smooth":
        coef = threshold / (norms + threshold)
    elif kind == "value":
        if isinstance(threshold, Tensor):
            bound = threshold.unsqueeze(-1)  # (..., 1) against (..., D)
            grad.clamp_(min=-bound, max=bound)
        else:
            grad.clamp_(min=-threshold, max=threshold)
        after = torch.linalg.vector_norm(grad, dim=-1)
        coef = torch.where(norms > 0, after / norms, torch.ones_like(norms))
        return norms, coef
    else:  # only reachable with validate=False
        raise ValueError(f"unknown clipping kind {kind!r}; choose one of: {', '.join(_KINDS)}")
    grad.mul_(coef.unsqueeze(-1))
    return norms, coef


def clip_(grad: Tensor, kind: str, threshold) -> Tensor:
    """Clip grad (..., D) in place, per row; return the pre-clip norms, shape grad.shape[:-1].

    The public contract (docs/architecture.md). See the module docstring for the kinds; a 1-D grad
    (a whole model flattened into one buffer) is one row and gives a 0-d norm.
    """
    return clip_with_coef_(grad, kind, threshold)[0]
