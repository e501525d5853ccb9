"""Every value a hyperparameter, schedule argument or clip threshold accepts can be simulated.

The registries' valid domains are what the link readers and the pages trust: whatever
`optimizers.resolve` (or the schedule and clip checks) accepts must run through the engine
without an exception (a run may diverge: the engine marks it), and whatever they refuse must be
refused with a ValueError, whatever the value: 1e300, 1e-320, inf, NaN, 10**19, a 400-digit int.
"""
import math
from fractions import Fraction

import pytest
import torch

import optimizers
import trajectories
from optimizers.rules.schedulefree import _average_weight
from optimizers.schedules import schedule_spec
from trajectories import Run

START = (-1.5, 2.0)  # off the minimum: every rule really moves
STEPS = 6
HOSTILE = [1e300, -1e300, 1e-300, 5e-324, 1e200, 1.7976931348623157e308, -1e308, 1e-320, 2000.0, 1e16,
           math.inf, -math.inf, math.nan, 2**31, 2**53, 2**63, 10**19, 10**30, 10**400, -1, 0, 1, 0.5]


def edges(lo: float, hi: float, open_high: bool = False) -> list[float]:
    out = [lo, math.nextafter(lo, math.inf), hi]
    if math.isfinite(hi):
        out.append(math.nextafter(hi, -math.inf))
    return out


def accepted(check) -> bool:
    """True where check() accepts; it may refuse only with a ValueError."""
    try:
        check()
    except ValueError:
        return False
    return True


def race_all(runs: list[Run]) -> None:
    """Race the runs 8 at a time (one loop for all: fast); on a failure, find the run that raised."""
    for i in range(0, len(runs), 8):
        chunk = runs[i:i + 8]
        try:
            trajectories.race("rosenbrock", chunk, START, STEPS)
        except Exception:  # noqa: BLE001 - name the culprit
            for r in chunk:
                try:
                    trajectories.race("rosenbrock", [r], START, STEPS)
                except Exception as e:  # noqa: BLE001
                    pytest.fail(f"{r} was accepted but does not simulate: {type(e).__name__}: {e}")
            raise


def hparam_values(hp) -> list:
    vals = HOSTILE + edges(*hp.valid, hp.open_high)
    if hp.kind == "pair":
        d = hp.default
        return [p for v in vals for p in ((v, d[1]), (d[0], v), (v, v))]
    return vals


@pytest.mark.slow  # ~3.4 s: many runs
@pytest.mark.parametrize("name", optimizers.names())
def test_every_accepted_hyperparameter_value_simulates(name):
    spec = optimizers.spec(name)
    runs = []
    for hp in spec.hparams:
        if hp.kind == "bool":
            continue
        for v in hparam_values(hp):
            if accepted(lambda hp=hp, v=v: optimizers.resolve(name, **{hp.name: v})):
                runs.append(Run(name, {hp.name: v}))
        for v in (1e300, 1e-300):  # with an extreme lr too
            if hp.kind == "float" and hp.name != "lr" and accepted(
                    lambda hp=hp, v=v: optimizers.resolve(name, lr=1e300, **{hp.name: v})):
                runs.append(Run(name, {"lr": 1e300, hp.name: v}))
    assert runs
    race_all(runs)


@pytest.mark.parametrize("value", [math.inf, math.nan, 10**400, -(10**400), -math.inf, 2.5],
                         ids=["inf", "nan", "10**400", "-10**400", "-inf", "2.5"])
def test_refused_values_are_refused_with_a_clear_value_error(value):
    for name in ("lookahead", "adamw_schedulefree"):  # an int hyperparameter each (k, warmup_steps)
        for hp in optimizers.spec(name).hparams:
            if hp.kind in ("bool", "pair") or (hp.kind == "float" and value == 2.5):
                continue
            with pytest.raises(ValueError, match=hp.name) as e:
                optimizers.resolve(name, **{hp.name: value})
            assert len(str(e.value)) < 200  # a 400-digit value is not echoed in full


def test_resolve_hands_the_rules_floats_for_float_hyperparameters():
    _, h = optimizers.resolve("adam", lr=10**19, betas=(0, 0.5))
    assert isinstance(h["lr"], float) and h["lr"] == 1e19
    assert all(isinstance(b, float) for b in h["betas"])
    _, h = optimizers.resolve("lookahead", k=7)
    assert h["k"] == 7 and isinstance(h["k"], int)


@pytest.mark.parametrize("sched", optimizers.schedule_names())
def test_every_accepted_schedule_argument_simulates(sched):
    runs = []
    for p in schedule_spec(sched).params:
        if p.kind in ("choice", "bool"):
            continue
        for v in HOSTILE + edges(*p.valid, p.open_high):
            for opt, lr in (("sgd", 1e-3), ("adamw_schedulefree", 1e300)):
                if accepted(lambda p=p, v=v, lr=lr: optimizers.schedule_at(sched, lr, STEPS, 0, **{p.name: v})):
                    runs.append(Run(opt, {"lr": lr}, schedule=(sched, {p.name: v})))
    if sched == "cyclic":
        runs += [Run("sgd", {"lr": 1e-3}, schedule=("cyclic", {"mode": m, "gamma": g}))
                 for m in ("triangular2", "exp_range") for g in (1e300, 1e-300)]
    if not schedule_spec(sched).params:  # a schedule without arguments (inverse_sqrt): the extreme lrs
        runs += [Run(opt, {"lr": lr}, schedule=(sched, {}))
                 for opt, lr in (("sgd", 1e-3), ("adamw_schedulefree", 1e300))]
    assert runs
    race_all(runs)


@pytest.mark.parametrize("kind", ["norm", "smooth", "value"])
def test_every_accepted_clip_threshold_simulates(kind):
    runs = []
    for v in HOSTILE:
        if accepted(lambda v=v: optimizers.check_clip(kind, v)):
            runs += [Run(opt, {"lr": 1e-3}, clip=(kind, v)) for opt in ("sgd", "adam", "sgd_schedulefree")]
    assert runs
    race_all(runs)


@pytest.mark.parametrize("name", ["adamw_schedulefree", "sgd_schedulefree"])
@pytest.mark.parametrize("hp", [{"lr": 1e200}, {"r": 2000.0}, {"r": 1e308}, {"r": 2**62}, {"lr": 1e-200, "r": 1e300},
                                {"weight_lr_power": 1e300}, {"lr": 1e300, "weight_lr_power": 4.0}])
def test_schedule_free_weights_never_overflow(name, hp):
    # the weight (k+1)^r lr_max^power overflowed a Python float (OverflowError) for these; 2**62 as an
    # int exponent also made Python compute an astronomically large integer power
    res = trajectories.race("rosenbrock", [Run(name, hp)], START, 20)
    assert res.xy.shape == (21, 1, 2)


@pytest.mark.parametrize("r", [0.5, 2.0, 150.0, 2000.0])
def test_schedule_free_average_weight_is_exact_past_the_float_range(r):
    """c_t = t^r lr^2 / sum_i i^r lr^2, exactly (Fractions), for floats and for a tensor row alike."""
    lr = 0.1
    s, st = {"weight_sum": 0.0}, {"weight_sum": 0.0}
    rows = torch.tensor([[r], [1.0]], dtype=torch.float64)
    total = Fraction(0)
    for k in range(40):
        c = _average_weight(s, k, lr, r, 2.0)
        ct = _average_weight(st, k, lr, rows, 2.0)
        w = (Fraction(k + 1) ** int(r) if float(r).is_integer() else Fraction((k + 1) ** r)) * Fraction(lr) ** 2
        total += w
        exact = float(w / total)
        assert c == pytest.approx(exact, rel=1e-12, abs=0.0), (k, c, exact)
        assert float(ct[0, 0]) == pytest.approx(c, rel=1e-12, abs=0.0)
        assert float(ct[1, 0]) == pytest.approx(2 / (k + 2), rel=1e-12)  # r = 1: t / (t (t+1) / 2), t = k+1
