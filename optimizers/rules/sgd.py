"""SGD, heavy-ball momentum and Nesterov momentum, as torch.optim.SGD."""
from __future__ import annotations

import torch

from ..base import HParam, Rule, Spec
from ..ops import add_, is_zero
from ..registry import register

LR = HParam("lr", 1e-3, 1e-5, 10.0, log=True, help="step size")
WD = HParam("weight_decay", 0.0, 0.0, 0.1, help="L2 penalty added to the gradient")
DAMPENING = HParam("dampening", 0.0, 0.0, 0.99, help="fraction of the new gradient left out of the buffer")


def init(p, h):
    return {}


def update(p, g, s, h, t):
    # d = g + wd * p;  b = mu * b + (1 - dampening) * d  (b = d at t = 1);  p -= lr * (d + mu * b or b)
    mu, wd = h["momentum"], h["weight_decay"]
    if not is_zero(wd):  # torch's fused grad.add(param, alpha=wd) for a float: bit-exact
        d = g + wd * p if isinstance(wd, torch.Tensor) else g.add(p, alpha=wd)
    else:
        d = g
    if not is_zero(mu):
        b = s.get("momentum_buffer")
        if b is None:
            b = s["momentum_buffer"] = d.clone()
        else:
            b.mul_(mu)
            add_(b, d, 1 - h["dampening"])
        if h["nesterov"]:
            step = d + mu * b if isinstance(mu, torch.Tensor) else d.add(b, alpha=mu)
        else:
            step = b
        if isinstance(mu, torch.Tensor):  # torch.optim skips the buffer (and dampening) where momentum == 0
            step = torch.where(mu == 0, d, step)
        d = step
    add_(p, d, -h["lr"])


RULE = Rule(init, update)
_PAPER_MOMENTUM = "Polyak 1964, Some methods of speeding up the convergence of iteration methods"

register(Spec(
    "sgd", "SGD", RULE, (LR, WD),
    latex=r"\theta_{t} = \theta_{t-1} - \eta\, g_t",
    paper="Robbins & Monro 1951, A stochastic approximation method",
    reference="torch.optim.SGD", fixed={"momentum": 0.0, "dampening": 0.0, "nesterov": False},
))
register(Spec(
    "momentum", "SGD + momentum", RULE,
    (LR, HParam("momentum", 0.9, 0.0, 0.999, help="fraction of the previous step kept"), DAMPENING, WD),
    latex=r"b_t = \mu b_{t-1} + (1-\tau) g_t,\quad \theta_t = \theta_{t-1} - \eta\, b_t",
    paper=_PAPER_MOMENTUM,
    reference="torch.optim.SGD(momentum=0.9)", fixed={"nesterov": False},
))
register(Spec(
    "nesterov", "SGD + Nesterov momentum", RULE,
    (LR, HParam("momentum", 0.9, 0.0, 0.999, help="fraction of the previous step kept"), WD),
    latex=r"b_t = \mu b_{t-1} + g_t,\quad \theta_t = \theta_{t-1} - \eta\,(g_t + \mu b_t)",
    paper="Nesterov 1983; Sutskever et al. 2013, On the importance of initialization and momentum",
    reference="torch.optim.SGD(momentum=0.9, nesterov=True)", fixed={"nesterov": True, "dampening": 0.0},
))
