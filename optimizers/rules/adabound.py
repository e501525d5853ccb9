"""AdaBound and AMSBound, as the authors' package (adabound.AdaBound, adabound 0.0.5).

Adam whose per-coordinate step size is clipped into a band [lower_t, upper_t] that closes
on final_lr as t grows, so the method moves from Adam-like to SGD-like.

Where the package differs from the paper (Luo et al. 2019, Algorithm 2), we follow the package:
- the bias corrections are folded into the step size, lr * sqrt(1 - b2^t) / (1 - b1^t), and the
  clipping is applied to step_size / (sqrt(v) + eps) (the paper clips alpha / sqrt(V) and has
  no bias correction and no eps);
- the band's target is final_lr * lr / base_lr, so a learning-rate scheduler that scales lr
  scales final_lr too. base_lr is the lr the parameter group was created with; it is kept in
  the per-parameter state at init, read from group["initial_lr"] when a torch scheduler has
  set it (schedulers record the lr they started from there), else from the current lr.
  The trajectory engine, calling the rule directly with a scheduled lr, passes "initial_lr"
  in h for the same behaviour;
- the bounds are final_lr (1 - 1/(gamma t + 1)) and final_lr (1 + 1/(gamma t));
  gamma = 0 (a ZeroDivisionError in the package) is taken as an open upper bound;
- weight decay is an L2 penalty added to the gradient.
"""
from __future__ import annotations

import math

import torch

from ..base import HParam, Rule, Spec
from ..ops import add_, addcmul_, is_zero
from ..registry import register
from .adam import BETAS, EPS

Tensor = torch.Tensor


def _sqrt(x):
    return x.sqrt() if isinstance(x, Tensor) else math.sqrt(x)


def _clamp(x: Tensor, lo, hi) -> Tensor:
    """x clamped into [lo, hi] in place; lo and hi floats or tensors broadcast against x."""
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        return x.copy_(torch.minimum(torch.maximum(x, torch.as_tensor(lo, dtype=x.dtype, device=x.device)),
                                     torch.as_tensor(hi, dtype=x.dtype, device=x.device)))
    return x.clamp_(lo, hi)


def _scaled_final_lr(final_lr, lr, base_lr):
    """final_lr * lr / base_lr, as the package; a zero base_lr (lr = 0 from the start) gives 0, not nan."""
    if isinstance(base_lr, Tensor):
        return torch.where(base_lr == 0, 0.0, final_lr * lr / torch.where(base_lr == 0, 1.0, base_lr))
    return final_lr * lr / base_lr if base_lr != 0 else 0.0 * final_lr * lr


def init(p, h):
    s = {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p),
         "base_lr": h.get("initial_lr", h["lr"])}
    if h["amsbound"]:
        s["max_exp_avg_sq"] = torch.zeros_like(p)
    return s


def update(p, g, s, h, t):
    b1, b2 = h["betas"]
    lr, wd, gamma = h["lr"], h["weight_decay"], h["gamma"]
    if not is_zero(wd):
        g = add_(g.clone(), p, wd)  # L2 penalty: g + wd * p
    m, v = s["exp_avg"], s["exp_avg_sq"]
    add_(m.mul_(b1), g, 1 - b1)  # m = b1 m + (1 - b1) g
    addcmul_(v.mul_(b2), g, g, 1 - b2)  # v = b2 v + (1 - b2) g^2
    if h["amsbound"]:
        torch.maximum(s["max_exp_avg_sq"], v, out=s["max_exp_avg_sq"])
        v = s["max_exp_avg_sq"]
    denom = v.sqrt().add_(h["eps"])  # (N, D), no bias correction inside
    step_size = lr * _sqrt(1 - b2**t) / (1 - b1**t)  # float or (N, 1)
    final_lr = _scaled_final_lr(h["final_lr"], lr, s["base_lr"])
    lower = final_lr * (1 - 1 / (gamma * t + 1))
    if isinstance(gamma, Tensor):
        upper = final_lr * (1 + 1 / (gamma * t))  # gamma = 0 gives inf
    else:
        upper = final_lr * (1 + 1 / (gamma * t)) if gamma != 0 else math.inf
    # the package fills a tensor with step_size and divides (a float / tensor would round differently)
    eta = torch.full_like(denom, step_size).div_(denom) if not isinstance(step_size, Tensor) else step_size / denom
    _clamp(eta, lower, upper).mul_(m)
    p.sub_(eta)


RULE = Rule(init, update)

_HP = (
    HParam("lr", 1e-3, 1e-5, 1.0, log=True, help="Adam step size at the start"),
    BETAS,
    HParam("final_lr", 0.1, 1e-4, 1.0, log=True, help="the SGD step size the bounds close on"),
    HParam("gamma", 1e-3, 1e-5, 1e-1, log=True, valid=(0.0, 1.0), open_high=True,
           help="how fast the bounds close: the band is about final_lr / (gamma t) wide"),
    EPS,
    HParam("weight_decay", 0.0, 0.0, 0.1, help="L2 penalty added to the gradient"),
)
_LATEX = (r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\ "
          r"\eta_t = \mathrm{clip}\!\left(\frac{\alpha\sqrt{1-\beta_2^t}/(1-\beta_1^t)}{\sqrt{v_t}+\epsilon},\ "
          r"\alpha^*\big(1-\tfrac{1}{\gamma t+1}\big),\ \alpha^*\big(1+\tfrac{1}{\gamma t}\big)\right),\ "
          r"\theta_t = \theta_{t-1} - \eta_t \odot m_t")
_PAPER = "Luo, Xiong, Liu & Sun 2019, Adaptive Gradient Methods with Dynamic Bound of Learning Rate"

register(Spec(
    "adabound", "AdaBound", RULE, _HP, latex=_LATEX, paper=_PAPER,
    reference="adabound.AdaBound", fixed={"amsbound": False},
))
register(Spec(
    "amsbound", "AMSBound", RULE, _HP,
    latex=_LATEX.replace(r"{\sqrt{v_t}", r"{\sqrt{\max_{s\le t} v_s}"), paper=_PAPER,
    reference="adabound.AdaBound(amsbound=True)", fixed={"amsbound": True},
))
