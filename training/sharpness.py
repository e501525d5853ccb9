"""A training model's sharpness: the top eigenvalue of the Hessian of its training loss, measured at an
evaluation point (opt-in: Job.sharpness, `--sharpness`).

The same power iteration as the explorer's summary (optimizers.sharpness.top_eigenvalue), here with
Hessian-vector products by double backward through the model: the whole model is one row (its
parameters flattened, as training/flat.py makes it). Its cost is bounded: ITERS products per pass,
two passes, each product about two backward passes, on one fixed batch (the same at every
measurement, so values over a run compare); the time counts as evaluation time, not training.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from optimizers.sharpness import top_eigenvalue

ITERS = 20  # power iterations per pass: 40 Hessian-vector products at most per measurement
TOL = 1e-3  # a pass stops once the estimate changes by less than this, relatively


def model_sharpness(loss_fn: Callable[[], torch.Tensor], params: list[torch.Tensor], generator: torch.Generator,
                    iters: int = ITERS, tol: float = TOL) -> float:
    """The top Hessian eigenvalue of loss_fn() with respect to params (all of them together), in float32
    or the parameters' dtype, without autocast; cuDNN is off for the double backward (its RNNs have none)."""
    with torch.enable_grad(), torch.autocast(params[0].device.type, enabled=False), \
            torch.backends.cudnn.flags(enabled=False):
        loss = loss_fn()
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        flat = torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads,
                                                                                                 strict=True)])

        def hvp(v: torch.Tensor) -> torch.Tensor:
            if not flat.requires_grad:  # a loss linear in the parameters
                return torch.zeros_like(v)
            hv = torch.autograd.grad(flat, params, grad_outputs=v, retain_graph=True, allow_unused=True)
            return torch.cat([(torch.zeros_like(p) if h is None else h).reshape(-1) for p, h in zip(params, hv,
                                                                                                    strict=True)])

        v0 = torch.randn(flat.numel(), generator=generator, device=flat.device, dtype=flat.dtype)
        top = top_eigenvalue(hvp, v0, iters, tol=tol)
    return float(top)
