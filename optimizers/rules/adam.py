"""Adam, AMSGrad and AdamW, as torch.optim.Adam / AdamW."""
from __future__ import annotations

import torch

from ..base import HParam, Rule, Spec
from ..ops import addcdiv_, is_zero
from ..registry import register

LR = HParam("lr", 1e-3, 1e-5, 1.0, log=True, help="step size")
BETAS = HParam("betas", (0.9, 0.999), 0.0, 0.9999, kind="pair", valid=(0.0, 1.0), open_high=True,
               help="decay rates of the first and second moment averages")
EPS = HParam("eps", 1e-8, 1e-12, 1e-1, log=True, help="added to the denominator for stability")


def init(p, h):
    s = {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
    if h["amsgrad"]:
        s["max_exp_avg_sq"] = torch.zeros_like(p)
    return s


# On the CPU a big 1-D tensor (a whole model flattened into one buffer, training/flat.py) is
# updated in slices: every op of the update is elementwise, so the result is bit-for-bit the same,
# while the temporaries stay small enough for the allocator to reuse (a fresh 40 MB tensor costs
# page faults on every step) and each slice stays in cache across the seven ops. On a GPU one
# kernel per op over the whole buffer is best, so GPUs (and rows with tensor hyperparameters) take
# the whole tensor at once.
_CPU_SLICE = 1 << 17  # elements


def update(p, g, s, h, t):
    n = p.numel()
    if p.device.type == "cpu" and p.dim() == 1 and n > 2 * _CPU_SLICE and not _any_tensor(h):
        for a in range(0, n, _CPU_SLICE):
            part = slice(a, a + _CPU_SLICE)
            _update(p[part], g[part], {k: v[part] for k, v in s.items() if isinstance(v, torch.Tensor)}, h, t)
        return
    _update(p, g, s, h, t)


def _any_tensor(h) -> bool:
    return any(isinstance(h[k], torch.Tensor) for k in ("lr", "weight_decay", "eps")) or any(
        isinstance(b, torch.Tensor) for b in h["betas"])


def _update(p, g, s, h, t):
    b1, b2 = h["betas"]
    lr, wd = h["lr"], h["weight_decay"]
    if h["decoupled"]:  # AdamW: p *= 1 - lr * wd, before the Adam step
        if not is_zero(wd):
            p.mul_(1 - lr * wd)
    elif not is_zero(wd):  # Adam: L2 penalty through the gradient
        g = g.add(p * wd) if isinstance(wd, torch.Tensor) else g.add(p, alpha=wd)
    m, v = s["exp_avg"], s["exp_avg_sq"]
    m.lerp_(g, 1 - b1)  # m = b1 m + (1 - b1) g
    v.mul_(b2)
    if isinstance(b2, torch.Tensor):
        v.add_((1 - b2) * g * g)
    else:
        v.addcmul_(g, g, value=1 - b2)  # v = b2 v + (1 - b2) g^2
    bc1, bc2_sqrt = 1 - b1**t, (1 - b2**t) ** 0.5
    if h["amsgrad"]:  # torch keeps the max of the raw second moment
        torch.maximum(s["max_exp_avg_sq"], v, out=s["max_exp_avg_sq"])
        v = s["max_exp_avg_sq"]
    denom = v.sqrt().div_(bc2_sqrt).add_(h["eps"])  # one temporary; the same values as (v.sqrt() / bc2_sqrt)
    addcdiv_(p, m, denom, -lr / bc1)


RULE = Rule(init, update)
_LATEX = (r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\ "
          r"\theta_t = \theta_{t-1} - \eta\,\frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}")
_ADAM_PAPER = "Kingma & Ba 2015, Adam: A Method for Stochastic Optimization"

register(Spec(
    "adam", "Adam", RULE,
    (LR, BETAS, EPS, HParam("weight_decay", 0.0, 0.0, 0.1, help="L2 penalty added to the gradient")),
    latex=_LATEX, paper=_ADAM_PAPER, reference="torch.optim.Adam",
    fixed={"amsgrad": False, "decoupled": False},
))
register(Spec(
    "amsgrad", "AMSGrad", RULE,
    (LR, BETAS, EPS, HParam("weight_decay", 0.0, 0.0, 0.1, help="L2 penalty added to the gradient")),
    latex=_LATEX.replace(r"\sqrt{v_t", r"\sqrt{\max_{s\le t} v_s"),
    paper="Reddi, Kale & Kumar 2018, On the Convergence of Adam and Beyond",
    reference="torch.optim.Adam(amsgrad=True)", fixed={"amsgrad": True, "decoupled": False},
))
register(Spec(
    "adamw", "AdamW", RULE,
    (LR, BETAS, EPS, HParam("weight_decay", 1e-2, 0.0, 0.5, help="decoupled decay: p *= 1 - lr * wd each step")),
    latex=r"\theta_{t} \leftarrow (1-\eta\lambda)\theta_{t-1},\ " + _LATEX,
    paper="Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization",
    reference="torch.optim.AdamW", fixed={"amsgrad": False, "decoupled": True},
))
