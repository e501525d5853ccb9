"""The torch.optim family against torch.optim itself (a table-driven test, like optax's alias_test).

Every registry name whose reference is a torch.optim class is run beside that class on
(a) a small float64 model, (b) rows of points on Rosenbrock with tensor hyperparameters,
(c) a state_dict round trip, (d) an lr scheduler, (e) param groups; then (f) validation
and (g) each spec's defaults and ranges against the torch class's signature.
"""
from __future__ import annotations

import copy
import inspect

import pytest
import torch
from torch import nn

import optimizers
from optimizers.base import _check_value

RTOL = 1e-10  # float64 throughout; the float-hyperparameter paths are in fact bit-exact
ATOL = 1e-14

# registry name -> the torch.optim class and the constructor arguments it fixes
TORCH = {
    "sgd": (torch.optim.SGD, {}),
    "momentum": (torch.optim.SGD, {"momentum": 0.9}),
    "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (torch.optim.Adagrad, {}),
    "rmsprop": (torch.optim.RMSprop, {}),
    "adadelta": (torch.optim.Adadelta, {}),
    "adam": (torch.optim.Adam, {}),
    "amsgrad": (torch.optim.Adam, {"amsgrad": True}),
    "adamw": (torch.optim.AdamW, {}),
    "nadam": (torch.optim.NAdam, {}),
    "radam": (torch.optim.RAdam, {}),
    "adamax": (torch.optim.Adamax, {}),
}
FAMILY = list(TORCH)  # also the order names() starts with: roughly the order they were published

# defaults that differ from the torch class on purpose: SGD's momentum=0 would make these plain SGD
DELIBERATE = {("momentum", "momentum"): 0.9, ("nesterov", "momentum"): 0.9}

# hyperparameter settings per name, each run against torch: the defaults, then non-default ones
CASES = {
    "sgd": [{}, {"lr": 0.05}, {"lr": 0.05, "weight_decay": 0.1}],
    "momentum": [{}, {"lr": 0.02, "momentum": 0.5, "dampening": 0.3}, {"lr": 0.02, "weight_decay": 0.05}],
    "nesterov": [{}, {"lr": 0.02, "momentum": 0.7, "weight_decay": 0.05}],
    "adagrad": [{}, {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.05, "initial_accumulator_value": 0.1,
                     "eps": 1e-6}],
    "rmsprop": [{}, {"centered": True}, {"momentum": 0.9},
                {"lr": 3e-3, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.05, "momentum": 0.5, "centered": True}],
    "adadelta": [{}, {"lr": 0.5, "rho": 0.95, "eps": 1e-5, "weight_decay": 0.05}],
    "adam": [{}, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}],
    "amsgrad": [{}, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}],
    "adamw": [{}, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}],
    "nadam": [{}, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05, "momentum_decay": 0.01}],
    # beta2 = 0.9 leaves RAdam's un-rectified phase after 2 steps, 0.999 after 5: both branches run
    "radam": [{}, {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.05}],
    "adamax": [{}, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}],
}
CASE_IDS = [(n, i) for n in FAMILY for i in range(len(CASES[n]))]


@pytest.fixture(autouse=True)
def _float64_default():
    # torch.optim keeps some scalar state (NAdam's mu_product) in the default dtype
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def ours(name, params, **hp):
    return optimizers.build(name, params, **hp)


def theirs(name, params, **hp):
    cls, fixed = TORCH[name]
    return cls(params, **(fixed | hp))


def assert_same(a, b):
    for p, q in zip(a, b, strict=True):
        assert torch.isfinite(q).all()
        torch.testing.assert_close(p, q, rtol=RTOL, atol=ATOL)


# --- (a) a small model -----------------------------------------------------------------------

def problem(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    x = torch.randn(32, 3, dtype=torch.float64)
    y = torch.sin(x.sum(1, keepdim=True)) + 0.1 * x[:, :1] ** 2
    return model, x, y


def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    opt.step()


def run_pair(name, hp, steps=30, groups=None, scheduler=None):
    """Train a model with ours and a deep copy with torch; check the parameters equal at every step."""
    model_a, x, y = problem()
    model_b = copy.deepcopy(model_a)
    params_a = groups(model_a) if groups else model_a.parameters()
    params_b = groups(model_b) if groups else model_b.parameters()
    opt_a, opt_b = ours(name, params_a, **hp), theirs(name, params_b, **hp)
    scheds = [scheduler(opt_a), scheduler(opt_b)] if scheduler else []
    for _ in range(steps):
        train_step(model_a, opt_a, x, y)
        train_step(model_b, opt_b, x, y)
        for s in scheds:
            s.step()
        assert_same(model_a.parameters(), model_b.parameters())
    return model_a


@pytest.mark.parametrize("name,i", [pytest.param(n, i, id=f"{n}-{i}", marks=[pytest.mark.slow] if i else [])
                                    for n, i in CASE_IDS])  # the fast lane: each optimizer's first case
def test_model_matches_torch(name, i):
    model = run_pair(name, CASES[name][i])
    start, _, _ = problem()
    moved = max((p - q).abs().max().item() for p, q in zip(model.parameters(), start.parameters(), strict=True))
    assert moved > 1e-4  # the comparison is not between two models that stood still


def test_nadam_matches_torch_with_float32_default_dtype():
    # with the default dtype float32 torch keeps mu_product in float32: so do we
    torch.set_default_dtype(torch.float32)
    run_pair("nadam", CASES["nadam"][1])


# --- (b) rows on a surface, with tensor hyperparameters --------------------------------------

def rosenbrock(xy):
    x, y = xy[..., 0], xy[..., 1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


STARTS = [[-1.0, 1.0], [0.0, 0.0], [0.5, 0.8], [1.3, 1.5]]
_SGD_LRS = [1e-4, 2e-4, 4e-4, 8e-4]
_ADAPTIVE_LRS = [1e-3, 3e-3, 1e-2, 3e-2]
ROW_LRS = {
    "sgd": _SGD_LRS, "momentum": _SGD_LRS, "nesterov": _SGD_LRS,
    "adagrad": [0.01, 0.03, 0.1, 0.3], "adadelta": [0.1, 0.3, 1.0, 3.0],
} | {n: _ADAPTIVE_LRS for n in ("rmsprop", "adam", "amsgrad", "adamw", "nadam", "radam", "adamax")}
_B1 = ("betas", [0.5, 0.8, 0.9, 0.95], lambda v: (v, 0.999))
_B2 = ("betas", [0.9, 0.99, 0.999, 0.9999], lambda v: (0.9, v))
# (name, float hyperparameters, (a second hyperparameter given per row, its row values, how to wrap it))
ROW_CASES = [
    ("sgd", {}, None), ("sgd", {}, ("weight_decay", [0.0, 0.01, 0.1, 0.5], None)),
    ("momentum", {}, None), ("momentum", {"dampening": 0.2}, ("momentum", [0.0, 0.5, 0.9, 0.95], None)),
    ("nesterov", {}, None), ("nesterov", {"weight_decay": 0.01}, ("momentum", [0.3, 0.5, 0.9, 0.95], None)),
    ("adagrad", {}, None), ("adagrad", {}, ("lr_decay", [0.0, 0.01, 0.1, 1.0], None)),
    ("adagrad", {"weight_decay": 0.01}, ("initial_accumulator_value", [0.0, 0.1, 1.0, 10.0], None)),
    ("rmsprop", {}, None), ("rmsprop", {"centered": True}, ("alpha", [0.5, 0.9, 0.99, 0.999], None)),
    ("rmsprop", {"centered": True, "weight_decay": 0.01}, ("momentum", [0.0, 0.5, 0.9, 0.95], None)),
    ("rmsprop", {"momentum": 0.5}, ("eps", [1e-8, 1e-4, 1e-2, 1e-1], None)),
    ("adadelta", {}, None), ("adadelta", {"weight_decay": 0.01}, ("rho", [0.5, 0.9, 0.95, 0.99], None)),
    ("adam", {}, None), ("adam", {}, _B1), ("adam", {"weight_decay": 0.01}, _B2),
    ("amsgrad", {}, None), ("amsgrad", {}, _B1), ("amsgrad", {}, _B2),
    ("adamw", {}, None), ("adamw", {}, ("weight_decay", [0.0, 0.01, 0.1, 1.0], None)), ("adamw", {}, _B1),
    ("nadam", {}, None), ("nadam", {}, _B1), ("nadam", {"weight_decay": 0.01}, _B2),
    ("nadam", {}, ("momentum_decay", [0.0, 0.004, 0.01, 0.1], None)),
    ("radam", {}, None), ("radam", {}, _B1), ("radam", {"weight_decay": 0.01}, _B2),  # rho_t > 5 per row
    ("adamax", {}, None), ("adamax", {}, _B1), ("adamax", {"weight_decay": 0.01}, _B2),
    ("adamax", {}, ("eps", [1e-8, 1e-4, 1e-2, 1e-1], None)),
]
ROW_IDS = [f"{n}-{second[0] if second else 'lr'}-{i}" for i, (n, _, second) in enumerate(ROW_CASES)]


def row_hparams(name, base, second):
    """Hyperparameters for the batched run, and for each row's own torch run."""
    lrs = ROW_LRS[name]
    batched = base | {"lr": torch.tensor(lrs)[:, None]}  # (N, 1)
    per_row = [base | {"lr": lr} for lr in lrs]
    if second:
        key, values, wrap = second
        wrap = wrap or (lambda v: v)
        batched[key] = wrap(torch.tensor(values)[:, None])
        for hp, v in zip(per_row, values, strict=True):
            hp[key] = wrap(v)
    return batched, per_row


def descend(opt, xy, steps):
    for _ in range(steps):
        opt.zero_grad()
        rosenbrock(xy).sum().backward()
        opt.step()


@pytest.mark.parametrize("name,base,second", [  # the fast lane: each optimizer with only lr per row
    pytest.param(*case, id=i, marks=[pytest.mark.slow] if case[2] else [])
    for case, i in zip(ROW_CASES, ROW_IDS, strict=True)])
def test_rows_match_separate_torch_runs(name, base, second):
    batched, per_row = row_hparams(name, base, second)
    xy = torch.tensor(STARTS, requires_grad=True)  # (N, 2): N independent points
    descend(ours(name, [xy], **batched), xy, 50)
    for i, hp in enumerate(per_row):
        p = torch.tensor(STARTS[i], requires_grad=True)  # (2,)
        descend(theirs(name, [p], **hp), p, 50)
        assert torch.isfinite(p).all()
        assert (p - torch.tensor(STARTS[i])).abs().max() > 1e-6
        torch.testing.assert_close(xy[i], p, rtol=RTOL, atol=ATOL, msg=lambda m, i=i: f"row {i}: {m}")


def test_radam_rows_take_both_branches_at_one_step():
    # rho_t > 5 (rectified Adam) from step 6 for beta2 = 0.999, from step 10 for 0.7, never for 0.5:
    # one update applies both of torch's branches, row by row
    betas2 = [0.5, 0.7, 0.999]
    b2 = torch.tensor(betas2)[:, None]
    rho_inf = 2 / (1 - b2) - 1
    rho_8 = rho_inf - 2 * 8 * b2**8 / (1 - b2**8)
    assert rho_8[0] < 5 and rho_8[1] < 5 < rho_8[2]
    xy = torch.tensor(STARTS[:3], requires_grad=True)
    descend(ours("radam", [xy], lr=0.01, betas=(0.9, b2)), xy, 20)
    for i, beta2 in enumerate(betas2):
        p = torch.tensor(STARTS[i], requires_grad=True)
        descend(theirs("radam", [p], lr=0.01, betas=(0.9, beta2)), p, 20)
        torch.testing.assert_close(xy[i], p, rtol=RTOL, atol=ATOL)


# --- (c) state_dict round trip ----------------------------------------------------------------

@pytest.mark.parametrize("name", FAMILY)
def test_state_dict_round_trip(name):
    hp = CASES[name][-1]
    model_a, x, y = problem()
    opt_a = ours(name, model_a.parameters(), **hp)
    for _ in range(10):
        train_step(model_a, opt_a, x, y)
    saved = copy.deepcopy(opt_a.state_dict())  # state_dict() hands out the live state tensors
    model_b = copy.deepcopy(model_a)
    opt_b = ours(name, model_b.parameters())  # defaults: loading restores the hyperparameters too
    opt_b.load_state_dict(saved)
    assert opt_b.param_groups[0] | {"params": None} == opt_a.param_groups[0] | {"params": None}
    for _ in range(10):
        train_step(model_a, opt_a, x, y)
        train_step(model_b, opt_b, x, y)
    for p, q in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(p, q)
    # and the pair still equals torch trained 20 steps straight
    model_t, _, _ = problem()
    opt_t = theirs(name, model_t.parameters(), **hp)
    for _ in range(20):
        train_step(model_t, opt_t, x, y)
    assert_same(model_b.parameters(), model_t.parameters())


@pytest.mark.parametrize("name", FAMILY)
def test_state_dict_round_trip_with_tensor_lr(name):
    batched, _ = row_hparams(name, {}, None)
    xy_a = torch.tensor(STARTS, requires_grad=True)
    opt_a = ours(name, [xy_a], **batched)
    descend(opt_a, xy_a, 10)
    saved = copy.deepcopy(opt_a.state_dict())
    xy_b = xy_a.detach().clone().requires_grad_(True)
    opt_b = ours(name, [xy_b])
    opt_b.load_state_dict(saved)
    assert torch.equal(opt_b.param_groups[0]["lr"], batched["lr"])
    descend(opt_a, xy_a, 10)
    descend(opt_b, xy_b, 10)
    assert torch.equal(xy_a, xy_b)


# --- (d) an lr scheduler, (e) param groups ---------------------------------------------------

@pytest.mark.parametrize("name", FAMILY)
def test_step_lr_scheduler_is_honoured(name):
    hp = CASES[name][-1]
    model = run_pair(name, hp, scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5))
    assert model is not None
    # the scheduler really changed our group's lr
    model_a, _, _ = problem()
    opt = ours(name, model_a.parameters(), **hp)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)
    lr0 = opt.param_groups[0]["lr"]
    for _ in range(14):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(lr0 * 0.25)


@pytest.mark.parametrize("name", FAMILY)
def test_param_groups_with_their_own_lr(name):
    lr = optimizers.spec(name).hparam("lr").default

    def groups(model):
        return [
            {"params": model[0].parameters(), "lr": lr * 3, "weight_decay": 0.05},
            {"params": model[2].parameters()},
        ]

    run_pair(name, {"lr": lr / 2}, groups=groups)


# --- (f) validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", FAMILY)
def test_unknown_hyperparameter_names_the_valid_ones(name):
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="bogus") as err:
        ours(name, [p], bogus=1.0)
    for hp in optimizers.spec(name).hparams:
        assert hp.name in str(err.value)


INVALID = [
    ("lr", -1.0), ("lr", float("nan")), ("eps", -1.0), ("betas", (1.0, 0.999)), ("betas", (0.9, 1.0)),
    ("betas", (-0.1, 0.999)), ("betas", 0.9), ("weight_decay", -0.1), ("momentum", -0.5), ("dampening", -0.1),
    ("alpha", 1.5), ("rho", -0.1), ("rho", 1.5), ("lr_decay", -1.0), ("initial_accumulator_value", -1.0),
    ("momentum_decay", -1.0), ("centered", "yes"), ("lr", torch.tensor([[1e-3], [-1e-3]])),
]


@pytest.mark.parametrize("name", FAMILY)
def test_invalid_values_raise(name):
    known = {hp.name for hp in optimizers.spec(name).hparams}
    checked = 0
    for key, value in INVALID:
        if key in known:
            with pytest.raises(ValueError, match=key):
                ours(name, [torch.zeros(2, requires_grad=True)], **{key: value})
            checked += 1
    assert checked >= 3  # lr twice and weight_decay at least


# --- (g) specs against the torch signatures; the registry order -------------------------------

@pytest.mark.parametrize("name", FAMILY)
def test_spec_matches_torch_signature(name):
    s = optimizers.spec(name)
    cls, fixed = TORCH[name]
    signature = inspect.signature(cls).parameters
    assert s.reference.startswith(f"torch.optim.{cls.__name__}")
    assert s.latex.strip() and s.paper.strip() and s.title.strip()
    for hp in s.hparams:
        assert hp.name in signature, f"{name}.{hp.name} is not a {cls.__name__} argument"
        expected = DELIBERATE.get((name, hp.name), signature[hp.name].default)
        assert hp.default == expected, f"{name}.{hp.name}: default {hp.default!r}, torch {expected!r}"
        assert isinstance(hp.default, bool) == isinstance(expected, bool) == (hp.kind == "bool")
        _check_value(name, hp, hp.default)  # the default is itself valid
        assert hp.low < hp.high
        if hp.kind != "bool":
            for d in hp.default if hp.kind == "pair" else (hp.default,):
                assert hp.low <= d <= hp.high, f"{name}.{hp.name}: default {d} outside [{hp.low}, {hp.high}]"
        if hp.log:
            assert hp.low > 0
    # values the rule reads but the user does not set: as the torch constructor fixes them
    for key, value in s.fixed.items():
        if key in signature:
            assert value == fixed.get(key, signature[key].default), f"{name}: fixed {key}={value!r}"
    # each row of TORCH is the spec's defaults: a fixed torch argument is a deliberate default or fixed
    for key, value in fixed.items():
        assert DELIBERATE.get((name, key), s.fixed.get(key)) == value


def test_spec_defaults_are_booleans_for_flags():
    hp = optimizers.spec("rmsprop").hparam("centered")
    assert hp.kind == "bool" and hp.default is False


def test_names_start_with_the_torch_family_in_order():
    names = optimizers.names()
    assert names[: len(FAMILY)] == FAMILY
    assert len(set(names)) == len(names)


def test_learning_rates_and_eps_sliders_are_logarithmic():
    for name in FAMILY:
        s = optimizers.spec(name)
        assert s.hparam("lr").log
        if "eps" in {hp.name for hp in s.hparams}:
            assert s.hparam("eps").log
