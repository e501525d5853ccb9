"""Adagrad, RMSprop and Adadelta, as torch.optim.Adagrad / RMSprop / Adadelta.

Each update repeats the arithmetic of torch's `_single_tensor_*` function in the same
order, so with float hyperparameters the result equals torch.optim bit for bit. A tensor
hyperparameter of shape (N, 1) beside parameters (N, D) gives every row its own value;
where torch branches on a number (`momentum > 0`) the tensor case takes the general branch.
"""
from __future__ import annotations

import torch

from ..base import HParam, Rule, Spec
from ..ops import add_, addcdiv_, is_zero
from ..registry import register
from .sgd import WD

Tensor = torch.Tensor

# The same entry as adam.EPS, written out: importing .adam here would register Adam before
# Adagrad and change the (historical) order of optimizers.names() set in optimizers/__init__.py.
EPS = HParam("eps", 1e-8, 1e-12, 1e-1, log=True, help="added to the denominator for stability")


def with_l2(g: Tensor, p: Tensor, wd) -> Tensor:
    """g + wd * p as a new tensor (torch's `grad.add(param, alpha=weight_decay)`); g itself if wd == 0."""
    if is_zero(wd):
        return g
    return g.add(p * wd) if isinstance(wd, Tensor) else g.add(p, alpha=wd)


def ema_sq_(x: Tensor, g: Tensor, decay) -> Tensor:
    """x = decay * x + (1 - decay) * g^2, as torch's `x.mul_(decay).addcmul_(g, g, value=1 - decay)`."""
    if isinstance(decay, Tensor):  # ((1 - decay) * g) * g through the same kernel: equal to the float case
        return x.mul_(decay).addcmul_((1 - decay) * g, g)
    return x.mul_(decay).addcmul_(g, g, value=1 - decay)


# --- Adagrad -------------------------------------------------------------------------------

def adagrad_init(p, h):
    # state_sum starts at initial_accumulator_value (a float, or a tensor per row)
    return {"sum": torch.zeros_like(p).add_(h["initial_accumulator_value"])}


def adagrad_update(p, g, s, h, t):
    # G_t = G_{t-1} + g^2;  p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(G_t) + eps)
    g = with_l2(g, p, h["weight_decay"])
    clr = h["lr"] / (1 + (t - 1) * h["lr_decay"])
    state_sum = s["sum"]
    state_sum.addcmul_(g, g, value=1)
    std = state_sum.sqrt().add_(h["eps"])
    addcdiv_(p, g, std, -clr)


# --- RMSprop -------------------------------------------------------------------------------

def rmsprop_init(p, h):
    s = {"square_avg": torch.zeros_like(p)}
    if isinstance(h["momentum"], Tensor) or h["momentum"] > 0:
        s["momentum_buffer"] = torch.zeros_like(p)
    if h["centered"]:
        s["grad_avg"] = torch.zeros_like(p)
    return s


def rmsprop_update(p, g, s, h, t):
    # v = alpha v + (1 - alpha) g^2;  centered: v - mean(g)^2;  b = mu b + g / (sqrt(v) + eps);  p -= lr b
    alpha, lr, mu = h["alpha"], h["lr"], h["momentum"]
    g = with_l2(g, p, h["weight_decay"])
    square_avg = ema_sq_(s["square_avg"], g, alpha)
    if h["centered"]:
        grad_avg = s["grad_avg"].lerp_(g, 1 - alpha)
        avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
    else:
        avg = square_avg.sqrt()
    avg = avg.add_(h["eps"])
    if isinstance(mu, Tensor) or mu > 0:  # a tensor momentum keeps a buffer for every row
        buf = s["momentum_buffer"]
        buf.mul_(mu).addcdiv_(g, avg)
        add_(p, buf, -lr)
    else:
        addcdiv_(p, g, avg, -lr)


# --- Adadelta ------------------------------------------------------------------------------

def adadelta_init(p, h):
    return {"square_avg": torch.zeros_like(p), "acc_delta": torch.zeros_like(p)}


def adadelta_update(p, g, s, h, t):
    # v = rho v + (1 - rho) g^2;  d = sqrt(u + eps) / sqrt(v + eps) g;  u = rho u + (1 - rho) d^2;  p -= lr d
    rho, eps = h["rho"], h["eps"]
    g = with_l2(g, p, h["weight_decay"])
    square_avg = ema_sq_(s["square_avg"], g, rho)
    std = square_avg.add(eps).sqrt_()
    delta = s["acc_delta"].add(eps).sqrt_()
    delta.div_(std).mul_(g)
    ema_sq_(s["acc_delta"], delta, rho)
    add_(p, delta, -h["lr"])


# --- specs ---------------------------------------------------------------------------------

ADAGRAD = Rule(adagrad_init, adagrad_update)
RMSPROP = Rule(rmsprop_init, rmsprop_update)
ADADELTA = Rule(adadelta_init, adadelta_update)

register(Spec(
    "adagrad", "Adagrad", ADAGRAD,
    (
        HParam("lr", 1e-2, 1e-4, 10.0, log=True, help="step size"),
        HParam("lr_decay", 0.0, 0.0, 0.1, help="step t uses lr / (1 + (t - 1) lr_decay)"),
        WD,
        HParam("initial_accumulator_value", 0.0, 0.0, 1.0,
               help="starting value of the sum of squared gradients"),
        HParam("eps", 1e-10, 1e-12, 1e-1, log=True, help="added to the denominator for stability"),
    ),
    latex=(r"G_t = G_{t-1} + g_t^2,\quad "
           r"\theta_t = \theta_{t-1} - \frac{\eta}{1 + (t-1)\lambda_{\text{decay}}}\,"
           r"\frac{g_t}{\sqrt{G_t} + \epsilon}"),
    paper="Duchi, Hazan & Singer 2011, Adaptive Subgradient Methods for Online Learning and Stochastic Optimization",
    reference="torch.optim.Adagrad",
))
register(Spec(
    "rmsprop", "RMSprop", RMSPROP,
    (
        HParam("lr", 1e-2, 1e-5, 1.0, log=True, help="step size"),
        HParam("alpha", 0.99, 0.0, 0.9999, valid=(0.0, 1.0), help="decay rate of the squared-gradient average"),
        EPS,
        WD,
        HParam("momentum", 0.0, 0.0, 0.999, help="fraction of the previous step kept"),
        HParam("centered", False, kind="bool",
               help="divide by the estimated variance (subtract the squared mean gradient)"),
    ),
    latex=(r"v_t = \alpha v_{t-1} + (1-\alpha) g_t^2,\ "
           r"\tilde v_t = v_t - \bar g_t^2\ (\text{centered}:\ \bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t),\ "
           r"b_t = \mu b_{t-1} + \frac{g_t}{\sqrt{\tilde v_t} + \epsilon},\ \theta_t = \theta_{t-1} - \eta\, b_t"),
    paper=("Hinton, Srivastava & Swersky 2012, Neural Networks for Machine Learning, lecture 6e; "
           "centered: Graves 2013, Generating Sequences With Recurrent Neural Networks"),
    reference="torch.optim.RMSprop",
))
register(Spec(
    "adadelta", "Adadelta", ADADELTA,
    (
        HParam("lr", 1.0, 1e-3, 10.0, log=True, help="scales the step (1.0 in the paper)"),
        HParam("rho", 0.9, 0.0, 0.9999, valid=(0.0, 1.0), help="decay rate of the squared averages"),
        HParam("eps", 1e-6, 1e-10, 1e-1, log=True, help="added inside both square roots"),
        WD,
    ),
    latex=(r"v_t = \rho v_{t-1} + (1-\rho) g_t^2,\ "
           r"\Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t,\ "
           r"u_t = \rho u_{t-1} + (1-\rho) \Delta_t^2,\ \theta_t = \theta_{t-1} - \eta\, \Delta_t"),
    paper="Zeiler 2012, ADADELTA: An Adaptive Learning Rate Method",
    reference="torch.optim.Adadelta",
))
