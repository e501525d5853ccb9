"""Textbook test functions (Wikipedia, "Test functions for optimization"), in 2D.

Each fn(x, y) works elementwise on coordinate tensors of any (broadcastable) shape, so the
same line computes a plotting grid and autograd gradients. Minima and values are the standard
ones; where they have no closed form they are polished to float64 precision at import.
"""
from __future__ import annotations

import math

import torch

from .base import Surface
from .newton import polish, value

PI = math.pi


def rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def beale(x, y):
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def booth(x, y):
    return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2


def himmelblau(x, y):
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def rastrigin(x, y):
    return 20 + x**2 - 10 * torch.cos(2 * PI * x) + y**2 - 10 * torch.cos(2 * PI * y)


def ackley(x, y):
    # sqrt has an infinite derivative at 0, and 0 * inf = NaN in autograd. Clamping r^2 at 1e-30
    # gives gradient 0 (a valid subgradient) at the minimum and moves values by ~1e-15 at most.
    r = torch.sqrt((0.5 * (x**2 + y**2)).clamp_min(1e-30))
    return (-20 * torch.exp(-0.2 * r) - torch.exp(0.5 * (torch.cos(2 * PI * x) + torch.cos(2 * PI * y)))
            + math.e + 20)


def goldstein_price(x, y):
    a = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2)
    b = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)
    return a * b


def three_hump_camel(x, y):
    return 2 * x**2 - 1.05 * x**4 + x**6 / 6 + x * y + y**2


def six_hump_camel(x, y):
    return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2


def styblinski_tang(x, y):
    return 0.5 * (x**4 - 16 * x**2 + 5 * x + y**4 - 16 * y**2 + 5 * y)


def levi13(x, y):
    return (torch.sin(3 * PI * x) ** 2 + (x - 1) ** 2 * (1 + torch.sin(3 * PI * y) ** 2)
            + (y - 1) ** 2 * (1 + torch.sin(2 * PI * y) ** 2))


def matyas(x, y):
    return 0.26 * (x**2 + y**2) - 0.48 * x * y


def mccormick(x, y):
    return torch.sin(x + y) + (x - y) ** 2 - 1.5 * x + 2.5 * y + 1


# Minima without a closed form: polished from the published approximations.
HIMMELBLAU_MINIMA = [(3.0, 2.0)] + [polish(himmelblau, *g) for g in
                                    [(-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]]
SIX_HUMP_MINIMA = [polish(six_hump_camel, 0.0898, -0.7126), polish(six_hump_camel, -0.0898, 0.7126)]
STYBLINSKI_MIN = polish(styblinski_tang, -2.903534, -2.903534)
# McCormick: grad = 0 gives x - y = 1 and cos(x + y) = -1/2; the minimum in its domain has x + y = -2pi/3.
MCCORMICK_MIN = ((1 - 2 * PI / 3) / 2, (-1 - 2 * PI / 3) / 2)

CLASSIC = [
    Surface(
        name="rosenbrock", title="Rosenbrock", fn=rosenbrock,
        formula=r"(1 - x)^2 + 100\,(y - x^2)^2",
        bounds=((-2.0, 2.0), (-1.0, 3.0)), start=(-1.5, 2.0), minima=[(1.0, 1.0)], min_value=0.0,
        about="A long, curved, flat-bottomed valley: finding the valley is easy, following it to (1, 1) is "
              "hard, which rewards momentum and adaptive steps.",
    ),
    Surface(
        name="beale", title="Beale", fn=beale,
        formula=r"(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
        bounds=((-4.5, 4.5), (-4.5, 4.5)), start=(1.0, 1.5), minima=[(3.0, 0.5)], min_value=0.0,
        about="Flat plateaus next to very steep ridges in the corners: the gradient spans many orders of "
              "magnitude, so one learning rate is too small in one place and too large in another.",
    ),
    Surface(
        name="booth", title="Booth", fn=booth,
        formula=r"(x + 2y - 7)^2 + (2x + y - 5)^2",
        bounds=((-10.0, 10.0), (-10.0, 10.0)), start=(-8.0, -6.0), minima=[(1.0, 3.0)], min_value=0.0,
        about="A plain convex quadratic with a mildly tilted bowl: the baseline where every sensible optimizer "
              "should succeed.",
    ),
    Surface(
        name="himmelblau", title="Himmelblau", fn=himmelblau,
        formula=r"(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        bounds=((-5.0, 5.0), (-5.0, 5.0)), start=(-0.3, -0.9), minima=HIMMELBLAU_MINIMA, min_value=0.0,
        about="Four equally good minima around a local maximum near (-0.27, -0.92): from the same start, "
              "different optimizers and learning rates end in different basins.",
    ),
    Surface(
        name="rastrigin", title="Rastrigin", fn=rastrigin,
        formula=r"20 + x^2 - 10\cos(2\pi x) + y^2 - 10\cos(2\pi y)",
        bounds=((-5.12, 5.12), (-5.12, 5.12)), start=(3.3, -2.7), minima=[(0.0, 0.0)], min_value=0.0,
        about="A bowl covered in a regular grid of local minima: plain gradient descent stops in the nearest "
              "one, large steps, momentum or noise can hop towards the global minimum at the origin.",
    ),
    Surface(
        name="ackley", title="Ackley", fn=ackley,
        formula=(r"-20\exp\left(-0.2\sqrt{\tfrac{1}{2}(x^2 + y^2)}\right) "
                 r"- \exp\left(\tfrac{1}{2}(\cos 2\pi x + \cos 2\pi y)\right) + e + 20"),
        bounds=((-5.0, 5.0), (-5.0, 5.0)), start=(3.5, -2.5), minima=[(0.0, 0.0)], min_value=0.0,
        about="A nearly flat, bumpy plateau around a deep, narrow funnel at the origin: the gradient far out "
              "says little about where the minimum is.",
    ),
    Surface(
        name="goldstein_price", title="Goldstein-Price", fn=goldstein_price,
        formula=(r"\left[1 + (x + y + 1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)\right]"
                 r"\left[30 + (2x - 3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)\right]"),
        bounds=((-2.0, 2.0), (-2.0, 2.0)), start=(1.5, 1.5), minima=[(0.0, -1.0)], min_value=3.0,
        about="Values from 3 to about a million and several local minima: gradients are enormous at the edges, "
              "so unclipped fixed-step methods explode while adaptive ones cope.",
    ),
    Surface(
        name="three_hump_camel", title="Three-hump camel", fn=three_hump_camel,
        formula=r"2x^2 - 1.05x^4 + \tfrac{x^6}{6} + xy + y^2",
        bounds=((-2.0, 2.0), (-2.0, 2.0)), start=(-1.5, 1.5), minima=[(0.0, 0.0)], min_value=0.0,
        about="One global minimum between two local ones: a start in a side basin tests whether momentum "
              "carries an optimizer over the hump.",
    ),
    Surface(
        name="six_hump_camel", title="Six-hump camel", fn=six_hump_camel,
        formula=r"\left(4 - 2.1x^2 + \tfrac{x^4}{3}\right)x^2 + xy + (-4 + 4y^2)\,y^2",
        bounds=((-2.0, 2.0), (-1.2, 1.2)), start=(-1.5, -1.0), minima=SIX_HUMP_MINIMA,
        min_value=value(six_hump_camel, *SIX_HUMP_MINIMA[0]),
        about="Two symmetric global minima among four local ones, with saddles in between: which minimum an "
              "optimizer reaches depends on its path.",
    ),
    Surface(
        name="styblinski_tang", title="Styblinski-Tang", fn=styblinski_tang,
        formula=r"\tfrac{1}{2}\left(x^4 - 16x^2 + 5x + y^4 - 16y^2 + 5y\right)",
        bounds=((-5.0, 5.0), (-5.0, 5.0)), start=(3.5, 4.0), minima=[STYBLINSKI_MIN],
        min_value=value(styblinski_tang, *STYBLINSKI_MIN),
        about="Four basins of different depth, the deepest at about (-2.90, -2.90): starting in the shallower "
              "corner, gradient descent settles in a local minimum.",
    ),
    Surface(
        name="levi13", title="Lévi N.13", fn=levi13,
        formula=r"\sin^2(3\pi x) + (x - 1)^2(1 + \sin^2(3\pi y)) + (y - 1)^2(1 + \sin^2(2\pi y))",
        bounds=((-4.0, 6.0), (-4.0, 6.0)), start=(-3.0, 5.0), minima=[(1.0, 1.0)], min_value=0.0,
        about="A ridged, wavy bowl full of local minima aligned with the axes: small steps get stuck in the "
              "ripples, larger or noisy ones glide over them.",
    ),
    Surface(
        name="matyas", title="Matyas", fn=matyas,
        formula=r"0.26\,(x^2 + y^2) - 0.48\,xy",
        bounds=((-10.0, 10.0), (-10.0, 10.0)), start=(8.0, -3.0), minima=[(0.0, 0.0)], min_value=0.0,
        about="A convex quadratic with a flat valley along x = y (condition number 25): gradient descent zooms "
              "into the valley, then crawls along it.",
    ),
    Surface(
        name="mccormick", title="McCormick", fn=mccormick,
        formula=r"\sin(x + y) + (x - y)^2 - 1.5x + 2.5y + 1",
        bounds=((-1.5, 4.0), (-3.0, 4.0)), start=(3.0, 3.5), minima=[MCCORMICK_MIN],
        min_value=value(mccormick, *MCCORMICK_MIN),
        about="A smooth, gently tilted valley; its standard domain is the box shown, beyond it the function "
              "keeps descending along the valley, so an optimizer that overshoots may wander off.",
    ),
]
