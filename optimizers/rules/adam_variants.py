"""NAdam, RAdam and Adamax, as torch.optim.NAdam / RAdam / Adamax.

Each update repeats the arithmetic of torch's `_single_tensor_*` function in the same
order, so with float hyperparameters the result equals torch.optim bit for bit. A tensor
hyperparameter of shape (N, 1) beside parameters (N, D) gives every row its own value;
where torch branches on a number (RAdam's `rho_t > 5`) the tensor case uses torch.where.
"""
from __future__ import annotations

import torch

from ..base import HParam, Rule, Spec
from ..ops import addcdiv_, is_zero
from ..registry import register
from .adam import BETAS, EPS
from .adam import LR as LR_1E3
from .adaptive import ema_sq_, with_l2
from .sgd import WD

Tensor = torch.Tensor


def _scalar_dtype() -> torch.dtype:
    # torch.optim keeps NAdam's mu_product in this dtype (float32 unless the default is float64)
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _weight_decay(p: Tensor, g: Tensor, h: dict) -> Tensor:
    """Decoupled: p *= 1 - lr * wd (returns g); otherwise the L2 gradient g + wd * p."""
    wd = h["weight_decay"]
    if is_zero(wd):
        return g
    if h["decoupled_weight_decay"]:
        p.mul_(1 - h["lr"] * wd)
        return g
    return with_l2(g, p, wd)


def _moments_(s: dict, g: Tensor, b1, b2) -> tuple[Tensor, Tensor]:
    # m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    return s["exp_avg"].lerp_(g, 1 - b1), ema_sq_(s["exp_avg_sq"], g, b2)


# --- NAdam ---------------------------------------------------------------------------------

def nadam_init(p, h):
    return {
        "mu_product": torch.tensor(1.0, dtype=_scalar_dtype()),  # prod_{i<=t} mu_i; (N, 1) once mu is a tensor
        "exp_avg": torch.zeros_like(p),
        "exp_avg_sq": torch.zeros_like(p),
    }


def nadam_update(p, g, s, h, t):
    b1, b2 = h["betas"]
    lr, psi = h["lr"], h["momentum_decay"]
    bias_correction2 = 1 - b2**t
    g = _weight_decay(p, g, h)
    # the momentum schedule mu_t and mu_{t+1}
    mu = b1 * (1.0 - 0.5 * (0.96 ** (t * psi)))
    mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * psi)))
    mu_product = s["mu_product"]
    if isinstance(mu, Tensor) or mu_product.dim() > 0:  # one product per row
        mu_product = s["mu_product"] = mu_product * mu
    else:  # as torch: a 0-dim tensor multiplied in place, read back as a float
        mu_product = mu_product.mul_(mu).item()
    exp_avg, exp_avg_sq = _moments_(s, g, b1, b2)
    denom = exp_avg_sq.div(bias_correction2).sqrt()
    mu_product_next = mu_product * mu_next
    denom.add_(h["eps"])
    addcdiv_(p, g, denom, -lr * (1.0 - mu) / (1.0 - mu_product))
    addcdiv_(p, exp_avg, denom, (-lr * mu_next) / (1.0 - mu_product_next))


# --- RAdam ---------------------------------------------------------------------------------

def radam_init(p, h):
    return {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}


def radam_update(p, g, s, h, t):
    b1, b2 = h["betas"]
    lr = h["lr"]
    g = _weight_decay(p, g, h)
    exp_avg, exp_avg_sq = _moments_(s, g, b1, b2)
    bias_correction1 = 1 - b1**t
    bias_correction2 = 1 - b2**t
    bias_corrected_exp_avg = exp_avg / bias_correction1
    # rho_inf: maximum length of the approximated SMA; rho_t: its length at step t
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * (b2**t) / bias_correction2

    def rect():
        return ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5

    def adaptive_lr():
        return (bias_correction2**0.5) / exp_avg_sq.sqrt().add_(h["eps"])

    if isinstance(rho_t, Tensor):  # per row: rectified Adam where rho_t > 5, momentum SGD elsewhere
        rectified = bias_corrected_exp_avg * lr * adaptive_lr() * rect()  # NaN where rho_t < 4: not taken
        step = torch.where(rho_t > 5.0, rectified, bias_corrected_exp_avg * lr)
    elif rho_t > 5.0:
        step = bias_corrected_exp_avg * lr * adaptive_lr() * rect()
    else:
        step = bias_corrected_exp_avg * lr
    p.add_(step, alpha=-1.0)


# --- Adamax --------------------------------------------------------------------------------

def adamax_init(p, h):
    return {"exp_avg": torch.zeros_like(p), "exp_inf": torch.zeros_like(p)}


def adamax_update(p, g, s, h, t):
    b1, b2 = h["betas"]
    g = with_l2(g, p, h["weight_decay"])
    exp_avg, exp_inf = s["exp_avg"].lerp_(g, 1 - b1), s["exp_inf"]
    # u = max(b2 u, |g| + eps): an exponentially weighted infinity norm
    torch.maximum(exp_inf.mul_(b2), g.abs().add_(h["eps"]), out=exp_inf)
    clr = h["lr"] / (1 - b1**t)
    addcdiv_(p, exp_avg, exp_inf, -clr)


# --- specs ---------------------------------------------------------------------------------

LR_2E3 = HParam("lr", 2e-3, 1e-5, 1.0, log=True, help="step size")
_MOMENTS = r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\ "

register(Spec(
    "nadam", "NAdam", Rule(nadam_init, nadam_update),
    (LR_2E3, BETAS, EPS, WD,
     HParam("momentum_decay", 4e-3, 1e-4, 1e-1, log=True,
            help="psi in the momentum schedule mu_t = beta1 (1 - 0.96^(t psi) / 2)")),
    latex=(r"\mu_t = \beta_1\big(1 - \tfrac12\, 0.96^{t\psi}\big),\ " + _MOMENTS
           + r"\theta_t = \theta_{t-1} - \eta\,\Big(\frac{(1-\mu_t)\, g_t}{1-\prod_{i\le t}\mu_i}"
           r" + \frac{\mu_{t+1}\, m_t}{1-\prod_{i\le t+1}\mu_i}\Big)"
           r"\Big/\Big(\sqrt{v_t/(1-\beta_2^t)} + \epsilon\Big)"),
    paper="Dozat 2016, Incorporating Nesterov Momentum into Adam",
    reference="torch.optim.NAdam", fixed={"decoupled_weight_decay": False},
))
register(Spec(
    "radam", "RAdam", Rule(radam_init, radam_update),
    (LR_1E3, BETAS, EPS, WD),
    latex=(_MOMENTS + r"\rho_\infty = \frac{2}{1-\beta_2} - 1,\ "
           r"\rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t},\ "
           r"\theta_t = \theta_{t-1} - \eta\,\frac{m_t}{1-\beta_1^t}\cdot\begin{cases}"
           r"r_t \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon}, &\rho_t > 5\\ 1, &\text{otherwise}\end{cases},\ "
           r"r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}"),
    paper="Liu et al. 2020, On the Variance of the Adaptive Learning Rate and Beyond",
    reference="torch.optim.RAdam", fixed={"decoupled_weight_decay": False},
))
register(Spec(
    "adamax", "Adamax", Rule(adamax_init, adamax_update),
    (LR_2E3, BETAS, EPS, WD),
    latex=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\ u_t = \max(\beta_2 u_{t-1},\ |g_t| + \epsilon),\ "
           r"\theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\,\frac{m_t}{u_t}"),
    paper="Kingma & Ba 2015, Adam: A Method for Stochastic Optimization (section 7.1, AdaMax)",
    reference="torch.optim.Adamax",
))
