"""Clipping against torch.nn.utils (clip_grad_norm_, clip_grad_value_) and the formulas, row by row."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizers import clip_, clip_kinds, clip_with_coef_
from optimizers.clipping import check_clip

F64 = torch.float64  # every tensor here is float64 unless a test says otherwise


def _grads(n=6, d=5, seed=0):
    g = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)
    # row norms from ~1e-3 to ~1e2: both sides of any threshold
    return g * torch.logspace(-3, 2, n, dtype=F64).unsqueeze(-1)


def _torch_rowwise(g, kind, thresholds):
    """Each row clipped alone by torch.nn.utils, as a parameter's .grad."""
    out = []
    for row, th in zip(g, thresholds, strict=True):
        p = torch.nn.Parameter(torch.zeros_like(row))
        p.grad = row.clone()
        if kind == "norm":
            torch.nn.utils.clip_grad_norm_([p], float(th))
        else:
            torch.nn.utils.clip_grad_value_([p], float(th))
        out.append(p.grad)
    return torch.stack(out)


def test_kinds():
    assert clip_kinds() == ["none", "norm", "smooth", "value"]


@pytest.mark.parametrize("kind", ["norm", "value"])
@pytest.mark.parametrize("per_row", [False, True])
def test_rows_equal_torch_one_row_at_a_time(kind, per_row):
    g = _grads()
    n = g.shape[0]
    thresholds = torch.linspace(0.05, 20.0, n, dtype=F64) if per_row else torch.full((n,), 1.5, dtype=F64)
    want = _torch_rowwise(g, kind, thresholds)
    got = g.clone()
    norms = clip_(got, kind, thresholds if per_row else 1.5)
    torch.testing.assert_close(got, want, rtol=1e-15, atol=0)
    torch.testing.assert_close(norms, g.norm(dim=-1), rtol=1e-15, atol=0)  # pre-clip norms
    assert norms.shape == (g.shape[0],)


def test_norm_coef_formula():
    g = _grads()
    got = g.clone()
    norms, coef = clip_with_coef_(got, "norm", 2.0)
    want = torch.clamp(2.0 / (g.norm(dim=-1) + 1e-6), max=1.0)
    assert torch.equal(coef, want)
    torch.testing.assert_close(got, g * want.unsqueeze(-1), rtol=0, atol=0)
    assert (coef[:2] == 1).all() and (coef[-2:] < 1).all()  # small rows untouched, big ones scaled


@pytest.mark.parametrize("per_row", [False, True])
def test_smooth_formula(per_row):
    g = _grads()
    th = torch.linspace(0.1, 10.0, g.shape[0], dtype=F64) if per_row else 3.0
    got = g.clone()
    norms, coef = clip_with_coef_(got, "smooth", th)
    want = th / (g.norm(dim=-1) + th)
    torch.testing.assert_close(coef, want, rtol=1e-15, atol=0)
    torch.testing.assert_close(got, g * want.unsqueeze(-1), rtol=1e-15, atol=0)
    # the clipped norm gamma * ||g|| / (||g|| + gamma) always stays below gamma
    assert (got.norm(dim=-1) < (th if per_row else torch.tensor(th, dtype=F64))).all()


def test_smooth_hand_worked():
    g = torch.tensor([3.0, 4.0], dtype=F64)  # norm 5
    norms, coef = clip_with_coef_(g, "smooth", 5.0)
    assert norms.item() == 5.0 and coef.item() == 0.5
    assert torch.equal(g, torch.tensor([1.5, 2.0], dtype=F64))


def test_value_coef_is_norm_ratio():
    g = torch.tensor([[3.0, 4.0], [0.5, -0.25], [0.0, 0.0]], dtype=F64)
    norms, coef = clip_with_coef_(g, "value", 1.0)
    assert torch.equal(g, torch.tensor([[1.0, 1.0], [0.5, -0.25], [0.0, 0.0]], dtype=F64))
    torch.testing.assert_close(norms, torch.tensor([5.0, math.hypot(0.5, 0.25), 0.0], dtype=F64))
    torch.testing.assert_close(coef, torch.tensor([math.sqrt(2) / 5, 1.0, 1.0], dtype=F64))


def test_none_leaves_grad_alone():
    g = _grads()
    got = g.clone()
    norms, coef = clip_with_coef_(got, "none", None)
    assert torch.equal(got, g) and torch.equal(coef, torch.ones(g.shape[0], dtype=F64))
    torch.testing.assert_close(norms, g.norm(dim=-1), rtol=1e-15, atol=0)


def test_whole_model_buffer_equals_clip_grad_norm():
    """Training: a model's gradients flattened into one (P,) buffer are one row."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(7, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).double()
    x, y = torch.randn(32, 7, dtype=F64), torch.randn(32, 3, dtype=F64)
    torch.nn.functional.mse_loss(model(x), y).mul(100).backward()
    flat = torch.cat([p.grad.reshape(-1) for p in model.parameters()])  # (P,)
    threshold = 0.1 * flat.norm().item()  # well below the norm, so it does clip
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), threshold)
    norm = clip_(flat, "norm", threshold)
    assert norm.shape == ()
    torch.testing.assert_close(norm, total, rtol=1e-14, atol=0)
    torch.testing.assert_close(flat, torch.cat([p.grad.reshape(-1) for p in model.parameters()]), rtol=1e-14, atol=0)
    torch.testing.assert_close(flat.norm(), torch.tensor(threshold, dtype=F64), rtol=1e-6, atol=0)


@pytest.mark.parametrize("kind", clip_kinds())
def test_zero_gradient_gives_no_nan(kind):
    g = torch.zeros(4, 3, dtype=F64)
    norms, coef = clip_with_coef_(g, kind, torch.full((4,), 0.5, dtype=F64) if kind != "none" else None)
    assert torch.equal(g, torch.zeros(4, 3, dtype=F64)) and torch.equal(norms, torch.zeros(4, dtype=F64))
    assert torch.isfinite(coef).all() and (coef == 1).all()


def test_batched_leading_dims_and_hparam_layout():
    """(A, B, D) gradients clip per (a, b) row; an (..., 1) threshold, the hyperparameter layout, works too."""
    g = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(1), dtype=F64) * 10
    th = torch.rand(3, 4, generator=torch.Generator().manual_seed(2), dtype=F64) + 0.1
    a, b = g.clone(), g.clone()
    na, ca = clip_with_coef_(a, "norm", th)
    nb, cb = clip_with_coef_(b, "norm", th.unsqueeze(-1))
    assert na.shape == ca.shape == (3, 4)
    assert torch.equal(a, b) and torch.equal(ca, cb)
    torch.testing.assert_close(a, _torch_rowwise(g.reshape(12, 2), "norm", th.reshape(12)).reshape(3, 4, 2),
                               rtol=1e-15, atol=0)


def test_float32_grad_with_float64_threshold_tensor():
    g = torch.randn(5, 3, dtype=torch.float32) * 10
    norms, coef = clip_with_coef_(g, "norm", torch.full((5,), 1.0, dtype=torch.float64))
    assert g.dtype == norms.dtype == coef.dtype == torch.float32
    assert (g.norm(dim=-1) <= 1.0 + 1e-5).all()


def test_validate_false_skips_checks_but_computes_the_same():
    g = _grads()
    a, b = g.clone(), g.clone()
    th = torch.linspace(0.1, 5.0, g.shape[0], dtype=F64)
    clip_with_coef_(a, "norm", th)
    clip_with_coef_(b, "norm", th, validate=False)
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "kind, threshold, match",
    [
        ("global", 1.0, "unknown clipping kind 'global'; choose one of: none, norm, smooth, value"),
        ("norm", 0.0, "finite and > 0"),
        ("norm", -1.0, "finite and > 0"),
        ("smooth", math.inf, "finite and > 0"),
        ("value", math.nan, "finite and > 0"),
        ("norm", None, "number or a tensor"),
        ("norm", True, "number or a tensor"),
        ("norm", "1", "number or a tensor"),
        ("norm", torch.tensor([1.0, 0.0, 1.0, 1.0]), "every row"),
        ("value", torch.tensor([1.0, math.nan, 1.0, 1.0]), "every row"),
        ("norm", torch.ones(3), "does not fit rows of shape"),
        ("norm", torch.ones(4, 4), "does not fit rows of shape"),
    ],
)
def test_invalid_raises(kind, threshold, match):
    g = torch.ones(4, 2)
    with pytest.raises(ValueError, match=match):
        clip_(g, kind, threshold)
    assert torch.equal(g, torch.ones(4, 2))  # nothing touched


def test_invalid_grad_raises():
    with pytest.raises(ValueError, match="at least one dimension"):
        clip_(torch.tensor(3.0), "norm", 1.0)


def test_check_clip_accepts_valid():
    check_clip("none", None)
    check_clip("norm", 1)
    check_clip("value", torch.tensor([0.1, 2.0]), (2,))
    check_clip("smooth", torch.tensor(0.5), (7, 3))


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=6),
    threshold=st.floats(1e-3, 1e3),
)
def test_norm_property_bounded_and_direction_kept(rows, threshold):
    g = torch.tensor(rows, dtype=F64)
    before = g.clone()
    norms = clip_(g, "norm", threshold)
    assert torch.equal(norms, torch.linalg.vector_norm(before, dim=-1))
    assert (g.norm(dim=-1) <= threshold * (1 + 1e-9)).all()
    nz = norms > 0
    # same direction: g = c * before with 0 < c <= 1, so the cosine is 1
    cos = (g[nz] * before[nz]).sum(-1) / (g[nz].norm(dim=-1) * norms[nz])
    torch.testing.assert_close(cos, torch.ones_like(cos), rtol=0, atol=1e-12)
    small = norms + 1e-6 <= threshold  # torch's eps: a norm just at the threshold is still scaled by 1/(1+1e-6)
    assert torch.equal(g[small], before[small])  # coef clamps to exactly 1 below the threshold


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.lists(finite, min_size=2, max_size=2), min_size=1, max_size=6),
    threshold=st.floats(1e-3, 1e3),
)
def test_value_and_smooth_properties(rows, threshold):
    g = torch.tensor(rows, dtype=F64)
    v, s = g.clone(), g.clone()
    _, cv = clip_with_coef_(v, "value", threshold)
    _, cs = clip_with_coef_(s, "smooth", threshold)
    assert (v.abs() <= threshold).all()
    assert ((cv > 0) & (cv <= 1 + 1e-12)).all() and ((cs > 0) & (cs <= 1)).all()
    assert (s.norm(dim=-1) <= threshold * (1 + 1e-12)).all()
