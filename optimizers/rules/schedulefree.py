"""Schedule-free AdamW and SGD, as schedulefree.AdamWScheduleFree / SGDScheduleFree (schedulefree 1.4.1).

Three sequences (Defazio et al. 2024): z takes plain (Adam-normalised) gradient steps, x is a
weighted average of the z's, and the gradient is taken at their interpolation
y = (1 - beta1) z + beta1 x. The parameter tensor holds y while training ("train mode") and x
for evaluation ("eval mode"); z lives in the state. With c = weight_t / sum of weights,
    y <- (1 - c) y + c z + lr (beta1 (1 - c) - 1) d,    z <- z - lr d
where d is the gradient (AdamW: divided by sqrt(v_t / (1 - beta2^t)) + eps; weight decay
wd * y added after), which updates y without forming x. The weight of step t is
t^r * lr_max^weight_lr_power, lr_max the largest (warmed-up) lr so far; warmup_steps ramps lr
linearly from lr / warmup_steps to lr. Where that weight overflows a float (r = 2000, lr = 1e200:
the package raises OverflowError) c comes from logarithms instead (_average_weight), so every
valid r, lr and weight_lr_power runs; below the overflow the arithmetic is the package's own.

Modes, as the package: the optimizer starts in eval mode and step() raises until train()
is called; train() / eval() move the parameters only when the mode changes (the adapter keeps
the mode in each param group's "train_mode"). The package keeps k, lr_max and weight_sum per
param group; here they are per parameter (t, "lr_max", "weight_sum"), which is the same
whenever every parameter of a group gets a gradient each step, and lets each row of an
(N, D) tensor with (N, 1) hyperparameters be its own run.

The trajectory engine calls init/update directly, so p is the y sequence (where gradients are
taken); eval_point(p, state, h) returns the x sequence (the averaged iterate, what a person
would deploy) without touching p.
"""
from __future__ import annotations

import math

import torch

from ..base import HParam, Rule, Spec
from ..ops import add_, addcmul_, is_zero
from ..registry import register
from .adam import EPS

Tensor = torch.Tensor


def _beta1(h):
    return h["betas"][0] if "betas" in h else h["momentum"]


def _max(a, b):
    if isinstance(a, Tensor):
        return torch.maximum(a, torch.as_tensor(b, dtype=a.dtype, device=a.device))
    if isinstance(b, Tensor):
        return torch.maximum(b, torch.as_tensor(a, dtype=b.dtype, device=b.device))
    return max(a, b)


def _pow(a, b):
    """a ** b for a >= 0, inf where it overflows (a Python float power raises OverflowError instead)."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return torch.pow(a, b)
    try:
        return float(a) ** float(b)
    except OverflowError:
        return math.inf


def _log_weight(k, lr_max, r, power):
    """log(weight) = r log(k + 1) + power log(lr_max) (0 * log 0 taken as 0; NaN, from inf - inf, as -inf)."""
    if isinstance(lr_max, Tensor) or isinstance(r, Tensor) or isinstance(power, Tensor):
        like = next(v for v in (lr_max, r, power) if isinstance(v, Tensor))
        r, power, lr_max = (torch.as_tensor(v, dtype=like.dtype, device=like.device) for v in (r, power, lr_max))
        lw = r * math.log(k + 1) + torch.where(power == 0, 0.0, power * torch.log(lr_max))
        return lw.nan_to_num(nan=-math.inf, posinf=math.inf, neginf=-math.inf)
    lw = float(r) * math.log(k + 1)
    if power != 0:
        lw += float(power) * (math.log(lr_max) if lr_max > 0 else -math.inf)
    return -math.inf if math.isnan(lw) else lw


def _logaddexp(a, b):
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        like = a if isinstance(a, Tensor) else b
        return torch.logaddexp(torch.as_tensor(a, dtype=like.dtype, device=like.device),
                               torch.as_tensor(b, dtype=like.dtype, device=like.device))
    if a == -math.inf or b == -math.inf:
        return b if a == -math.inf else a
    m = max(a, b)
    return m if m == math.inf else m + math.log1p(math.exp(-abs(a - b)))


def _average_weight(s, k, lr_max, r, power):
    """c = weight / weight_sum, the weight of the new z in the average x, as the package computes it
    while weight_sum stays finite.

    weight = (k+1)^r lr_max^power overflows for a large r or lr (2^2000, (1e200)^2), where the
    package raises OverflowError; from then on c comes from the logarithms (s["log_weight_sum"],
    kept from the first overflow on), c = exp(log weight - log weight_sum), 1 where the weight
    itself is infinite. So every valid r and lr give a finite c in [0, 1].
    """
    weight = _pow(k + 1, r) * _pow(lr_max, power)
    prev = s["weight_sum"]
    weight_sum = s["weight_sum"] = prev + weight
    if isinstance(weight_sum, Tensor):
        c = torch.where(weight_sum == 0, 0.0, weight / torch.where(weight_sum == 0, 1.0, weight_sum))
        finite = torch.isfinite(weight_sum)
        if "log_weight_sum" not in s and bool(finite.all()):
            return c
    else:
        c = weight / weight_sum if weight_sum != 0 else 0.0  # the package: ZeroDivisionError -> 0
        finite = math.isfinite(weight_sum)
        if "log_weight_sum" not in s and finite:
            return c
    # the logarithmic path: the previous sum's log from the finite sum where it still is one
    log_prev = s.get("log_weight_sum", -math.inf)
    if isinstance(prev, Tensor):
        log_prev = torch.where(torch.isfinite(prev), torch.log(prev),
                               torch.as_tensor(log_prev, dtype=prev.dtype, device=prev.device))
    elif math.isfinite(prev):
        log_prev = math.log(prev) if prev > 0 else -math.inf
    log_w = _log_weight(k, lr_max, r, power)
    log_sum = s["log_weight_sum"] = _logaddexp(log_prev, log_w)
    if isinstance(log_sum, Tensor):
        log_c = torch.where(log_w == math.inf, 1.0,
                            torch.where(log_sum == -math.inf, 0.0, torch.exp(log_w - log_sum).nan_to_num(nan=1.0)))
        return torch.where(finite, c, log_c) if isinstance(finite, Tensor) else (c if finite else log_c)
    if finite:
        return c
    if log_w == math.inf:
        return 1.0
    return 0.0 if log_sum == -math.inf else math.exp(log_w - log_sum)


def init(p, h):
    s = {"z": p.detach().clone(), "lr_max": -1.0, "weight_sum": 0.0}
    if "betas" in h:
        s["exp_avg_sq"] = torch.zeros_like(p)
    return s


def update(p, g, s, h, t):
    k = t - 1  # the package's step counter, before the step
    ws = h["warmup_steps"]
    if isinstance(ws, Tensor):
        sched = torch.where(k < ws, (k + 1) / ws.clamp(min=1), 1.0)
    else:
        sched = (k + 1) / ws if k < ws else 1.0
    lr = h["lr"] * sched
    lr_max = s["lr_max"] = _max(lr, s["lr_max"])
    c = _average_weight(s, k, lr_max, h["r"], h["weight_lr_power"])

    z, wd, beta1 = s["z"], h["weight_decay"], _beta1(h)
    if "betas" in h:  # AdamW: d = g / (sqrt(v / (1 - beta2^t)) + eps)
        beta2 = h["betas"][1]
        v = s["exp_avg_sq"]
        addcmul_(v.mul_(beta2), g, g, 1 - beta2)
        denom = v.div(1 - beta2 ** (k + 1)).sqrt_().add_(h["eps"])
        d = g.div(denom)
    else:
        d = g.clone()  # (the package changes p.grad in place; we leave it alone)
    if not is_zero(wd):
        add_(d, p, wd)  # weight decay computed at y
    # y = (1 - c) y + c z + lr (beta1 (1 - c) - 1) d;  z = z - lr d
    p.lerp_(z, c)
    add_(p, d, lr * (beta1 * (1 - c) - 1))
    add_(z, d, -lr)


def eval_point(p, state, h):
    """The averaged iterate x = y + (1 - 1/beta1)(z - y), as a new tensor (p, the y sequence, is unchanged)."""
    if "z" not in state:  # no step taken: x = y = z = the initial point
        return p.detach().clone()
    beta1 = _beta1(h)
    if bool(torch.as_tensor(beta1 == 0).any()):
        raise ValueError("schedule-free: the averaged point x cannot be recovered with beta1 (momentum) = 0")
    return p.detach().lerp(state["z"], 1 - 1 / beta1)


def to_eval(p, s, h):
    """Train -> eval: p holds y, becomes x (the package's optimizer.eval())."""
    p.copy_(eval_point(p, s, h))


def to_train(p, s, h):
    """Eval -> train: p holds x, becomes y = (1 - beta1) z + beta1 x (the package's optimizer.train())."""
    if "z" in s:
        p.lerp_(s["z"], 1 - _beta1(h))


RULE = Rule(init, update, to_eval=to_eval, to_train=to_train)

_SHARED = (
    HParam("weight_decay", 0.0, 0.0, 0.1, help="L2 penalty added to the step direction, computed at y"),
    HParam("warmup_steps", 0, 0, 1000, kind="int", help="steps of linear lr warmup (0 = none)"),
    HParam("r", 0.0, 0.0, 4.0, help="the average weights step t by t^r (0 = lr-weighted only)"),
    HParam("weight_lr_power", 2.0, 0.0, 4.0, help="the average weights each step by lr_max^power"),
)
_PAPER = "Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky 2024, The Road Less Scheduled"
_AVG = (r"x_{t+1} = (1-c_{t+1}) x_t + c_{t+1} z_{t+1},\ c_{t+1} = \frac{w_{t+1}}{\sum_{i\le t+1} w_i},\ "
        r"w_t = t^r \eta_{\max}^{p}")

register(Spec(
    "adamw_schedulefree", "AdamW, schedule-free", RULE,
    (
        HParam("lr", 0.0025, 1e-5, 1.0, log=True, help="step size of the z sequence"),
        HParam("betas", (0.9, 0.999), 0.0, 0.9999, kind="pair", valid=(0.0, 1.0), open_high=True,
               help="beta1: interpolation y = (1-beta1) z + beta1 x; beta2: decay of the second moment"),
        EPS,
        *_SHARED,
    ),
    latex=(r"y_t = (1-\beta_1) z_t + \beta_1 x_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\ "
           r"z_{t+1} = z_t - \eta\left(\frac{g_t}{\sqrt{v_t/(1-\beta_2^t)}+\epsilon} + \lambda y_t\right),\ " + _AVG),
    paper=_PAPER, reference="schedulefree.AdamWScheduleFree", fixed={"train_mode": False},
))
register(Spec(
    "sgd_schedulefree", "SGD, schedule-free", RULE,
    (
        HParam("lr", 1.0, 1e-4, 10.0, log=True, help="step size of the z sequence"),
        HParam("momentum", 0.9, 0.0, 0.999, valid=(math.ulp(0.0), 1.0), open_high=True,
               help="interpolation y = (1-momentum) z + momentum x; must lie in (0, 1)"),
        *_SHARED,
    ),
    latex=r"y_t = (1-\beta) z_t + \beta x_t,\ z_{t+1} = z_t - \eta\,(g_t + \lambda y_t),\ " + _AVG,
    paper=_PAPER, reference="schedulefree.SGDScheduleFree", fixed={"train_mode": False},
))
