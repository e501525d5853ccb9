"""Learning-rate schedules as pure functions of the step index, vectorised over all steps.

schedule(name, lr, total_steps, **kw) -> Tensor[total_steps, *S]: the learning rate used at
steps 0 .. total_steps-1, equal to the matching torch.optim.lr_scheduler class stepped once per
step (the lr of step i is the group's lr after i scheduler.step() calls). torch computes most
of them recursively (lr *= ratio); here each is a closed form (optax style), so the whole
schedule is a handful of tensor ops and agrees with torch to rounding (worst: CosineAnnealingLR,
~3e-14 relative over 257 steps, ~1e-12 over 3000, as its recursion accumulates one rounding per
step; the tests use rtol 1e-9).

Sweeps: lr may be a tensor of any shape S (say (N,) for N runs) and the float keyword
arguments (gamma, eta_min, base_lr, pct_start, ...) tensors broadcastable to it; the result then
has shape (total_steps, *S). Integer arguments (step_size, T_max, T_0, ...) and choices stay
Python values. The result is float64, or lr's dtype where lr is a floating tensor.

| name        | torch.optim.lr_scheduler class                            | lr plays the part of |
|-------------|-----------------------------------------------------------|----------------------|
| constant    | ConstantLR(factor=1.0, total_iters=5)                     | the base lr          |
| step        | StepLR(step_size, gamma=0.1)                              | the base lr          |
| exponential | ExponentialLR(gamma)                                      | the base lr          |
| cosine      | CosineAnnealingLR(T_max, eta_min=0)                       | the base lr          |
| sgdr        | CosineAnnealingWarmRestarts(T_0, T_mult=1, eta_min=0)     | the base lr          |
| cyclic      | CyclicLR(base_lr, max_lr, ..., cycle_momentum=False)      | max_lr               |
| one_cycle   | OneCycleLR(max_lr, total_steps, ..., cycle_momentum=False)| max_lr               |
| warmup      | LinearLR(start_factor=1/3, end_factor=1.0, total_iters=5) | the base lr          |
| inverse_sqrt| LambdaLR(lambda k: 1 / math.sqrt(k + 1))                  | the base lr          |

A default of None is derived from total_steps (or from lr) as schedule_spec(name) documents.
Momentum cycling (CyclicLR, OneCycleLR) is not part of a learning-rate schedule. Schedules chain
(warm-up, then any of them: torch's SequentialLR) in optimizers/chain.py.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .base import as_float, shown

Tensor = torch.Tensor


@dataclass(frozen=True)
class ScheduleParam:
    """One keyword argument of a schedule, for validation and for the UI's widgets.

    kind: "float" (a number, or a tensor for sweeps), "int", "choice" (one of `options`) or "bool".
    default None means derived: `derived` says how (from total_steps or lr).
    low/high/log: the slider range (not a validity limit); valid: the inclusive domain, with
    open_low/open_high making an end exclusive.
    """

    name: str
    default: Any
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    kind: str = "float"
    help: str = ""
    options: tuple = ()
    derived: str = ""
    valid: tuple[float, float] = (0.0, math.inf)
    open_low: bool = False
    open_high: bool = False
    optional: bool = False  # None is a value the schedule itself accepts (CyclicLR's step_size_down)
    advanced: bool = False  # a knob few people need: the editors tuck it away (collapsed), values unchanged


@dataclass(frozen=True)
class ScheduleSpec:
    """Everything the UI and the engine need to know about one schedule."""

    name: str
    title: str
    description: str  # one line
    latex: str  # the learning rate at step t
    reference: str  # the torch class it equals
    params: tuple[ScheduleParam, ...]
    fn: Callable[..., Tensor]  # fn(t, lr, total_steps, **kw): t is (T, 1, ..., 1), float

    def param(self, name: str) -> ScheduleParam:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"schedule {self.name} has no argument {name!r}; it has {[p.name for p in self.params]}")

    def defaults(self) -> dict:
        """The defaults as declared (None where derived from total_steps or lr)."""
        return {p.name: p.default for p in self.params}


# ---------------------------------------------------------------- the schedules, closed forms
# Each takes t: the step indices as a float tensor shaped (T, 1, ..., 1) so that it broadcasts
# against lr and tensor arguments of shape S, and returns the learning rates (T, *S) (or a
# shape broadcastable to it). Arithmetic follows torch's own expressions where it can.


def _where(cond: Tensor, a, b, like: Tensor) -> Tensor:
    """torch.where whose Python-number branches become tensors of like's dtype and device."""
    dtype, device = like.dtype, like.device
    a = a if isinstance(a, Tensor) else torch.tensor(a, dtype=dtype, device=device)
    b = b if isinstance(b, Tensor) else torch.tensor(b, dtype=dtype, device=device)
    return torch.where(cond, a, b)


def _constant(t, lr, total_steps, *, factor, total_iters):
    # ConstantLR: lr * factor until step total_iters, then lr. With total_iters = 0 torch never
    # reaches the milestone again (it is checked only at last_epoch == total_iters > 0), so the
    # factor stays for good: we do the same.
    if total_iters == 0:
        return lr * factor * torch.ones_like(t)
    return lr * _where(t < total_iters, factor, 1.0, t)


def _step(t, lr, total_steps, *, step_size, gamma):
    # StepLR: lr * gamma ** floor(t / step_size)
    return lr * gamma ** torch.div(t, step_size, rounding_mode="floor")


def _exponential(t, lr, total_steps, *, gamma):
    # ExponentialLR: lr * gamma ** t
    return lr * gamma**t


def _cosine(t, lr, total_steps, *, T_max, eta_min):
    # CosineAnnealingLR. torch steps a recursion, lr_t = eta_min + ratio_t * (lr_{t-1} - eta_min),
    # whose ratios telescope to this closed form; past T_max it keeps following the cosine
    # (back up to lr at 2 T_max, ...), and so does this.
    return eta_min + (lr - eta_min) * (1 + torch.cos(math.pi * t / T_max)) / 2


def _sgdr(t, lr, total_steps, *, T_0, T_mult, eta_min):
    # CosineAnnealingWarmRestarts: cosine from lr to eta_min over T_i steps, then restart with
    # T_i *= T_mult. T_cur = steps since the last restart.
    if T_mult == 1:
        t_cur = torch.remainder(t, T_0)
        t_i = t.new_tensor(float(T_0))
    else:
        starts, lengths = [], []  # the restarts before total_steps: O(log total_steps) of them
        start, length = 0, T_0
        while start < max(total_steps, 1):
            starts.append(start)
            lengths.append(length)
            start, length = start + length, length * T_mult
        starts_t = torch.tensor(starts, dtype=t.dtype, device=t.device)
        cycle = torch.bucketize(t, starts_t, right=True) - 1  # index of the cycle step t is in
        t_cur = t - starts_t[cycle]
        t_i = torch.tensor(lengths, dtype=t.dtype, device=t.device)[cycle]
    return eta_min + (lr - eta_min) * (1 + torch.cos(math.pi * t_cur / t_i)) / 2


def _cyclic(t, lr, total_steps, *, base_lr, step_size_up, step_size_down, mode, gamma):
    # CyclicLR with max_lr = lr, exactly torch's get_lr arithmetic.
    up = float(step_size_up)
    down = float(step_size_down) if step_size_down is not None else up
    total_size = up + down
    step_ratio = up / total_size
    cycle = torch.floor(1 + t / total_size)
    x = 1.0 + t / total_size - cycle
    scale = torch.where(x <= step_ratio, x / step_ratio, (x - 1) / (step_ratio - 1))
    base_height = (lr - base_lr) * scale
    if mode == "triangular":
        return base_lr + base_height * 1.0
    if mode == "triangular2":
        return base_lr + base_height * (1 / (2.0 ** (cycle - 1)))
    return base_lr + base_height * gamma**t  # exp_range: scaled per iteration


def _one_cycle(t, lr, total_steps, *, pct_start, anneal_strategy, div_factor, final_div_factor, three_phase):
    # OneCycleLR with max_lr = lr: phases (end_step, start, end) walked exactly as torch does:
    # the first phase whose end_step >= t, else the last; pct = (t - start_step) / (end - start).
    initial_lr = lr / div_factor
    min_lr = initial_lr / final_div_factor
    if three_phase:
        phases = [
            (pct_start * total_steps - 1, initial_lr, lr),
            (2 * pct_start * total_steps - 2, lr, initial_lr),
            (total_steps - 1, initial_lr, min_lr),
        ]
    else:
        phases = [(pct_start * total_steps - 1, initial_lr, lr), (total_steps - 1, lr, min_lr)]

    def anneal(start, end, pct):
        if anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (torch.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    out = None
    taken = torch.zeros_like(t, dtype=torch.bool)
    start_step = 0.0
    for i, (end_step, start, end) in enumerate(phases):
        here = ~taken if i == len(phases) - 1 else ~taken & (t <= end_step)
        span = end_step - start_step
        # torch divides by zero where a phase is empty (pct_start * total_steps == 1); we call
        # such a phase finished (pct = 1): its step gets the phase's end value.
        if isinstance(span, Tensor):
            empty = span == 0
            pct = torch.where(empty, torch.ones_like(t), (t - start_step) / torch.where(empty, 1.0, span))
        elif span == 0:
            pct = torch.ones_like(t)
        else:
            pct = (t - start_step) / span
        value = anneal(start, end, pct)
        out = value if out is None else torch.where(here, value, out)
        taken = taken | here
        start_step = end_step
    return out


def _warmup(t, lr, total_steps, *, start_factor, end_factor, total_iters):
    # LinearLR: lr * (start + (end - start) * min(t, total_iters) / total_iters). With
    # total_iters = 0 torch keeps start_factor for good (it never interpolates): so do we.
    if total_iters == 0:
        return lr * start_factor * torch.ones_like(t)
    return lr * (start_factor + (end_factor - start_factor) * torch.clamp(t, max=total_iters) / total_iters)


def _inverse_sqrt(t, lr, total_steps):
    # LambdaLR(lambda k: 1 / sqrt(k + 1)): lr / sqrt(t) at the t-th update (t = k + 1 = 1, 2, ...),
    # the alpha / sqrt(t) of online convex optimization (Zinkevich 2003; Reddi et al. 2018)
    return lr * (1.0 / torch.sqrt(t + 1.0))


# ---------------------------------------------------------------- the registry (data)

_POS = dict(valid=(0.0, math.inf), open_low=True)  # > 0, finite

_SPECS: dict[str, ScheduleSpec] = {
    s.name: s
    for s in [
        ScheduleSpec(
            "constant",
            "Constant",
            "The same learning rate every step (optionally scaled by factor for the first total_iters steps).",
            r"\eta_t = \eta \cdot \begin{cases}\mathrm{factor} & t < T_{\mathrm{iters}} \\ 1 & \text{else}\end{cases}",
            "torch.optim.lr_scheduler.ConstantLR",
            (
                ScheduleParam("factor", 1.0, 0.01, 1.0, log=True, valid=(0.0, 1.0), open_low=True, advanced=True,
                              help="the lr is multiplied by factor for the first total_iters steps, then it "
                                   "is the lr itself; 1 (the default here) keeps the lr truly constant, "
                                   "torch's own default is 1/3"),
                ScheduleParam("total_iters", 5, 0, 1000, kind="int", advanced=True,
                              help="how many first steps run at lr × factor (no effect while factor is 1)"),
            ),
            _constant,
        ),
        ScheduleSpec(
            "step",
            "Step decay",
            "Multiply the learning rate by gamma every step_size steps.",
            r"\eta_t = \eta\,\gamma^{\lfloor t / \mathrm{step\_size} \rfloor}",
            "torch.optim.lr_scheduler.StepLR",
            (
                ScheduleParam("step_size", None, 1, 10_000, log=True, kind="int", valid=(1, math.inf),
                              derived="max(1, total_steps // 3)", help="steps between decays"),
                ScheduleParam("gamma", 0.1, 0.01, 1.0, log=True, help="decay factor", **_POS),
            ),
            _step,
        ),
        ScheduleSpec(
            "exponential",
            "Exponential decay",
            "Multiply the learning rate by gamma every step.",
            r"\eta_t = \eta\,\gamma^{t}",
            "torch.optim.lr_scheduler.ExponentialLR",
            (ScheduleParam("gamma", 0.99, 0.9, 1.0, help="decay factor per step (torch has no default)", **_POS),),
            _exponential,
        ),
        ScheduleSpec(
            "cosine",
            "Cosine annealing",
            "Half a cosine from lr down to eta_min over T_max steps (past T_max it rises again, as torch's does).",
            r"\eta_t = \eta_{\min} + \tfrac12(\eta - \eta_{\min})\left(1 + \cos\frac{\pi t}{T_{\max}}\right)",
            "torch.optim.lr_scheduler.CosineAnnealingLR",
            (
                ScheduleParam("T_max", None, 1, 10_000, log=True, kind="int", valid=(1, math.inf),
                              derived="total_steps", help="steps from lr down to eta_min"),
                ScheduleParam("eta_min", 0.0, 0.0, 1.0, help="the lowest learning rate"),
            ),
            _cosine,
        ),
        ScheduleSpec(
            "sgdr",
            "Cosine with warm restarts (SGDR)",
            "Cosine annealing that restarts at lr every T_i steps, T_i growing by T_mult at each restart.",
            r"\eta_t = \eta_{\min} + \tfrac12(\eta - \eta_{\min})\left(1 + \cos\frac{\pi T_{cur}}{T_i}\right),"
            r"\quad T_i = T_0\,T_{mult}^{\,i}",
            "torch.optim.lr_scheduler.CosineAnnealingWarmRestarts",
            (
                ScheduleParam("T_0", None, 1, 10_000, log=True, kind="int", valid=(1, math.inf),
                              derived="max(1, total_steps // 4)", help="steps until the first restart"),
                ScheduleParam("T_mult", 1, 1, 4, kind="int", valid=(1, math.inf),
                              help="each cycle is T_mult times longer than the one before"),
                ScheduleParam("eta_min", 0.0, 0.0, 1.0, help="the lowest learning rate"),
            ),
            _sgdr,
        ),
        ScheduleSpec(
            "cyclic",
            "Cyclic (CLR)",
            "Triangle waves between base_lr and lr (the peak, torch's max_lr).",
            r"\eta_t = \eta_{base} + (\eta - \eta_{base})\,\mathrm{tri}(t)\,s(t),\quad"
            r"s = 1,\ 2^{1-\mathrm{cycle}},\ \gamma^{t}",
            "torch.optim.lr_scheduler.CyclicLR (cycle_momentum=False)",
            (
                ScheduleParam("base_lr", None, 0.0, 1.0, derived="lr / 10",
                              help="the low end of the cycle; lr is the peak (max_lr)"),
                ScheduleParam("step_size_up", None, 1, 10_000, log=True, kind="int", valid=(1, math.inf),
                              derived="max(1, total_steps // 8)", help="steps from base_lr up to lr"),
                ScheduleParam("step_size_down", None, 1, 10_000, log=True, kind="int", valid=(1, math.inf),
                              derived="step_size_up", optional=True, help="steps from lr back down"),
                ScheduleParam("mode", "triangular", kind="choice", options=("triangular", "triangular2", "exp_range"),
                              help="triangular2 halves the amplitude each cycle; exp_range scales it by gamma**t"),
                ScheduleParam("gamma", 1.0, 0.99, 1.0, help="exp_range's factor per step", **_POS),
            ),
            _cyclic,
        ),
        ScheduleSpec(
            "one_cycle",
            "One cycle",
            "Warm up from lr/div_factor to lr, then anneal far below the start (Smith's 1cycle, fastai's 2 phases).",
            r"\eta_t: \tfrac{\eta}{d} \nearrow \eta \text{ over } p\,T \text{ steps}, "
            r"\text{ then } \eta \searrow \tfrac{\eta}{d\,d_f}",
            "torch.optim.lr_scheduler.OneCycleLR (cycle_momentum=False)",
            (
                ScheduleParam("pct_start", 0.3, 0.05, 0.95, valid=(0.0, 1.0), open_low=True, open_high=True,
                              help="fraction of the steps spent warming up"),
                ScheduleParam("anneal_strategy", "cos", kind="choice", options=("cos", "linear"),
                              help="shape of both phases"),
                ScheduleParam("div_factor", 25.0, 1.0, 1000.0, log=True, help="start lr = lr / div_factor", **_POS),
                ScheduleParam("final_div_factor", 1e4, 1.0, 1e6, log=True,
                              help="final lr = start lr / final_div_factor", **_POS),
                ScheduleParam("three_phase", False, kind="bool",
                              help="go back down to the start lr symmetrically, then anneal (the paper's version)"),
            ),
            _one_cycle,
        ),
        ScheduleSpec(
            "warmup",
            "Linear warmup",
            "Scale lr linearly from start_factor to end_factor over total_iters steps, then hold.",
            r"\eta_t = \eta\left(f_0 + (f_1 - f_0)\frac{\min(t, T_{\mathrm{iters}})}{T_{\mathrm{iters}}}\right)",
            "torch.optim.lr_scheduler.LinearLR",
            (
                ScheduleParam("start_factor", 1.0 / 3, 0.001, 1.0, log=True, valid=(0.0, 1.0), open_low=True,
                              help="lr multiplier at step 0"),
                ScheduleParam("end_factor", 1.0, 0.0, 1.0, valid=(0.0, 1.0), help="lr multiplier from total_iters on"),
                ScheduleParam("total_iters", 5, 0, 10_000, kind="int", help="length of the warmup in steps"),
            ),
            _warmup,
        ),
        ScheduleSpec(
            "inverse_sqrt",
            "Inverse square root",
            "lr / sqrt(t) at the t-th step (t = 1, 2, ...): the step size of online convex optimization.",
            r"\eta_t = \frac{\eta}{\sqrt{t}},\quad t = 1, 2, \ldots",
            "torch.optim.lr_scheduler.LambdaLR(lambda k: 1 / math.sqrt(k + 1))",
            (),
            _inverse_sqrt,
        ),
    ]
}


def schedule_names() -> list[str]:
    """The schedules schedule() knows, in the order the UI lists them."""
    return list(_SPECS)


def schedule_spec(name: str) -> ScheduleSpec:
    """The spec of one schedule: its arguments (default, range, kind, help), description, formula."""
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(f"unknown schedule {name!r}; choose one of: {', '.join(_SPECS)}") from None


# ---------------------------------------------------------------- validation


MAX_INT = 2**53  # the largest integer argument (a step count): beyond it torch cannot take it as a number


def _check_int(sched: str, p: ScheduleParam, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (numbers.Integral, float)) or (
        isinstance(v, float) and not (math.isfinite(v) and v == int(v))
    ):
        raise ValueError(f"schedule {sched}: {p.name} must be an integer, got {shown(v)}")
    v = int(v)
    if not p.valid[0] <= v <= p.valid[1]:
        raise ValueError(f"schedule {sched}: {p.name} must be >= {int(p.valid[0])}, got {shown(v)}")
    if v > MAX_INT:
        raise ValueError(f"schedule {sched}: {p.name} must be at most 2**53 = {MAX_INT}, got {shown(v)}")
    return v


def _check_float(sched: str, p: ScheduleParam, v):
    lo, hi = p.valid
    domain = f"{'(' if p.open_low else '['}{lo}, {hi}{')' if p.open_high else ']'}"
    if isinstance(v, Tensor):
        if v.dtype == torch.bool or v.is_complex():
            raise ValueError(f"schedule {sched}: {p.name} must be a real tensor, got dtype {v.dtype}")
        w = v.detach()
        ok = torch.isfinite(w) & ((w > lo) if p.open_low else (w >= lo)) & ((w < hi) if p.open_high else (w <= hi))
        if not bool(ok.all()):
            raise ValueError(f"schedule {sched}: every element of {p.name} must be finite and lie in {domain}")
        return v
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"schedule {sched}: {p.name} must be a number or a tensor, got {type(v).__name__}")
    f = as_float(v)  # (inf for an int beyond the float range)
    ok = math.isfinite(f) and (f > lo if p.open_low else f >= lo) and (f < hi if p.open_high else f <= hi)
    if not ok:
        raise ValueError(f"schedule {sched}: {p.name} must be finite and lie in {domain}, got {shown(v)}")
    return f


def _check_lr(lr):
    if isinstance(lr, Tensor):
        if lr.dtype == torch.bool or lr.is_complex():
            raise ValueError(f"lr must be a real tensor, got dtype {lr.dtype}")
        w = lr.detach()
        if not bool((torch.isfinite(w) & (w >= 0)).all()):
            raise ValueError("every element of lr must be finite and >= 0")
        return lr
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise ValueError(f"lr must be a number or a tensor, got {type(lr).__name__}")
    if not (math.isfinite(as_float(lr)) and lr >= 0):
        raise ValueError(f"lr must be finite and >= 0, got {shown(lr)}")
    return float(lr)


def _derived(total_steps: int, lr) -> dict:
    """The defaults declared None, derived from total_steps or lr (ScheduleParam.derived says the same)."""
    return {
        "step_size": max(1, total_steps // 3),
        "T_max": total_steps,
        "T_0": max(1, total_steps // 4),
        "step_size_up": max(1, total_steps // 8),
        "base_lr": lr / 10,
    }


def _resolve(name: str, lr, total_steps, kw: dict) -> tuple[ScheduleSpec, Any, int, dict]:
    """Validate everything and fill in the defaults: (spec, lr, total_steps, kw)."""
    spec = schedule_spec(name)
    if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps < 1:
        raise ValueError(f"total_steps must be an integer >= 1, got {total_steps!r}")
    total_steps = int(total_steps)
    lr = _check_lr(lr)
    known = {p.name: p for p in spec.params}
    unknown = sorted(set(kw) - set(known))
    if unknown:
        hint = " (lr is the peak learning rate, torch's max_lr)" if "max_lr" in unknown else ""
        raise ValueError(
            f"schedule {name} has no argument {', '.join(unknown)}{hint}; it takes: {', '.join(known) or 'none'}"
        )
    h = spec.defaults() | kw
    derived = _derived(total_steps, lr)
    out = {}
    for k, p in known.items():
        v = h[k]
        if v is None and p.optional:
            out[k] = None
            continue
        if v is None:
            if k not in derived:
                raise ValueError(f"schedule {name}: {k} must not be None")
            v = derived[k]
        if p.kind == "int":
            out[k] = _check_int(name, p, v)
        elif p.kind == "float":
            out[k] = _check_float(name, p, v)
        elif p.kind == "choice":
            if v not in p.options:
                raise ValueError(f"schedule {name}: {k} must be one of {', '.join(p.options)}, got {v!r}")
            out[k] = v
        else:  # bool
            if not isinstance(v, bool):
                raise ValueError(f"schedule {name}: {k} must be True or False, got {v!r}")
            out[k] = v
    return spec, lr, total_steps, out


# ---------------------------------------------------------------- the entry points


def schedule_at(name: str, lr, total_steps: int, step, *, validate: bool = True, **kw) -> Tensor:
    """The learning rate at the given step(s) of a total_steps-long schedule.

    step: an int or an integer tensor of any shape K; returns (*K, *S) where S is the shape of lr
    and the tensor arguments broadcast together. Lets a long run ask for one step at a time
    instead of holding (total_steps, *S) at once. validate=False skips the checks (and their
    host syncs) for a caller that has validated the same arguments already.
    """
    if validate:
        spec, lr, total_steps, kw = _resolve(name, lr, total_steps, kw)
    else:
        spec = _SPECS[name]
        kw = _resolve_quiet(spec, lr, total_steps, kw)
    tensors = [v for v in (lr, *kw.values()) if isinstance(v, Tensor)]
    rows = torch.broadcast_shapes(*(v.shape for v in tensors)) if tensors else torch.Size()
    dtype = lr.dtype if isinstance(lr, Tensor) and lr.is_floating_point() else torch.float64
    device = tensors[0].device if tensors else torch.device("cpu")
    steps = torch.as_tensor(step, device=device)
    if validate and (steps.is_floating_point() or steps.is_complex() or steps.dtype == torch.bool
                     or bool((steps < 0).any())):
        raise ValueError(f"step must be an integer >= 0 or a tensor of them, got {step!r}")
    k_shape = steps.shape
    t = steps.to(dtype).reshape((*k_shape, *([1] * len(rows))))  # (*K, 1, ..., 1)
    lr = lr.to(dtype=dtype, device=device) if isinstance(lr, Tensor) else lr
    kw = {k: v.to(dtype=dtype, device=device) if isinstance(v, Tensor) else v for k, v in kw.items()}
    out = spec.fn(t, lr, total_steps, **kw)
    full = (*k_shape, *rows)
    if out.shape != full:
        out = torch.broadcast_to(out, full).clone()
    return out.to(dtype)


def _resolve_quiet(spec: ScheduleSpec, lr, total_steps: int, kw: dict) -> dict:
    """Fill the defaults without checking (validate=False)."""
    h = spec.defaults() | kw
    derived = _derived(total_steps, lr)
    return {k: (derived[k] if v is None and k in derived and not spec.param(k).optional else v) for k, v in h.items()}


def schedule(name: str, lr, total_steps: int, **kw) -> Tensor:
    """The learning rate at steps 0 .. total_steps-1: Tensor[total_steps, *S] (S: lr's shape, () for a float).

    Equal to the matching torch.optim.lr_scheduler class stepped once per step (see the module
    docstring for the table); kw are named as that class's arguments. Raises ValueError for an
    unknown name, an unknown argument or an invalid value.
    """
    spec, lr, total_steps, kw = _resolve(name, lr, total_steps, kw)
    device = next((v.device for v in (lr, *kw.values()) if isinstance(v, Tensor)), torch.device("cpu"))
    return schedule_at(name, lr, total_steps, torch.arange(total_steps, device=device), validate=False, **kw)
