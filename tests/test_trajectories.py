"""The batched engine against separate torch.optim runs, and its diagnostics against closed forms."""
import numpy as np
import pytest
import torch

import surfaces
import trajectories
from trajectories import Run

ROSEN = surfaces.get("rosenbrock")
STEPS = 120


def torch_run(f, start, opt_cls, opt_kw, steps, clip=None, sched=None):
    """The reference: one torch.optim optimizer on a (2,) tensor, clip_grad_norm_, lr_scheduler."""
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = opt_cls([x], **opt_kw)
    sch = sched(opt) if sched else None
    path = [x.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        f(x).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([x], clip)
        opt.step()
        if sch is not None:
            sch.step()
        path.append(x.detach().clone())
    return torch.stack(path).numpy()  # (steps+1, 2)


CASES = [
    ("sgd", torch.optim.SGD, {}, [1e-4, 5e-4, 1e-3]),
    ("momentum", torch.optim.SGD, {"momentum": 0.9}, [1e-4, 3e-4, 1e-3]),
    ("adam", torch.optim.Adam, {}, [1e-3, 1e-2, 5e-2]),
    ("rmsprop", torch.optim.RMSprop, {}, [1e-3, 3e-3, 1e-2]),
]


@pytest.mark.slow  # ~0.8 s: many runs
@pytest.mark.parametrize("name,cls,kw,lrs", CASES, ids=[c[0] for c in CASES])
def test_row_i_equals_a_separate_torch_run_with_clipping(name, cls, kw, lrs):
    thresholds = [0.5, 2.0, 10.0]
    starts = torch.tensor([[-1.5, 2.0], [0.5, -0.5], [-0.8, 0.6]], dtype=torch.float64)
    res = trajectories.simulate(ROSEN, name, starts, STEPS, hparams={"lr": torch.tensor(lrs, dtype=torch.float64)},
                                clip=("norm", torch.tensor(thresholds, dtype=torch.float64)))
    for i in range(3):
        ref = torch_run(ROSEN, starts[i].tolist(), cls, dict(kw, lr=lrs[i]), STEPS, clip=thresholds[i])
        np.testing.assert_allclose(res.xy[:, i], ref, rtol=1e-10, atol=1e-12)
    assert (res.diverged_at == -1).all()


@pytest.mark.parametrize("sched,kw,torch_sched", [
    ("cosine", {"T_max": STEPS}, lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=STEPS)),
    ("step", {"step_size": 30, "gamma": 0.5}, lambda o: torch.optim.lr_scheduler.StepLR(o, 30, 0.5)),
    ("one_cycle", {}, lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=o.param_groups[0]["lr"],
                                                                    total_steps=STEPS, cycle_momentum=False)),
])
@pytest.mark.slow  # ~0.8 s: many runs
def test_schedule_matches_torch_lr_scheduler(sched, kw, torch_sched):
    lrs = [1e-2, 3e-2]
    starts = torch.tensor([[-1.5, 2.0], [1.5, 1.0]], dtype=torch.float64)
    res = trajectories.simulate(ROSEN, "adam", starts, STEPS, hparams={"lr": torch.tensor(lrs, dtype=torch.float64)},
                                clip=("norm", 1.0), schedule=(sched, kw))
    for i in range(2):
        ref = torch_run(ROSEN, starts[i].tolist(), torch.optim.Adam, {"lr": lrs[i]}, STEPS, clip=1.0,
                        sched=torch_sched)
        np.testing.assert_allclose(res.xy[:, i], ref, rtol=1e-8, atol=1e-10)
    # the recorded lr is the schedule's value at each step
    want = trajectories.simulate(ROSEN, "adam", starts[:1], STEPS, hparams={"lr": lrs[0]},
                                 schedule=(sched, kw)).lr[:, 0]
    np.testing.assert_allclose(res.lr[:, 0], want, rtol=1e-12)


def test_result_shapes_and_clip_diagnostics():
    res = trajectories.simulate("rosenbrock", "sgd", [[-1.5, 2.0], [0.0, 0.0]], 50, hparams={"lr": 1e-3},
                                clip=("norm", 1.0))
    assert res.xy.shape == (51, 2, 2) and res.loss.shape == (51, 2)
    assert res.grad.shape == (50, 2, 2)
    for a in (res.grad_norm, res.lr, res.clip_coef, res.smoothness):
        assert a.shape == (50, 2)
    # pre-clip norm is the norm of the true gradient (no noise); coef = min(1, c / (norm + 1e-6))
    np.testing.assert_allclose(res.grad_norm, np.linalg.norm(res.grad, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(res.clip_coef, np.minimum(1.0, 1.0 / (res.grad_norm + 1e-6)), rtol=1e-12)
    np.testing.assert_allclose(res.effective_lr, 1e-3 * res.clip_coef)
    # loss is the surface at each position
    np.testing.assert_allclose(res.loss, ROSEN(torch.from_numpy(res.xy)).numpy(), rtol=1e-12)


def test_divergence_stops_the_row_at_its_last_finite_point():
    starts = [[-1.5, 2.0], [1.0, 1.0 + 1e-3]]
    res = trajectories.simulate("rosenbrock", "sgd", starts, 100, hparams={"lr": torch.tensor([0.05, 1e-4])})
    k = int(res.diverged_at[0])
    assert 1 <= k <= 10, "lr 0.05 from (-1.5, 2) blows up within a few steps"
    assert res.diverged_at[1] == -1
    for a in (res.xy, res.loss, res.grad_norm, res.lr, res.clip_coef):
        assert np.isfinite(a).all()
    assert (res.xy[k:, 0] == res.xy[k - 1, 0]).all()
    assert (res.loss[k:, 0] == res.loss[k - 1, 0]).all()
    # the row that did not diverge kept going
    assert res.loss[-1, 1] < res.loss[0, 1]


def test_leaving_the_box_counts_as_divergence():
    # monkey saddle is unbounded below: plain GD runs off to -inf along a valley
    s = surfaces.get("monkey_saddle")
    # it leaves the box at step 10; unboxed it would overflow a few steps later (|x| ~ 1e84 by step 17)
    res = trajectories.simulate(s, "sgd", [[-0.5, 0.01]], 200, hparams={"lr": 0.1})
    assert res.diverged_at[0] > 0
    (x0, x1), (y0, y1) = s.bounds
    assert np.abs(res.xy[:, 0, 0]).max() <= max(abs(x0), abs(x1)) + 10 * (x1 - x0) + 1e-9


@pytest.mark.slow  # ~0.5 s: many runs
def test_race_rows_equal_single_runs():
    runs = [Run("sgd", {"lr": 1e-3}), Run("adam", {"lr": 0.05}, clip=("norm", 1.0)),
            Run("adam", {"lr": 0.05}), Run("rmsprop", {"lr": 1e-2}, schedule=("cosine", {}))]
    res = trajectories.race("rosenbrock", runs, (-1.5, 2.0), 200)
    for i, r in enumerate(runs):
        one = trajectories.simulate("rosenbrock", r.optimizer, [[-1.5, 2.0]], 200, hparams=dict(r.hparams),
                                    clip=r.clip_pair, schedule=(r.schedule, dict(r.schedule_kw)))
        np.testing.assert_allclose(res.xy[:, i], one.xy[:, 0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(res.smoothness[:, i], one.smoothness[:, 0], rtol=1e-12, equal_nan=True)
    assert not np.allclose(res.xy[-1, 1], res.xy[-1, 2]), "clipping changed the Adam run"


@pytest.mark.parametrize("sched, kw", [("cosine", {}), ("one_cycle", {}), ("step", {"step_size": 7, "gamma": 0.5})])
def test_a_per_row_schedule_as_a_table_gives_the_numbers_of_step_by_step(monkeypatch, sched, kw):
    """engine.lr_sequence computes a small per-row schedule once, as a (steps, N) table; above LR_TABLE it
    asks the schedule at every step. Both are the same function of the step: the same trajectories, bit for bit."""
    from trajectories import engine

    lrs = torch.tensor([1e-2, 3e-2, 5e-2], dtype=torch.float64)
    starts = torch.tensor([[-1.5, 2.0], [1.5, 1.0], [0.0, 2.5]], dtype=torch.float64)
    go = lambda: trajectories.simulate(ROSEN, "adam", starts, 60, hparams={"lr": lrs}, schedule=(sched, kw))  # noqa: E731
    table = go()
    monkeypatch.setattr(engine, "LR_TABLE", 0)
    stepwise = go()
    assert np.array_equal(table.xy, stepwise.xy) and np.array_equal(table.lr, stepwise.lr)
    assert len(np.unique(table.lr[:, 0])) > 2  # the schedule moved the lr


def test_noise_is_seeded_and_shared_by_the_runs_of_a_race():
    runs = [Run("sgd", {"lr": 1e-3})] * 2
    a = trajectories.race("rosenbrock", runs, (-1.5, 2.0), 50, noise=1.0, seed=3)
    b = trajectories.race("rosenbrock", runs, (-1.5, 2.0), 50, noise=1.0, seed=3)
    c = trajectories.race("rosenbrock", runs, (-1.5, 2.0), 50, noise=1.0, seed=4)
    clean = trajectories.race("rosenbrock", runs, (-1.5, 2.0), 50)
    np.testing.assert_array_equal(a.xy, b.xy)
    np.testing.assert_array_equal(a.xy[:, 0], a.xy[:, 1])  # common random numbers
    assert not np.allclose(a.xy, c.xy) and not np.allclose(a.xy, clean.xy)
    # the pre-clip norm is of the noisy gradient the optimizer saw; grad stays the true gradient
    assert not np.allclose(a.grad_norm, np.linalg.norm(a.grad, axis=-1))


def test_seed_per_row():
    starts = torch.tensor([[-1.5, 2.0]] * 3, dtype=torch.float64)
    res = trajectories.simulate("rosenbrock", "sgd", starts, 30, hparams={"lr": 1e-3}, noise=0.5,
                                seed=torch.tensor([1, 2, 1]))
    np.testing.assert_array_equal(res.xy[:, 0], res.xy[:, 2])
    assert not np.allclose(res.xy[:, 0], res.xy[:, 1])
    one = trajectories.simulate("rosenbrock", "sgd", starts[:1], 30, hparams={"lr": 1e-3}, noise=0.5, seed=2)
    np.testing.assert_array_equal(res.xy[:, 1], one.xy[:, 0])


def test_smoothness_on_a_quadratic_lies_between_the_hessian_eigenvalues():
    # booth is a quadratic with Hessian [[10, 8], [8, 10]]: eigenvalues 2 and 18
    res = trajectories.simulate("booth", "sgd", [[-5.0, 5.0], [8.0, -3.0]], 40, hparams={"lr": 0.01})
    est = res.smoothness[np.isfinite(res.smoothness)]
    assert est.size > 60
    assert (est >= 2 - 1e-9).all() and (est <= 18 + 1e-9).all()


def test_smoothness_grows_with_gradient_norm_on_quartic():
    # (L0, L1)-smoothness (Zhang et al. 2020): on x^4 + y^4 the local smoothness rises with ||g||
    res = trajectories.simulate("quartic", "sgd", [[1.5, 1.2]], 200, hparams={"lr": 0.01})
    ok = np.isfinite(res.smoothness[:, 0])
    g, est = res.grad_norm[ok, 0], res.smoothness[ok, 0]
    rank = lambda a: np.argsort(np.argsort(a))
    assert np.corrcoef(rank(g), rank(est))[0, 1] > 0.95


@pytest.mark.parametrize("bad", [
    dict(steps=0), dict(steps=2.5), dict(steps=10**9), dict(noise=-1.0), dict(noise=float("nan")),
    dict(starts=[[0.0, float("nan")]]), dict(starts=[[1.0, 2.0, 3.0]]),
    dict(optimizer="adamx"), dict(hparams={"lr": -1.0}), dict(hparams={"lrr": 1.0}),
    dict(clip=("norm", -1.0)), dict(clip=("nrom", 1.0)), dict(schedule=("cosine_x", {})),
    dict(hparams={"lr": torch.ones(3)}),
])
def test_bad_input_raises_a_clear_value_error(bad):
    kw = dict(surface="rosenbrock", optimizer="adam", starts=[[-1.5, 2.0], [0.0, 0.0]], steps=10)
    kw.update(bad)
    with pytest.raises((ValueError, KeyError)):
        trajectories.simulate(kw.pop("surface"), kw.pop("optimizer"), kw.pop("starts"), kw.pop("steps"), **kw)


def test_grid_matches_the_surface():
    xs, ys, z = trajectories.grid("himmelblau", n=31)
    assert z.shape == (31, 31)
    j, i = 7, 20
    want = float(surfaces.get("himmelblau")(torch.tensor([xs[i], ys[j]])))
    assert z[j, i] == pytest.approx(want, rel=1e-12)


def test_progress_is_reported():
    seen = []
    trajectories.simulate("rosenbrock", "adam", [[-1.5, 2.0]], 100, progress=seen.append)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def test_a_feasible_box_projects_every_update_instead_of_diverging():
    """On a surface with a box each update is clamped onto it (the Euclidean projection onto a box): a
    step far out lands on the edge, the run goes on, and the same holds in sweeps."""
    import dataclasses

    s = dataclasses.replace(surfaces.parse("(x - 5)^2 + y^2"), box=((-1.0, 2.0), (-0.5, 0.5)))
    r = trajectories.race(s, [trajectories.Run("sgd", {"lr": 0.3}), trajectories.Run("sgd", {"lr": 50.0})],
                          (0.0, 0.4), 30)
    assert (r.diverged_at == -1).all()  # lr 50 would leave any box ten spans wide at once: here it is projected
    assert (r.xy[..., 0] >= -1).all() and (r.xy[..., 0] <= 2).all() and (np.abs(r.xy[..., 1]) <= 0.5).all()
    x = np.array([0.0, 0.4])
    for _ in range(30):  # projected gradient descent by hand, lr 0.3
        x = np.clip(x - 0.3 * np.array([2 * (x[0] - 5), 2 * x[1]]), [-1.0, -0.5], [2.0, 0.5])
    np.testing.assert_allclose(r.xy[-1, 0], x, rtol=1e-12, atol=1e-15)
    assert r.xy[1, 1].tolist() == [2.0, -0.5]  # lr 50: x jumps to 250 and y to -39.6, both clamped
    out = trajectories.sweep(s, "sgd", (0.0, 0.4), 20, [trajectories.Axis("lr", (0.3, 50.0))])
    assert (out.diverged_at == -1).all() and np.allclose(out.final_xy[0, 0], r.xy[-1, 0])
    assert out.final_xy[0, 1, 0] == 2.0
