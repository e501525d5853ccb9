"""The surface catalog: shapes, gradients, minima that really are global minima, parameters."""
import math

import pytest
import torch

import surfaces
from surfaces import Param, Surface

REQUIRED = ["rosenbrock", "beale", "booth", "himmelblau", "rastrigin", "ackley", "goldstein_price",
            "three_hump_camel", "six_hump_camel", "styblinski_tang", "levi13", "matyas", "mccormick", "quartic",
            "saddle", "monkey_saddle", "ravine", "cliff", "sharp_flat"]
UNBOUNDED = {"saddle", "monkey_saddle"}

# Every catalog surface, plus parametrized surfaces at the ends of their ranges.
CASES = {name: surfaces.get(name) for name in surfaces.names()}
CASES["ravine[condition=1000,angle=30]"] = surfaces.get("ravine").with_params(condition=1000, angle=30)
CASES["ravine[condition=1]"] = surfaces.get("ravine").with_params(condition=1)
CASES["cliff[height=1]"] = surfaces.get("cliff").with_params(height=1)
CASES["cliff[height=500]"] = surfaces.get("cliff").with_params(height=500)
BOUNDED = {k: s for k, s in CASES.items() if s.min_value is not None}


def at(s: Surface, x: float, y: float) -> float:
    return float(s(torch.tensor([x, y], dtype=torch.float64)))


def grad(s: Surface, xy: torch.Tensor) -> torch.Tensor:
    xy = xy.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(s(xy).sum(), xy)
    return g


def hessian(s: Surface, x: float, y: float) -> torch.Tensor:
    return torch.autograd.functional.hessian(lambda p: s(p), torch.tensor([x, y], dtype=torch.float64))


def inside(s: Surface, n: int, seed: int = 0) -> torch.Tensor:
    """n random points (n, 2) in float64 inside the bounds."""
    (x0, x1), (y0, y1) = s.bounds
    u = torch.rand(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return torch.stack([x0 + (x1 - x0) * u[:, 0], y0 + (y1 - y0) * u[:, 1]], dim=-1)


def test_catalog_has_the_required_surfaces_in_order():
    assert surfaces.names()[: len(REQUIRED)] == REQUIRED
    assert all(isinstance(surfaces.get(n), Surface) and surfaces.get(n).name == n for n in surfaces.names())


def test_unknown_name_raises_key_error_listing_the_names():
    with pytest.raises(KeyError) as info:
        surfaces.get("no_such_surface")
    message = str(info.value)
    assert "no_such_surface" in message
    assert all(n in message for n in surfaces.names())


@pytest.mark.parametrize("name", list(CASES))
def test_metadata(name):
    s = CASES[name]
    assert s.title and s.formula and len(s.about) > 20
    (x0, x1), (y0, y1) = s.bounds
    assert x0 < x1 and y0 < y1
    assert (s.min_value is None) == (s.name in UNBOUNDED)
    assert (not s.minima) == (s.name in UNBOUNDED)
    assert dict(s.values).keys() == {p.name for p in s.params}


@pytest.mark.parametrize("shape", [(), (7,), (3, 4), (2, 1, 5)])
@pytest.mark.parametrize("name", list(CASES))
def test_broadcasts_over_leading_shapes(name, shape):
    s = CASES[name]
    xy = inside(s, math.prod(shape)).reshape(*shape, 2)
    out = s(xy)
    assert out.shape == shape
    # each entry equals the surface at that one point
    flat = xy.reshape(-1, 2)
    one_by_one = torch.stack([s(p) for p in flat]).reshape(shape)
    torch.testing.assert_close(out, one_by_one, rtol=1e-12, atol=1e-12)
    # the same function also draws the plotting grid: fn on broadcast coordinate tensors
    xs, ys = flat[:, 0].reshape(-1, 1), flat[:, 1].reshape(1, -1)
    assert s.fn(xs, ys, **dict(s.values)).shape == (len(flat), len(flat))


@pytest.mark.parametrize("name", list(CASES))
def test_differentiable_in_float64_and_float32(name):
    s = CASES[name]
    xy = inside(s, 50, seed=1)
    assert torch.isfinite(grad(s, xy)).all()
    assert torch.isfinite(grad(s, xy.float())).all()
    # autograd agrees with a central difference (a wrong formula or a detached op would not)
    h = 1e-6
    for p in xy[:5]:
        g = grad(s, p)
        for i in range(2):
            e = torch.zeros(2, dtype=torch.float64)
            e[i] = h
            fd = (at(s, *(p + e).tolist()) - at(s, *(p - e).tolist())) / (2 * h)
            assert g[i].item() == pytest.approx(fd, rel=1e-4, abs=1e-4 * (1 + abs(fd)))


@pytest.mark.parametrize("name", list(BOUNDED))
def test_minima_have_min_value_zero_gradient_and_positive_curvature(name):
    s = CASES[name]
    for x, y in s.minima:
        assert at(s, x, y) == pytest.approx(s.min_value, abs=1e-10 * (1 + abs(s.min_value)))
        g = grad(s, torch.tensor([x, y], dtype=torch.float64))
        if s.box is not None:  # a minimum on the feasible box: a projected gradient step stays there
            (bx0, bx1), (by0, by1) = s.box
            lo, hi = torch.tensor([bx0, by0]).double(), torch.tensor([bx1, by1]).double()
            m = torch.tensor([x, y], dtype=torch.float64)
            assert torch.equal(torch.clamp(m - 0.01 * g, lo, hi), m)
            continue
        assert g.abs().max() < 1e-6
        if s.name != "ackley":  # Ackley's minimum is the tip of a cone: no Hessian there
            assert torch.linalg.eigvalsh(hessian(s, x, y)).min() > -1e-8


@pytest.mark.parametrize("name", list(BOUNDED))
def test_minima_are_global_within_bounds(name):
    s = CASES[name]
    (x0, x1), (y0, y1) = s.box or s.bounds  # on a surface with a feasible box: the minimum over the box
    for x, y in s.minima:
        assert x0 <= x <= x1 and y0 <= y <= y1
    n = 401
    xs = torch.linspace(x0, x1, n, dtype=torch.float64)
    ys = torch.linspace(y0, y1, n, dtype=torch.float64)
    z = s.fn(xs[None, :], ys[:, None], **dict(s.values))  # (n, n)
    assert z.shape == (n, n)
    assert torch.isfinite(z).all()
    assert z.min().item() >= s.min_value - 1e-9 * (1 + abs(s.min_value))


@pytest.mark.parametrize("name", list(CASES))
def test_start_is_inside_bounds_and_not_a_minimum(name):
    s = CASES[name]
    (x0, x1), (y0, y1) = s.bounds
    sx, sy = s.start
    assert x0 <= sx <= x1 and y0 <= sy <= y1
    for mx, my in s.minima:
        assert math.hypot(sx - mx, sy - my) > 0.1
    assert grad(s, torch.tensor(s.start, dtype=torch.float64)).norm() > 1e-3


@pytest.mark.parametrize("name, x, y, expected", [
    ("rosenbrock", 0, 0, 1.0),
    ("rosenbrock", -1.5, 2, 2.5**2 + 100 * (2 - 2.25) ** 2),
    ("himmelblau", 0, 0, 170.0),
    ("booth", 0, 0, 74.0),
    ("beale", 0, 0, 1.5**2 + 2.25**2 + 2.625**2),
    ("rastrigin", 1, 1, 2.0),
    ("rastrigin", 0.5, 0, 20 + 0.25 + 10 - 10),
    ("goldstein_price", 0, 0, 600.0),
    ("three_hump_camel", 1, 1, 2 - 1.05 + 1 / 6 + 1 + 1),
    ("matyas", 1, 1, 0.04),
    ("mccormick", 0, 0, 1.0),
    ("levi13", 1, 1, 0.0),
    ("quartic", 1, -2, 17.0),
    ("saddle", 2, 1, 3.0),
    ("monkey_saddle", 1, 1, -2.0),
    ("ravine", 1, 1, 0.5 * (1 + 50)),
    ("ackley", 1, 0, -20 * math.exp(-0.2 * math.sqrt(0.5)) - math.exp(0.5 * 2) + math.e + 20),
])
def test_known_values(name, x, y, expected):
    assert at(surfaces.get(name), x, y) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name, minimum, value", [
    # published minima (Wikipedia, "Test functions for optimization")
    ("six_hump_camel", (0.0898, -0.7126), -1.0316),
    ("styblinski_tang", (-2.903534, -2.903534), -39.16616 * 2),
    ("mccormick", (-0.54719, -1.54719), -1.9133),
])
def test_published_minima(name, minimum, value):
    s = surfaces.get(name)
    assert any(math.hypot(m[0] - minimum[0], m[1] - minimum[1]) < 1e-4 for m in s.minima)
    assert s.min_value == pytest.approx(value, abs=1e-4)


def test_himmelblau_lists_its_four_minima():
    published = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]
    s = surfaces.get("himmelblau")
    assert len(s.minima) == 4
    for p in published:
        assert min(math.hypot(p[0] - m[0], p[1] - m[1]) for m in s.minima) < 1e-6


def test_sharp_flat_has_one_sharp_and_one_flat_minimum_of_equal_depth():
    s = surfaces.get("sharp_flat")
    sharp, flat = s.minima
    assert at(s, *sharp) == pytest.approx(at(s, *flat), abs=1e-12)
    curv_sharp = torch.linalg.eigvalsh(hessian(s, *sharp)).min().item()
    curv_flat = torch.linalg.eigvalsh(hessian(s, *flat)).max().item()
    assert curv_sharp > 10 * curv_flat > 0
    assert "sharp" in s.about and "flat" in s.about


def test_saddles_are_saddles():
    saddle, monkey = surfaces.get("saddle"), surfaces.get("monkey_saddle")
    for s in (saddle, monkey):
        assert grad(s, torch.zeros(2, dtype=torch.float64)).abs().max() == 0
    assert torch.linalg.eigvalsh(hessian(saddle, 0, 0)).tolist() == pytest.approx([-2, 2])
    assert hessian(monkey, 0, 0).abs().max() == 0  # degenerate: no curvature at all at the saddle
    # unbounded below, with points above and below the saddle's value 0 all around it
    assert at(saddle, 0, 1e3) < -1e5 and at(saddle, 0.1, 0) > 0
    assert at(monkey, -1e3, 0) < -1e8 and at(monkey, 0.1, 0) > 0


def test_quartic_gradient_has_no_lipschitz_constant():
    # |f''| grows without bound: the curvature at x = 4 is 16 times the curvature at x = 1
    s = surfaces.get("quartic")
    assert hessian(s, 4.0, 0.0)[0, 0] == pytest.approx(16 * hessian(s, 1.0, 0.0)[0, 0])


def test_cliff_wall_throws_a_gradient_step_far():
    s = surfaces.get("cliff")
    height = dict(s.values)["height"]
    g = grad(s, torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert g.norm() > height  # ~ height / (4 * width) = 2.5 * height on the wall
    assert grad(s, torch.tensor(s.start, dtype=torch.float64)).norm() < 2  # gentle on the plateau
    step = 0.5 * g  # one gradient step with lr = 0.5 from the wall
    assert step.norm() > 10


def test_with_params_changes_the_function():
    ravine = surfaces.get("ravine")
    steep = ravine.with_params(condition=10)
    assert at(steep, 1, 1) == pytest.approx(0.5 * (1 + 10))
    assert at(ravine, 1, 1) == pytest.approx(0.5 * (1 + 50))  # the original is unchanged (frozen)
    turned = ravine.with_params(angle=90)
    assert at(turned, 1, 0) == pytest.approx(0.5 * 50)  # the steep axis is now x
    assert [p.name for p in ravine.params] == ["condition", "angle"]
    assert ravine.params[0] == Param("condition", 50.0, 1.0, 1000.0, log=True, help=ravine.params[0].help)


def test_with_params_moves_the_cliff_minimum():
    low, high = surfaces.get("cliff").with_params(height=1), surfaces.get("cliff").with_params(height=500)
    assert at(low, 2, 0) < at(high, 2, 0) - 400
    assert low.minima != high.minima and low.min_value < high.min_value


@pytest.mark.parametrize("name, kw", [
    ("ravine", {"condition": 0.5}), ("ravine", {"condition": 1e4}), ("ravine", {"angle": -1}),
    ("ravine", {"depth": 2}), ("cliff", {"height": 0.0}), ("cliff", {"height": 1e4}), ("rosenbrock", {"a": 1}),
])
def test_with_params_rejects_unknown_or_out_of_range(name, kw):
    with pytest.raises(ValueError):
        surfaces.get(name).with_params(**kw)
