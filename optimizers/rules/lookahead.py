"""Lookahead around Adam, as pytorch_optimizer.Lookahead(torch.optim.Adam(...), k=5, alpha=0.5).

The inner Adam (the `adam` rule, L2 weight decay as torch.optim.Adam) moves the fast weights
every step; every k steps the fast weights are pulled back towards the slow weights,
p <- p + (1 - alpha) (slow - p) = slow + alpha (p - slow), and the slow weights take the result.
The inner Adam's moments are kept across the pull-back (pullback_momentum="none").

Matching pytorch-optimizer: the slow weights start as a copy of the initial parameters (the
package copies them at construction, we at the first step, before the parameters have moved),
and the counter is the step count, so the pull-back follows steps k, 2k, 3k, ...
(The package counts steps per parameter group, we per parameter: they differ only for a
parameter that has no gradient on some steps.) k may also be a tensor of shape (N, 1): each
row then pulls back on its own period.
"""
from __future__ import annotations

import torch

from ..base import HParam, Rule, Spec
from ..registry import register
from .adam import BETAS, EPS
from .adam import RULE as ADAM


def init(p, h):
    s = ADAM.init(p, h)
    s["slow_params"] = p.detach().clone()
    return s


def update(p, g, s, h, t):
    ADAM.update(p, g, s, h, t)  # the fast weights: one Adam step
    k, alpha, slow = h["k"], h["alpha"], s["slow_params"]
    if isinstance(k, torch.Tensor):  # each row its own period: (N, 1) mask
        sync = torch.remainder(torch.as_tensor(t, device=k.device), k) == 0
        p.copy_(torch.where(sync, p.lerp(slow, 1 - alpha), p))
        slow.copy_(torch.where(sync, p, slow))
    elif t % int(k) == 0:
        p.lerp_(slow, 1 - alpha)  # p = alpha p + (1 - alpha) slow
        slow.copy_(p)


RULE = Rule(init, update)

register(Spec(
    "lookahead", "Lookahead (Adam)", RULE,
    (
        HParam("lr", 1e-3, 1e-5, 1.0, log=True, help="the inner Adam's step size"),
        BETAS,
        EPS,
        HParam("weight_decay", 0.0, 0.0, 0.1, help="the inner Adam's L2 penalty added to the gradient"),
        HParam("k", 5, 1, 20, kind="int", valid=(1, float("inf")), help="inner steps between pull-backs"),
        HParam("alpha", 0.5, 0.0, 1.0, valid=(0.0, 1.0),
               help="slow weights step: fraction of the way to the fast weights (1 = plain Adam)"),
    ),
    latex=(r"\text{Adam on fast weights } \theta_t;\ \text{every } k \text{ steps: } "
           r"\phi \leftarrow \phi + \alpha(\theta_t - \phi),\ \theta_t \leftarrow \phi"),
    paper="Zhang, Lucas, Hinton & Ba 2019, Lookahead Optimizer: k steps forward, 1 step back",
    reference="pytorch_optimizer.Lookahead(torch.optim.Adam(...), k=5, alpha=0.5)",
    fixed={"amsgrad": False, "decoupled": False},
))
