"""The loss landscape's math (training/landscape): directions against the paper's own normalisation, the
grid against a closed form, the path plane against sklearn's PCA and a straight path, the line."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from training.flat import flatten_
from training.landscape.directions import filter_normalized, layout, normalize_, one_d_mask, random_plane
from training.landscape.path import fitting_span, pca_plane, project
from training.landscape.probe import Probe
from training.landscape.spec import LineSpec, PlaneSpec, from_key


class Small(nn.Module):
    """One of each kind of tensor the paper's rule distinguishes: conv filters, Linear rows, LSTM gate rows,
    embedding rows (2+ dims) and biases / norm weights (1-D)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(7, 3)
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.conv = nn.Conv2d(2, 5, 3)
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 6)


def small_fp(seed: int = 0):
    torch.manual_seed(seed)
    model = Small()
    return model, flatten_(model)


def paper_directions(weights: list[torch.Tensor], seed: int) -> list[torch.Tensor]:
    """Li et al.'s net_plotter.py, literally: create_random_direction(ignore='biasbn', norm='filter')
    with the Gaussians drawn in parameter order from one generator."""
    g = torch.Generator().manual_seed(seed)
    direction = [torch.randn(w.size(), generator=g) for w in weights]
    for d, w in zip(direction, weights, strict=True):
        if d.dim() <= 1:
            d.fill_(0)  # ignore directions for weights with 1 dimension
        else:
            for di, we in zip(d, w, strict=True):  # normalize_direction(d, w, 'filter')
                di.mul_(we.norm() / (di.norm() + 1e-10))
    return direction


# ---------------------------------------------------------------- directions


def test_directions_are_the_papers_filter_normalisation():
    _, fp = small_fp()
    w = fp.flat.detach().clone()
    d = filter_normalized(w, layout(fp), torch.Generator().manual_seed(3))
    ref = paper_directions([p.detach() for p in fp.params], 3)
    for t, r, p in zip(layout(fp), ref, fp.params, strict=True):
        mine = d[t.offset:t.offset + t.numel].view(t.shape)
        torch.testing.assert_close(mine, r, rtol=1e-6, atol=0)
        if p.dim() <= 1:
            assert (mine == 0).all(), t.name  # biases and norm weights left out
        else:  # each dim-0 slice (a filter, a row, a gate row) has the norm of its weights' slice
            torch.testing.assert_close(mine.reshape(len(mine), -1).norm(dim=1),
                                       p.detach().reshape(len(p), -1).norm(dim=1), rtol=1e-6, atol=0)
    names = {t.name: len(t.shape) for t in layout(fp)}
    assert names["lstm.weight_ih_l0"] == 2 and names["conv.weight"] == 4 and names["norm.weight"] == 1


def test_keep_1d_moves_one_d_tensors_as_the_weights_and_the_mask_marks_them():
    _, fp = small_fp()
    w = fp.flat.detach().clone()
    d = filter_normalized(w, layout(fp), torch.Generator().manual_seed(0), keep_1d=True)
    mask = one_d_mask(layout(fp), fp.numel)
    assert mask.sum() == sum(p.numel() for p in fp.params if p.dim() <= 1) > 0
    torch.testing.assert_close(d[mask], w[mask], rtol=0, atol=0)
    x = torch.randn(2, 3, 7)
    y = normalize_(x.clone(), torch.ones(2, 3, 7))  # every slice scaled to norm sqrt(21)
    torch.testing.assert_close(y.reshape(2, -1).norm(dim=1), torch.full((2,), math.sqrt(21.0)))


def test_a_seed_reproduces_a_plane_and_another_seed_does_not():
    _, fp = small_fp()
    w = fp.flat.detach().clone()
    a1, a2 = random_plane(w, layout(fp), seed=5)
    b1, b2 = random_plane(w.clone(), layout(fp), seed=5)
    assert torch.equal(a1, b1) and torch.equal(a2, b2)
    c1, _ = random_plane(w, layout(fp), seed=6)
    assert not torch.equal(a1, c1) and not torch.equal(a1, a2)
    assert a1.dtype == w.dtype and a1.device == w.device


# ---------------------------------------------------------------- the grid: a known quadratic


class Quadratic(nn.Module):
    """loss(theta) = 1/2 (theta - c)^T A (theta - c), theta = (W (2, 3), v (4,)) flattened, float64."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.W = nn.Parameter(torch.randn(2, 3, generator=g, dtype=torch.float64))
        self.v = nn.Parameter(torch.randn(4, generator=g, dtype=torch.float64))
        m = torch.randn(10, 10, generator=g, dtype=torch.float64)
        self.register_buffer("A", m @ m.T + torch.eye(10, dtype=torch.float64))
        self.register_buffer("c", torch.randn(10, generator=g, dtype=torch.float64))

    def loss(self) -> torch.Tensor:
        x = torch.cat([self.W.reshape(-1), self.v]) - self.c
        return 0.5 * x @ self.A @ x


def quadratic_probe() -> tuple[Quadratic, Probe]:
    model = Quadratic()
    fp = flatten_(model)
    return model, Probe(fp, lambda: (float(model.loss()), float("nan")), model)


def test_the_grid_equals_the_closed_form_of_a_quadratic_loss():
    model, probe = quadratic_probe()
    w0 = probe.fp.flat.detach().clone()
    d1, d2 = random_plane(w0, probe.layout, seed=1)
    xs, ys = np.linspace(-1, 1, 7), np.linspace(-0.5, 2, 5)
    got = np.array([losses for _, losses, _ in probe.grid(w0, d1, d2, xs, ys)])  # (len(ys), len(xs))
    A, c = model.A.numpy(), model.c.numpy()
    w, e1, e2 = (t.numpy() for t in (w0, d1, d2))
    want = np.array([[0.5 * (w + a * e1 + b * e2 - c) @ A @ (w + a * e1 + b * e2 - c) for a in xs] for b in ys])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # rows on their own (a resumed grid) give the same values; the flat buffer is the model's parameters
    (j, losses, _), = list(probe.grid(w0, d1, d2, xs, ys, rows=[3]))
    assert j == 3 and losses == pytest.approx(want[3].tolist(), rel=1e-12)
    assert probe.fp.params[0].data_ptr() == probe.fp.flat.data_ptr()


def test_the_line_equals_the_closed_form_and_reaches_both_ends():
    model, probe = quadratic_probe()
    wa = probe.fp.flat.detach().clone()
    wb = wa + torch.linspace(-1, 1, wa.numel(), dtype=wa.dtype)
    spec = LineSpec(a=1, b=2, n=6)  # -0.5 .. 1.5 in 5 steps of 0.4: t = 0 and 1 added
    ts = spec.ts()
    assert 0.0 in ts and 1.0 in ts and len(ts) == spec.rows == 8
    A, c = model.A.numpy(), model.c.numpy()
    for i, loss, _ in probe.line(wa, wb, ts):
        x = (1 - ts[i]) * wa.numpy() + ts[i] * wb.numpy() - c
        assert loss == pytest.approx(0.5 * x @ A @ x, rel=1e-12)


# ---------------------------------------------------------------- the path plane


def test_a_straight_path_projects_onto_one_axis():
    rng = np.random.default_rng(0)
    P = 500
    v = rng.normal(size=P)
    t = np.array([3.0, 2.2, 1.5, 0.7, 0.2])
    deltas = (t[:, None] * v).astype(np.float32)  # snapshots - final on one line
    comps, ratio = pca_plane(deltas)
    assert ratio[0] == pytest.approx(1.0) and ratio[1] == 0.0
    assert not comps[1].any()  # no second direction: the caller picks one (compute.py: seeded, orthogonal)
    d2 = rng.normal(size=P)
    d2 -= (d2 @ comps[0]) * comps[0]
    coords, off = project(deltas, comps[0], d2 / np.linalg.norm(d2))
    np.testing.assert_allclose(np.abs(coords[:, 0]), t * np.linalg.norm(v), rtol=1e-5)
    np.testing.assert_allclose(coords[:, 1], 0.0, atol=1e-4 * np.linalg.norm(v))
    np.testing.assert_allclose(off, 0.0, atol=1e-5)


def test_pca_plane_equals_sklearns_pca():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    deltas = np.cumsum(rng.normal(size=(12, 300)), axis=0)[::-1].astype(np.float32)  # a curved random walk
    comps, ratio = pca_plane(deltas)
    ref = PCA(n_components=2).fit(deltas.astype(np.float64))
    np.testing.assert_allclose(ratio, ref.explained_variance_ratio_, rtol=1e-6)
    for j in range(2):  # unit vectors, equal up to sign
        sign = np.sign(comps[j] @ ref.components_[j])
        np.testing.assert_allclose(sign * comps[j], ref.components_[j], atol=1e-6)
    mask = np.zeros(300, dtype=bool)
    mask[:50] = True  # left out (1-D tensors): zero in both directions, and the PCA of the rest
    masked, r2 = pca_plane(deltas, mask)
    assert not masked[:, :50].any()
    np.testing.assert_allclose(r2, PCA(n_components=2).fit(deltas[:, 50:].astype(np.float64))
                               .explained_variance_ratio_, rtol=1e-6)


def test_projection_recovers_coordinates_on_oblique_directions_and_measures_the_rest():
    rng = np.random.default_rng(2)
    d1, d2, r = rng.normal(size=(3, 200))
    d2 += 0.6 * d1  # not orthogonal, as two random directions are not quite
    coords = rng.normal(size=(4, 2))
    deltas = coords @ np.stack([d1, d2])
    got, off = project(deltas, d1, d2)
    np.testing.assert_allclose(got, coords, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(off, 0.0, atol=1e-6)
    r -= np.stack([d1, d2]).T @ np.linalg.lstsq(np.stack([d1, d2]).T, r, rcond=None)[0]  # orthogonal to the plane
    _, off = project(deltas + r, d1, d2)
    np.testing.assert_allclose(off, np.linalg.norm(r) / np.linalg.norm(deltas + r, axis=1), rtol=1e-6)


def test_the_fitted_span_holds_the_path_and_the_centre():
    a0, a1, b0, b1 = fitting_span(np.array([[4.0, 1.0], [2.0, -1.0]]))
    assert a0 < 0 < 4 < a1 and b0 < -1 and b1 > 1
    assert fitting_span(np.zeros((3, 2))) == (-1.5, 1.5, -1.5, 1.5)


# ---------------------------------------------------------------- requests


def test_specs_check_their_fields_and_name_themselves_by_a_key():
    s = PlaneSpec(run=3, paths=(3, 4), n=21, span=(-1.0, 2.0, -3.0, 4.0))
    assert s.check(max_grid=51) is s and from_key(s.key()) == s
    assert PlaneSpec(run=3).key() == PlaneSpec(run=3, paths=(3,)).key()  # no paths: the centre's own
    line = LineSpec(a=3, b=4)
    assert from_key(line.key()) == line and line.check(max_grid=51) is line
    for bad, what in [(PlaneSpec(run=3, n=52), "points per side"), (PlaneSpec(run=3, plane="pcb"), "plane"),
                      (PlaneSpec(run=3, span=(1.0, 0.0, 0.0, 1.0)), "a0 < a1"),
                      (PlaneSpec(run=3, span=(0.0, float("inf"), 0.0, 1.0)), "finite"),
                      (PlaneSpec(run=0), "run id"), (PlaneSpec(run=3, data="test"), "data"),
                      (PlaneSpec(run=3, paths=tuple(range(1, 10))), "at most 8"),
                      (LineSpec(a=3, b=3), "two different"), (LineSpec(a=3, b=4, lo=1.0, hi=0.0), "start < end")]:
        with pytest.raises(ValueError, match=what):
            bad.check(max_grid=51)
    with pytest.raises(ValueError, match="cannot read"):
        from_key('{"kind": "plane"}')
