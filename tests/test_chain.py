"""Chained schedules (optimizers.Sequential) against torch's SequentialLR, stepping the real schedulers.

As tests/test_schedules.py: the lr of step i is the group's lr after i scheduler.step() calls; torch
steps most schedulers recursively, ours are closed forms of the step index, so they agree to
rounding (rtol 1e-9 catches any off-by-one step at a milestone, which moves values by 1e-2 or more).
"""
import pytest
import torch
from torch.optim import lr_scheduler as L

import optimizers
from optimizers import MAX_PHASES, Sequential

F64 = torch.float64
LR = 0.1
T = 120


def stepped_chain(make, n, lr=LR):
    """lr of steps 0 .. n-1 from torch's SequentialLR over the schedulers make(optimizer) returns."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    schedulers, milestones = make(opt)
    sched = L.SequentialLR(opt, schedulers, milestones)
    out = []
    for i in range(n):
        out.append(opt.param_groups[0]["lr"])
        if i < n - 1:
            opt.step()
            sched.step()
    return torch.tensor(out, dtype=F64)


# (id, torch's schedulers and milestones, our phases and milestones)
CASES = [
    ("warmup+cosine",
     lambda o: ([L.LinearLR(o, start_factor=0.01, total_iters=20), L.CosineAnnealingLR(o, T_max=T - 20)], [20]),
     [("warmup", dict(start_factor=0.01, total_iters=20)), ("cosine", {})], [20]),  # T_max derived: the rest
    ("warmup+cosine to eta_min, past T_max",
     lambda o: ([L.LinearLR(o, start_factor=0.1, total_iters=10), L.CosineAnnealingLR(o, T_max=50, eta_min=1e-3)],
                [10]),
     [("warmup", dict(start_factor=0.1, total_iters=10)), ("cosine", dict(T_max=50, eta_min=1e-3))], [10]),
    ("warmup+linear decay (a one-cycle triangle)",
     lambda o: ([L.LinearLR(o, start_factor=0.04, total_iters=36),
                 L.LinearLR(o, start_factor=1.0, end_factor=1e-3, total_iters=T - 36)], [36]),
     [("warmup", dict(start_factor=0.04, total_iters=36)),
      ("warmup", dict(start_factor=1.0, end_factor=1e-3, total_iters=T - 36))], [36]),
    ("warmup+cosine, milestone before the warm-up ends",
     lambda o: ([L.LinearLR(o, start_factor=0.2, total_iters=30), L.CosineAnnealingLR(o, T_max=40)], [15]),
     [("warmup", dict(start_factor=0.2, total_iters=30)), ("cosine", dict(T_max=40))], [15]),
    ("torch's doc example: constant then exponential",
     lambda o: ([L.ConstantLR(o, factor=0.1, total_iters=20), L.ExponentialLR(o, gamma=0.9)], [20]),
     [("constant", dict(factor=0.1, total_iters=20)), ("exponential", dict(gamma=0.9))], [20]),
    ("warmup+step",
     lambda o: ([L.LinearLR(o, start_factor=0.5, total_iters=5), L.StepLR(o, step_size=10, gamma=0.5)], [5]),
     [("warmup", dict(start_factor=0.5, total_iters=5)), ("step", dict(step_size=10, gamma=0.5))], [5]),
    ("warmup+sgdr",
     lambda o: ([L.LinearLR(o, start_factor=0.5, total_iters=5), L.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2)],
                [5]),
     [("warmup", dict(start_factor=0.5, total_iters=5)), ("sgdr", dict(T_0=10, T_mult=2))], [5]),
    ("warmup+cyclic",
     lambda o: ([L.LinearLR(o, start_factor=0.5, total_iters=5),
                 L.CyclicLR(o, base_lr=0.01, max_lr=LR, step_size_up=5, mode="triangular2", cycle_momentum=False)],
                [5]),
     [("warmup", dict(start_factor=0.5, total_iters=5)), ("cyclic", dict(base_lr=0.01, step_size_up=5,
                                                                         mode="triangular2"))], [5]),
    ("warmup, hold, cosine (three phases)",
     lambda o: ([L.LinearLR(o, start_factor=0.1, total_iters=10), L.ConstantLR(o, factor=1.0),
                 L.CosineAnnealingLR(o, T_max=T - 40, eta_min=1e-4)], [10, 40]),
     [("warmup", dict(start_factor=0.1, total_iters=10)), ("constant", {}), ("cosine", dict(eta_min=1e-4))],
     [10, 40]),
    ("cosine then a second cosine",
     lambda o: ([L.CosineAnnealingLR(o, T_max=30), L.CosineAnnealingLR(o, T_max=90, eta_min=0.01)], [30]),
     [("cosine", {}), ("cosine", dict(eta_min=0.01))], [30]),  # both T_max derived from their phases
    ("exponential, then step, then constant factor",
     lambda o: ([L.ExponentialLR(o, gamma=0.95), L.StepLR(o, step_size=7, gamma=0.3),
                 L.ConstantLR(o, factor=0.05, total_iters=25)], [30, 80]),
     [("exponential", dict(gamma=0.95)), ("step", dict(step_size=7, gamma=0.3)),
      ("constant", dict(factor=0.05, total_iters=25))], [30, 80]),
    ("milestone past the run's end: the later phase never runs",
     lambda o: ([L.ExponentialLR(o, gamma=0.97), L.ConstantLR(o, factor=0.5)], [T + 10]),
     [("exponential", dict(gamma=0.97)), ("constant", dict(factor=0.5))], [T + 10]),
]


@pytest.mark.slow  # ~0.7 s: many runs
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_equals_stepped_sequential_lr(case):
    _, make, phases, milestones = case
    want = stepped_chain(make, T)
    got = Sequential(phases, milestones).values(LR, T)
    assert got.shape == (T,) and got.dtype == F64
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-15)


@pytest.mark.slow  # ~0.8 s: many runs
def test_one_cycle_phase_departs_from_torch_only_by_its_initial_lr():
    """torch's OneCycleLR overwrites the group's initial_lr with max_lr / div_factor when it is made, and the
    other schedulers of a SequentialLR take their base lr from it: torch's warm-up + one_cycle runs the
    warm-up from lr / div_factor. Ours scales every phase from the run's lr (optimizers/chain.py): the
    one_cycle phase equals torch's, the warm-up is torch's times div_factor, nothing else differs."""
    div = 25.0
    torch_lr = stepped_chain(lambda o: ([L.LinearLR(o, start_factor=0.5, total_iters=10),
                                         L.OneCycleLR(o, max_lr=LR, total_steps=T - 10, div_factor=div,
                                                      cycle_momentum=False)], [10]), T)
    ours = Sequential([("warmup", dict(start_factor=0.5, total_iters=10)), ("one_cycle", dict(div_factor=div))],
                      [10]).values(LR, T)
    torch.testing.assert_close(ours[10:], torch_lr[10:], rtol=1e-9, atol=1e-15)  # the one_cycle phase
    torch.testing.assert_close(ours[:10], torch_lr[:10] * div, rtol=1e-9, atol=1e-15)  # the warm-up, scaled
    # and a one_cycle phase alone is OneCycleLR over that phase, stepped on its own
    alone = optimizers.schedule("one_cycle", LR, T - 10, div_factor=div)
    torch.testing.assert_close(ours[10:], alone, rtol=0, atol=0)


def test_one_phase_is_the_schedule_itself():
    for name, kw in [("cosine", dict(eta_min=0.01)), ("one_cycle", {}), ("sgdr", dict(T_0=7, T_mult=2))]:
        torch.testing.assert_close(Sequential([(name, kw)]).values(LR, 50), optimizers.schedule(name, LR, 50, **kw),
                                   rtol=0, atol=0)


def test_hand_worked_warmup_then_step():
    got = Sequential([("warmup", dict(start_factor=0.5, total_iters=2)), ("step", dict(step_size=2, gamma=0.5))],
                     [2]).values(1.0, 7)
    torch.testing.assert_close(got, torch.tensor([0.5, 0.75, 1, 1, 0.5, 0.5, 0.25], dtype=F64), rtol=0, atol=1e-15)


# ---------------------------------------------------------------- sweeps: tensors in any phase


def test_tensor_arguments_in_a_later_phase_equal_float_calls():
    etas = torch.tensor([0.0, 0.01, 0.05], dtype=F64)
    lrs = torch.tensor([0.1, 0.3, 1.0], dtype=F64)
    chain = Sequential([("warmup", dict(start_factor=0.1, total_iters=10)), ("cosine", dict(eta_min=etas))], [10])
    got = chain.values(lrs, 60)
    assert got.shape == (60, 3)
    for j in range(3):
        want = Sequential([("warmup", dict(start_factor=0.1, total_iters=10)),
                           ("cosine", dict(eta_min=float(etas[j])))], [10]).values(float(lrs[j]), 60)
        torch.testing.assert_close(got[:, j], want, rtol=1e-15, atol=0)
    for t in (0, 9, 10, 11, 59):  # one step at a time, as the engine asks for per-row schedules
        torch.testing.assert_close(chain.at(lrs, 60, t), got[t], rtol=0, atol=0)
    steps = torch.tensor([3, 10, 40])
    torch.testing.assert_close(chain.at(lrs, 60, steps), got[steps], rtol=0, atol=0)


def test_a_tensor_start_factor_in_the_first_phase():
    sf = torch.tensor([0.01, 0.1, 1.0], dtype=F64)
    got = Sequential([("warmup", dict(start_factor=sf, total_iters=5)), ("exponential", dict(gamma=0.9))],
                     [5]).values(LR, 20)
    for j in range(3):
        want = Sequential([("warmup", dict(start_factor=float(sf[j]), total_iters=5)),
                           ("exponential", dict(gamma=0.9))], [5]).values(LR, 20)
        torch.testing.assert_close(got[:, j], want, rtol=1e-15, atol=0)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("phases, milestones, match", [
    ([], [], "1 to 8 phases"),
    ([("constant", {})] * (MAX_PHASES + 1), list(range(1, MAX_PHASES + 1)), "1 to 8 phases"),
    ([("warmup", {}), ("cosine", {})], [], "2 phases need 1 milestone"),
    ([("warmup", {}), ("cosine", {})], [0], "each after the one before"),
    ([("warmup", {}), ("cosine", {}), ("constant", {})], [10, 10], "each after the one before"),
    ([("warmup", {}), ("cosine", {})], [2.5], "whole numbers"),
    ([("warmup", {}), ("linear", {})], [5], "unknown schedule 'linear'"),
    (["cosine"], [], "a phase is"),
])
def test_bad_structure_raises(phases, milestones, match):
    with pytest.raises(ValueError, match=match):
        Sequential(phases, milestones)


def test_bad_argument_names_its_phase():
    chain = Sequential([("warmup", {}), ("cosine", dict(eta_min=-1.0))], [5])
    with pytest.raises(ValueError, match=r"phase 2 \(cosine, from step 5\): schedule cosine: eta_min"):
        chain.values(LR, 20)
    with pytest.raises(ValueError, match="cosine has no argument gamma"):
        Sequential([("warmup", {}), ("cosine", dict(gamma=0.5))], [5]).values(LR, 20)
