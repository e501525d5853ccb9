"""Zeroth-order optimizers (optimizers/rules/zeroth_order.py): the two-point estimator's mean against the
gradient of the smoothed function (Monte Carlo, seeded, within a tolerance from its own spread), a few
steps against a transcription in Python floats with the same random directions, and the same rule in
the 2D engine, through build() and in sweeps."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import optimizers
import trajectories
from optimizers.rules import zeroth_order as zo
from trajectories.oracle import DIRECTION_SEED

DT = torch.float64
Z = 5.0  # a component of the Monte-Carlo mean may miss by 5 standard errors: p ~ 6e-7 each, seeded anyway


def monte_carlo(f, x: torch.Tensor, mu: float, sphere: bool, samples: int = 200_000, seed: int = 0):
    """(mean, standard error) over `samples` independent one-direction estimates at x (d,): each a row."""
    gen = torch.Generator().manual_seed(seed)
    p = x.expand(samples, -1).clone()
    h = {"mu": mu, "directions": 1}
    s = {}
    points = zo.probe(p, None, s, h, 1, lambda k: torch.randn(k, *p.shape, generator=gen, dtype=DT), sphere=sphere)
    values = f(points).unsqueeze(-1)  # (2, samples, 1): one loss per row
    est = zo.estimate(p, None, values, s, h, 1, sphere=sphere)  # (samples, d)
    return est.mean(0), est.std(0) / math.sqrt(samples)


A = torch.tensor([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]], dtype=DT)
B = torch.tensor([1.0, -2.0, 0.5], dtype=DT)
X = torch.tensor([0.7, -0.3, 1.2], dtype=DT)


def quadratic(p):  # 1/2 p'Ap + b'p, rows of any leading shape
    return 0.5 * torch.einsum("...i,ij,...j->...", p, A, p) + p @ B


@pytest.mark.parametrize("sphere", [False, True], ids=["gaussian", "sphere"])
@pytest.mark.parametrize("mu", [1e-3, 0.5])
def test_the_estimate_is_unbiased_for_a_quadratic(sphere, mu):
    # f(x + mu u) - f(x) = mu u'(Ax + b) + mu^2/2 u'Au: E[u u'] = I (Gaussian; d E[u u'] = I on the sphere)
    # and the odd moment E[(u'Au) u] = 0, so the mean is the gradient itself, whatever mu
    mean, se = monte_carlo(quadratic, X, mu, sphere)
    grad = A @ X + B
    assert (se > 0).all()
    assert ((mean - grad).abs() <= Z * se).all(), (mean, grad, se)


def test_the_gaussian_estimate_has_the_smoothing_bias_it_states_on_a_quartic():
    # f = sum x_i^4: the Gaussian smoothing f_mu(x) = E f(x + mu u) has gradient 4 x^3 + 12 mu^2 x exactly;
    # the estimate's mean is that (Nesterov & Spokoiny), 12 mu^2 x away from the gradient 4 x^3
    mu = 0.3
    mean, se = monte_carlo(lambda p: (p**4).sum(-1), X, mu, sphere=False, samples=400_000)
    smoothed = 4 * X**3 + 12 * mu**2 * X
    assert ((mean - smoothed).abs() <= Z * se).all()
    assert ((mean - 4 * X**3).abs() > Z * se).any()  # and not the gradient of f itself: the test can tell


def test_zo_sgd_equals_the_estimator_transcribed_in_floats():
    """Five steps through build() and step(closure) against the formula in Python floats, with the
    directions drawn from an identically seeded generator: g = (1/q) sum_j (f(x + mu u_j) - f(x)) / mu u_j."""
    lr, mu, q = 2e-4, 1e-2, 3
    x = torch.tensor([-1.2, 1.0], dtype=DT, requires_grad=True)
    opt = optimizers.build("zo_sgd", [x], lr=lr, mu=mu, directions=q)
    opt.generator = torch.Generator().manual_seed(7)
    ref_gen = torch.Generator().manual_seed(7)

    def rosen(a, b):
        return (1 - a) ** 2 + 100 * (b - a * a) ** 2

    calls = []

    def closure():
        calls.append(torch.is_grad_enabled())
        return rosen(x[0], x[1])

    ref = [-1.2, 1.0]
    for _ in range(5):
        loss = opt.step(closure)
        u = torch.randn((q, 2), generator=ref_gen, dtype=DT).tolist()
        f0 = rosen(*ref)
        assert float(loss) == pytest.approx(f0, rel=1e-12)  # step returns the loss at the current point
        g = [0.0, 0.0]
        for uj in u:
            fj = rosen(ref[0] + mu * uj[0], ref[1] + mu * uj[1])
            for i in range(2):
                g[i] += (fj - f0) / mu * uj[i] / q
        ref = [ref[i] - lr * g[i] for i in range(2)]
        assert x.tolist() == pytest.approx(ref, rel=1e-10, abs=1e-14)
        assert opt.last_evaluations == (q + 1, 0)
    assert calls == [False] * (5 * (q + 1))  # only loss values, gradients off


def test_zo_signsgd_takes_signed_steps_of_the_sphere_estimate():
    lr, mu, q = 0.05, 1e-3, 4
    x = torch.tensor([[0.5, -2.0, 1.0]], dtype=DT, requires_grad=True)  # (frozen parameters are left alone)
    opt = optimizers.build("zo_signsgd", [x], lr=lr, mu=mu, directions=q)
    opt.generator = torch.Generator().manual_seed(3)
    ref_gen = torch.Generator().manual_seed(3)
    ref = x.clone()
    for _ in range(4):
        opt.step(lambda: quadratic(x))
        u = torch.randn((q, 1, 3), generator=ref_gen, dtype=DT)
        u = u / u.norm(dim=-1, keepdim=True)
        g = sum(3 * (quadratic(ref + mu * u[j]) - quadratic(ref)).item() / mu * u[j] for j in range(q)) / q
        ref = ref - lr * torch.sign(g)
        torch.testing.assert_close(x.detach(), ref, rtol=0, atol=1e-15)


def test_a_closure_that_calls_backward_gets_a_clear_message():
    x = torch.zeros(2, dtype=DT, requires_grad=True)
    opt = optimizers.build("zo_sgd", [x], lr=0.1)

    def closure():
        loss = (x**2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="without calling backward"):
        opt.step(closure)
    with pytest.raises(RuntimeError, match="evaluates the loss itself"):
        opt.step()
    torch.testing.assert_close(x, torch.zeros(2, dtype=DT))  # the parameters are put back


def transcribe_engine(surface, lr, mu, q, start, steps, seed=0):
    """ZO-SGD as the 2D engine runs it, in numpy: the directions from the seed's own stream."""
    gen = torch.Generator().manual_seed(seed + DIRECTION_SEED)
    x = np.array(start, dtype=np.float64)
    f = lambda p: float(surface(torch.tensor(p, dtype=DT)))  # noqa: E731
    for _ in range(steps):
        u = torch.randn(q, 2, generator=gen, dtype=DT).numpy()
        f0 = f(x)
        g = sum((f(x + mu * uj) - f0) / mu * uj for uj in u) / q
        x = x - lr * g
    return x


def test_the_engine_runs_the_same_estimator():
    import surfaces

    s = surfaces.get("rosenbrock")
    r = trajectories.race(s, [trajectories.Run("zo_sgd", {"lr": 5e-4, "mu": 1e-3, "directions": 2})],
                          (-1.0, 1.0), 40, seed=5)
    np.testing.assert_allclose(r.xy[-1, 0], transcribe_engine(s, 5e-4, 1e-3, 2, (-1.0, 1.0), 40, seed=5),
                               rtol=1e-10, atol=1e-12)
    assert r.evaluations.tolist() == [[3, 0]] and r.evaluations_done().tolist() == [[120, 0]]
    assert 0 < r.grad_norm[0, 0] and np.isfinite(r.grad_norm).all()  # the estimate's norm, as the update saw it


def test_a_row_of_a_batch_equals_its_single_run_and_seeds_give_their_own_directions():
    run = trajectories.Run("zo_sgd", {"lr": 1e-3})
    starts = [(-1.0, 1.5), (0.5, 0.5)]
    batch = trajectories.simulate("himmelblau", "zo_sgd", starts, 30, hparams={"lr": 1e-3}, seed=2)
    for i, st in enumerate(starts):
        alone = trajectories.race("himmelblau", [run], st, 30, seed=2)
        np.testing.assert_array_equal(batch.xy[:, i], alone.xy[:, 0])
    other = trajectories.race("himmelblau", [run], starts[0], 30, seed=3)
    assert not np.array_equal(other.xy[:, 0], batch.xy[:, 0])


def test_sweeps_vary_the_lr_and_seeds_of_a_zeroth_order_run():
    ax = trajectories.Axis("lr", (1e-3, 1e-2))
    out = trajectories.sweep("quartic", "zo_sgd", (1.0, 1.0), 50, [ax], seeds=(0, 1))
    assert out.final_loss.shape == (2, 2)
    for si, seed in enumerate((0, 1)):
        for li, lr in enumerate(ax.values):
            alone = trajectories.race("quartic", [trajectories.Run("zo_sgd", {"lr": lr})], (1.0, 1.0), 50, seed=seed)
            assert out.final_loss[si, li] == pytest.approx(alone.loss[-1, 0], rel=1e-12)
    assert out.final_loss[0, 0] != out.final_loss[1, 0]  # each seed its own directions


def test_gradient_noise_reaches_a_zeroth_order_run_as_a_linear_term():
    """With noise xi the loss is f(x) + xi.x (its gradient is exactly g + xi): a ZO run meets the noise."""
    run = [trajectories.Run("zo_sgd", {"lr": 0.01})]
    quiet = trajectories.race("booth", run, (0.0, 0.0), 20, seed=0)
    noisy = trajectories.race("booth", run, (0.0, 0.0), 20, noise=1.0, seed=0)
    assert not np.allclose(quiet.xy, noisy.xy)


def test_directions_cannot_vary_by_row():
    x = torch.zeros(3, 2, dtype=DT, requires_grad=True)
    opt = optimizers.build("zo_sgd", [x], directions=torch.tensor([[1.0], [2.0], [3.0]]))
    with pytest.raises(ValueError, match="directions cannot differ"):
        opt.step(lambda: (x**2).sum(-1))
