"""SAM and ASAM (optimizers/rules/sam.py) against a direct two-gradient computation, against
pytorch_optimizer.SAM on a model (our rule on the model flattened into one row, as the training
runner does, so the norm is the model's), row by row on a batch of points, and in the 2D engine."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from test_optimizers_reference import _model_and_data  # the same small float64 model and data

import optimizers
import trajectories
from training.flat import flatten_

DT = torch.float64


def _mse_closure(zero_grad, model, x, y):
    """torch's SAM closure: zero the gradients, the loss, backward, return the loss."""
    def closure():
        zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        return loss

    return closure


def test_sam_is_sgd_at_the_gradient_of_the_ascent_point():
    """x_{t+1} = x_t - lr grad f(x_t + rho g / ||g||), computed by hand with autograd, 10 steps."""
    lr, rho = 0.1, 0.05
    model, x, y = _model_and_data()
    fp = flatten_(model)
    opt = optimizers.build("sam", [fp.flat], lr=lr, rho=rho)
    ref = fp.flat.detach().clone()
    ref_model = copy.deepcopy(model)

    names = [n for n, _ in ref_model.named_parameters()]  # flatten_'s order for this model

    def loss_at(w):  # the same model's loss as a function of a flat parameter vector
        out = torch.func.functional_call(ref_model, dict(zip(names, _split(w, ref_model), strict=True)), (x,))
        return ((out - y) ** 2).mean()

    def grad_at(w):
        w = w.detach().requires_grad_(True)
        return torch.autograd.grad(loss_at(w), w)[0]

    closure = _mse_closure(fp.zero_grad, model, x, y)
    for _ in range(10):
        loss = opt.step(closure)
        assert float(loss.detach()) == pytest.approx(float(loss_at(ref)), rel=1e-12)
        g = grad_at(ref)
        e = rho * g / (g.norm() + 1e-12)
        ref = ref - lr * grad_at(ref + e)
        torch.testing.assert_close(fp.flat.detach(), ref, rtol=1e-12, atol=1e-14)
        assert opt.last_evaluations == (0, 2)


def _split(w, model):
    out, at = [], 0
    for p in model.parameters():
        out.append(w[at: at + p.numel()].view(p.shape))
        at += p.numel()
    return out


pytorch_optimizer = pytest.importorskip("pytorch_optimizer")

CASES = [
    ("sam", {"lr": 0.05, "rho": 0.05}, {}),
    ("sam", {"lr": 0.05, "rho": 0.2, "momentum": 0.9, "weight_decay": 1e-2}, {}),
    ("sam", {"lr": 0.02, "rho": 0.1, "momentum": 0.5, "dampening": 0.3}, {}),
    ("asam", {"lr": 0.05, "rho": 0.5, "eta": 0.0, "momentum": 0.9}, {"adaptive": True}),
]


@pytest.mark.parametrize("name,hp,ref_kw", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_equals_pytorch_optimizer_sam_on_a_flattened_model(name, hp, ref_kw):
    model, x, y = _model_and_data()
    ref_model = copy.deepcopy(model)
    fp = flatten_(model)
    ours = optimizers.build(name, [fp.flat], **hp)
    sgd_kw = {k: v for k, v in hp.items() if k in ("lr", "momentum", "weight_decay", "dampening")}
    ref = pytorch_optimizer.SAM(ref_model.parameters(), torch.optim.SGD, rho=hp["rho"], **ref_kw, **sgd_kw)

    closure, ref_closure = _mse_closure(fp.zero_grad, model, x, y), _mse_closure(ref.zero_grad, ref_model, x, y)
    for step in range(15):
        ours.step(closure)  # ours calls the closure at x, then at x + e (torch's step(closure) convention)
        ref_closure()  # the reference wants the gradient at x before step, and calls the closure once
        ref.step(ref_closure)
        got = fp.flat.detach()
        want = torch.nn.utils.parameters_to_vector(ref_model.parameters()).detach()
        # pytorch_optimizer computes the perturbation's norm in float32: 1e-7 relative in e, so in x
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-8,
                                   msg=lambda m, step=step: f"{name} step {step + 1}: {m}")
    assert (got - torch.nn.utils.parameters_to_vector(_model_and_data()[0].parameters())).abs().max() > 1e-3


def test_rows_are_independent_models():
    """A (N, 2) batch with per-row losses and an lr per row equals N separate runs."""
    a = torch.tensor([1.0, 10.0], dtype=DT)
    starts = torch.tensor([[1.0, 0.5], [-0.3, 0.8], [2.0, -1.0]], dtype=DT)
    lrs = torch.tensor([[0.001], [0.002], [0.005]], dtype=DT)
    pts = starts.clone().requires_grad_(True)
    opt = optimizers.build("asam", [pts], lr=lrs, rho=0.3, momentum=0.9)

    def closure():
        opt.zero_grad()
        loss = (a * pts**4).sum(-1) + (pts[:, 0] * pts[:, 1])
        loss.sum().backward()
        return loss

    singles = []
    for i in range(3):
        p = starts[i].clone().requires_grad_(True)
        o = optimizers.build("asam", [p], lr=float(lrs[i]), rho=0.3, momentum=0.9)

        def c(p=p, o=o):
            o.zero_grad()
            loss = (a * p**4).sum() + p[0] * p[1]
            loss.backward()
            return loss

        singles.append((p, o, c))
    for _ in range(20):
        opt.step(closure)
        for _, o, c in singles:
            o.step(c)
    torch.testing.assert_close(pts.detach(), torch.stack([p.detach() for p, _, _ in singles]), rtol=1e-12, atol=1e-14)


def test_the_engine_runs_the_same_rule():
    """A race of SAM on a surface equals build('sam') stepping a closure over the same surface."""
    import surfaces

    s = surfaces.get("himmelblau")
    r = trajectories.race(s, [trajectories.Run("sam", {"lr": 0.005, "rho": 0.3, "momentum": 0.5})], (0.5, 0.5), 60)
    p = torch.tensor([0.5, 0.5], dtype=DT, requires_grad=True)
    opt = optimizers.build("sam", [p], lr=0.005, rho=0.3, momentum=0.5)

    def closure():
        opt.zero_grad()
        loss = s(p)
        loss.backward()
        return loss

    for _ in range(60):
        opt.step(closure)
    np.testing.assert_allclose(r.xy[-1, 0], p.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert r.evaluations.tolist() == [[0, 2]]


def test_the_engine_clips_and_records_the_gradient_the_update_uses():
    import surfaces

    s = surfaces.get("quartic")
    run = trajectories.Run("sam", {"lr": 0.01, "rho": 0.5}, clip=("norm", 1.0))
    r = trajectories.race(s, [run], (1.8, 1.2), 5)
    x0 = torch.tensor([1.8, 1.2], dtype=DT, requires_grad=True)
    (g,) = torch.autograd.grad(s(x0), x0)
    xe = (x0 + 0.5 * g / (g.norm() + 1e-12)).detach().requires_grad_(True)
    (g_sam,) = torch.autograd.grad(s(xe), xe)
    assert r.grad_norm[0, 0] == pytest.approx(float(g_sam.norm()), rel=1e-12)  # the perturbed gradient's norm
    assert r.clip_coef[0, 0] == pytest.approx(1.0 / (float(g_sam.norm()) + 1e-6), rel=1e-9)
    np.testing.assert_allclose(r.xy[1, 0], (x0 - 0.01 * g_sam * r.clip_coef[0, 0]).detach().numpy(), rtol=1e-12)


def test_step_without_a_closure_says_what_to_do():
    p = torch.zeros(2, dtype=DT, requires_grad=True)
    p.grad = torch.ones(2, dtype=DT)
    with pytest.raises(RuntimeError, match="step\\(closure\\)"):
        optimizers.build("sam", [p]).step()
