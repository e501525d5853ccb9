"""Zeroth-order optimizers: a gradient estimated from loss values alone, then an ordinary update.

The two-point random-direction estimator, per row (the last dimension is one model, d its length),
from q directions u_1..u_q and the loss f at x and at x + mu u_j (q + 1 values per step):

    g_hat = c / q * sum_j (f(x + mu u_j) - f(x)) / mu * u_j

  - "gaussian": u_j ~ N(0, I_d), c = 1: Nesterov & Spokoiny 2017's gradient-free oracle, the
    estimator of Ghadimi & Lan 2013's ZO-SGD (RSGF). Its mean is the gradient of the Gaussian
    smoothing f_mu(x) = E f(x + mu u); |grad f_mu - grad f| <= mu/2 L (d + 3)^(3/2) for an L-smooth f
    (Nesterov & Spokoiny, Lemma 3), and for a quadratic f_mu - f is a constant, so the estimate is
    unbiased for grad f itself (tests/test_zeroth_order.py checks a Monte-Carlo mean).
  - "sphere": u_j uniform on the unit sphere, c = d: the estimator of Liu et al. 2019 (ZO-signSGD,
    their Eq. 3 with one sample per step), the gradient of the uniform-ball smoothing; unbiased
    for a quadratic too.

The update is then an ordinary first-order rule on g_hat, the one the registry has: ZO-SGD runs the
`sgd` rule's update, ZO-signSGD x <- x - lr sign(g_hat) (signSGD, Bernstein et al. 2018, here with
the zeroth-order estimate as in Liu et al.'s Algorithm 1). The caller (optimizers/base.py, Rule)
evaluates the points and hands g_hat on like any gradient: clipping clips it, the diagnostics'
gradient norm is its norm, and the loss it reads is the same minibatch's at every point of a step.

The directions come from the caller's random stream (draw): on a surface one stream per seed,
shared by every row with that seed (a row of a sweep equals its single run), through build() the
torch generator in `optimizer.generator` (torch's global one where that is None).
"""
from __future__ import annotations

import torch

from ..base import HParam, Rule, Spec
from ..registry import register
from .sgd import init as sgd_init
from .sgd import update as sgd_update

Tensor = torch.Tensor
MAX_DIRECTIONS = 32  # q + 1 copies of the parameters per step: the cap keeps a step's memory bounded


def _directions(p: Tensor, q: int, draw, sphere: bool) -> Tensor:
    """(q, *B) directions: standard normal, or normalised per row onto the unit sphere."""
    u = draw(q)
    if sphere:
        u = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True).clamp_min(torch.finfo(u.dtype).tiny)
    return u


def probe(p, g, s, h, t, draw, *, sphere: bool) -> Tensor:
    """(q + 1, *p.shape): x itself, then x + mu u_j; the directions wait in the state for estimate."""
    q = h["directions"]
    if isinstance(q, Tensor):
        raise ValueError("the number of directions cannot differ between rows (sweep another hyperparameter)")
    u = _directions(p, int(q), draw, sphere)
    s["directions_u"] = u
    x = p.detach()
    return torch.cat([x.unsqueeze(0), x + h["mu"] * u])


def estimate(p, g, answers, s, h, t, *, sphere: bool) -> Tensor:
    """g_hat from the values (q + 1, *B): c / q * sum_j (f_j - f_0) / mu * u_j."""
    u = s.pop("directions_u")  # (q, *B)
    f0, fj = answers[0], answers[1:]
    c = (p.shape[-1] if p.dim() else 1) if sphere else 1
    g_hat = ((fj - f0) / h["mu"] * u).mean(0) * c
    return g_hat.expand_as(p).to(p.dtype)


def _probe_gauss(*a):
    return probe(*a, sphere=False)


def _estimate_gauss(*a):
    return estimate(*a, sphere=False)


def _probe_sphere(*a):
    return probe(*a, sphere=True)


def _estimate_sphere(*a):
    return estimate(*a, sphere=True)


def sign_update(p, g, s, h, t):
    # signSGD: p -= lr * sign(g)
    step = torch.sign(g)
    lr = h["lr"]
    if isinstance(lr, Tensor):
        p.sub_(lr * step)
    else:
        p.add_(step, alpha=-lr)


def sign_init(p, h):
    return {}


def _mu(default: float) -> HParam:
    return HParam("mu", default, 1e-6, 1.0, log=True, valid=(1e-12, float("inf")),
                  help="smoothing radius: how far from x the loss is probed")


def _q(default: int) -> HParam:
    return HParam("directions", default, 1, MAX_DIRECTIONS, kind="int", valid=(1, MAX_DIRECTIONS),
                  help=f"random directions per step (each costs one loss evaluation; at most {MAX_DIRECTIONS})")


_ESTIMATOR = r"\hat g_t = \frac{c}{q}\sum_{j=1}^{q} \frac{f(\theta_{t-1} + \mu u_j) - f(\theta_{t-1})}{\mu}\, u_j"

register(Spec(
    "zo_sgd", "ZO-SGD (two-point, Gaussian)",
    Rule(sgd_init, sgd_update, oracle="value", probe=_probe_gauss, estimate=_estimate_gauss),
    (HParam("lr", 1e-3, 1e-5, 1.0, log=True, help="step size"), _mu(1e-3), _q(1)),
    latex=_ESTIMATOR + r",\ u_j \sim N(0, I),\ c = 1;\quad \theta_t = \theta_{t-1} - \eta\, \hat g_t",
    paper="Nesterov & Spokoiny 2017, Random gradient-free minimization of convex functions; Ghadimi & Lan "
          "2013, Stochastic first- and zeroth-order methods for nonconvex stochastic programming",
    reference="the two-point estimator transcribed (tests/test_zeroth_order.py), then torch.optim.SGD's update",
    fixed={"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0},
))
register(Spec(
    "zo_signsgd", "ZO-signSGD",
    Rule(sign_init, sign_update, oracle="value", probe=_probe_sphere, estimate=_estimate_sphere),
    (HParam("lr", 1e-3, 1e-5, 1.0, log=True, help="step size of each coordinate's signed step"),
     _mu(1e-3), _q(10)),
    latex=_ESTIMATOR + r",\ u_j \sim U(S^{d-1}),\ c = d;\quad \theta_t = \theta_{t-1} - \eta\,\mathrm{sign}(\hat g_t)",
    paper="Liu, Chen, Chen, Hong 2019, signSGD via zeroth-order oracle (ICLR)",
    reference="the estimator and the signed step transcribed (tests/test_zeroth_order.py)",
))
