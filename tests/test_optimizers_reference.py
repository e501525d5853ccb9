"""Optimizers from the authors' packages, equalled step by step in float64.

adabound / amsbound  == adabound.AdaBound(amsbound=False / True)
lion                 == lion_pytorch.Lion
lookahead            == pytorch_optimizer.Lookahead(torch.optim.Adam(...))
adamw_schedulefree   == schedulefree.AdamWScheduleFree (with train() / eval())
sgd_schedulefree     == schedulefree.SGDScheduleFree
swats                == Algorithm 1 of Keskar & Socher 2017, transcribed below in Python floats
                        (pytorch_optimizer.SWATS deviates from it: see optimizers/rules/swats.py)

For each: (a) a small model trained side by side, (b) rows of a (N, 2) Rosenbrock batch with a
(N, 1) lr against N separate reference runs, (c) a state_dict round trip, (d) invalid values.
"""
from __future__ import annotations

import copy
import math

import pytest
import torch

import optimizers
from optimizers.rules.schedulefree import eval_point

adabound = pytest.importorskip("adabound")
lion_pytorch = pytest.importorskip("lion_pytorch")
schedulefree = pytest.importorskip("schedulefree")
pytorch_optimizer = pytest.importorskip("pytorch_optimizer")

DT = torch.float64
# Same arithmetic, op for op, where the float path is used: rounding can only enter through
# summation order (SWATS' dot products) or the broadcast (N, 1) path, so 1e-10 is loose.
RTOL, ATOL = 1e-10, 1e-13

pytestmark = pytest.mark.filterwarnings("ignore:This overload of add")  # adabound 0.0.5's deprecated calls


def _lookahead(params, k=5, alpha=0.5, **hp):
    return pytorch_optimizer.Lookahead(torch.optim.Adam(params, **hp), k=k, alpha=alpha)


REFERENCE = {
    "adabound": lambda ps, **hp: adabound.AdaBound(ps, **hp),
    "amsbound": lambda ps, **hp: adabound.AdaBound(ps, amsbound=True, **hp),
    "lion": lambda ps, **hp: lion_pytorch.Lion(ps, **hp),
    "lookahead": _lookahead,
    "adamw_schedulefree": lambda ps, **hp: schedulefree.AdamWScheduleFree(ps, **hp),
    "sgd_schedulefree": lambda ps, **hp: schedulefree.SGDScheduleFree(ps, **hp),
}
SCHEDULE_FREE = {"adamw_schedulefree", "sgd_schedulefree"}

# (name, hyperparameters given to both): defaults first, then every knob moved
MODEL_CASES = [
    ("adabound", {}),
    ("adabound", {"lr": 3e-2, "betas": (0.8, 0.99), "final_lr": 0.05, "gamma": 1e-1, "eps": 1e-6,
                  "weight_decay": 1e-2}),
    ("amsbound", {}),
    ("amsbound", {"lr": 3e-2, "final_lr": 0.02, "gamma": 3e-2, "weight_decay": 1e-2}),
    ("lion", {}),
    ("lion", {"lr": 3e-3, "betas": (0.8, 0.95), "weight_decay": 0.5}),
    ("lookahead", {}),
    ("lookahead", {"lr": 2e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 1e-2, "k": 3, "alpha": 0.8}),
    ("adamw_schedulefree", {}),
    ("adamw_schedulefree", {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 1e-2,
                            "warmup_steps": 7, "r": 1.0, "weight_lr_power": 1.5}),
    ("sgd_schedulefree", {"lr": 0.1}),
    ("sgd_schedulefree", {"lr": 0.2, "momentum": 0.7, "weight_decay": 1e-2, "warmup_steps": 5, "r": 0.5,
                          "weight_lr_power": 3.0}),
]


# ---- a small model and data ------------------------------------------------------------------

def _model_and_data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 3, generator=g, dtype=DT)
    y = torch.randn(16, 1, generator=g, dtype=DT)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).to(DT)
    return model, x, y


def _backward(model, x, y, scale=1.0):
    model.zero_grad(set_to_none=True)
    loss = scale * ((model(x) - y) ** 2).mean()
    loss.backward()
    return loss


def _assert_params_equal(ours, ref, msg):
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL, msg=lambda m: f"{msg}: {m}")


def rosenbrock(xy):
    x, y = xy[..., 0], xy[..., 1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rosenbrock_grad(x, y):
    """Its gradient in Python floats (the same arithmetic on both sides of the SWATS tests)."""
    return [-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)]


# ---- (a) a model, trained side by side -------------------------------------------------------

@pytest.mark.parametrize("name,hp", MODEL_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(MODEL_CASES)])
def test_model_matches_reference(name, hp):
    model, x, y = _model_and_data()
    ref_model = copy.deepcopy(model)
    ours = optimizers.build(name, model.parameters(), **hp)
    ref = REFERENCE[name](ref_model.parameters(), **hp)
    if name in SCHEDULE_FREE:
        with pytest.raises(RuntimeError, match="train"):  # both start in eval mode
            _backward(model, x, y)
            ours.step()
        ours.train()
        ref.train()
    for step in range(30):  # lookahead: pull-backs after steps 5, 10, ... (3, 6, ... for k = 3)
        _backward(model, x, y)
        _backward(ref_model, x, y)
        ours.step()
        ref.step()
        _assert_params_equal(model, ref_model, f"{name} step {step + 1}")
    if name not in SCHEDULE_FREE:
        return
    # eval: parameters become the averaged x; twice is once; back to train: y again, then go on
    y_before = [p.detach().clone() for p in model.parameters()]
    ours.eval()
    ref.eval()
    ours.eval()
    _assert_params_equal(model, ref_model, f"{name} after eval()")
    assert any(not torch.equal(a, b) for a, b in zip(y_before, model.parameters(), strict=True)), "eval() did not move"
    ours.train()
    ref.train()
    ours.train()
    _assert_params_equal(model, ref_model, f"{name} after train()")
    for a, b in zip(y_before, model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    for step in range(5):
        _backward(model, x, y)
        _backward(ref_model, x, y)
        ours.step()
        ref.step()
        _assert_params_equal(model, ref_model, f"{name} step {step + 31} after eval/train")


def test_lookahead_pulls_back_every_k_steps():
    model, x, y = _model_and_data()
    opt = optimizers.build("lookahead", model.parameters(), k=4, alpha=0.5)
    start = [p.detach().clone() for p in model.parameters()]
    for step in range(1, 9):
        _backward(model, x, y)
        opt.step()
        slow = [opt.state[p]["slow_params"] for p in model.parameters()]
        if step % 4 == 0:  # just pulled back: slow == fast
            assert all(torch.equal(s, p) for s, p in zip(slow, model.parameters(), strict=True))
        elif step < 4:  # the initial parameters until the first pull-back
            assert all(torch.equal(s, e) for s, e in zip(slow, start, strict=True))
        else:
            assert not any(torch.equal(s, p) for s, p in zip(slow, model.parameters(), strict=True))


def test_schedulefree_modes():
    p = torch.tensor([[-1.0, 1.5]], dtype=DT, requires_grad=True)
    opt = optimizers.build("sgd_schedulefree", [p], lr=1e-3)
    assert opt.param_groups[0]["train_mode"] is False  # as the package: starts in eval mode
    rosenbrock(p).sum().backward()
    with pytest.raises(RuntimeError, match=r"optimizer\.train\(\)"):
        opt.step()
    opt.train()
    opt.train()  # twice: no step yet, nothing moves
    assert p.tolist() == [[-1.0, 1.5]]
    for _ in range(3):
        opt.zero_grad()
        rosenbrock(p).sum().backward()
        opt.step()
    y_seq = p.detach().clone()
    x_seq = eval_point(p, opt.state[p], opt.param_groups[0])
    assert torch.equal(p, y_seq)  # eval_point does not touch p
    opt.eval()
    assert torch.equal(p, x_seq)
    opt.eval()  # twice: moves once
    assert torch.equal(p, x_seq)
    opt.train()
    opt.train()
    torch.testing.assert_close(p, y_seq, rtol=1e-14, atol=1e-15)


# ---- SWATS: Algorithm 1 of the paper in Python floats ----------------------------------------

class Algorithm1:
    """Keskar & Socher 2017, Algorithm 1, line by line, on one vector x (a list of floats).

    Weight decay is not in the paper; g_k <- g_k + wd x_{k-1} is our extension (L2, as Adam).
    """

    def __init__(self, x, lr=1e-3, betas=(0.9, 0.999), eps=1e-9, weight_decay=0.0):
        self.x, self.lr, (self.b1, self.b2), self.eps, self.wd = list(x), lr, betas, eps, weight_decay
        n = len(self.x)
        self.k, self.m, self.a, self.v, self.lam = 0, [0.0] * n, [0.0] * n, [0.0] * n, 0.0
        self.phase, self.sgd_lr, self.switched_at = "adam", None, None

    def step(self, g):
        b1, b2, eps = self.b1, self.b2, self.eps
        g = [gi + self.wd * xi for gi, xi in zip(g, self.x, strict=True)]
        self.k += 1
        k = self.k
        if self.phase == "sgd":
            self.v = [b1 * vi + gi for vi, gi in zip(self.v, g, strict=True)]
            self.x = [xi - (1 - b1) * self.sgd_lr * vi for xi, vi in zip(self.x, self.v, strict=True)]
            return
        self.m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(self.m, g, strict=True)]
        self.a = [b2 * ai + (1 - b2) * gi * gi for ai, gi in zip(self.a, g, strict=True)]
        scale = -self.lr * math.sqrt(1 - b2**k) / (1 - b1**k)
        p = [scale * mi / (math.sqrt(ai) + eps) for mi, ai in zip(self.m, self.a, strict=True)]
        self.x = [xi + pi for xi, pi in zip(self.x, p, strict=True)]
        pg = sum(pi * gi for pi, gi in zip(p, g, strict=True))
        if pg != 0:
            gamma = sum(pi * pi for pi in p) / -pg
            self.lam = b2 * self.lam + (1 - b2) * gamma
            if k > 1 and abs(self.lam / (1 - b2**k) - gamma) < eps:
                self.phase, self.sgd_lr, self.switched_at = "sgd", self.lam / (1 - b2**k), k


def test_swats_model_matches_algorithm_1_per_row():
    """Through build(model.parameters()) each parameter tensor's rows are separate SWATS runs."""
    model, x, y = _model_and_data()
    ref_model = copy.deepcopy(model)
    hp = {"lr": 3e-3, "eps": 1e-4, "weight_decay": 1e-3}
    opt = optimizers.build("swats", model.parameters(), **hp)
    algs = [[Algorithm1(row, **hp) for row in q.detach().reshape(-1, q.shape[-1]).tolist()]
            for q in ref_model.parameters()]
    switched = {}
    for step in range(1, 121):
        _backward(model, x, y)
        _backward(ref_model, x, y)
        opt.step()
        with torch.no_grad():
            for q, rows in zip(ref_model.parameters(), algs, strict=True):
                grads = q.grad.reshape(-1, q.shape[-1]).tolist()
                for alg, g in zip(rows, grads, strict=True):
                    alg.step(g)
                q.copy_(torch.tensor([alg.x for alg in rows], dtype=DT).reshape(q.shape))
        _assert_params_equal(model, ref_model, f"swats step {step}")
        for i, (q, rows) in enumerate(zip(model.parameters(), algs, strict=True)):
            phase = opt.state[q]["sgd"].reshape(-1).tolist()
            assert phase == [alg.phase == "sgd" for alg in rows], f"phases differ at step {step}"
            for r, alg in enumerate(rows):
                if alg.switched_at == step:
                    switched[(i, r)] = step
                    assert opt.state[q]["sgd_lr"].reshape(-1)[r].item() == pytest.approx(alg.sgd_lr, rel=1e-10)
    # rows of the first layer and the output bias switch, at different steps, mid-run
    assert len(switched) >= 2 and len(set(switched.values())) >= 2, switched
    assert all(s > 2 for s in switched.values()), switched


def test_swats_whole_model_as_one_row_matches_algorithm_1():
    """The runner's layout: the model flattened to one vector, gamma over all its parameters."""
    model, x, y = _model_and_data()
    flat = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone().requires_grad_()
    shapes = [q.shape for q in model.parameters()]

    def loss_grad(v):
        params = torch.split(v, [math.prod(s) for s in shapes])
        w1, b1, w2, b2 = (t.reshape(s) for t, s in zip(params, shapes, strict=True))
        loss = ((torch.tanh(x @ w1.T + b1) @ w2.T + b2 - y) ** 2).mean()
        return torch.autograd.grad(loss, v)[0]

    hp = {"lr": 1e-2, "eps": 1e-5}
    opt = optimizers.build("swats", [flat], **hp)
    alg = Algorithm1(flat.tolist(), **hp)
    for _ in range(140):
        flat.grad = loss_grad(flat)
        opt.step()
        alg.step(loss_grad(torch.tensor(alg.x, dtype=DT, requires_grad=True)).tolist())
        torch.testing.assert_close(flat.detach(), torch.tensor(alg.x, dtype=DT), rtol=RTOL, atol=ATOL)
        assert bool(opt.state[flat]["sgd"]) == (alg.phase == "sgd")
    assert alg.switched_at is not None and 20 < alg.switched_at < 140, alg.switched_at
    assert opt.state[flat]["sgd_lr"].item() == pytest.approx(alg.sgd_lr, rel=1e-10)


def test_swats_adam_phase_equals_pytorch_optimizer_swats():
    """Before any switch, pytorch_optimizer.SWATS is Adam as Algorithm 1 (up to its 1e-15 under the sqrt)."""
    model, x, y = _model_and_data()
    ref_model = copy.deepcopy(model)
    ours = optimizers.build("swats", model.parameters(), lr=1e-2, eps=1e-9)
    ref = pytorch_optimizer.SWATS(ref_model.parameters(), lr=1e-2, eps=1e-9, foreach=False)
    for step in range(30):
        # the loss scaled by 1e4 (Adam's steps barely change: eps is 1e-9) so that the package's
        # sqrt(a + 1e-15) equals sqrt(a) to ~1e-13: unscaled, its smallest gradients differ by 1e-5
        _backward(model, x, y, scale=1e4)
        _backward(ref_model, x, y, scale=1e4)
        ours.step()
        ref.step()
        assert ref.param_groups[0]["phase"] == "adam"
        _assert_params_equal(model, ref_model, f"swats adam phase, step {step + 1}")


# ---- (b) rows of a Rosenbrock batch, one lr each, against separate reference runs ------------

STARTS = [[-1.5, 2.0], [0.0, 0.0], [1.5, 1.0], [-0.5, 1.5]]
ROW_CASES = {  # name: (lrs per row, other hyperparameters)
    "adabound": ([1e-3, 1e-2, 3e-2, 1e-1], {"final_lr": 0.05, "gamma": 1e-2}),
    "amsbound": ([1e-3, 1e-2, 3e-2, 1e-1], {"final_lr": 0.05}),
    "lion": ([1e-4, 1e-3, 1e-2, 3e-2], {"weight_decay": 0.1}),
    "lookahead": ([1e-3, 1e-2, 3e-2, 1e-1], {"k": 4, "alpha": 0.6}),
    "adamw_schedulefree": ([1e-3, 1e-2, 3e-2, 5e-2], {"warmup_steps": 5, "weight_decay": 1e-3}),
    "sgd_schedulefree": ([1e-5, 1e-4, 3e-4, 1e-3], {"warmup_steps": 5, "r": 1.0}),
    "swats": ([1e-3, 3e-3, 1e-2, 1e-3], {"eps": 1e-8}),
}


@pytest.mark.parametrize("name", list(ROW_CASES))
def test_rows_with_tensor_lr_equal_separate_runs(name):
    lrs, hp = ROW_CASES[name]
    steps = 40
    pts = torch.tensor(STARTS, dtype=DT, requires_grad=True)  # (N, 2)
    lr = torch.tensor(lrs, dtype=DT).unsqueeze(1)  # (N, 1)
    ours = optimizers.build(name, [pts], lr=lr, **hp)
    if name in SCHEDULE_FREE:
        ours.train()
    traj = []
    for _ in range(steps):
        ours.zero_grad()
        if name == "swats":  # the same float gradient as the transcription
            pts.grad = torch.tensor([rosenbrock_grad(*r) for r in pts.tolist()], dtype=DT)
        else:
            rosenbrock(pts).sum().backward()
        ours.step()
        traj.append(pts.detach().clone())
    for i, (start, row_lr) in enumerate(zip(STARTS, lrs, strict=True)):
        if name == "swats":
            alg = Algorithm1(start, lr=row_lr, **hp)
            for t in range(steps):
                alg.step(rosenbrock_grad(*alg.x))
                torch.testing.assert_close(traj[t][i], torch.tensor(alg.x, dtype=DT), rtol=RTOL, atol=ATOL)
            assert bool(ours.state[pts]["sgd"][i]) == (alg.phase == "sgd")
            continue
        q = torch.tensor(start, dtype=DT, requires_grad=True)
        ref = REFERENCE[name]([q], lr=row_lr, **hp)
        if name in SCHEDULE_FREE:
            ref.train()
        for t in range(steps):
            ref.zero_grad()
            rosenbrock(q).backward()
            ref.step()
            # the (N, 1) path multiplies where the float path fuses (alpha=...): it may round differently
            torch.testing.assert_close(traj[t][i], q.detach(), rtol=RTOL, atol=ATOL,
                                       msg=lambda m, t=t, i=i: f"{name} row {i} step {t + 1}: {m}")
        if name in SCHEDULE_FREE:  # the averaged iterate, without and with the adapter
            ref.eval()
            torch.testing.assert_close(eval_point(pts, ours.state[pts], ours.param_groups[0])[i], q.detach(),
                                       rtol=RTOL, atol=ATOL)
    if name == "swats":  # with eps 1e-8 the last row switches (at k = 2, where gamma is tiny), others do not
        phase = ours.state[pts]["sgd"].squeeze(-1).tolist()
        assert any(phase) and not all(phase), phase


def test_swats_switches_mid_run_on_a_rosenbrock_row():
    """One row, the paper's hyperparameters (lr 1e-3, betas (0.9, 0.999), eps 1e-9): the switch comes
    mid-run, at the same step as in Algorithm 1, and the SGD phase after it matches too."""
    start = [0.0, -1.0]
    p = torch.tensor([start], dtype=DT, requires_grad=True)
    opt = optimizers.build("swats", [p])
    alg = Algorithm1(start)
    ours_at = None
    for step in range(1, 301):
        p.grad = torch.tensor([rosenbrock_grad(*p[0].tolist())], dtype=DT)
        opt.step()
        alg.step(rosenbrock_grad(*alg.x))
        if ours_at is None and bool(opt.state[p]["sgd"]):
            ours_at = step
        torch.testing.assert_close(p[0].detach(), torch.tensor(alg.x, dtype=DT), rtol=RTOL, atol=ATOL)
    assert alg.switched_at is not None and 100 < alg.switched_at < 250, alg.switched_at  # 153 here
    assert ours_at == alg.switched_at
    assert opt.state[p]["sgd_lr"].item() == pytest.approx(alg.sgd_lr, rel=1e-10)


# ---- (c) state_dict round trip ----------------------------------------------------------------

@pytest.mark.parametrize("name", list(ROW_CASES))
def test_state_dict_round_trip(name):
    lrs, hp = ROW_CASES[name]
    if name == "swats":
        hp = {"eps": 1e-6}  # some rows switch before the save (at k = 2)
    lr = torch.tensor(lrs, dtype=DT).unsqueeze(1)
    a = torch.tensor(STARTS, dtype=DT, requires_grad=True)
    opt_a = optimizers.build(name, [a], lr=lr, **hp)
    opt_a.train()
    for _ in range(6):
        opt_a.zero_grad()
        rosenbrock(a).sum().backward()
        opt_a.step()
    saved = copy.deepcopy(opt_a.state_dict())
    b = a.detach().clone().requires_grad_()
    opt_b = optimizers.build(name, [b], lr=lr.clone(), **hp)  # a fresh one, in eval mode if it has modes
    opt_b.load_state_dict(saved)
    if name == "swats":
        assert ours_switched(opt_a, a) and ours_switched(opt_b, b)
    for _ in range(6):
        for p, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            rosenbrock(p).sum().backward()
            opt.step()
        assert torch.equal(a, b)
    opt_a.eval()
    opt_b.eval()
    assert torch.equal(a, b)


def ours_switched(opt, p):
    return bool(opt.state[p]["sgd"].bool().any())


# ---- (d) invalid hyperparameters --------------------------------------------------------------

INVALID = [
    ("adabound", {"lr": -1e-3}), ("adabound", {"betas": (1.0, 0.999)}), ("adabound", {"final_lr": -0.1}),
    ("adabound", {"gamma": 1.0}), ("amsbound", {"eps": -1e-8}), ("amsbound", {"weight_decay": -1.0}),
    ("lion", {"lr": -1e-4}), ("lion", {"betas": (0.9, 1.5)}), ("lion", {"weight_decay": float("nan")}),
    ("lookahead", {"k": 0}), ("lookahead", {"k": 2.5}), ("lookahead", {"alpha": 1.5}),
    ("lookahead", {"lr": torch.tensor([[1e-3], [-1e-3]])}),
    ("adamw_schedulefree", {"betas": (0.9, 1.0)}), ("adamw_schedulefree", {"warmup_steps": -1}),
    ("adamw_schedulefree", {"lr": -1.0}),
    ("sgd_schedulefree", {"momentum": 0.0}), ("sgd_schedulefree", {"momentum": 1.0}),
    ("sgd_schedulefree", {"weight_decay": -0.1}), ("sgd_schedulefree", {"warmup_steps": 1.5}),
    ("swats", {"eps": -1e-9}), ("swats", {"betas": (0.9,)}), ("swats", {"lr": float("inf")}),
    ("swats", {"nesterov": True}),
]


@pytest.mark.parametrize("name,hp", INVALID, ids=[f"{n}-{next(iter(h))}-{i}" for i, (n, h) in enumerate(INVALID)])
def test_invalid_hyperparameters_raise(name, hp):
    p = torch.zeros(2, 2, dtype=DT, requires_grad=True)
    with pytest.raises(ValueError):
        optimizers.build(name, [p], **hp)


@pytest.mark.parametrize("name", list(ROW_CASES))
def test_spec_is_complete(name):
    s = optimizers.spec(name)
    assert s.latex and s.paper and s.reference
    for hp in s.hparams:
        assert hp.low <= hp.high and hp.help
        if hp.kind in ("float", "int"):
            lo, hi = hp.valid
            assert lo <= hp.default <= hi, hp


# ---- every hyperparameter as a (N, 1) tensor: each row runs as if given its own floats --------

ROW_HPARAMS = {  # one dict of floats per row; the test stacks them into (N, 1) tensors
    "adabound": [{"lr": 1e-2, "betas": (0.9, 0.999), "final_lr": 0.1, "gamma": 1e-3, "eps": 1e-8, "weight_decay": 0.0},
                 {"lr": 3e-2, "betas": (0.8, 0.99), "final_lr": 0.02, "gamma": 1e-1, "eps": 1e-6, "weight_decay": 0.1},
                 {"lr": 1e-3, "betas": (0.0, 0.9), "final_lr": 0.5, "gamma": 0.0, "eps": 0.0, "weight_decay": 0.01}],
    "lion": [{"lr": 1e-3, "betas": (0.9, 0.99), "weight_decay": 0.0},
             {"lr": 1e-2, "betas": (0.5, 0.9), "weight_decay": 1.0},
             {"lr": 3e-3, "betas": (0.0, 1.0), "weight_decay": 0.1}],
    "lookahead": [{"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "k": 5, "alpha": 0.5},
                  {"lr": 3e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1, "k": 3, "alpha": 0.9},
                  {"lr": 1e-3, "betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.01, "k": 1, "alpha": 0.0}],
    "adamw_schedulefree": [
        {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "warmup_steps": 0, "r": 0.0,
         "weight_lr_power": 2.0},
        {"lr": 3e-2, "betas": (0.5, 0.99), "eps": 1e-6, "weight_decay": 0.1, "warmup_steps": 4, "r": 1.0,
         "weight_lr_power": 0.0},
        {"lr": 0.0, "betas": (0.95, 0.9), "eps": 1e-3, "weight_decay": 0.01, "warmup_steps": 20, "r": 2.0,
         "weight_lr_power": 1.0}],
    "sgd_schedulefree": [
        {"lr": 1e-4, "momentum": 0.9, "weight_decay": 0.0, "warmup_steps": 0, "r": 0.0, "weight_lr_power": 2.0},
        {"lr": 1e-3, "momentum": 0.5, "weight_decay": 0.1, "warmup_steps": 3, "r": 1.0, "weight_lr_power": 0.0},
        {"lr": 3e-4, "momentum": 0.99, "weight_decay": 0.0, "warmup_steps": 8, "r": 0.5, "weight_lr_power": 1.0}],
    "swats": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-9, "weight_decay": 0.0},
              {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
              {"lr": 3e-3, "betas": (0.5, 0.9), "eps": 1e-5, "weight_decay": 0.0}],
}
ROW_HPARAMS["amsbound"] = ROW_HPARAMS["adabound"]


def _stack(values):
    col = lambda vs: torch.tensor([float(v) for v in vs], dtype=DT).unsqueeze(1)  # (N, 1)
    if isinstance(values[0], tuple):
        return tuple(col(v) for v in zip(*values, strict=True))
    return col(values)


@pytest.mark.parametrize("name", sorted(ROW_HPARAMS))
def test_all_hyperparameters_as_row_tensors(name):
    rows = ROW_HPARAMS[name]
    starts = STARTS[: len(rows)]
    hp = {k: _stack([r[k] for r in rows]) for k in rows[0]}
    pts = torch.tensor(starts, dtype=DT, requires_grad=True)
    ours = optimizers.build(name, [pts], **hp)
    ours.train()
    singles = [torch.tensor([s], dtype=DT, requires_grad=True) for s in starts]
    refs = [optimizers.build(name, [q], **r) for q, r in zip(singles, rows, strict=True)]
    for step in range(25):
        for p, opt in [(pts, ours), *zip(singles, refs, strict=True)]:
            opt.train()
            opt.zero_grad()
            rosenbrock(p).sum().backward()
            opt.step()
        for i, q in enumerate(singles):
            torch.testing.assert_close(pts[i], q[0], rtol=RTOL, atol=ATOL,
                                       msg=lambda m, i=i, step=step: f"{name} row {i} step {step + 1}: {m}")
    ours.eval()
    for i, (q, opt) in enumerate(zip(singles, refs, strict=True)):
        opt.eval()
        torch.testing.assert_close(pts[i], q[0], rtol=RTOL, atol=ATOL)
