"""In-place tensor ops whose coefficient may be a float or a tensor broadcast against the rows.

torch's fused in-place ops take a Python number for `alpha`/`value`; a sweep passes a
tensor of shape (N, 1) instead. These helpers pick the fused op for floats (fast, exactly
torch.optim's arithmetic) and a broadcast multiply for tensors.
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor


def add_(p: Tensor, x: Tensor, a) -> Tensor:
    """p += a * x."""
    if isinstance(a, Tensor):
        return p.addcmul_(x, a)
    return p.add_(x, alpha=a)


def addcdiv_(p: Tensor, num: Tensor, den: Tensor, a) -> Tensor:
    """p += a * num / den."""
    if isinstance(a, Tensor):
        return p.add_(a * num / den)
    return p.addcdiv_(num, den, value=a)


def addcmul_(p: Tensor, x: Tensor, y: Tensor, a) -> Tensor:
    """p += a * x * y."""
    if isinstance(a, Tensor):
        return p.add_(a * x * y)
    return p.addcmul_(x, y, value=a)


def is_zero(a) -> bool:
    """True for a float 0 (a tensor is never skipped: some rows may be non-zero)."""
    return not isinstance(a, Tensor) and a == 0
