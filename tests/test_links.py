"""The explorer's link: spec -> query -> spec is exact, and no link, however broken, breaks the page."""
import ast
import dataclasses
import math
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optimizers
import surfaces
from optimizers.run import hparam_value, schedule_value
from optimizers.run_text import format_value as fmt
from optimizers.run_text import parse_float
from optimizers.schedules import schedule_spec
from ui import (
    CUSTOM,
    MAX_RUNS,
    MAX_STEPS,
    PRESETS,
    ExplorerSpec,
    RunConfig,
    default_run,
    from_query,
    from_query_string,
    query_string,
    to_query,
)

ROOT = Path(__file__).resolve().parent.parent
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPECS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FORMULAS = ["x**2 + y**2", "x**4 + y**4 - x*y", "sin(x) * cos(y) + 0.1*(x**2 + y**2)",
            "(1 - x)**2 + 100*(y - x**2)**2", "abs(x) + 2*abs(y)"]


def check_valid(spec: ExplorerSpec) -> None:
    """What the page relies on: a spec whose runs resolve and whose numbers are in range."""
    assert isinstance(spec, ExplorerSpec)
    assert 1 <= len(spec.runs) <= MAX_RUNS
    for r in spec.runs:
        optimizers.resolve(r.optimizer, **dict(r.hparams))
        assert r.clip in optimizers.clip_kinds() and r.clip_threshold > 0
        optimizers.schedule(r.schedule, 0.1, spec.steps, **dict(r.schedule_kw))
    assert 1 <= spec.steps <= MAX_STEPS and math.isfinite(spec.noise)
    assert spec.start is None or all(math.isfinite(v) for v in spec.start)
    if spec.surface != CUSTOM:
        spec.surface_obj()  # a catalog surface always builds; a custom formula may not (kept for the person)


# ---------------------------------------------------------------- strategies


def number_in(draw, low, high, kind, log=False):
    if kind == "int":
        return draw(st.integers(int(math.ceil(low)), int(min(high, 10**6))))
    if log and low > 0:
        return 10 ** draw(st.floats(math.log10(low), math.log10(high)))
    return draw(st.floats(low, high, allow_nan=False))


@st.composite
def hparam_values(draw, optimizer):
    out = []
    for hp in optimizers.spec(optimizer).hparams:
        if not draw(st.booleans()):
            continue  # left out: the default
        for _ in range(20):
            if hp.kind == "bool":
                v = draw(st.booleans())
            elif hp.kind == "pair":
                v = (number_in(draw, hp.low, hp.high, "float"), number_in(draw, hp.low, hp.high, "float"))
            else:
                v = number_in(draw, hp.low, hp.high, hp.kind, hp.log)
            try:
                hparam_value(optimizer, hp.name, v)
            except ValueError:  # a slider end outside the valid domain (an open bound)
                continue
            out.append((hp.name, v))
            break
    return tuple(out)


@st.composite
def schedule_values(draw, name):
    out = []
    for p in schedule_spec(name).params:
        if not draw(st.booleans()):
            continue
        for _ in range(20):
            if (p.default is None or p.optional) and draw(st.booleans()):
                v = None
            elif p.kind == "bool":
                v = draw(st.booleans())
            elif p.kind == "choice":
                v = draw(st.sampled_from(p.options))
            else:
                v = number_in(draw, p.low, p.high, p.kind, p.log)
            try:
                schedule_value(name, p.name, v)
            except ValueError:
                continue
            out.append((p.name, v))
            break
    return tuple(out)


@st.composite
def run_specs(draw):
    optimizer = draw(st.sampled_from(optimizers.names()))
    schedule = draw(st.sampled_from(optimizers.schedule_names()))
    return RunConfig(
        optimizer, draw(hparam_values(optimizer)), draw(st.sampled_from(optimizers.clip_kinds())),
        draw(st.floats(1e-3, 100.0)), schedule, draw(schedule_values(schedule)),
    )


# text a browser can carry: no lone surrogates
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@st.composite
def explorer_specs(draw):
    surface = draw(st.sampled_from([*surfaces.names(), CUSTOM]))
    if surface == CUSTOM:
        formula, params = draw(st.sampled_from(FORMULAS)), ()
        s = surfaces.parse(formula)
    else:
        formula = draw(st.one_of(st.just(""), TEXT))  # a formula kept while another surface shows
        s = surfaces.get(surface)
        params = tuple((p.name, number_in(draw, p.low, p.high, "float", p.log)) for p in s.params
                       if draw(st.booleans()))
    (x0, x1), (y0, y1) = s.bounds
    start = draw(st.one_of(st.none(), st.tuples(st.floats(x0, x1), st.floats(y0, y1))))
    return ExplorerSpec(
        surface=surface, surface_params=params, formula=formula, start=start,
        runs=tuple(draw(st.lists(run_specs(), min_size=1, max_size=MAX_RUNS))),
        steps=draw(st.integers(1, MAX_STEPS)), noise=draw(st.floats(0.0, 100.0)),
        seed=draw(st.integers(0, 2**31 - 1)), view3d=draw(st.booleans()), arrows=draw(st.booleans()),
    )


# ---------------------------------------------------------------- round trips


def test_default_spec_round_trips_without_warnings():
    spec = ExplorerSpec()
    assert from_query(to_query(spec)) == (spec, [])
    assert from_query_string(query_string(spec)) == (spec, [])
    assert from_query({}) == (spec, [])  # a fresh visit: no link, no warnings


@pytest.mark.parametrize("p", PRESETS, ids=lambda p: p.name)
def test_presets_round_trip(p):
    assert from_query_string(p.link()) == (p.view(), [])  # the view, marked with the preset it came from
    assert p.shows(p.view()) and not p.shows(dataclasses.replace(p.view(), steps=p.spec.steps + 1))


@pytest.mark.slow  # ~2.5 s: 150 examples
@SPECS
@given(explorer_specs())
def test_any_spec_round_trips_exactly(spec):
    assert from_query(to_query(spec)) == (spec, [])
    assert from_query_string(query_string(spec)) == (spec, [])
    assert from_query_string("?" + urlencode(to_query(spec))) == (spec, [])  # fully escaped, as a browser may


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_read_back_as_the_same_float(x):
    assert parse_float(fmt(x)) == x


def test_every_field_is_written_even_at_its_default():
    q = to_query(ExplorerSpec())
    assert {"v", "s", "x0", "n", "noise", "seed", "3d", "arrows"} <= set(q)
    assert q["r2"] == "adam~lr:0.05~betas:0.9,0.999~eps:1e-8~weight_decay:0"
    assert q["c0"] == "none,1" and q["sch0"].startswith("constant~factor:1~total_iters:5")


def test_link_with_eight_full_runs_stays_short():
    runs = tuple(
        RunConfig(name, (), "norm", 1.0, "cosine", (("T_max", 300), ("eta_min", 0.0001)))
        for name in ["adamw_schedulefree", "sgd_schedulefree", "adabound", "amsbound", "lookahead", "rmsprop",
                     "nadam", "adagrad"]
    )
    spec = ExplorerSpec(surface="ravine", surface_params=(("condition", 200.0),), start=(-2.5, 1.0), runs=runs)
    assert all(len(dict(r.hparams)) == len(optimizers.spec(r.optimizer).hparams) for r in spec.runs)
    assert len(query_string(spec)) < 2000
    assert len(urlencode(to_query(spec))) < 2000  # even with every separator escaped


def test_spec_normalizes_so_equal_views_compare_equal():
    assert default_run("adam") == RunConfig("adam", (("eps", 1e-8), ("lr", 0.001)))
    assert RunConfig("adam", (("betas", [0.9, 0.999]),)).hparam("betas") == (0.9, 0.999)
    assert ExplorerSpec(surface="ravine").surface_params == (("condition", 50.0), ("angle", 0.0))
    hash(ExplorerSpec())  # usable as a cache key
    with pytest.raises(ValueError):
        RunConfig("adamx")
    with pytest.raises(ValueError):
        ExplorerSpec(steps=0)
    with pytest.raises(ValueError):
        RunConfig("adam", (("lr", -1.0),))


# ---------------------------------------------------------------- broken links

BAD = ["abc", "nan", "NaN", "inf", "-inf", "1e999", "-5", "", "∞", "x" * 5000, "nan,nan", "none,inf",
       "adamx~lr:1", "1_000", "０", "~~~", ":::", "r0", "\x00", "🙂" * 300]
KEYS = ["v", "s", "sp", "f", "x0", "n", "noise", "seed", "3d", "arrows", "r0", "c0", "sch0", "r7", "c3", "sch9",
        "r8", "x", "", "R0", "r00", "sch", "utm_source"]


def names_field(warnings, key):
    return any(re.search(rf"(^|\W){re.escape(key)}(\W|$)", w) for w in warnings)


@pytest.mark.slow  # ~1.5 s: 250 examples
@FUZZ
@given(st.dictionaries(
    st.one_of(st.sampled_from(KEYS), TEXT),
    st.one_of(st.sampled_from(BAD), TEXT, st.lists(st.one_of(st.sampled_from(BAD), TEXT), max_size=3),
              st.integers(), st.floats(), st.none()),
    max_size=12,
))
def test_garbage_never_raises(params):
    spec, warnings = from_query(params)
    check_valid(spec)
    assert all(isinstance(w, str) for w in warnings)


@pytest.mark.slow  # ~0.6 s: fuzzing
@FUZZ
@given(st.text(max_size=300))
def test_garbage_query_strings_never_raise(qs):
    spec, _ = from_query_string(qs)
    check_valid(spec)


# a spec field each key of a link feeds (the other fields must survive a bad value there)
AFFECTS = {"s": {"surface", "surface_params", "start"}, "sp": {"surface_params"}, "x0": {"start"},
           "n": {"steps"}, "noise": {"noise"}, "seed": {"seed"}, "3d": {"view3d"}, "arrows": {"arrows"}, "v": set()}
FIELDS = ["surface", "surface_params", "formula", "start", "runs", "steps", "noise", "seed", "view3d", "arrows"]
CLEARLY_BAD = ["abc", "nan", "inf", "-inf", "1e999", "", "∞", "x" * 5000, "nan,nan", "-1e999,0", "🙂"]


@pytest.mark.slow  # ~4 s: 250 examples
@FUZZ
@given(explorer_specs(), st.data())
def test_one_bad_field_warns_by_name_and_keeps_the_rest(spec, data):
    q = to_query(spec)
    key = data.draw(st.sampled_from(sorted(set(q) - {"f"})))
    bad = data.draw(st.sampled_from(CLEARLY_BAD))
    got, warnings = from_query({**q, key: bad})
    check_valid(got)
    assert names_field(warnings, key), (key, bad, warnings)
    m = re.fullmatch(r"(r|c|sch)(\d)", key)
    if m:  # only that run may change
        i = int(m.group(2))
        assert got.runs[:i] == spec.runs[:i] and got.runs[i + 1:] == spec.runs[i + 1:]
        kept = [f for f in FIELDS if f != "runs"]
    else:
        kept = [f for f in FIELDS if f not in AFFECTS[key]]
        if key == "s":
            kept.remove("formula") if spec.surface == CUSTOM else None
    for f in kept:
        assert getattr(got, f) == getattr(spec, f), (key, bad, f)


@pytest.mark.slow  # ~4 s: 250 examples
@FUZZ
@given(explorer_specs(), st.data())
def test_mangled_links_never_raise(spec, data):
    q = to_query(spec)
    qs = query_string(spec)
    how = data.draw(st.sampled_from(["truncate", "drop", "swap", "list", "dup", "noise"]))
    if how == "truncate":
        got = from_query_string(qs[: data.draw(st.integers(0, len(qs)))])
    else:
        keys = sorted(q)
        a, b = data.draw(st.sampled_from(keys)), data.draw(st.sampled_from(keys))
        p: dict = dict(q)
        if how == "drop":
            del p[a]
        elif how == "swap":
            p[a], p[b] = q[b], q[a]
        elif how == "list":
            p[a] = [q[a], data.draw(st.sampled_from(BAD))]
        elif how == "dup":
            p[a] = [q[a], q[a]]
        else:
            p[a] = q[a] + data.draw(TEXT)
        got = from_query(p)
    check_valid(got[0])


@pytest.mark.parametrize("key,value,field,expect", [
    ("n", "abc", "steps", 300), ("n", "-3", "steps", 300), ("n", "1e999", "steps", 300), ("n", "5001", "steps", 300),
    ("n", "3e2", "steps", 300), ("n", "1200", "steps", 1200), ("n", "12.0", "steps", 12),
    ("noise", "nan", "noise", 0.0), ("noise", "inf", "noise", 0.0), ("noise", "101", "noise", 0.0),
    ("seed", "-1", "seed", 0), ("seed", str(2**31), "seed", 0), ("3d", "maybe", "view3d", False),
    ("x0", "nan,1", "start", None), ("x0", "1e300,0", "start", None), ("x0", "0.5,-0.25", "start", (0.5, -0.25)),
])
def test_each_field_falls_back_on_its_own(key, value, field, expect):
    q = to_query(ExplorerSpec(steps=777, seed=5))
    got, warnings = from_query({**q, key: value})
    assert getattr(got, field) == expect
    assert got.runs == ExplorerSpec().runs
    if field != "steps":
        assert got.steps == 777
    if field != "seed":
        assert got.seed == 5
    assert bool(warnings) == (value not in ("1200", "3e2", "12.0", "0.5,-0.25")), warnings


def test_run_fields_fall_back_one_by_one():
    spec = ExplorerSpec(runs=(RunConfig("adam", (("lr", 0.01),), "norm", 2.0, "cosine"), default_run("sgd")))
    q = to_query(spec)
    got, w = from_query({**q, "r0": "adam~lr:-1~betas:0.9,0.99~eps:1e-8~weight_decay:0~bogus:1"})
    assert got.runs[0].hparam("lr") == 0.001 and got.runs[0].hparam("betas") == (0.9, 0.99)
    assert got.runs[0].clip == "norm" and got.runs[0].clip_threshold == 2.0 and got.runs[0].schedule == "cosine"
    assert got.runs[1] == spec.runs[1]
    assert any("run 1 (r0): lr '-1'" in x for x in w) and any("bogus" in x for x in w)

    got, w = from_query({**q, "r1": "adamx~lr:1"})
    assert got.runs[0] == spec.runs[0] and got.runs[1].optimizer in optimizers.names()
    assert any("run 2 (r1): unknown optimizer 'adamx'" in x for x in w)

    got, w = from_query({**q, "c0": "clamp,2"})
    assert got.runs[0].clip == "none" and got.runs[0].clip_threshold == 2.0
    assert got.runs[0].hparams == spec.runs[0].hparams and any("(c0)" in x for x in w)

    got, w = from_query({**q, "sch0": "cosine~T_max:abc~eta_min:0.001"})
    assert dict(got.runs[0].schedule_kw) == {"T_max": None, "eta_min": 0.001} and any("T_max" in x for x in w)

    got, w = from_query({**q, "sch0": "linear_decay"})
    assert got.runs[0].schedule == "constant" and any("(sch0)" in x for x in w)


def test_surface_and_formula():
    # an unknown surface falls back, the rest stays
    got, w = from_query({**to_query(ExplorerSpec(steps=50)), "s": "mountain"})
    assert got.surface == "rosenbrock" and got.steps == 50 and any("mountain" in x for x in w)
    # a bad surface parameter falls back to its default, the other one is kept
    spec = ExplorerSpec(surface="ravine", surface_params=(("condition", 200.0), ("angle", 30.0)))
    got, w = from_query({**to_query(spec), "sp": "condition:5000~angle:30"})
    assert dict(got.surface_params) == {"condition": 50.0, "angle": 30.0} and any("condition" in x for x in w)
    # a formula that does not parse is kept, with the parser's message, for the person to fix
    spec = ExplorerSpec(surface=CUSTOM, formula="x**2 + y**2")
    got, w = from_query({**to_query(spec), "f": "x**2 + import os"})
    assert got.surface == CUSTOM and got.formula == "x**2 + import os" and any("(f)" in x for x in w)
    with pytest.raises(surfaces.FormulaError):
        got.surface_obj()
    # an over-long formula is cut to the parser's cap, not dropped
    got, w = from_query({**to_query(spec), "f": "x" * 600})
    assert len(got.formula) == 500 and w


def test_versions_and_unknown_keys():
    q = to_query(ExplorerSpec(steps=42))
    assert from_query({**q, "v": "2"})[0].steps == 42
    assert any("newer version" in x for x in from_query({**q, "v": "2"})[1])
    assert from_query({**q, "v": "0"})[1] and from_query({**q, "v": "abc"})[1]
    got, w = from_query({**q, "utm_source": "mail"})
    assert got.steps == 42 and any("utm_source" in x for x in w)
    assert from_query({**q, "page": "x"}, ignore=["page"]) == (ExplorerSpec(steps=42), [])
    # a hand-typed link without v: left-out fields are simply defaults
    got, w = from_query({"s": "himmelblau", "n": "80"})
    assert (got.surface, got.steps, w) == ("himmelblau", 80, [])
    # and so in a versioned link: a short link is normal, its left-out fields take their defaults silently
    got, w = from_query({"v": "1", "s": "quartic"})
    assert (got.surface, got.steps, got.runs, w) == ("quartic", 300, ExplorerSpec().runs, [])
    # repeated keys: the last counts
    got, w = from_query({**q, "n": ["100", "200"]})
    assert got.steps == 200 and any("2 times" in x for x in w)
    # at most 8 runs
    got, w = from_query({**q, "r8": "sgd~lr:0.1", "r9999999": "sgd"})
    assert len(got.runs) == 4 and any("r8" in x for x in w)


def test_ui_does_not_import_streamlit():
    # the spec, the codecs and the presets are plain data; ui's Streamlit modules are the widgets and the
    # race player's component (its mount: everything it sends is built by ui/player.py, which is plain)
    for path in sorted(p for p in (ROOT / "ui").glob("*.py") if p.name not in ("widgets.py", "race_view.py")):
        tree = ast.parse(path.read_text())
        mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not mods & {"streamlit", "plotly"}, path
