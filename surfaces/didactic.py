"""Surfaces built to show one optimizer phenomenon each: no Lipschitz gradient, saddles,
ill-conditioning, exploding gradients at a cliff, sharp versus flat minima."""
from __future__ import annotations

import math

import torch

from .base import Param, Surface
from .newton import polish, value


def quartic(x, y):
    return x**4 + y**4


def saddle(x, y):
    return x**2 - y**2


def monkey_saddle(x, y):
    return x**3 - 3 * x * y**2


def ravine(x, y, condition=50.0, angle=0.0):
    # A quadratic with Hessian eigenvalues 1 and `condition`, its axes turned by `angle` degrees.
    # Turned axes take away the edge that per-coordinate methods (Adam, RMSprop) have on a ravine
    # aligned with the coordinates.
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    u, v = c * x + s * y, -s * x + c * y
    return 0.5 * (u**2 + condition * v**2)


CLIFF_AT, CLIFF_WIDTH = 1.0, 0.1  # the wall rises around x = 1 over about 0.1


def cliff(x, y, height=20.0):
    # A gentle bowl with its minimum near (-1, 0), and a smooth step of `height` across x = 1.
    # On the wall the gradient is about height / (4 * width): a step that lands there is thrown far.
    return 0.125 * (x + 1) ** 2 + 0.5 * y**2 + height * torch.sigmoid((x - CLIFF_AT) / CLIFF_WIDTH)


def cliff_solve(height=20.0):
    # The wall's tail shifts the minimum from (-1, 0) by ~1e-6 * height / 20; Newton finds it exactly.
    m = polish(cliff, -1.0, 0.0, height=height)
    return [m], value(cliff, *m, height=height)


SHARP_CENTER, SHARP_WIDTH = (-1.2, 0.8), 0.15
FLAT_CENTER, FLAT_WIDTH = (1.2, -0.6), 1.0


def _sharp_flat(x, y, sharp_depth):
    def bump(c, w):
        return torch.exp(-((x - c[0]) ** 2 + (y - c[1]) ** 2) / (2 * w**2))

    return -sharp_depth * bump(SHARP_CENTER, SHARP_WIDTH) - bump(FLAT_CENTER, FLAT_WIDTH) + 0.05 * (x**2 + y**2)


def _tune_sharp_depth() -> tuple[float, tuple[float, float], tuple[float, float]]:
    """The sharp bump's depth that makes both minima exactly equally low (secant method)."""

    def gap(a):  # f(sharp minimum) - f(flat minimum) at sharp depth a
        sharp = polish(_sharp_flat, *SHARP_CENTER, sharp_depth=a)
        flat = polish(_sharp_flat, *FLAT_CENTER, sharp_depth=a)
        return value(_sharp_flat, *sharp, sharp_depth=a) - value(_sharp_flat, *flat, sharp_depth=a), sharp, flat

    a0, a1 = 1.0, 0.95
    g0, g1 = gap(a0)[0], gap(a1)[0]
    for _ in range(30):
        a0, a1 = a1, a1 - g1 * (a1 - a0) / (g1 - g0)
        g0, (g1, sharp, flat) = g1, gap(a1)
        if abs(g1) < 1e-15:
            break
    return a1, sharp, flat


SHARP_DEPTH, SHARP_MIN, FLAT_MIN = _tune_sharp_depth()


def sharp_flat(x, y):
    return _sharp_flat(x, y, SHARP_DEPTH)


CLIFF_MINIMA, CLIFF_MIN_VALUE = cliff_solve()


def reddi(x, y, t=None, C=3.0):
    # Reddi, Kale, Kumar 2018, Theorem 1: f_t(x) = C x when t mod 3 == 1, else -x, on [-1, 1]. A 1-D
    # problem: y is unused (its gradient is 0, so every method leaves y where it starts) and the map
    # draws (t=None) the average loss over one period, (C - 2) x / 3, whose minimum on the box is x = -1.
    if t is None:
        return (C - 2) / 3 * x + 0 * y
    return (C * x if int(t) % 3 == 1 else -x) + 0 * y


def reddi_solve(C=3.0):
    # the best fixed point of the average loss on the box, and its value there (C > 2: x = -1)
    return [(-1.0, 0.0)], -(C - 2) / 3

DIDACTIC = [
    Surface(
        name="quartic", title="Quartic", fn=quartic, formula=r"x^4 + y^4",
        bounds=((-2.0, 2.0), (-2.0, 2.0)), start=(1.8, 1.2), minima=[(0.0, 0.0)], min_value=0.0,
        about="Smooth, but its gradient grows like |x|^3, so no single learning rate is safe everywhere: it is "
              "(L0, L1)-smooth, not L-smooth (Zhang et al. 2020, \"Why gradient clipping accelerates training\"). "
              "From a far start a fixed step diverges where a clipped one converges.",
    ),
    Surface(
        name="saddle", title="Saddle", fn=saddle, formula=r"x^2 - y^2",
        bounds=((-2.0, 2.0), (-2.0, 2.0)), start=(-1.8, 0.001), minima=[], min_value=None,
        about="A saddle point at the origin, unbounded below along y: from a start almost on the x-axis, plain "
              "gradient descent lingers near the saddle while momentum and noise escape it quickly.",
    ),
    Surface(
        name="monkey_saddle", title="Monkey saddle", fn=monkey_saddle, formula=r"x^3 - 3xy^2",
        bounds=((-2.0, 2.0), (-2.0, 2.0)), start=(1.5, 0.1), minima=[], min_value=None,
        about="A degenerate saddle with three valleys: the gradient and the curvature both vanish at the "
              "origin, so second-order information does not help there; unbounded below.",
    ),
    Surface(
        name="ravine", title="Ravine", fn=ravine,
        formula=r"\tfrac{1}{2}\left(u^2 + \kappa\, v^2\right),\ (u, v) = \text{(x, y) turned by } \theta",
        bounds=((-3.0, 3.0), (-3.0, 3.0)), start=(-2.5, 1.0), minima=[(0.0, 0.0)], min_value=0.0,
        params=(
            Param("condition", 50.0, 1.0, 1000.0, log=True, help="condition number: ratio of the two curvatures"),
            Param("angle", 0.0, 0.0, 90.0, help="rotation of the ravine's axes, in degrees"),
        ),
        values=(("angle", 0.0), ("condition", 50.0)),
        about="An ill-conditioned quadratic: a learning rate small enough for the steep direction crawls along "
              "the flat one, so gradient descent zig-zags; momentum and preconditioning help. Turn it by an "
              "angle to take away the axis-aligned advantage of Adam.",
    ),
    Surface(
        name="cliff", title="Cliff", fn=cliff,
        formula=r"\tfrac{1}{8}(x + 1)^2 + \tfrac{1}{2}y^2 + h\,\sigma\!\left(\frac{x - 1}{0.1}\right)",
        bounds=((-4.0, 4.0), (-3.0, 3.0)), start=(3.0, 1.0), minima=CLIFF_MINIMA, min_value=CLIFF_MIN_VALUE,
        params=(Param("height", 20.0, 1.0, 500.0, log=True, help="height h of the wall"),),
        values=(("height", 20.0),),
        solve=cliff_solve,
        about="A plateau that ends in a steep wall, like the cliffs that make RNN gradients explode (Pascanu et "
              "al. 2013): a step landing on the wall gets a huge gradient and is thrown far away; clipping the "
              "gradient norm tames it.",
    ),
    Surface(
        name="sharp_flat", title="Sharp and flat minima", fn=sharp_flat,
        formula=(r"-a\,e^{-\|p - c_1\|^2 / (2 \cdot 0.15^2)} - e^{-\|p - c_2\|^2 / 2} + 0.05\,\|p\|^2,\ "
                 r"c_1 = (-1.2, 0.8),\ c_2 = (1.2, -0.6)"),
        bounds=((-3.0, 3.0), (-3.0, 3.0)), start=(-2.0, 1.6), minima=[SHARP_MIN, FLAT_MIN],
        min_value=value(sharp_flat, *SHARP_MIN),
        about="Two equally deep minima: the first listed, near (-1.2, 0.8), is sharp and narrow; the second, "
              "near (1.2, -0.6), is wide and flat. Large steps, noise and sharpness-aware methods leave the sharp "
              "one, small steps settle in it.",
    ),
    Surface(
        name="reddi", title="Adam's counterexample (Reddi et al.)", fn=reddi, online=True,
        formula=r"f_t(x) = C x \text{ if } t \bmod 3 = 1,\ -x \text{ else},\ x \in [-1, 1]",
        bounds=((-1.25, 1.25), (-1.25, 1.25)), box=((-1.0, 1.0), (-1.0, 1.0)), start=(0.0, 0.0),
        minima=[(-1.0, 0.0)], min_value=-1 / 3,
        params=(Param("C", 3.0, 2.5, 10.0, help="slope of every third loss (Theorem 1 needs C > 2)"),),
        values=(("C", 3.0),), solve=reddi_solve,
        about="An online problem (Reddi, Kale, Kumar 2018, Theorem 1): the loss changes every step, f_t(x) = Cx "
              "on every third step and -x on the others, on the feasible box [-1, 1] (the rectangle; a step "
              "out of it is projected back). It is one-dimensional: y is unused and stays where it starts. The "
              "map shows the average loss over a period, (C - 2)x/3, best at x = -1; the loss curve shows the "
              "loss of each step.",
    ),
]
