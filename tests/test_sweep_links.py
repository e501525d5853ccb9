"""The sweep page's spec and link: exact round trips, no link breaks the page, a cell opens its exact run."""
import math
from dataclasses import replace
from urllib.parse import parse_qs

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import optimizers
import surfaces
import trajectories
from ui import links
from ui.spec import CUSTOM, RunConfig, default_run
from ui.sweep_links import (
    TOP_KEYS,
    axis_text,
    cell_link,
    cell_url,
    from_query,
    from_query_string,
    query_string,
    to_query,
)
from ui.sweep_spec import (
    COLORS,
    MAX_OPTIMIZERS,
    MODES,
    AxisSpec,
    SweepSpec,
    axis_targets,
    common_targets,
    results_csv,
    target_range,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPECS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


def check_valid(spec: SweepSpec) -> None:
    """What the page relies on: a runnable spec (construction checks it all, caps included)."""
    assert isinstance(spec, SweepSpec)
    assert 1 <= len(spec.runs) <= MAX_OPTIMIZERS
    assert SweepSpec(**{f: getattr(spec, f) for f in spec.__dataclass_fields__}) == spec
    if spec.surface != CUSTOM:
        calls = spec.to_sweep_calls()
        assert len(calls) == len(spec.runs)


# ---------------------------------------------------------------- strategies


@st.composite
def runs(draw):
    name = draw(st.sampled_from(optimizers.names()))
    hp = {}
    for h in optimizers.spec(name).hparams:
        if h.kind == "float" and draw(st.booleans()):
            v = 10 ** draw(st.floats(math.log10(h.low), math.log10(h.high))) if h.log else draw(
                st.floats(h.low, h.high))
            try:
                RunConfig(name, ((h.name, v),))
                hp[h.name] = v
            except ValueError:
                pass
    clip = draw(st.sampled_from(optimizers.clip_kinds()))
    schedule = draw(st.sampled_from(["constant", "step", "exponential", "cosine"]))
    return RunConfig(name, tuple(hp.items()), clip, draw(st.floats(0.01, 10.0)), schedule)


@st.composite
def axes(draw, run_list, exclude=None):
    targets = [t for t in common_targets(run_list) if t != exclude]
    if not targets:  # runs that share one target only (plain SGD and a zeroth-order method: the lr) have no second
        return None
    target = draw(st.sampled_from(targets))
    low, high, log = target_range(run_list[0], target)
    a, b = sorted(draw(st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0))))
    assume(b - a > 1e-3)
    if log:
        span = math.log10(high / low)
        lo, hi = 10 ** (math.log10(low) + a * span), 10 ** (math.log10(low) + b * span)
    else:
        lo, hi = low + a * (high - low), low + b * (high - low)
    ax = AxisSpec(target, lo, hi, draw(st.integers(1, 40)), log)
    try:
        for r in run_list:
            ax.check(r)
    except ValueError:  # an open end of a domain (betas < 1)
        assume(False)
    return ax


@st.composite
def sweep_specs(draw):
    run_list = tuple(draw(st.lists(runs(), min_size=1, max_size=MAX_OPTIMIZERS)))
    mode = draw(st.sampled_from(MODES))
    surface = draw(st.sampled_from([*surfaces.names(), CUSTOM]))
    formula = "x**2 + 3*y**2" if surface == CUSTOM else draw(st.one_of(st.just(""), TEXT))
    s = surfaces.parse(formula) if surface == CUSTOM else surfaces.get(surface)
    (x0, x1), (y0, y1) = s.bounds
    x = draw(axes(run_list))
    assume(x is not None)
    y = draw(st.one_of(st.none(), axes(run_list, exclude=x.target)))
    if mode == "robustness":
        x = AxisSpec("lr", 1e-4, draw(st.floats(1e-3, 1.0)), draw(st.integers(1, 80)), True)
    try:
        return SweepSpec(mode=mode, surface=surface, formula=formula,
                         start=draw(st.one_of(st.none(), st.tuples(st.floats(x0, x1), st.floats(y0, y1)))),
                         steps=draw(st.integers(1, 2000)), runs=run_list, x=x, y=y,
                         color=draw(st.sampled_from(COLORS)), tol=draw(st.floats(1e-9, 10.0)),
                         noise=draw(st.floats(0.0, 100.0)), seeds=draw(st.integers(1, 16)),
                         basins_n=draw(st.integers(2, 400)))
    except ValueError:  # over the caps: not a spec
        assume(False)


# ---------------------------------------------------------------- round trips


def test_default_round_trips_without_warnings():
    spec = SweepSpec()
    assert from_query(to_query(spec)) == (spec, [])
    assert from_query_string(query_string(spec)) == (spec, [])
    assert from_query({}) == (spec, [])


@pytest.mark.slow  # ~2.5 s: 120 examples
@SPECS
@given(sweep_specs())
def test_any_spec_round_trips_exactly(spec):
    got, warnings = from_query(to_query(spec))
    assert warnings == []
    assert got == spec
    assert from_query_string("?" + query_string(spec)) == (spec, [])


def test_every_field_is_written():
    q = to_query(SweepSpec(y=None))
    assert set(TOP_KEYS) - {"sp", "f"} <= set(q)
    assert q["ay"] == "none" and q["ax"] == "lr~1e-5~0.01~60~log"
    assert {"r0", "c0", "sch0", "r1", "c1", "sch1"} <= set(q)


# ---------------------------------------------------------------- no link breaks the page

BAD = ["", "abc", "nan", "inf", "-1", "1e999", "none", "lr~a~b~c~d", "lr~1~0~5~log", "~~~~", "x" * 5000, "🙂",
       "momentum~0~0.9~10~lin", "betas.0~0.1~1.5~10~lin", "clip~0.1~10~5~log", "schedule.gamma~0.1~0.9~3~lin"]


@pytest.mark.slow  # ~1.0 s: fuzzing
@FUZZ
@given(st.text(max_size=300))
def test_fuzzed_query_strings_never_raise(qs):
    spec, warnings = from_query_string(qs)
    check_valid(spec)
    assert all(isinstance(w, str) for w in warnings)


@pytest.mark.slow  # ~2.5 s: 200 examples
@FUZZ
@given(st.dictionaries(
    st.one_of(st.sampled_from([*TOP_KEYS, "r0", "c0", "sch0", "r3", "r4", "c9", "zz"]), TEXT),
    st.one_of(st.sampled_from(BAD), TEXT, st.lists(st.one_of(st.sampled_from(BAD), TEXT), max_size=3)),
    max_size=12,
))
def test_garbage_params_never_raise(params):
    spec, warnings = from_query(params)
    check_valid(spec)


FIELDS = ["mode", "surface", "surface_params", "formula", "start", "steps", "runs", "x", "y", "color", "tol",
          "noise", "seeds", "basins_n"]
AFFECTS = {"m": {"mode"}, "s": {"surface", "surface_params", "start"}, "x0": {"start"}, "n": {"steps"},
           "ax": {"x"}, "ay": {"y"}, "color": {"color"}, "tol": {"tol"}, "noise": {"noise"}, "seeds": {"seeds"},
           "bn": {"basins_n"}, "v": set(), "r0": {"runs", "x", "y"}, "c0": {"runs"}, "sch0": {"runs"}}
# (an unreadable optimizer falls back to the default one, which may not sweep the axes: they may follow)
NAMED = {"m": "mode", "s": "surface", "x0": "start", "n": "steps", "ax": "x axis", "ay": "y axis", "color": "colour",
         "tol": "tolerance", "noise": "noise", "seeds": "seeds", "bn": "basins grid", "v": "version",
         "r0": "optimizer 1", "c0": "optimizer 1", "sch0": "optimizer 1"}
CLEARLY_BAD = ["abc", "nan", "inf", "1e999", "", "🙂", "x" * 5000, "-1,-1e999"]


@pytest.mark.slow  # ~1.5 s: 200 examples
@FUZZ
@given(st.sampled_from(sorted(AFFECTS)), st.sampled_from(CLEARLY_BAD))
def test_one_bad_field_warns_by_name_and_keeps_the_rest(key, bad):
    spec = SweepSpec(mode="map", steps=123, noise=0.5, seeds=3, tol=0.01, basins_n=50, start=(0.5, 1.5),
                     runs=(default_run("adam", lr=0.01), default_run("nadam")),
                     x=AxisSpec("lr", 1e-4, 0.3, 20, True), y=AxisSpec("betas.0", 0.1, 0.95, 10, False))
    got, warnings = from_query({**to_query(spec), key: bad})
    check_valid(got)
    assert any(NAMED[key] in w and (f"({key})" in w or w.startswith(f"{key}:")) for w in warnings), (key, bad, warnings)
    for f in FIELDS:
        if f not in AFFECTS[key]:
            assert getattr(got, f) == getattr(spec, f), (key, bad, f)
    if key in ("r0", "c0", "sch0"):
        assert got.runs[1] == spec.runs[1]


def test_axis_parts_fall_back_one_by_one():
    q = to_query(SweepSpec())
    got, w = from_query({**q, "ax": "lr~abc~0.5~999~log"})
    assert got.x == AxisSpec("lr", 1e-5, 0.5, 60, True)
    assert any("low 'abc'" in m and "(ax)" in m for m in w) and any("cells '999'" in m for m in w)
    got, w = from_query({**q, "ay": "momentum~0~0.5~7~sideways"})
    assert got.y == AxisSpec("momentum", 0.0, 0.5, 7, False) and any("scale 'sideways'" in m for m in w)
    got, w = from_query({**q, "ay": "none"})
    assert got.y is None and w == []


def test_axes_that_do_not_fit_the_optimizers_fall_back():
    q = to_query(SweepSpec())
    got, w = from_query({**q, "r1": "adam"})  # adam has no momentum: the y axis cannot stay
    assert got.runs[1].optimizer == "adam" and got.y is None
    assert any("y axis (ay)" in m and "momentum" in m for m in w)
    got, w = from_query({**q, "ay": "lr~0.1~1~5~log"})  # the same target as x
    assert got.y.target == "momentum" and any("same as the x axis" in m for m in w)
    got, w = from_query({**q, "m": "robustness", "ax": "momentum~0~0.9~10~lin"})
    assert got.mode == "robustness" and got.x.target == "lr" and got.x.log
    assert any("robustness" in m and "(ax)" in m for m in w)
    got, w = from_query({**q, "ay": "momentum~0~1.5~10~lin"})  # momentum may exceed 1: valid, if unwise
    check_valid(got)


def test_more_than_four_optimizers_are_ignored_with_a_warning():
    q = to_query(SweepSpec())
    got, w = from_query({**q, "r4": "adam", "c7": "none,1"})
    assert len(got.runs) == 2 and any("at most 4 optimizers" in m for m in w)


def test_requests_over_the_caps_are_reduced_with_a_warning():
    q = to_query(SweepSpec())
    got, w = from_query({**q, "ax": "lr~1e-5~1~300~log", "ay": "momentum~0~0.99~300~lin", "seeds": "16"})
    assert got.seeds == 1 and got.x.n == 300 and got.y.n == 300
    assert any(m.startswith("seeds: reduced to 1") and "limit" in m for m in w)
    got, w = from_query({**q, "m": "basins", "bn": "400", "n": "5000"})
    assert got.basins_n * got.basins_n * got.steps <= trajectories.MAX_WORK
    assert any("reduced" in m for m in w)


def test_versions_and_unknown_keys():
    q = to_query(SweepSpec())
    got, w = from_query({**q, "v": "2", "zz": "1"})
    assert got == SweepSpec() and any("newer version" in m for m in w) and any("'zz'" in m for m in w)
    got, w = from_query({k: v for k, v in q.items() if k != "tol"})  # a left-out field: its default, silently
    assert got == SweepSpec() and w == []
    got, w = from_query({"m": "basins", "bn": "20"})  # typed by hand: no version, no complaints
    assert got.mode == "basins" and got.basins_n == 20 and w == []


# ---------------------------------------------------------------- the spec itself


def test_spec_checks_caps_and_axes():
    with pytest.raises(ValueError, match="limit"):
        SweepSpec(steps=5000, x=AxisSpec("lr", 1e-5, 1, 300), y=AxisSpec("momentum", 0, 0.9, 300, False), seeds=2)
    with pytest.raises(ValueError, match="limit"):
        SweepSpec(mode="basins", basins_n=400, steps=5000)
    with pytest.raises(ValueError, match="cannot sweep"):
        SweepSpec(runs=(default_run("adam"),))  # default y sweeps momentum
    with pytest.raises(ValueError, match="out of range"):
        SweepSpec(runs=(default_run("adam"),), y=AxisSpec("betas.0", 0.5, 1.0, 5, False))
    with pytest.raises(ValueError, match="log axis"):
        AxisSpec("lr", 0.0, 1.0, 5, True)
    with pytest.raises(ValueError, match="clip"):
        SweepSpec(y=AxisSpec("clip", 0.1, 10, 5, True))  # the runs do not clip
    SweepSpec(runs=(RunConfig("sgd", clip="norm"),), y=AxisSpec("clip", 0.1, 10, 5, True))
    assert "clip" in axis_targets(RunConfig("sgd", clip="norm")) and "clip" not in axis_targets(RunConfig("sgd"))
    assert "schedule.gamma" in axis_targets(RunConfig("sgd", schedule="step"))
    assert "schedule.step_size" not in axis_targets(RunConfig("sgd", schedule="step"))  # an int: not a tensor
    assert hash(SweepSpec()) == hash(SweepSpec())


def test_to_sweep_calls_run_the_engine():
    spec = SweepSpec(steps=50, x=AxisSpec("lr", 1e-4, 1e-2, 4), y=AxisSpec("momentum", 0.0, 0.9, 3, False), seeds=2,
                     noise=0.1)
    calls = spec.to_sweep_calls()
    assert [c.kind for c in calls] == ["sweep", "sweep"]
    r = calls[1]()
    assert r.final_loss.shape == (2, 4, 3) and r.axes[0].target == "lr"
    csv = results_csv(spec, [c() for c in calls])
    assert csv.splitlines()[0] == "optimizer,lr,momentum,seed,final_loss,hit_at,diverged_at,final_x,final_y"
    assert len(csv.splitlines()) == 1 + 2 * 2 * 4 * 3
    b = replace(spec, mode="basins", basins_n=5)
    out = b.to_sweep_calls()[0]()
    assert out.label.shape == (5, 5)
    assert len(results_csv(b, [c() for c in b.to_sweep_calls()]).splitlines()) == 1 + 2 * 25


# ---------------------------------------------------------------- a cell opens its exact run


@pytest.mark.parametrize("others,run,x,y", [
    ((default_run("nadam"),), default_run("adam"), AxisSpec("lr", 1e-4, 0.5, 7),
     AxisSpec("betas.0", 0.1, 0.95, 5, False)),
    ((RunConfig("adam", clip="value"),), RunConfig("sgd", clip="norm"), AxisSpec("clip", 0.05, 20.0, 6),
     AxisSpec("lr", 1e-4, 1e-2, 3)),
    ((), RunConfig("momentum", schedule="step", schedule_kw=(("step_size", 20),)),
     AxisSpec("schedule.gamma", 0.1, 0.9, 4, False), None),
])
def test_cell_link_opens_the_exact_run_in_the_explorer(others, run, x, y):
    spec = SweepSpec(steps=60, runs=(*others, run), x=x, y=y, start=(-1.2, 1.7))
    k = len(spec.runs) - 1
    xs, ys = x.values(), (y.values() if y else (None,))
    i, j = len(xs) // 2 + 1, len(ys) - 1
    values = (xs[i],) if y is None else (xs[i], ys[j])
    qs = cell_link(spec, k, values)
    assert cell_url(spec, k, values) == "./?" + qs
    view, warnings = links.from_query({key: v[-1] for key, v in parse_qs(qs).items()})
    assert warnings == []
    assert len(view.runs) == 1 and view.start == (-1.2, 1.7) and view.steps == 60
    got = view.runs[0]
    for ax, v in zip(spec.axes, values, strict=True):
        if ax.target == "clip":
            assert got.clip_threshold == v
        elif ax.target.startswith("schedule."):
            assert dict(got.schedule_kw)[ax.target.split(".")[1]] == v
        elif "." in ax.target:
            assert got.hparam(ax.target.split(".")[0])[int(ax.target.split(".")[1])] == v
        else:
            assert got.hparam(ax.target) == v
    # the explorer's race of that view ends exactly where the map's cell does
    res = spec.to_sweep_calls()[k]()
    cell = (0, i) if y is None else (0, i, j)
    race = view.race(smoothness=False)
    assert race.loss[-1, 0] == pytest.approx(res.final_loss[cell], rel=1e-12, abs=1e-300)
    np.testing.assert_allclose(race.xy[-1, 0], res.final_xy[cell], rtol=1e-12)


def test_axis_text():
    assert axis_text(None) == "none"
    assert axis_text(AxisSpec("betas.1", 0.9, 0.9999, 12, False)) == "betas.1~0.9~0.9999~12~lin"


def test_an_explorer_link_becomes_a_sweep_of_what_it_showed():
    from ui.spec import ExplorerSpec
    from ui.sweep_links import from_explorer_query, is_explorer_query

    view = ExplorerSpec(surface="himmelblau", start=(1.0, -1.0), steps=150, noise=0.2,
                        runs=tuple(default_run(n) for n in ("sgd", "momentum", "adam", "rmsprop", "nadam")))
    q = links.to_query(view)
    assert is_explorer_query(q) and not is_explorer_query(to_query(SweepSpec())) and not is_explorer_query({})
    spec = from_explorer_query(q)
    assert spec.surface == "himmelblau" and spec.start == (1.0, -1.0) and spec.steps == 150 and spec.noise == 0.2
    assert spec.runs == view.runs[:4] and spec.x.target == "lr" and spec.y is None  # adam has no momentum
    got = from_explorer_query({"3d": "🙂", "r0": "nonsense"})  # whatever the explorer's reader makes of it
    check_valid(got)
    check_valid(from_explorer_query(None))
