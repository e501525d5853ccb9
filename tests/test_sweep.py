"""Sweeps and basins: a cell equals simulate() of that configuration; caps raise clear errors."""
import sys

import numpy as np
import pytest
import torch

import trajectories
from trajectories import Axis

START = (-1.5, 2.0)


def single(optimizer, steps, **kw):
    return trajectories.simulate("rosenbrock", optimizer, [START], steps, smoothness=False, **kw)


def test_a_cell_of_the_map_equals_simulate_of_that_configuration():
    axes = [Axis.span("lr", 1e-3, 1e-1, 7, log=True), Axis.span("betas.0", 0.5, 0.95, 5)]
    res = trajectories.sweep("rosenbrock", "adam", START, 150, axes, clip=("norm", 2.0))
    assert res.final_loss.shape == (1, 7, 5) and res.final_xy.shape == (1, 7, 5, 2)
    for i, j in [(0, 0), (3, 2), (6, 4), (5, 1)]:
        lr, b1 = axes[0].values[i], axes[1].values[j]
        one = single("adam", 150, hparams={"lr": lr, "betas": (b1, 0.999)}, clip=("norm", 2.0))
        np.testing.assert_allclose(res.final_xy[0, i, j], one.xy[-1, 0], rtol=1e-12, atol=1e-14)
        assert res.final_loss[0, i, j] == pytest.approx(one.loss[-1, 0], rel=1e-12, abs=1e-300)
        assert res.diverged_at[0, i, j] == one.diverged_at[0]
        # hit_at is the first step whose loss is within tol of the minimum
        hits = np.nonzero(one.loss[:, 0] <= res.target)[0]
        assert res.hit_at[0, i, j] == (hits[0] if hits.size else -1)


def test_clip_threshold_and_schedule_axes():
    axes = [Axis("clip", (0.1, 1.0, 10.0)), Axis("schedule.gamma", (0.5, 0.9))]
    res = trajectories.sweep("rosenbrock", "sgd", START, 60, axes, hparams={"lr": 2e-3}, clip=("norm", 1.0),
                             schedule=("step", {"step_size": 20}))
    for i, c in enumerate(axes[0].values):
        for j, gmm in enumerate(axes[1].values):
            one = single("sgd", 60, hparams={"lr": 2e-3}, clip=("norm", c),
                         schedule=("step", {"step_size": 20, "gamma": gmm}))
            np.testing.assert_allclose(res.final_xy[0, i, j], one.xy[-1, 0], rtol=1e-12)


def test_seeds_axis_with_noise():
    axes = [Axis.span("lr", 1e-3, 1e-2, 3, log=True)]
    res = trajectories.sweep("rosenbrock", "momentum", START, 80, axes, noise=2.0, seeds=(0, 1, 2))
    assert res.final_xy.shape == (3, 3, 2)
    one = single("momentum", 80, hparams={"lr": axes[0].values[1]}, noise=2.0, seed=2)
    np.testing.assert_allclose(res.final_xy[2, 1], one.xy[-1, 0], rtol=1e-12)
    assert not np.allclose(res.final_xy[0], res.final_xy[1])


def test_divergence_in_a_sweep():
    res = trajectories.sweep("rosenbrock", "sgd", START, 100, [Axis("lr", (1e-4, 1e-3, 0.05, 1.0))])
    d = res.diverged_at[0]
    assert d[0] == -1 and d[1] == -1 and d[2] > 0 and d[3] > 0
    assert np.isfinite(res.final_loss).all() and np.isfinite(res.final_xy).all()
    assert not res.converged[0, 2:].any()


def test_chunking_gives_the_same_answer(monkeypatch):
    axes = [Axis.span("lr", 1e-4, 1e-1, 50, log=True)]
    whole = trajectories.sweep("rosenbrock", "adam", START, 40, axes)
    monkeypatch.setattr(sys.modules["trajectories.sweep"], "CHUNK_ROWS", 7)
    chunked = trajectories.sweep("rosenbrock", "adam", START, 40, axes)
    np.testing.assert_array_equal(whole.final_xy, chunked.final_xy)


@pytest.mark.parametrize("call,match", [
    (lambda: trajectories.sweep("rosenbrock", "adam", START, 10,
                                [Axis.span("lr", 1e-4, 1, 301, True), Axis.span("eps", 1e-8, 1e-6, 300, True)]),
     "limit is 90,000"),
    (lambda: trajectories.sweep("rosenbrock", "adam", START, 6000, [Axis("lr", (1e-3,))]), "steps"),
    (lambda: trajectories.sweep("rosenbrock", "adam", START, 5000,
                                [Axis.span("lr", 1e-4, 1, 300, True), Axis.span("eps", 1e-8, 1e-6, 300, True)],
                                seeds=range(8)), "limit"),
    (lambda: trajectories.sweep("rosenbrock", "adam", START, 10, [Axis("momentum", (0.9,))]), "momentum"),
    (lambda: trajectories.sweep("rosenbrock", "adam", START, 10, [Axis("clip", (1.0,))]), "clipping kind"),
    (lambda: trajectories.sweep("rosenbrock", "adam", START, 10, [Axis("lr", (-1.0,))]), "lr"),
    (lambda: trajectories.basins("himmelblau", "adam", 10, n=401), "limit is 160,000"),
    (lambda: Axis.span("lr", 0.0, 1.0, 5, log=True), "log axis"),
])
def test_caps_and_bad_axes_raise_clear_errors(call, match):
    with pytest.raises((ValueError, KeyError), match=match):
        call()


def test_basins_on_himmelblau_find_all_four_minima():
    res = trajectories.basins("himmelblau", "sgd", 300, n=40, hparams={"lr": 0.01})
    labels = set(np.unique(res.label).tolist())
    assert {0, 1, 2, 3} <= labels
    frac = res.fractions()
    assert all(frac[k] > 0.1 for k in range(4))
    # a start point's label is the minimum its own simulate() run ends next to
    j, i = 5, 33
    one = trajectories.simulate("himmelblau", "sgd", [[res.xs[i], res.ys[j]]], 300, hparams={"lr": 0.01})
    m = np.asarray(res.minima)
    assert res.label[j, i] == np.linalg.norm(m - one.xy[-1, 0], axis=1).argmin()


def test_basins_mark_divergence():
    res = trajectories.basins("himmelblau", "sgd", 50, n=20, hparams={"lr": 0.2})
    assert (res.label == trajectories.DIVERGED).any()


def test_progress_covers_all_chunks(monkeypatch):
    monkeypatch.setattr(sys.modules["trajectories.sweep"], "CHUNK_ROWS", 10)
    seen = []
    trajectories.sweep("rosenbrock", "adam", START, 50, [Axis.span("lr", 1e-3, 1e-1, 35, True)], progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0) and len(seen) > 10


def test_float32_inputs_are_promoted():
    res = trajectories.sweep("rosenbrock", "adam", START, 5, [Axis("lr", tuple(torch.tensor([1e-3]).tolist()))])
    assert res.final_xy.dtype == np.float64
