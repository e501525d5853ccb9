"""SWATS: start with Adam, switch to SGD with momentum once a learned SGD step size settles.

Keskar & Socher 2017, Algorithm 1, transcribed per row (the last dimension is one model):
the Adam step p_k = -lr sqrt(1 - b2^k) / (1 - b1^k) m_k / (sqrt(a_k) + eps) is projected on the
gradient to estimate the SGD step size that would take the same step along it,
gamma_k = p_k.p_k / (-p_k.g_k) (a reduction over the last dimension: per point on a surface,
per parameter tensor through build(), over the whole model when the runner flattens it), with
average lambda_k = b2 lambda_{k-1} + (1 - b2) gamma_k. A row switches, for good, when k > 1 and
|lambda_k / (1 - b2^k) - gamma_k| < eps; from the next step it runs SGD with momentum,
v_k = b1 v_{k-1} + g_k, x_k = x_{k-1} - (1 - b1) Lambda v_k, with the learned
Lambda = lambda_k / (1 - b2^k). Each row has its own phase (state "sgd", a (..., 1) bool tensor),
its own lambda ("exp_avg_gamma") and Lambda ("sgd_lr").

One eps, as in the paper: Algorithm 1 uses the same epsilon (1e-9) in Adam's denominator and as
the (absolute) switching tolerance. A bigger eps makes the switch come earlier and Adam's
denominator larger at the same time.

Why the paper's 1e-9 rarely switches, and what to set instead. The tolerance is absolute, but
gamma_k is a learning rate whose scale is lr / |a gradient component|: ~1e-4 to 1e-1 on the 2D
surfaces, ~0.2 on the digits MLP. Along a deterministic trajectory gamma_k drifts steadily (0.4 %
a step in Rosenbrock's valley at lr 0.03) and its bias-corrected average Lambda_k lags behind, so
Lambda_k - gamma_k closes only where the two cross, and there it jumps past zero by about the drift
of gamma per step (2e-5 there): the criterion holds only if a step happens to land within eps of the
crossing, a chance of ~eps / (gamma's change per step), 1e-4 for 1e-9. Measured: on rosenbrock,
ravine and quartic from their starts, at lr 1e-3, 1e-2 and 0.1, it never switched in 3000 steps
(the closest |Lambda - gamma| came was 2e-8 to 6e-4). Too large an eps has the opposite failure: at
k = 2, |Lambda_2 - gamma_2| = b2 |gamma_1 - gamma_2| / (1 + b2), about half the change of gamma over
the first step, so where lr is small it switches at once, with a Lambda learned from two steps. So
eps has to fit the scale of gamma's change per step; the preset `swats_switch` uses 1e-5 on
Rosenbrock (a departure from the paper's constant, documented there and in the README), as
Rethinking-SWATS (A. Maiya) found necessary on ResNet-18/CIFAR-10. Reference code differs too:
Mrpatekful/swats and pytorch_optimizer test allclose(rtol=eps) (relative, plus atol 1e-8) and Lambda
> 0; ensmallen's SWATS keeps the absolute test with eps 1e-8. We keep the paper's test.

The switch is recorded: state["switched_at"] = k, the update at which the row met the criterion
(0 while in Adam), read with Rule.switch (the 2D engine's Result.switched_at / switch_lr, the
runner's summary and step rows).

Why not pytorch_optimizer.SWATS (4.1.0) as the reference: it deviates from Algorithm 1. It
tests the switch with a relative tolerance (allclose(rtol=eps), plus torch's default
atol=1e-8) and requires lambda / (1 - b2^k) > 0, adds 1e-15 under Adam's square root, defaults
eps to 1e-6, estimates gamma per parameter tensor but switches the whole param group (to the
last qualifying tensor's rate). We follow the paper; the tests compare with a line-by-line
transcription of Algorithm 1 in Python floats, and with pytorch_optimizer.SWATS only in the
Adam phase, where the two agree.

Weight decay (not in the paper) is an L2 penalty added to the gradient, as torch.optim.Adam
and pytorch-optimizer's default.
"""
from __future__ import annotations

import math

import torch

from ..base import HParam, Rule, Spec
from ..ops import add_, addcdiv_, addcmul_, is_zero
from ..registry import register
from .adam import BETAS

Tensor = torch.Tensor


def _sqrt(x):
    return x.sqrt() if isinstance(x, Tensor) else math.sqrt(x)


def _rows(x: Tensor) -> Tensor:
    return x.view(1) if x.dim() == 0 else x  # a 0-d parameter is one row of one value


def init(p, h):
    rows = _rows(p).shape[:-1] + (1,)  # one phase per row: (..., 1)
    return {
        "exp_avg": torch.zeros_like(p),  # m
        "exp_avg_sq": torch.zeros_like(p),  # a
        "momentum_buffer": torch.zeros_like(p),  # v, zero until the row switches
        "exp_avg_gamma": p.new_zeros(rows),  # lambda
        "sgd_lr": p.new_zeros(rows),  # Lambda, set when the row switches
        "sgd": torch.zeros(rows, dtype=torch.bool, device=p.device),  # phase: False = Adam, True = SGD
        "switched_at": p.new_zeros(rows),  # k, the last Adam update (SGD from k + 1); 0 while in Adam
    }


def update(p, g, s, h, t):
    b1, b2 = h["betas"]
    lr, eps, wd = h["lr"], h["eps"], h["weight_decay"]
    if not is_zero(wd):
        g = add_(g.clone(), p, wd)  # L2 penalty: g + wd * p
    p, g = _rows(p), _rows(g)
    m, a, v = _rows(s["exp_avg"]), _rows(s["exp_avg_sq"]), _rows(s["momentum_buffer"])
    lam, sgd_lr = s["exp_avg_gamma"], s["sgd_lr"]
    sgd = s["sgd"] = s["sgd"].bool()  # (load_state_dict casts state to the parameter's dtype)

    # SGD phase rows: v_k = b1 v_{k-1} + g_k, x_k = x_{k-1} - (1 - b1) Lambda v_k
    v.copy_(torch.where(sgd, add_(v.mul(b1), g, 1.0), 0.0))
    sgd_step = v * ((1 - b1) * sgd_lr)
    # Adam phase rows: p_k = -lr sqrt(1 - b2^k) / (1 - b1^k) m_k / (sqrt(a_k) + eps)
    add_(m.mul_(b1), g, 1 - b1)
    addcmul_(a.mul_(b2), g, g, 1 - b2)
    bc2 = 1 - b2**t
    adam_step = addcdiv_(torch.zeros_like(p), m, a.sqrt().add_(eps), -lr * _sqrt(bc2) / (1 - b1**t))
    p.add_(torch.where(sgd, -sgd_step, adam_step))

    # the SGD step size that projects onto the Adam step: gamma_k = p.p / (-p.g), per row
    pg = (adam_step * g).sum(-1, keepdim=True)  # (..., 1)
    pp = (adam_step * adam_step).sum(-1, keepdim=True)
    live = (pg != 0) & ~sgd
    gamma = pp / torch.where(live, -pg, 1.0)
    lam.copy_(torch.where(live, add_(lam.mul(b2), gamma, 1 - b2), lam))
    if t > 1:
        corrected = lam / bc2
        switch = live & ((corrected - gamma).abs() < eps)
        sgd_lr.copy_(torch.where(switch, corrected, sgd_lr))
        if "switched_at" not in s:  # a state saved before the switch step was recorded
            s["switched_at"] = torch.zeros_like(sgd_lr)
        s["switched_at"].masked_fill_(switch, float(t))
        sgd |= switch


def switch(s) -> tuple[Tensor, Tensor]:
    """(k, Lambda) per row, each (rows,): the Adam update k at which the row met the switching criterion
    (it runs SGD from update k + 1; 0: still Adam) and the learned SGD step size Lambda (its SGD step is
    (1 - b1) Lambda v_k)."""
    at = s.get("switched_at", torch.zeros_like(s["sgd_lr"]))
    return at.reshape(-1), s["sgd_lr"].reshape(-1)


RULE = Rule(init, update, switch=switch)

register(Spec(
    "swats", "SWATS (Adam to SGD)", RULE,
    (
        HParam("lr", 1e-3, 1e-5, 1.0, log=True, help="Adam's step size (the SGD step size is learned)"),
        BETAS,
        HParam("eps", 1e-9, 1e-12, 1e-2, log=True,
               help="Adam's denominator term and the absolute switching tolerance |Λ − γ| < ε (one epsilon, as "
                    "the paper). The paper's 1e-9 rarely switches on a 2D surface: on Rosenbrock γ drifts ~1e-5 a "
                    "step, so Λ − γ jumps past zero; ~1e-5 switches there (preset 'SWATS: from Adam to SGD')"),
        HParam("weight_decay", 0.0, 0.0, 0.1, help="L2 penalty added to the gradient"),
    ),
    latex=(r"\text{Adam: } p_k = -\alpha\frac{\sqrt{1-\beta_2^k}}{1-\beta_1^k}\frac{m_k}{\sqrt{a_k}+\epsilon},\ "
           r"\gamma_k = \frac{p_k^\top p_k}{-p_k^\top g_k},\ \lambda_k = \beta_2\lambda_{k-1} + (1-\beta_2)\gamma_k;\ "
           r"\text{switch when } \Big|\frac{\lambda_k}{1-\beta_2^k} - \gamma_k\Big| < \epsilon;\ "
           r"\text{SGD: } v_k = \beta_1 v_{k-1} + g_k,\ x_k = x_{k-1} - (1-\beta_1)\frac{\lambda_k}{1-\beta_2^k} v_k"),
    paper="Keskar & Socher 2017, Improving Generalization Performance by Switching from Adam to SGD",
    reference="Algorithm 1 of the paper (pytorch_optimizer.SWATS deviates; see the module docstring)",
))
