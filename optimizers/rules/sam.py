"""SAM and adaptive SAM: the gradient at the worst nearby point, then an SGD (+ momentum) step.

Foret, Kleiner, Mobahi, Neyshabur 2021 (SAM), per row (the last dimension is one model):
    e = rho g / (||g|| + 1e-12)                        the ascent step to the edge of a rho-ball
    g_sam = grad f(x + e)                               a second gradient, at the perturbed point
    x <- x - lr (momentum) g_sam                        torch.optim.SGD's update (the `sgd` rule)
Kwon, Kim, Park, Choi 2021 (ASAM) scales the ball by T = |x| + eta (elementwise), so the
neighbourhood is invariant to rescaling the parameters:
    e = rho T^2 g / (||T g|| + 1e-12)
The 1e-12 is pytorch_optimizer.SAM's perturb_eps (a zero gradient makes e = 0). ASAM's eta = 0 is
pytorch_optimizer.SAM(adaptive=True), which leaves eta out; the ASAM paper's code uses eta = 0.01
(on weights; we scale every parameter alike).

The caller evaluates the second gradient (optimizers/base.py, Rule): the 2D engine at all rows at
once, with the step's gradient noise (the same minibatch), and through build() by calling
step(closure) (torch's convention; the closure is called twice, at x and at x + e). Clipping then
clips g_sam, the gradient the update uses. Norms reduce over the last dimension (per point on a
surface, per row of a parameter tensor through build(), over the whole model in training, where
the runner flattens it: pytorch_optimizer.SAM's global norm, tests/test_sam.py).
"""
from __future__ import annotations

import torch

from ..base import HParam, Rule, Spec
from ..registry import register
from .sgd import DAMPENING, LR, WD
from .sgd import init as sgd_init
from .sgd import update as sgd_update

Tensor = torch.Tensor
PERTURB_EPS = 1e-12


def _rows(x: Tensor) -> Tensor:
    return x.view(1) if x.dim() == 0 else x


def probe(p, g, s, h, t, draw) -> Tensor:
    """(1, *p.shape): x + e, the point where the update's gradient is taken."""
    x, g = _rows(p.detach()), _rows(g)
    scale = (x.abs() + h["eta"]) if h["adaptive"] else None
    tg = g if scale is None else scale * g
    norm = torch.linalg.vector_norm(tg, dim=-1, keepdim=True)  # (..., 1)
    e = (tg if scale is None else scale * tg) * (h["rho"] / (norm + PERTURB_EPS))
    return (x + e).view(p.shape).unsqueeze(0)


def estimate(p, g, answers, s, h, t) -> Tensor:
    return answers[0]


RULE = Rule(sgd_init, sgd_update, oracle="grad", probe=probe, estimate=estimate)
MOMENTUM = HParam("momentum", 0.0, 0.0, 0.999,
                  help="the SGD update's momentum (torch's default 0; Foret et al. trained with 0.9)")
_SGD_STEP = r"\theta_t = \theta_{t-1} - \eta\, \nabla f(\theta_{t-1} + e)\ \text{(SGD, optional momentum)}"
_REFERENCE = "pytorch_optimizer.SAM(base_optimizer=torch.optim.SGD{})"

register(Spec(
    "sam", "SAM (SGD)", RULE,
    (LR, HParam("rho", 0.05, 0.001, 2.0, log=True, help="radius of the neighbourhood the ascent step reaches"),
     MOMENTUM, DAMPENING, WD),
    latex=r"e = \rho\,\frac{g_t}{\|g_t\|},\ " + _SGD_STEP,
    paper="Foret, Kleiner, Mobahi, Neyshabur 2021, Sharpness-aware minimization for efficiently improving "
          "generalization (ICLR)",
    reference=_REFERENCE.format(""), fixed={"nesterov": False, "adaptive": False, "eta": 0.0},
))
register(Spec(
    "asam", "Adaptive SAM (ASAM)", RULE,
    (LR, HParam("rho", 0.5, 0.01, 5.0, log=True, help="radius of the scaled neighbourhood"),
     HParam("eta", 0.01, 0.0, 1.0, help="added to |θ| in the scale T = |θ| + η (0: pytorch-optimizer's form)"),
     MOMENTUM, DAMPENING, WD),
    latex=r"T = |\theta_{t-1}| + \eta,\ e = \rho\,\frac{T^2 g_t}{\|T g_t\|},\ " + _SGD_STEP,
    paper="Kwon, Kim, Park, Choi 2021, ASAM: adaptive sharpness-aware minimization for scale-invariant "
          "learning of deep neural networks (ICML)",
    reference=_REFERENCE.format(", adaptive=True") + " with eta = 0",
    fixed={"nesterov": False, "adaptive": True},
))
