"""Lion (EvoLved Sign Momentum), as lion_pytorch.Lion (lucidrains' lion-pytorch 0.2.5).

The step is the sign of an interpolation between the momentum and the gradient, so every
coordinate moves by exactly lr (before weight decay): a surface shows axis-aligned,
constant-length steps. The momentum is updated after the step with its own rate beta2.
Weight decay is decoupled as in the package's default: p *= 1 - lr * wd.
"""
from __future__ import annotations

import torch

from ..base import HParam, Rule, Spec
from ..ops import add_, is_zero
from ..registry import register


def init(p, h):
    return {"exp_avg": torch.zeros_like(p)}


def update(p, g, s, h, t):
    b1, b2 = h["betas"]
    lr, wd = h["lr"], h["weight_decay"]
    m = s["exp_avg"]
    if not is_zero(wd):
        p.mul_(1 - lr * wd)  # decoupled decay, before the step
    # c = b1 m + (1 - b1) g;  p -= lr sign(c)   (the package's exact op order)
    c = add_(m.mul(b1), g, 1 - b1)
    add_(p, c.sign_(), -lr)
    # m = b2 m + (1 - b2) g, after the step
    add_(m.mul_(b2), g, 1 - b2)


RULE = Rule(init, update)

register(Spec(
    "lion", "Lion", RULE,
    (
        HParam("lr", 1e-4, 1e-6, 1e-1, log=True, help="size of every coordinate's step (sign update)"),
        HParam("betas", (0.9, 0.99), 0.0, 0.999, kind="pair", valid=(0.0, 1.0),
               help="beta1: gradient weight in the step's sign; beta2: decay of the momentum"),
        HParam("weight_decay", 0.0, 0.0, 1.0, help="decoupled decay: p *= 1 - lr * wd each step"),
    ),
    latex=(r"c_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\ "
           r"\theta_t = (1-\eta\lambda)\theta_{t-1} - \eta\,\mathrm{sign}(c_t),\ "
           r"m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t"),
    paper="Chen et al. 2023, Symbolic Discovery of Optimization Algorithms",
    reference="lion_pytorch.Lion",
))
