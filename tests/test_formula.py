"""The safe formula parser: values against numpy, gradients against torch, a hostile corpus, fuzzing."""
import ast
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import surfaces
from surfaces import FormulaError, Surface, grammar

ROOT = Path(__file__).resolve().parent.parent
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Points (n, 2) avoiding 0 and the line x = -1 so every table formula is defined at every point.
XS, YS = np.meshgrid(np.linspace(-2.3, 2.7, 7), np.linspace(-1.7, 2.9, 6))
POINTS = np.stack([XS.ravel(), YS.ravel()], axis=-1)


def evaluate(s: Surface, xy: np.ndarray = POINTS) -> np.ndarray:
    return s(torch.tensor(xy, dtype=torch.float64)).numpy()


TABLE = [
    ("x**2 + y**2", lambda x, y: x**2 + y**2),
    ("x^2 + y^2", lambda x, y: x**2 + y**2),
    ("-x**2", lambda x, y: -(x**2)),  # unary minus binds looser than **
    ("-x^2 + 3*y", lambda x, y: -(x**2) + 3 * y),
    ("(-x)**2", lambda x, y: x**2),
    ("2**3**2 + 0*x", lambda x, y: 512.0 + 0 * x),  # ** is right-associative: 2**(3**2)
    ("2^3^2", lambda x, y: 512.0 + 0 * x),
    ("-2**2", lambda x, y: -4.0 + 0 * x),
    ("(-2)**2", lambda x, y: 4.0 + 0 * x),
    ("2**-x", lambda x, y: 2.0 ** (-x)),
    ("x**-1", lambda x, y: 1 / x),
    ("x - y - 1", lambda x, y: (x - y) - 1),
    ("x - (y - 1)", lambda x, y: x - y + 1),
    ("x / y / 2", lambda x, y: (x / y) / 2),
    ("x / (y * 2)", lambda x, y: x / (2 * y)),
    ("1 + 2 * x ** 2 / 4 - y", lambda x, y: 1 + (2 * x**2) / 4 - y),
    ("+x - -y", lambda x, y: x + y),
    ("--x", lambda x, y: x),
    ("(x + 1) * (y - 2)", lambda x, y: (x + 1) * (y - 2)),
    ("x*y/(1 + x**2)", lambda x, y: x * y / (1 + x**2)),
    ("sin(x) * cos(y) + tan(x / 4)", lambda x, y: np.sin(x) * np.cos(y) + np.tan(x / 4)),
    ("exp(-(x**2 + y**2))", lambda x, y: np.exp(-(x**2 + y**2))),
    ("log(1 + x**2) + sqrt(abs(x * y))", lambda x, y: np.log(1 + x**2) + np.sqrt(np.abs(x * y))),
    ("tanh(x) + sinh(y) - cosh(x / 2)", lambda x, y: np.tanh(x) + np.sinh(y) - np.cosh(x / 2)),
    ("pi * e * x", lambda x, y: math.pi * math.e * x),
    ("1e-3 * x + 2.5e2 * y + .5", lambda x, y: 1e-3 * x + 250 * y + 0.5),
    ("abs(y) ^ 3 ^ 0.5", lambda x, y: np.abs(y) ** (3**0.5)),
    ("x ** y", lambda x, y: np.power(x, y)),  # NaN for negative x and fractional y, in both
    ("3", lambda x, y: 3.0 + 0 * x),
    ("x", lambda x, y: x),
    ("y", lambda x, y: y),
    ("  (x)  ", lambda x, y: x),
    ("sin(pi/2) * y", lambda x, y: y),
    ("(1 - x)^2 + 100*(y - x^2)^2", lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2),
]


@pytest.mark.parametrize("text, ref", TABLE, ids=[t for t, _ in TABLE])
def test_values_match_numpy(text, ref):
    with np.errstate(invalid="ignore"):
        expected = ref(POINTS[:, 0], POINTS[:, 1])
    np.testing.assert_allclose(evaluate(surfaces.parse(text)), expected, rtol=1e-12, atol=1e-12)


def test_the_surface_looks_like_a_catalog_surface():
    s = surfaces.parse("x**4 + y**2")
    assert isinstance(s, Surface)
    assert (s.name, s.title, s.minima, s.min_value) == ("custom", "Custom formula", [], None)
    assert s.bounds == ((-3.0, 3.0), (-3.0, 3.0))
    (x0, x1), (y0, y1) = s.bounds
    assert x0 <= s.start[0] <= x1 and y0 <= s.start[1] <= y1
    assert s.formula == "x^{4} + y^{2}"
    t = surfaces.parse("x", bounds=((0, 10), (-1, 1)), start=(5, 0.5))
    assert t.bounds == ((0.0, 10.0), (-1.0, 1.0)) and t.start == (5.0, 0.5)
    assert 0 <= surfaces.parse("x", bounds=((0, 6), (0, 6))).start[0] <= 6


@pytest.mark.parametrize("bounds", [((1, 0), (0, 1)), ((0, 1), (0, math.inf)), ((0, 1),), "abc"])
def test_bad_bounds_raise_value_error(bounds):
    with pytest.raises(ValueError):
        surfaces.parse("x", bounds=bounds)


@pytest.mark.parametrize("text, latex", [
    ("-x**2", "-x^{2}"),
    ("(-x)**2", r"\left(-x\right)^{2}"),
    ("(x + y) / 2", r"\frac{x + y}{2}"),
    ("(x*y)**2", r"\left(x \cdot y\right)^{2}"),
    ("x**y**2", "x^{y^{2}}"),
    ("(x**y)**2", r"\left(x^{y}\right)^{2}"),
    ("x - (y - 1)", r"x - \left(y - 1\right)"),
    ("(x - y) - 1", "x - y - 1"),
    ("x * (-y)", r"x \cdot \left(-y\right)"),
    ("sqrt(abs(x)) + sin(pi*x)", r"\sqrt{\left|x\right|} + \sin\left(\pi \cdot x\right)"),
    ("2.5e-7 * x", r"2.5 \cdot 10^{-7} \cdot x"),
])
def test_latex(text, latex):
    assert surfaces.parse(text).formula == latex


@pytest.mark.parametrize("text, torch_fn", [
    ("sin(x) * y**2 + exp(x * y / 3)", lambda x, y: torch.sin(x) * y**2 + torch.exp(x * y / 3)),
    ("(1 - x)^2 + 100*(y - x^2)^2", lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2),
    ("sqrt(x**2 + y**2 + 1) / cosh(y)", lambda x, y: torch.sqrt(x**2 + y**2 + 1) / torch.cosh(y)),
    ("-log(1 + abs(x)) * tanh(y) + 2**x", lambda x, y: -torch.log(1 + x.abs()) * torch.tanh(y) + 2**x),
    ("x", lambda x, y: x),
])
def test_gradients_match_torch(text, torch_fn):
    xy = torch.tensor(POINTS, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(surfaces.parse(text)(xy).sum(), xy)
    xy_ref = xy.detach().clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(torch_fn(xy_ref[:, 0], xy_ref[:, 1]).sum(), xy_ref)
    torch.testing.assert_close(g, g_ref, rtol=1e-12, atol=1e-12)


def test_constant_and_one_variable_formulas_broadcast_and_differentiate():
    xy = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    for text, value in [("3", 3.0), ("2 * pi", 2 * math.pi), ("-e", -math.e)]:
        out = surfaces.parse(text)(xy)
        assert out.shape == (3, 4)
        assert torch.all(out == value)
        (g,) = torch.autograd.grad(out.sum(), xy)
        assert torch.all(g == 0)
    x, y = torch.randn(4, 1), torch.randn(1, 5)  # a plotting grid from broadcast coordinates
    for text in ["x", "y", "1", "x * y"]:
        assert surfaces.parse(text).fn(x, y).shape == (4, 5)
    assert surfaces.parse("x + y")(torch.randn(7, 2, dtype=torch.float32)).dtype == torch.float32


HOSTILE = [
    "__import__('os').system('ls')", "x.__class__", "().__class__.__bases__", "[x for x in y]", "lambda: 1",
    "'abc'", '"x"', "open('f')", "x if y else 1", "x; y", "x = 1", "9**9**9**9", "(" * 10000, "x+" * 100000,
    "y[0]", "x @ y", "x // y", "x % y", "x | y", "x & y", "x << 2", "~x", "sin", "sin(x, y)", "sin(x=1)", "sin()",
    "sin(*x)", "f'{x}'", "b'x'", "{x}", "{1:2}", "[x]", "(x, y)", "exp(exp(exp(1000)))", "1e999", "x and y",
    "not x", "x < y", "x == y", "*x", "await x", "yield x", "...", "z", "xy", "X", "Pi", "True", "None", "1j",
    "", "   ", "x +", "(x", "x)", "2x", "x ** 1e6", "10 ** 400", "(-8) ** (1/3)", "1/0", "log(0)", "sqrt(-1)",
    "exp(1000)", "cosh(1e4) * x", "1" * 400, "-" * 450 + "x", "(" * 60 + "x" + ")" * 60, "sin(" * 45 + "x" + ")" * 45,
    "x := 1", "import os", "exec('1')", "eval('x')", "globals()", "x.real", "print(x)", "math.sin(x)",
    "torch.sin(x)", "x\x00", "x\ny", "x # comment\n+ os", "sin(x)(y)", "(x)(y)", "x[y]", "x ^ ^ y", "\\x",
    "__builtins__", "getattr(x, 'a')", "e.__class__",
]


@pytest.mark.parametrize("text", HOSTILE, ids=[repr(t[:30]) for t in HOSTILE])
def test_hostile_input_raises_formula_error_fast(text):
    t0 = time.perf_counter()
    with pytest.raises(FormulaError) as info:
        surfaces.parse(text)
    assert time.perf_counter() - t0 < 1.0
    assert isinstance(info.value, ValueError) and len(str(info.value)) > 10


def test_hostile_corpus_is_large():
    assert len(set(HOSTILE)) >= 40


@pytest.mark.parametrize("text, words", [
    ("z + 1", ["'z'", "x, y, pi, e"]),
    ("open('f')", ["'open'", "sin, cos"]),
    ("x.real", ["attribute"]),
    ("x" * 501, ["too long", "500"]),
    ("(" * 60 + "x" + ")" * 60, ["nesting is too deep"]),
    ("9**9**9", ["too large"]),
    ("x +* 2", ["syntax error at column"]),
    ("x % 2", ["'%'"]),
    ("2x", ["2*x"]),
    ("", ["empty"]),
])
def test_error_messages_say_what_was_wrong(text, words):
    with pytest.raises(FormulaError) as info:
        surfaces.parse(text)
    assert all(w in str(info.value) for w in words), str(info.value)


def syntax_column(text: str) -> int:
    with pytest.raises(FormulaError) as info:
        surfaces.parse(text)
    found = re.match(r"syntax error at column (\d+)", str(info.value))
    assert found, str(info.value)
    return int(found.group(1))


# (text, 1-based column of the problem in the text as typed): one past the last character where
# something is missing at the end; the bracket itself where one is unbalanced; the stray token mid-text.
COLUMNS = [
    ("x**4 + y*", 10),
    ("x**4 + y*   ", 10),  # trailing spaces do not move "the end"
    ("x**", 4),
    ("x^", 3),  # ^ counts as one character although Python reads **
    ("x + + ", 6),
    ("(x + y", 1),
    ("x + (y", 5),
    ("sin(x + cos(y)", 4),
    ("x + y)", 6),
    ("x) + (y", 2),
    ("x + * y", 5),
    ("x +* 2", 4),
    ("x ^ * y", 5),
    ("x^^y", 3),
    ("x y", 3),
    ("x = 1", 3),
    ("x $ y", 3),
    ("  x + * y", 7),  # leading spaces count: the column is in the text as typed
    ("  x+", 5),
    ("2x + y", 2),  # the letter after the number, where the * is missing
    ("x + 2x", 6),
    ("(x +\n y*)", 9),  # counted through a line break
    ("0*^", 3),  # Python points inside the ** that ^ became: the ^ (a fuzzed case that crashed)
]


@pytest.mark.parametrize("text, col", COLUMNS, ids=[repr(t) for t, _ in COLUMNS])
def test_syntax_errors_point_at_the_problem(text, col):
    assert syntax_column(text) == col


def test_syntax_error_messages_name_the_problem():
    with pytest.raises(FormulaError, match=r"column 10 \(the end\): the formula is incomplete"):
        surfaces.parse("x**4 + y*")
    with pytest.raises(FormulaError, match=r"column 5: unexpected '\*'"):
        surfaces.parse("x + * y")
    with pytest.raises(FormulaError, match=r"column 3: unexpected '\^'"):
        surfaces.parse("x^^y")
    with pytest.raises(FormulaError, match=r"column 1: '\(' was never closed"):
        surfaces.parse("(x + y")


def test_formula_error_is_a_value_error():
    assert issubclass(FormulaError, ValueError)


def test_the_parser_never_runs_text_as_code():
    """No eval/exec/compile/__import__ anywhere in surfaces/: the text only ever reaches ast.parse."""
    for path in (ROOT / "surfaces").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"eval", "exec", "compile", "__import__"}, path


def parse_or_formula_error(text: str) -> None:
    """The fuzz contract: a Surface that evaluates to the right shape, or FormulaError; nothing else."""
    try:
        s = surfaces.parse(text)
    except FormulaError:
        return
    xy = torch.linspace(-3, 3, 10, dtype=torch.float64).reshape(5, 2)
    assert s(xy).shape == (5,)
    assert s(xy.reshape(5, 1, 2)).shape == (5, 1)


@pytest.mark.slow  # ~0.4 s: fuzzing
@FUZZ
@given(st.text(max_size=80))
def test_random_text(text):
    parse_or_formula_error(text)


@pytest.mark.slow  # ~0.8 s: fuzzing
@FUZZ
@given(st.text(alphabet="xy0123456789.eE+-*/^()pisnco ,", max_size=40))
def test_random_text_from_formula_characters(text):
    parse_or_formula_error(text)


TOKENS = ["x", "y", "1", "2.5", "1e-3", "1e308", "9", "pi", "e", "+", "-", "*", "/", "**", "^", "(", ")",
          "sin", "cos", "exp", "log", "sqrt", "abs", "tanh", "(", ")", ",", " ",
          "__import__", ".", "[", "]", "'", "lambda", ":", "if", "else", "=", ";", "@", "%", "//", "{", "}",
          "\\", "\n", "#", "os", "__class__", "and", "not", "<", "1j", "...", "*", "**"]


@pytest.mark.slow  # ~0.5 s: fuzzing
@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=30), st.sampled_from(["", " "]))
def test_random_token_sequences(tokens, sep):
    parse_or_formula_error(sep.join(tokens))


# Valid expression trees: (text, reference) where reference(x, y) -> (value, scale) in numpy.
# `scale` is the largest magnitude met on the way: rounding differences between numpy's and
# torch's sin/exp/pow are relative to it, so the comparison tolerance is too.
def leaf(text, f):
    return text, lambda x, y: (f(x, y), np.abs(f(x, y)))


LEAVES = st.sampled_from([
    leaf("x", lambda x, y: x), leaf("y", lambda x, y: y), leaf("pi", lambda x, y: np.full_like(x, math.pi)),
    leaf("e", lambda x, y: np.full_like(x, math.e)),
    *[leaf(n, lambda x, y, v=float(n): np.full_like(x, v)) for n in ["0.5", "1", "2", "3", "2.5", "1e-1", ".25"]],
])


def combine(template, f, *parts):
    """Combine sub-trees: text via `template`, value via f(values...), scale as the max so far."""
    text = template.format(*(p[0] for p in parts))

    def ref(x, y):
        evaluated = [p[1](x, y) for p in parts]
        value = f(*(v for v, _ in evaluated))
        scale = np.maximum.reduce([np.abs(value), *(s for _, s in evaluated)])
        return value, scale

    return text, ref


def branches(children):
    binary = st.sampled_from([
        ("({}) + ({})", np.add), ("({}) - ({})", np.subtract), ("({})*({})", np.multiply),
        ("({}) / (1.5 + ({})**2)", lambda a, b: a / (1.5 + b**2)),
    ])
    unary = st.sampled_from([
        ("-({})", np.negative), ("+({})", lambda a: a), ("({})**2", np.square), ("({}) ^ 3", lambda a: a**3),
        ("abs({}) ** 0.5", lambda a: np.abs(a) ** 0.5), ("sin({})", np.sin), ("cos({})", np.cos),
        ("tanh({})", np.tanh), ("exp(tanh({}))", lambda a: np.exp(np.tanh(a))),
        ("log(1 + abs({}))", lambda a: np.log(1 + np.abs(a))), ("sqrt(abs({}))", lambda a: np.sqrt(np.abs(a))),
        ("tan(tanh({}))", lambda a: np.tan(np.tanh(a))), ("sinh(sin({}))", lambda a: np.sinh(np.sin(a))),
        ("cosh(cos({}))", lambda a: np.cosh(np.cos(a))), ("abs({})", np.abs),
        ("2 ** sin({})", lambda a: 2 ** np.sin(a)),
    ])
    return st.one_of(
        st.tuples(binary, children, children).map(lambda t: combine(t[0][0], t[0][1], t[1], t[2])),
        st.tuples(unary, children).map(lambda t: combine(t[0][0], t[0][1], t[1])),
    )


TREES = st.recursive(LEAVES, branches, max_leaves=10)


@pytest.mark.slow  # ~0.6 s: fuzzing
@FUZZ
@given(TREES)
def test_valid_trees_match_an_independent_numpy_evaluation(tree):
    text, ref = tree
    s = surfaces.parse(text)
    out = evaluate(s)
    with np.errstate(all="ignore"):
        value, scale = ref(POINTS[:, 0], POINTS[:, 1])
    finite = np.isfinite(value) & np.isfinite(scale)
    err = np.abs(out[finite] - value[finite])
    assert np.all(err <= 1e-9 * (1 + scale[finite])), (text, err.max())


# ---------------------------------------------------------------- t, the step: a time-varying formula


def test_t_is_the_step_one_based_and_bounded():
    s = surfaces.parse("t * x + y^2")
    assert s.online and not surfaces.parse("x + y").online
    p = torch.tensor([0.5, 2.0], dtype=torch.float64)
    assert float(s(p, t=3)) == 3 * 0.5 + 4.0
    assert float(s(p)) == 1 * 0.5 + 4.0  # the map draws t = 1, the first step
    assert s.formula == r"t \cdot x + y^{2}"
    for bad in (0, -1, 2.5, grammar.MAX_T + 1, True, "3", float("nan"), float("inf")):
        with pytest.raises(ValueError, match="whole number from 1"):
            s(p, t=bad)
    assert float(s(p, t=grammar.MAX_T)) == grammar.MAX_T * 0.5 + 4.0


def test_the_engine_meets_f_t_at_update_t():
    """f_t = t x + y^2: SGD's x after k updates is x0 - lr (1 + 2 + ... + k), and the loss recorded at the
    k-th point is that of the step starting there, f_{k+1}."""
    import trajectories
    from trajectories.limits import MAX_SIMULATE_STEPS

    assert MAX_SIMULATE_STEPS + 1 <= grammar.MAX_T  # the engine's last loss is f_{steps + 1}
    r = trajectories.race(surfaces.parse("t * x + y^2"), [trajectories.Run("sgd", {"lr": 0.001})], (1.0, 0.5), 10)
    k = np.arange(11)
    np.testing.assert_allclose(r.xy[:, 0, 0], 1.0 - 0.001 * k * (k + 1) / 2, rtol=1e-14)
    np.testing.assert_allclose(r.loss[:, 0], (k + 1) * r.xy[:, 0, 0] + r.xy[:, 0, 1] ** 2, rtol=1e-14)
    np.testing.assert_allclose(r.grad[:, 0, 0], k[:-1] + 1.0, rtol=0)  # the gradient update t used: t


@pytest.mark.parametrize("text", ["t" * 400, "exp(exp(t))", "t ** t ** t", "(t" * 30 + ")" * 30, "t()", "t.real",
                                  "t[0]", "tt", "__t__", "t = 1"])
def test_hostile_formulas_in_t_fail_cleanly_or_stay_bounded(text):
    try:
        s = surfaces.parse(text)
    except FormulaError:
        return
    import trajectories

    r = trajectories.race(s, [trajectories.Run("sgd", {"lr": 0.01})], (0.5, 0.5), 30)  # non-finite: diverged, no crash
    assert np.isfinite(r.xy).all()
