"""The presets: each is a valid link, and the phenomenon it promises really shows in the race."""
import re

import numpy as np
import pytest

import optimizers
from ui import PRESETS, ExplorerSpec, from_query_string, preset


def race(name):
    spec = preset(name).spec
    return spec, spec.race(smoothness=False)


@pytest.mark.parametrize("p", PRESETS, ids=lambda p: p.name)
def test_preset_is_a_valid_link(p):
    assert from_query_string(p.link()) == (p.view(), []) and p.view().preset == p.name
    assert len(p.link()) < 2000
    p.spec.surface_obj()
    for r in p.spec.runs:
        optimizers.resolve(r.optimizer, **dict(r.hparams))
    assert p.title and p.source and len(re.findall(r"[.!?](\s|$)", p.about)) == 2  # two sentences


def test_preset_names_are_unique_and_looked_up():
    assert len({p.name for p in PRESETS}) == len(PRESETS) >= 8
    with pytest.raises(KeyError):
        preset("nope")


def test_default_view_races_apart_without_diverging():
    spec = ExplorerSpec()
    r = spec.race(smoothness=False)
    assert (r.diverged_at == -1).all()
    ends = r.xy[-1]  # (runs, 2)
    gaps = np.linalg.norm(ends[:, None] - ends[None], axis=-1)[np.triu_indices(len(ends), 1)]
    assert gaps.min() > 0.3  # four visibly different places after 300 steps


def test_clipping_on_quartic():
    _, r = race("clipping_quartic")
    assert 0 < r.diverged_at[0] <= 5  # lr 0.2 unclipped: thrown out within a few steps
    assert (r.diverged_at[1:] == -1).all()
    assert (r.loss[-1, 1:] < 1e-3).all()  # clipped by norm and smoothly: converged
    assert (r.clip_coef[:5, 1] < 0.2).all() and r.clip_coef[-1, 1] == 1.0  # clipped far out, untouched near 0


def test_momentum_in_a_ravine_as_its_text_says():
    _, r = race("momentum_ravine")
    dist = np.linalg.norm(r.xy[-1], axis=-1)  # the minimum is the origin
    assert dist[0] / dist[1] == pytest.approx(7, abs=0.5) and dist[0] / dist[2] == pytest.approx(30, abs=2)
    y = r.xy[1:8, 0, 1]
    assert (np.sign(y[1:]) != np.sign(y[:-1])).all()  # gradient descent zig-zags across the floor
    swing = np.abs(r.xy[10:, :, 1]).max(axis=0)  # across the floor (y), after the first 10 steps
    assert swing[1] < swing[0] / 2  # momentum 0.5 damps the zig-zag
    assert swing[2] > 5 * swing[0]  # momentum 0.9 swings wider across
    along = np.abs(r.xy[-1, :, 0])
    assert along[2] < along[1] < along[0]  # and both gather speed along the floor


def test_saddle_escape():
    _, r = race("saddle_escape")
    y = np.abs(r.xy[-1, :, 1])
    assert y[0] < 0.05 and (y[1:] > 1).all()
    assert (r.diverged_at == -1).all()


def test_adam_vs_amsgrad_as_its_text_says():
    spec, r = race("adam_amsgrad")
    assert r.loss[-1, 0] == pytest.approx(0.033, abs=0.002) and r.loss[-1, 1] == pytest.approx(0.74, abs=0.01)
    b2 = dict(spec.runs[1].hparams)["betas"][1]
    v = vmax = np.zeros(2)
    for g in r.grad[:, 1]:  # AMSGrad's own gradients: its second-moment estimate and the max it divides by
        v = b2 * v + (1 - b2) * g**2
        vmax = np.maximum(vmax, v)
    assert vmax / v == pytest.approx([14, 14], abs=1)  # "about 14 times the current estimate to the end"


def test_adabound_gets_through_where_sgd_diverges():
    _, r = race("adabound")
    assert r.diverged_at[2] > 0 and r.diverged_at[1] == -1
    assert r.loss[-1, 1] * 5 < r.loss[-1, 0]


def test_sgdr_visits_lower_wells():
    spec, r = race("sgdr_rastrigin")
    ends = [59, 119, 179, 239, 299]  # the last step of each 60-step cycle
    cycle_losses = r.loss[np.array(ends) + 1, 2]
    assert len(np.unique(cycle_losses.round(2))) >= 3  # settles in several different wells
    assert cycle_losses[-1] <= r.loss[-1, 1] + 1e-9  # at least as low as a single cosine
    assert r.loss[-1, 0] > 2 * r.loss[-1, 2]  # the constant lr never settles


def test_warmup_keeps_adam_in_its_basin():
    spec, r = race("adam_warmup")
    minima = np.array(spec.surface_obj().minima)  # [sharp (near the start), flat (far)]
    nearest = [int(np.argmin(np.linalg.norm(minima - r.xy[-1, i], axis=-1))) for i in range(2)]
    assert nearest == [1, 0]


@pytest.mark.slow  # ~0.4 s: a preset's whole race
def test_noise_keeps_constant_lr_jittering():
    _, r = race("noise_rosenbrock")
    assert (r.diverged_at == -1).all()
    spread = r.xy[-100:].std(axis=0).sum(-1)  # (runs,)
    assert spread[1] > 20 * spread[2] and spread[0] > 20 * spread[2]


@pytest.mark.slow  # ~0.9 s: a preset's whole race
def test_reddi_adam_as_its_text_says():
    spec, r = race("reddi_adam")
    assert spec.surface_obj().box == ((-1.0, 1.0), (-1.0, 1.0)) and (r.diverged_at == -1).all()
    for run in spec.runs:  # Theorem 1's setting: beta1 = 0, beta2 = 1 / (1 + C^2), alpha / sqrt(t)
        assert run.hparam("betas") == (0.0, 1 / (1 + 3**2)) and run.hparam("lr") == 0.5
        assert run.schedule == "inverse_sqrt"
    x = r.xy[:, :, 0]
    assert (np.abs(x) <= 1).all() and (r.xy[:, :, 1] == 0).all()  # projected onto the box; y unused
    assert (x[45::3, 0] == 1.0).all() and x[42, 0] < 1.0  # Adam: +1.000 at every period's end from step 45
    assert (x[46::3, 1] == -1.0).all() and x[43, 1] > -1.0  # AMSGrad: -1.000 after every slope-3 step
    assert x[-1, 0] == 1.0 and f"{x[-1, 1]:.3f}" == "-0.994"
    t = np.arange(1, spec.steps + 1)[:, None]
    played = np.where(t % 3 == 1, 3 * x[:-1], -x[:-1])  # f_t(x_t), also what the run recorded
    np.testing.assert_allclose(r.loss[:-1], played, rtol=0, atol=1e-15)
    regret = played.mean(axis=0) - min(np.where(t % 3 == 1, 3 * v, -v).mean() for v in (-1.0, 1.0))
    assert f"{regret[0]:.2f}" == "0.67" and f"{regret[1]:.3f}" == "0.013"


@pytest.mark.slow  # ~0.9 s: a preset's whole race
def test_sam_finds_the_flat_minimum_as_its_text_says():
    spec, r = race("sam_sharp_flat")
    sharp, flat = np.array(spec.surface_obj().minima)
    d_sharp = np.linalg.norm(r.xy - sharp, axis=-1)  # (steps + 1, runs)
    d_flat = np.linalg.norm(r.xy - flat, axis=-1)
    assert (d_sharp[-1, :2] < 1e-6).all()  # GD and momentum stay in the narrow minimum
    assert (d_flat[-1, 2:] < 0.02).all()  # SAM and ASAM settle near the wide one
    assert d_sharp[:100, 2].min() < 0.05  # SAM visits the narrow minimum first
    assert r.sharpness[:2].round().tolist() == [44, 44] and r.sharpness[2:].round(1).tolist() == [1.1, 1.1]
    assert (r.evaluations[:, 1] == [1, 1, 2, 2]).all()  # SAM: two gradients per step
@pytest.mark.slow  # ~0.5 s: a preset's whole race
def test_swats_switch_as_its_text_says():
    from test_swats_switch import paper_switch

    spec, r = race("swats_switch")
    paper, tuned = (dict(run.hparams) for run in spec.runs)
    assert paper["eps"] == 1e-9 and tuned["eps"] == 1e-5 and paper["lr"] == tuned["lr"] == 0.03
    # run 1, the paper's epsilon: never switches in 800 steps; Lambda - gamma crosses zero between two steps
    assert r.switched_at[0] == -1 and paper_switch(r.grad[:, 0], 0.03)[0] == -1
    b1, b2 = paper["betas"]
    m = a = np.zeros(2)
    lam, gaps, gammas = 0.0, [], []
    for k, g in enumerate(r.grad[:, 0], 1):  # Algorithm 1's gamma_k and |Lambda_k - gamma_k| along run 1
        m, a = b1 * m + (1 - b1) * g, b2 * a + (1 - b2) * g * g
        p = -0.03 * np.sqrt(1 - b2**k) / (1 - b1**k) * m / (np.sqrt(a) + 1e-9)
        gamma = p @ p / -(p @ g)
        lam = b2 * lam + (1 - b2) * gamma
        gammas.append(gamma)
        gaps.append(abs(lam / (1 - b2**k) - gamma))
    gaps, gammas = np.array(gaps[1:]), np.array(gammas)
    closest = int(np.argmin(gaps)) + 2
    assert gaps.min() == pytest.approx(9e-8, rel=0.05) and closest == 557  # "the closest it comes ... 9 × 10⁻⁸"
    assert gammas[closest - 1] == pytest.approx(0.004, rel=0.1)  # "γ ≈ 0.004"
    drift = np.abs(np.diff(gammas[500:600])) / gammas[501:600]
    assert np.median(drift) == pytest.approx(0.004, abs=0.0005)  # "drifts 0.4 % a step along the valley"
    # run 2, epsilon 1e-5: switches after update 556 to SGD with lr 0.0042, as the paper's criterion computes
    k, learned = paper_switch(r.grad[:, 1], 0.03, eps=1e-5)
    assert r.switched_at[1] == k == 556 and r.switch_lr[1] == pytest.approx(learned, rel=1e-12)
    assert r.switch_lr[1] == pytest.approx(0.0042, abs=0.00005)
    assert (r.lr[:k, 1] == 0.03).all() and (r.lr[k:, 1] == r.switch_lr[1]).all()  # what the lr panel shows
    step = np.linalg.norm(np.diff(r.xy[:, 1], axis=0), axis=-1)  # step[i]: update i + 1
    assert step[k - 1] == pytest.approx(0.004, rel=0.02) and step[k] == pytest.approx(0.0004, rel=0.1)
    assert step[k + 5] > 4 * step[k]  # "then grow again as the momentum builds"
