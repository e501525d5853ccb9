"""Schedules against the stepped torch.optim.lr_scheduler classes, hand-worked numbers and sweeps.

The torch classes mostly step recursively (lr *= ratio each step); ours are closed forms of the
step index. The two agree to rounding: over 3000 steps the worst is CosineAnnealingLR at ~1e-12
relative (its ratios telescope, each step adding a rounding), so rtol 1e-9 leaves a wide margin
while still catching any off-by-one step (which moves values by ~1e-2 or more).
"""
import math

import pytest
import torch
from torch.optim import lr_scheduler as L

from optimizers import schedule, schedule_names
from optimizers.schedules import schedule_at, schedule_spec

F64 = torch.float64
LR = 0.1
STEPS = (1, 7, 100, 257)


def stepped(cls, n, /, lr=LR, **kw):
    """lr of steps 0 .. n-1 from torch: the group's lr after i scheduler.step() calls."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = cls(opt, **kw)
    out = []
    for i in range(n):
        out.append(opt.param_groups[0]["lr"])
        if i < n - 1:
            opt.step()  # before sched.step(), as torch wants
            sched.step()
    return torch.tensor(out, dtype=F64)


# (our name, our kw, torch class, torch kw); the torch kw may be a function of total_steps
CASES = [
    ("constant", {}, L.ConstantLR, dict(factor=1.0)),
    ("constant", dict(factor=0.25, total_iters=3), L.ConstantLR, dict(factor=0.25, total_iters=3)),
    ("constant", dict(factor=0.5, total_iters=0), L.ConstantLR, dict(factor=0.5, total_iters=0)),
    ("step", {}, L.StepLR, lambda T: dict(step_size=max(1, T // 3))),
    ("step", dict(step_size=3, gamma=0.5), L.StepLR, dict(step_size=3, gamma=0.5)),
    ("exponential", {}, L.ExponentialLR, dict(gamma=0.99)),
    ("exponential", dict(gamma=0.9), L.ExponentialLR, dict(gamma=0.9)),
    ("cosine", {}, L.CosineAnnealingLR, lambda T: dict(T_max=T)),
    ("cosine", dict(T_max=10, eta_min=0.01), L.CosineAnnealingLR, dict(T_max=10, eta_min=0.01)),  # past T_max
    ("cosine", dict(T_max=1), L.CosineAnnealingLR, dict(T_max=1)),
    ("sgdr", {}, L.CosineAnnealingWarmRestarts, lambda T: dict(T_0=max(1, T // 4))),
    ("sgdr", dict(T_0=5, eta_min=0.001), L.CosineAnnealingWarmRestarts, dict(T_0=5, eta_min=0.001)),
    ("sgdr", dict(T_0=3, T_mult=2), L.CosineAnnealingWarmRestarts, dict(T_0=3, T_mult=2)),
    ("sgdr", dict(T_0=1, T_mult=3, eta_min=0.02), L.CosineAnnealingWarmRestarts, dict(T_0=1, T_mult=3, eta_min=0.02)),
    ("cyclic", {}, L.CyclicLR, lambda T: dict(base_lr=LR / 10, max_lr=LR, step_size_up=max(1, T // 8))),
    *[
        ("cyclic", dict(base_lr=0.001, step_size_up=4, step_size_down=9, mode=m, gamma=0.98), L.CyclicLR,
         dict(base_lr=0.001, max_lr=LR, step_size_up=4, step_size_down=9, mode=m, gamma=0.98))
        for m in ("triangular", "triangular2", "exp_range")
    ],
    ("cyclic", dict(step_size_up=1, mode="triangular2"), L.CyclicLR,
     dict(base_lr=LR / 10, max_lr=LR, step_size_up=1, mode="triangular2")),
    ("one_cycle", {}, L.OneCycleLR, lambda T: dict(max_lr=LR, total_steps=T)),
    ("one_cycle", dict(pct_start=0.25), L.OneCycleLR, lambda T: dict(max_lr=LR, total_steps=T, pct_start=0.25)),
    ("one_cycle", dict(pct_start=0.4, anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0),
     L.OneCycleLR, lambda T: dict(max_lr=LR, total_steps=T, pct_start=0.4, anneal_strategy="linear",
                                  div_factor=10.0, final_div_factor=100.0)),
    ("one_cycle", dict(pct_start=0.3, three_phase=True), L.OneCycleLR,
     lambda T: dict(max_lr=LR, total_steps=T, pct_start=0.3, three_phase=True)),
    ("warmup", {}, L.LinearLR, {}),
    ("warmup", dict(start_factor=0.1, total_iters=10), L.LinearLR, dict(start_factor=0.1, total_iters=10)),
    ("warmup", dict(start_factor=0.5, end_factor=0.2, total_iters=20), L.LinearLR,
     dict(start_factor=0.5, end_factor=0.2, total_iters=20)),
    ("warmup", dict(total_iters=0), L.LinearLR, dict(total_iters=0)),
    ("inverse_sqrt", {}, L.LambdaLR, dict(lr_lambda=lambda k: 1 / math.sqrt(k + 1))),
]
_MOMENTUM_FREE = {L.CyclicLR, L.OneCycleLR}  # the schedule is the lr only


def test_names():
    assert schedule_names() == ["constant", "step", "exponential", "cosine", "sgdr", "cyclic", "one_cycle", "warmup",
                              "inverse_sqrt"]
    assert {c[0] for c in CASES} == set(schedule_names())  # every schedule has a reference row


@pytest.mark.parametrize("total_steps", STEPS)
@pytest.mark.parametrize("name, kw, cls, torch_kw", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_equals_stepped_torch(name, kw, cls, torch_kw, total_steps):
    tkw = torch_kw(total_steps) if callable(torch_kw) else dict(torch_kw)
    if cls in _MOMENTUM_FREE:
        tkw["cycle_momentum"] = False
    want = stepped(cls, total_steps, **tkw)
    got = schedule(name, LR, total_steps, **kw)
    assert got.shape == (total_steps,) and got.dtype == F64
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-15)


def test_long_run_matches_torch():
    """3000 steps: the recursive forms' rounding stays far below the tolerance."""
    for name, kw, cls, tkw in [
        ("cosine", dict(T_max=200, eta_min=0.001), L.CosineAnnealingLR, dict(T_max=200, eta_min=0.001)),
        ("exponential", dict(gamma=0.999), L.ExponentialLR, dict(gamma=0.999)),
        ("inverse_sqrt", {}, L.LambdaLR, dict(lr_lambda=lambda k: 1 / math.sqrt(k + 1))),
        ("sgdr", dict(T_0=10, T_mult=2), L.CosineAnnealingWarmRestarts, dict(T_0=10, T_mult=2)),
    ]:
        torch.testing.assert_close(schedule(name, LR, 3000, **kw), stepped(cls, 3000, **tkw), rtol=1e-9, atol=1e-15)


# ---------------------------------------------------------------- hand-worked numbers (as optax's tests)


@pytest.mark.parametrize(
    "name, total_steps, kw, want",
    [
        ("constant", 4, dict(factor=0.5, total_iters=2), [0.5, 0.5, 1.0, 1.0]),
        ("step", 6, dict(step_size=2, gamma=0.5), [1, 1, 0.5, 0.5, 0.25, 0.25]),
        ("exponential", 4, dict(gamma=0.5), [1, 0.5, 0.25, 0.125]),
        ("warmup", 4, dict(start_factor=0.5, total_iters=2), [0.5, 0.75, 1.0, 1.0]),
        ("inverse_sqrt", 4, {}, [1.0, 1 / math.sqrt(2), 1 / math.sqrt(3), 0.5]),  # lr / sqrt(t), t = 1, 2, ...
        ("cosine", 5, dict(T_max=2), [1.0, 0.5, 0.0, 0.5, 1.0]),  # past T_max it climbs back, as torch's
        ("cosine", 3, dict(T_max=2, eta_min=0.2), [1.0, 0.6, 0.2]),
        ("sgdr", 7, dict(T_0=2, T_mult=2), [1, 0.5, 1, (1 + math.sqrt(0.5)) / 2, 0.5, (1 - math.sqrt(0.5)) / 2, 1]),
        ("cyclic", 6, dict(base_lr=0.0, step_size_up=2), [0, 0.5, 1, 0.5, 0, 0.5]),
        ("cyclic", 9, dict(base_lr=0.0, step_size_up=2, mode="triangular2"), [0, 0.5, 1, 0.5, 0, 0.25, 0.5, 0.25, 0]),
        ("cyclic", 4, dict(base_lr=0.0, step_size_up=1, step_size_down=3), [0, 1, 2 / 3, 1 / 3]),
        ("one_cycle", 10, dict(anneal_strategy="linear", div_factor=10.0, final_div_factor=10.0),
         [0.1, 0.55, 1.0] + [1.0 + (0.01 - 1.0) * k / 7 for k in range(1, 8)]),
    ],
)
def test_hand_worked(name, total_steps, kw, want):
    torch.testing.assert_close(schedule(name, 1.0, total_steps, **kw), torch.tensor(want, dtype=F64),
                               rtol=1e-12, atol=1e-15)


def test_one_cycle_empty_warmup_phase():
    """pct_start * total_steps == 1 makes torch's first phase empty and OneCycleLR divide by zero;
    we call the empty phase finished: step 0 gets max_lr, the rest anneal as torch's phase 2."""
    with pytest.raises(ZeroDivisionError):
        stepped(L.OneCycleLR, 4, max_lr=1.0, total_steps=4, pct_start=0.25, cycle_momentum=False)
    got = schedule("one_cycle", 1.0, 4, pct_start=0.25)
    assert got[0] == 1.0 and torch.isfinite(got).all()
    torch.testing.assert_close(got[-1], torch.tensor(1.0 / 25 / 1e4, dtype=F64))


# ---------------------------------------------------------------- sweeps: tensors for lr and float kw


@pytest.mark.parametrize("name, kw", [(c[0], c[1]) for c in CASES])
def test_tensor_lr_equals_float_calls(name, kw):
    lrs = torch.tensor([0.3, 0.01, 1.0, 0.0], dtype=F64)
    got = schedule(name, lrs, 50, **kw)
    assert got.shape == (50, 4) and got.dtype == F64
    want = torch.stack([schedule(name, float(v), 50, **kw) for v in lrs], dim=1)
    torch.testing.assert_close(got, want, rtol=1e-15, atol=0)


@pytest.mark.parametrize(
    "name, key, values, fixed",
    [
        ("step", "gamma", [0.5, 0.1, 0.9], dict(step_size=4)),
        ("exponential", "gamma", [0.9, 0.99, 1.01], {}),
        ("cosine", "eta_min", [0.0, 0.01, 0.05], dict(T_max=20)),
        ("sgdr", "eta_min", [0.0, 0.01, 0.05], dict(T_0=7, T_mult=2)),
        ("cyclic", "base_lr", [0.0, 0.01, 0.05], dict(step_size_up=3, mode="triangular2")),
        ("cyclic", "gamma", [0.9, 0.99, 1.0], dict(step_size_up=3, mode="exp_range")),
        ("one_cycle", "pct_start", [0.1, 0.25, 0.5], {}),
        ("one_cycle", "div_factor", [2.0, 25.0, 100.0], dict(three_phase=True)),
        ("warmup", "start_factor", [0.1, 0.5, 1.0], dict(total_iters=10)),
        ("constant", "factor", [0.1, 0.5, 1.0], dict(total_iters=10)),
    ],
)
def test_tensor_kw_equals_float_calls(name, key, values, fixed):
    got = schedule(name, LR, 40, **fixed, **{key: torch.tensor(values, dtype=F64)})
    assert got.shape == (40, 3)
    want = torch.stack([schedule(name, LR, 40, **fixed, **{key: v}) for v in values], dim=1)
    torch.testing.assert_close(got, want, rtol=1e-14, atol=1e-17)


def test_broadcast_lr_against_kw_grid():
    """lr (1, 3) against gamma (2, 1): a 2 x 3 grid of runs."""
    lr = torch.tensor([[0.1, 0.2, 0.3]], dtype=F64)
    gamma = torch.tensor([[0.5], [0.9]], dtype=F64)
    got = schedule("exponential", lr, 5, gamma=gamma)
    assert got.shape == (5, 2, 3)
    for i in range(2):
        for j in range(3):
            want = schedule("exponential", lr[0, j].item(), 5, gamma=gamma[i, 0].item())
            torch.testing.assert_close(got[:, i, j], want, rtol=1e-15, atol=0)


def test_dtype_follows_a_floating_lr():
    assert schedule("cosine", torch.tensor([0.1, 0.2], dtype=torch.float32), 10).dtype == torch.float32
    assert schedule("cosine", 0.1, 10).dtype == F64
    assert schedule("cosine", torch.tensor(1), 10).dtype == F64  # an integer lr tensor: float64


def test_schedule_at_equals_schedule():
    lrs = torch.tensor([0.1, 0.5], dtype=F64)
    full = schedule("sgdr", lrs, 30, T_0=4, T_mult=2)
    for t in (0, 3, 4, 11, 12, 29):
        torch.testing.assert_close(schedule_at("sgdr", lrs, 30, t, T_0=4, T_mult=2), full[t], rtol=0, atol=0)
    steps = torch.tensor([1, 5, 20])
    torch.testing.assert_close(schedule_at("one_cycle", lrs, 30, steps), schedule("one_cycle", lrs, 30)[steps],
                               rtol=0, atol=0)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "name, lr, total_steps, kw, match",
    [
        ("linear", LR, 10, {}, "unknown schedule 'linear'; choose one of: constant, step, exponential"),
        ("cosine", LR, 10, dict(gamma=0.5), "cosine has no argument gamma; it takes: T_max, eta_min"),
        ("cyclic", LR, 10, dict(max_lr=1.0), "max_lr"),
        ("step", LR, 0, {}, "total_steps must be an integer >= 1"),
        ("step", LR, 2.5, {}, "total_steps must be an integer >= 1"),
        ("step", LR, True, {}, "total_steps must be an integer >= 1"),
        ("step", -0.1, 10, {}, "lr must be finite and >= 0"),
        ("step", math.nan, 10, {}, "lr must be finite and >= 0"),
        ("step", torch.tensor([0.1, -1.0]), 10, {}, "every element of lr"),
        ("step", "0.1", 10, {}, "lr must be a number or a tensor"),
        ("step", LR, 10, dict(gamma=0.0), r"gamma must be finite and lie in \(0.0, inf\]"),
        ("exponential", LR, 10, dict(gamma=-0.5), "gamma"),
        ("exponential", LR, 10, dict(gamma=torch.tensor([0.9, 0.0])), "every element of gamma"),
        ("step", LR, 10, dict(step_size=0), "step_size must be >= 1"),
        ("step", LR, 10, dict(step_size=1.5), "step_size must be an integer"),
        ("cosine", LR, 10, dict(T_max=0), "T_max must be >= 1"),
        ("cosine", LR, 10, dict(eta_min=-0.01), "eta_min"),
        ("sgdr", LR, 10, dict(T_0=0), "T_0 must be >= 1"),
        ("sgdr", LR, 10, dict(T_mult=0), "T_mult must be >= 1"),
        ("cyclic", LR, 10, dict(mode="sine"), "mode must be one of triangular, triangular2, exp_range"),
        ("cyclic", LR, 10, dict(step_size_up=0), "step_size_up must be >= 1"),
        ("cyclic", LR, 10, dict(step_size_down=0), "step_size_down must be >= 1"),
        ("cyclic", LR, 10, dict(base_lr=-1.0), "base_lr"),
        ("one_cycle", LR, 10, dict(pct_start=0.0), r"pct_start must be finite and lie in \(0.0, 1.0\)"),
        ("one_cycle", LR, 10, dict(pct_start=1.0), "pct_start"),
        ("one_cycle", LR, 10, dict(pct_start=torch.tensor([0.3, 1.5])), "every element of pct_start"),
        ("one_cycle", LR, 10, dict(anneal_strategy="exp"), "anneal_strategy must be one of cos, linear"),
        ("one_cycle", LR, 10, dict(three_phase="yes"), "three_phase must be True or False"),
        ("one_cycle", LR, 10, dict(div_factor=0.0), "div_factor"),
        ("one_cycle", LR, 10, dict(final_div_factor=math.inf), "final_div_factor"),
        ("warmup", LR, 10, dict(start_factor=0.0), "start_factor"),
        ("warmup", LR, 10, dict(start_factor=1.5), "start_factor"),
        ("warmup", LR, 10, dict(end_factor=1.5), "end_factor"),
        ("warmup", LR, 10, dict(total_iters=-1), "total_iters must be >= 0"),
        ("constant", LR, 10, dict(factor=0.0), "factor"),
    ],
)
def test_invalid_raises(name, lr, total_steps, kw, match):
    with pytest.raises(ValueError, match=match):
        schedule(name, lr, total_steps, **kw)


def test_schedule_at_rejects_bad_steps():
    with pytest.raises(ValueError, match="step must be an integer >= 0"):
        schedule_at("cosine", LR, 10, -1)
    with pytest.raises(ValueError, match="step must be an integer >= 0"):
        schedule_at("cosine", LR, 10, 1.5)


# ---------------------------------------------------------------- the spec the UI renders


@pytest.mark.parametrize("name", schedule_names())
def test_spec_is_complete_and_defaults_run(name):
    s = schedule_spec(name)
    assert s.name == name and s.title and s.description and s.latex and s.reference.startswith("torch.optim")
    for p in s.params:
        assert p.kind in ("float", "int", "choice", "bool") and p.help
        assert (p.default is None) == bool(p.derived) or p.optional
        if p.kind == "choice":
            assert p.default in p.options
        if p.kind in ("float", "int"):
            assert p.low <= p.high and (not p.log or p.low > 0)
    # the declared defaults (None = derived) are accepted, and every float argument sweeps as a tensor
    assert schedule(name, LR, 100, **s.defaults()).shape == (100,)
    floats = {p.name: torch.tensor([p.low if not p.open_low else p.high]) for p in s.params
              if p.kind == "float" and p.default is not None}
    assert schedule(name, LR, 20, **floats).shape[0] == 20


def test_spec_unknown_name():
    with pytest.raises(ValueError, match="unknown schedule"):
        schedule_spec("nope")
