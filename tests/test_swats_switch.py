"""SWATS' switch from Adam to SGD (Keskar & Socher 2017, Algorithm 1) recorded where runs are read: the 2D
engine's results (and the lr it then uses), training rows and summaries, the explorer's figure. Each
switch step and learned lr is held against a direct computation of the paper's criterion on the
gradients the run saw."""
import math

import numpy as np
import pytest
import torch

import plots
import trajectories
from optimizers import RunConfig

F64 = torch.float64


def paper_switch(grads, lr, betas=(0.9, 0.999), eps=1e-9):
    """Algorithm 1's Adam phase over the gradients g_1, g_2, ... (vectors) of one model that a run saw:
    the first k > 1 with |Lambda_k - gamma_k| < eps, Lambda_k = lambda_k / (1 - b2^k), and that Lambda_k;
    (-1, nan) if it never holds. Plain numpy, written from the paper, not from optimizers/rules/swats.py."""
    b1, b2 = betas
    m = a = 0.0
    lam = 0.0
    for k, g in enumerate(np.asarray(grads, dtype=np.float64), 1):
        m = b1 * m + (1 - b1) * g
        a = b2 * a + (1 - b2) * g * g
        p = -lr * math.sqrt(1 - b2**k) / (1 - b1**k) * m / (np.sqrt(a) + eps)
        pg = float(p @ g)
        if pg != 0:
            gamma = float(p @ p) / -pg
            lam = b2 * lam + (1 - b2) * gamma
            if k > 1 and abs(lam / (1 - b2**k) - gamma) < eps:
                return k, lam / (1 - b2**k)
    return -1, math.nan


def test_a_race_records_the_switch_the_paper_computes():
    """From (0, -1) on Rosenbrock with the paper's constants the criterion holds mid-run (update 153)."""
    runs = [RunConfig("swats"), RunConfig("swats", {"lr": 0.01, "eps": 1e-6}), RunConfig("adam")]
    r = trajectories.race("rosenbrock", runs, (0.0, -1.0), 300, smoothness=False)
    for i, run in enumerate(runs[:2]):
        h = dict(run.hparams)
        k, lam = paper_switch(r.grad[:, i], h["lr"], h["betas"], h["eps"])  # the true gradients it followed
        assert k > 2 and r.switched_at[i] == k and r.switch_lr[i] == pytest.approx(lam, rel=1e-12)
        # from update k + 1 (index k) on the row runs SGD at the learned lr: the lr it records
        np.testing.assert_array_equal(r.lr[:k, i], h["lr"])
        np.testing.assert_array_equal(r.lr[k:, i], r.switch_lr[i])
    assert r.switched_at[0] == 153
    assert r.switched_at[2] == -1 and np.isnan(r.switch_lr[2]) and (r.lr[:, 2] == 1e-3).all()


def test_rows_of_a_simulation_switch_on_their_own():
    starts = torch.tensor([[0.0, -1.0], [-1.5, 2.0], [1.5, 1.0]], dtype=F64)
    r = trajectories.simulate("rosenbrock", "swats", starts, 300, hparams={"eps": torch.tensor([1e-9, 1e-9, 1e-6])},
                              smoothness=False)
    for i, eps in enumerate([1e-9, 1e-9, 1e-6]):
        k, lam = paper_switch(r.grad[:, i], 1e-3, eps=eps)
        assert r.switched_at[i] == k
        assert (np.isnan(r.switch_lr[i]) and math.isnan(lam)) or r.switch_lr[i] == pytest.approx(lam, rel=1e-12)
    assert (r.switched_at > 0).sum() >= 1 and (r.switched_at == -1).sum() >= 1


def test_the_figure_marks_the_switch_on_the_trail_and_the_lr_panel():
    runs = [RunConfig("swats"), RunConfig("adam")]
    r = trajectories.race("rosenbrock", runs, (0.0, -1.0), 300, smoothness=False)
    s = trajectories.grid("rosenbrock", 40)
    fig = plots.race_figure(s, plots.as_race(r, ["SWATS", "Adam"]))
    marks = [d for d in fig["data"] if d.get("name") == "switch to SGD"]
    assert len(marks) == 2  # one on the map, one on the lr panel
    on_map, on_lr = marks
    k = int(r.switched_at[0])
    assert (on_map["xaxis"], on_map["yaxis"]) == ("x", "y") and (on_lr["xaxis"], on_lr["yaxis"]) == ("x4", "y4")
    assert on_map["x"] == [pytest.approx(r.xy[k, 0, 0], rel=1e-4)] and on_lr["x"] == [k]
    assert on_lr["y"] == [pytest.approx(r.switch_lr[0], rel=1e-4)]
    assert on_map["hovertext"] == [f"SWATS: switched from Adam to SGD (momentum) after update {k}, learned SGD lr "
                                   f"{r.switch_lr[0]:.3g}"]
    plain = plots.race_figure(s, plots.as_race(trajectories.race("rosenbrock", runs[1:], (0.0, -1.0), 50,
                                                                  smoothness=False), ["Adam"]))
    assert not [d for d in plain["data"] if d.get("name") == "switch to SGD"]  # nothing where none switched


@pytest.mark.usefixtures("one_torch_thread")
def test_training_records_the_switch_in_its_rows_and_summary(monkeypatch):
    from test_full_batch import recording_build
    from test_runner import run

    opts: list = []
    seen = recording_build(monkeypatch, opts)  # every gradient the optimizer steps with, as the run goes
    # gamma is ~0.2 on this model (lr / a typical |gradient| component): the tolerance has to be ~1e-3 to meet
    hp = (("lr", 3e-3), ("eps", 1e-3))
    sink, summary = run(steps=120, optimizer="swats", hparams=hp, smoothness_every=0)
    k, lam = paper_switch([g.double().numpy() for g in seen], 3e-3, eps=1e-3)  # float64 from the rule's float32
    assert 2 < k < 110, k  # mid-run, on the whole model as one row (training/flat.py)
    assert summary["switched_at"] == k and summary["switch_lr"] == pytest.approx(lam, rel=1e-6)
    lrs = [row.lr for row in sink.step_rows]
    assert lrs[:k] == [3e-3] * k and lrs[k:] == [pytest.approx(lam, rel=1e-6)] * (120 - k)
    assert any(f"after update {k}" in n for n in summary["notes"])
    state = opts[0].state[opts[0].param_groups[0]["params"][0]]
    assert bool(state["sgd"]) and int(state["switched_at"]) == k
    _, adam = run(steps=20, optimizer="adam")
    assert adam["switched_at"] is None and adam["switch_lr"] is None
