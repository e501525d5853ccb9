"""Sharpness: the power iteration (optimizers/sharpness.py) against eigvalsh, and the explorer's summary
value (the engine at each run's final point) against closed-form Hessian eigenvalues."""
from __future__ import annotations

import math

import pytest
import torch

import trajectories
from optimizers.sharpness import top_eigenvalue

DT = torch.float64


@pytest.mark.parametrize("d", [2, 3, 10])
@pytest.mark.parametrize("kind", ["indefinite", "positive", "negative", "plus_minus"])
def test_top_eigenvalue_is_the_largest_one_row_by_row(d, kind):
    g = torch.Generator().manual_seed(d)
    rows = 6
    q, _ = torch.linalg.qr(torch.randn(rows, d, d, generator=g, dtype=DT))
    lam = torch.randn(rows, d, generator=g, dtype=DT) * 5
    if kind == "positive":
        lam = lam.abs() + 0.1
    elif kind == "negative":
        lam = -lam.abs() - 0.1
    elif kind == "plus_minus":  # top two equal in size, opposite in sign: the Rayleigh quotient alone stalls
        lam[:, 0], lam[:, 1] = 3.0, -3.0
        lam[:, 2:] = lam[:, 2:].clamp(-2, 2)
    h = q @ torch.diag_embed(lam) @ q.transpose(-1, -2)  # (rows, d, d) symmetric
    v0 = torch.randn(rows, d, generator=g, dtype=DT)
    got = top_eigenvalue(lambda v: (h @ v.unsqueeze(-1)).squeeze(-1), v0, iters=2000)
    want = torch.linalg.eigvalsh(h)[:, -1]
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-8)
    if kind == "negative":  # the largest, not the largest in size
        assert (got < 0).all()


def _at_minimum(surface, point):
    """The summary's sharpness at `point`: a race that starts there and does not move (lr 0)."""
    r = trajectories.race(surface, [trajectories.Run("sgd", {"lr": 0.0})], point, 1)
    return float(r.sharpness[0])


def test_the_summary_sharpness_of_a_quadratic_is_its_top_curvature():
    import surfaces

    for condition, angle in ((50.0, 0.0), (300.0, 30.0), (1.0, 45.0)):
        s = surfaces.get("ravine").with_params(condition=condition, angle=angle)
        assert _at_minimum(s, (0.7, -0.4)) == pytest.approx(condition, rel=1e-10)  # Hessian eigenvalues 1, kappa


@pytest.mark.parametrize("name, point, want", [
    # f_xx = 1200 x^2 - 400 y + 2 = 802, f_yy = 200, f_xy = -400 x = -400 at (1, 1)
    ("rosenbrock", (1.0, 1.0), 501 + math.sqrt(301**2 + 400**2)),
    # f_xx = 12 x^2 + 4 y - 42 = 74, f_yy = 12 y^2 + 4 x - 26 = 34, f_xy = 4 (x + y) = 20 at (3, 2)
    ("himmelblau", (3.0, 2.0), 54 + math.sqrt(20**2 + 20**2)),
    ("quartic", (0.0, 0.0), 0.0),  # a degenerate minimum: zero curvature
])
def test_the_summary_sharpness_at_a_catalog_minimum_is_the_closed_form(name, point, want):
    assert _at_minimum(name, point) == pytest.approx(want, rel=1e-10, abs=1e-12)


def test_a_saddle_reports_its_positive_curvature_and_a_linear_loss_none():
    assert _at_minimum("saddle", (0.0, 0.0)) == pytest.approx(2.0, rel=1e-12)  # x^2 - y^2: eigenvalues 2, -2
    assert _at_minimum("reddi", (0.5, 0.0)) == 0.0


def test_a_rows_eigenvalue_is_the_same_alone_or_among_others():
    """Each row stops its power iteration on its own: a row that converges late (a nearly degenerate
    spectrum) does not change the answer of one that converged early, to the last bit."""
    import torch

    from optimizers.sharpness import top_eigenvalue

    hess = torch.tensor([[[2.0, 0.0], [0.0, 1.0]], [[1.0, 0.999], [0.999, 1.0]], [[5.0, 1.0], [1.0, -3.0]]],
                        dtype=torch.float64)
    v0 = torch.tensor([0.6, 0.8], dtype=torch.float64).expand(3, 2)
    together = top_eigenvalue(lambda v: (hess @ v.unsqueeze(-1)).squeeze(-1), v0)
    for i in range(3):
        alone = top_eigenvalue(lambda v, h=hess[i:i + 1]: (h @ v.unsqueeze(-1)).squeeze(-1), v0[i:i + 1])
        assert alone.item() == together[i].item()
