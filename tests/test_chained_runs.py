"""A chained schedule (RunConfig.then) wherever a schedule works: the run's shape and label, the 2D
engine, sweeps (a phase argument as an axis), links (old ones open as they did), the command line,
training jobs and the runner, the run editors of the pages."""
import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import trajectories
from optimizers import RunConfig, Sequential
from training.cli.jobs import jobs_from_grid
from training.cli.parse import UsageError, parse_then
from training.job import Job, run_of
from trajectories.sweep import Target
from ui import PRESETS, ExplorerSpec, from_query_string
from ui.links import query_string
from ui.sweep_spec import AxisSpec, SweepSpec, axis_targets
from ui.train_spec import run_from_state

EXPLORER = str(Path(__file__).resolve().parent.parent / "app_pages" / "explorer.py")
WARM_COSINE = RunConfig("adam", {"lr": 0.1}, schedule=("warmup", {"start_factor": 0.01, "total_iters": 40}),
                        then=[(40, "cosine", {"eta_min": 0.001})])


# ---------------------------------------------------------------- the run configuration


def test_then_is_normalized_labelled_and_becomes_a_sequential():
    same = RunConfig("adam", {"lr": 0.1}, schedule=("warmup", {"start_factor": 0.01, "total_iters": 40}),
                     then=[[40, "cosine", (("eta_min", 0.001),)]])
    assert same == WARM_COSINE and hash(same) == hash(WARM_COSINE)
    assert WARM_COSINE.then == ((40, "cosine", (("T_max", None), ("eta_min", 0.001))),)
    assert WARM_COSINE.label() == "Adam lr=0.1 · warmup start_factor=0.01 total_iters=40 → cosine eta_min=0.001 from 40"
    assert WARM_COSINE.label(omit=frozenset({"schedule.1.eta_min"})).endswith("→ cosine from 40")
    seq = WARM_COSINE.sequential
    assert seq == Sequential([("warmup", dict(WARM_COSINE.schedule_kw)), ("cosine", {"T_max": None, "eta_min": 0.001})],
                             [40])
    assert RunConfig("adam").lr_schedule is None
    assert RunConfig("adam", then=[(10, "cosine", {})]).lr_schedule is not None


@pytest.mark.parametrize("then, match", [
    ([(0, "cosine", {})], "milestones must be >= 1"),
    ([(10, "cosine", {}), (10, "step", {})], "each after the one before"),
    ([(10, "nope", {})], "unknown schedule 'nope'"),
    ([(10, "cosine", {"gamma": 0.5})], "cosine has no argument gamma"),
    ([(10, "cosine", {"T_max": 0})], r"phase 2 \(cosine, from step 10\): schedule cosine: T_max must be >= 1"),
    ([(i, "constant", {}) for i in range(1, 9)], "at most 8 phases"),
    ("cosine", "then must be a list"),
])
def test_bad_phases_raise(then, match):
    with pytest.raises(ValueError, match=match):
        RunConfig("adam", then=then)


# ---------------------------------------------------------------- the engine and sweeps


def test_a_race_applies_every_phase():
    r = trajectories.race("rosenbrock", [WARM_COSINE, RunConfig("adam", {"lr": 0.1})], (-1.5, 2.0), 120,
                          smoothness=False)
    want = WARM_COSINE.sequential.values(0.1, 120).numpy()
    np.testing.assert_array_equal(r.lr[:, 0], want)
    assert r.lr[0, 0] == pytest.approx(1e-3) and r.lr[40, 0] == pytest.approx(0.1) and (r.lr[:, 1] == 0.1).all()


def test_target_grammar_of_a_later_phase():
    for text in ("schedule.eta_min", "schedule.1.eta_min", "schedule.3.gamma"):
        assert str(Target.parse(text)) == text
    assert Target.parse("schedule.1.eta_min") == Target("schedule", "eta_min", 1)
    assert Target.parse("schedule.0.gamma") == Target.parse("schedule.gamma")  # phase 0 is the first
    assert "schedule.1.eta_min" in axis_targets(WARM_COSINE) and "schedule.start_factor" in axis_targets(WARM_COSINE)


def test_a_phase_argument_as_an_axis_equals_each_cell_run_alone():
    spec = SweepSpec(runs=(WARM_COSINE,), steps=80, x=AxisSpec("lr", 1e-3, 0.1, 3, True),
                     y=AxisSpec("schedule.1.eta_min", 0.0, 0.01, 3, False))
    res = spec.to_sweep_calls()[0]()
    for i, lr in enumerate(res.axes[0].values):
        for j, eta in enumerate(res.axes[1].values):
            cell = spec.cell_run(0, (lr, eta))
            assert cell.then[0][2][1] == ("eta_min", eta)
            alone = trajectories.race("rosenbrock", [cell], spec.start_point(), 80, smoothness=False)
            assert res.final_loss[0, i, j] == alone.loss[-1, 0]
    assert spec.titles() == ["Adam · warmup start_factor=0.01 total_iters=40 → cosine from 40"]


def test_a_phase_axis_needs_that_phase():
    with pytest.raises(ValueError, match="cannot sweep 'schedule.2.eta_min'"):
        SweepSpec(runs=(WARM_COSINE,), x=AxisSpec("schedule.2.eta_min", 0.0, 0.01, 3, False), y=None)
    with pytest.raises(ValueError, match="with 3 phases"):
        trajectories.sweep("rosenbrock", "sgd", (0.0, 0.0), 10, [trajectories.Axis("schedule.2.eta_min", (0.0,))],
                           schedule=WARM_COSINE.sequential)


# ---------------------------------------------------------------- links


def test_a_chained_run_round_trips_through_its_link():
    spec = ExplorerSpec(runs=(WARM_COSINE, RunConfig("sgd", then=[(10, "step", {}), (90, "constant",
                                                                                          {"factor": 0.1})])))
    qs = query_string(spec)
    assert "sch0.1=cosine@40~T_max:auto~eta_min:0.001" in qs and "sch1.2=constant@90~" in qs
    assert from_query_string(qs) == (spec, [])


def test_old_links_never_hold_phases_and_open_as_they_did():
    for p in PRESETS:
        assert ".1=" not in p.link()
        assert from_query_string(p.link()) == (p.view(), [])
    spec, warnings = from_query_string("v=1&r0=adam~lr:0.1&sch0=cosine~T_max:50")
    assert warnings == [] and spec.runs[0].then == ()


@pytest.mark.parametrize("extra, warning", [
    ("sch0.1=cosine", "'cosine' does not say the step it starts at as cosine@STEP"),
    ("sch0.1=cosine@0", "a whole number after 0"),
    ("sch0.1=nope@5", "unknown schedule 'nope'; ignored this phase"),
    ("sch0.9=cosine@50", "a schedule has at most 8 phases"),
    ("sch0.1=cosine@50~eta_min:-1", "eta_min '-1' is invalid"),
    ("sch0.1=cosine@50~T_max:0", "T_max '0' is invalid"),
    ("sch3.1=cosine@50", "run 4: clipping or schedule given without an optimizer (r3)"),
])
def test_bad_phases_in_a_link_warn_by_name_and_keep_the_rest(extra, warning):
    spec, warnings = from_query_string(f"v=1&r0=adam~lr:0.1&sch0=warmup~total_iters:10&{extra}")
    assert len(warnings) == 1 and warning in warnings[0], warnings
    assert spec.runs[0].optimizer == "adam" and spec.runs[0].schedule == "warmup"


def test_phases_that_do_not_follow_each_other_keep_the_ones_before():
    spec, warnings = from_query_string("v=1&r0=adam&sch0=warmup&sch0.1=cosine@50&sch0.2=step@20&sch0.3=constant@80")
    assert [m for m, _, _ in spec.runs[0].then] == [50, 80]
    assert len(warnings) == 1 and "run 1 schedule phase 3 (sch0.2)" in warnings[0]


# ---------------------------------------------------------------- the command line and training


def test_then_flags():
    first = ("warmup", (("start_factor", 0.01), ("total_iters", 100)))
    assert parse_then(["cosine"], first) == ((100, "cosine", ()),)  # after the warm-up's total_iters
    assert parse_then(["cosine@150:eta_min=0.001", "constant@300:factor=0.1"], first) == (
        (150, "cosine", (("eta_min", 0.001),)), (300, "constant", (("factor", 0.1),)))
    assert parse_then(["warmup@10:total_iters=20", "cosine"], None) == ((10, "warmup", (("total_iters", 20),)),
                                                                         (30, "cosine", ()))
    assert parse_then(None, first) == ()


@pytest.mark.parametrize("texts, match", [
    (["cosine"], "say the step it starts at, e.g. --then cosine@100"),
    (["cosine@0"], "a whole-number STEP after 0"),
    (["cosine@x"], "a whole-number STEP"),
    (["none"], "name a schedule"),
    (["nope@5"], "unknown schedule 'nope'"),
    (["cosine@5:eta_min=x"], "eta_min: expected a number"),
    (["constant@5"] * 8, "at most 8 phases"),
])
def test_bad_then_flags(texts, match):
    with pytest.raises(UsageError, match=match):
        parse_then(texts, ("cosine", ()))


def test_compare_appends_the_phases_to_every_schedule():
    args = argparse.Namespace(optimizer="adam", lr="0.01", momentum=None, weight_decay=None, hp=None, clip="none",
                              schedule=["warmup:total_iters=10,cosine"], then=["constant@60:factor=0.1"], seed=None,
                              task="digits-mlp", steps=100, batch_size=0, device="cpu", amp=False, compile=False,
                              size=1.0, eval_every=0, smoothness_every=0, sharpness=False, flooding=None, label="",
                              max_runs=10)
    jobs = jobs_from_grid(args, note=print)
    assert [json.loads(j.to_json())["then"] for j in jobs] == [[[60, "constant", [["factor", 0.1]]]]] * 2
    assert [j.run.lr_schedule.milestones for j in jobs] == [(60,), (60,)]


def test_a_job_keeps_its_phases_through_json_and_old_jobs_have_none():
    job = Job("digits-mlp", WARM_COSINE, steps=100)
    assert job.run == WARM_COSINE
    back = Job.from_json(job.to_json())
    assert back == job and run_of(back) == WARM_COSINE
    old = {"task": "digits-mlp", "optimizer": "adam", "hparams": [["lr", 0.1]], "schedule": ["cosine", []]}
    assert run_of(old).then == () and Job.from_json('{"task": "digits-mlp"}').run.then == ()
    broken = dict(old, then=[[5, "cosine", [["eta_min", -1]]]])
    assert run_of(broken) == RunConfig("adam", {"lr": 0.1}, schedule=("cosine", {}))  # the bad phase dropped


@pytest.mark.slow  # ~1.5 s: many runs
@pytest.mark.usefixtures("one_torch_thread")
def test_the_runner_steps_every_phase():
    from test_runner import run

    sink, summary = run(steps=60, **{k: v for k, v in json.loads(Job("digits-mlp", WARM_COSINE).to_json()).items()
                                     if k in ("optimizer", "hparams", "schedule", "then")})
    want = WARM_COSINE.sequential.values(0.1, 60).tolist()
    assert summary["status"] == "done" and [r.lr for r in sink.step_rows] == want


# ---------------------------------------------------------------- the run editors


def test_run_from_state_reads_the_phase_keys():
    state = {"p_sched": "warmup", "p_skw.warmup.total_iters": 30, "p_then.1": "cosine", "p_at.1": None,
             "p_ph1.skw.cosine.eta_min": 0.01, "p_then.2": "constant", "p_at.2": 90,
             "p_ph2.skw.constant.factor": 0.1, "p_then.3": ""}
    run = run_from_state("p_", state, RunConfig("adam"))
    assert [(m, n) for m, n, _ in run.then] == [(30, "cosine"), (90, "constant")]  # blank: after the warm-up
    assert dict(run.then[0][2])["eta_min"] == 0.01 and dict(run.then[1][2])["factor"] == 0.1
    with pytest.raises(ValueError, match="say from which step it starts"):
        run_from_state("p_", {**state, "p_at.2": None}, RunConfig("adam"))  # after cosine: no warm-up length


@pytest.mark.slow  # ~1.1 s: many runs
def test_the_explorer_editor_chains_a_schedule():
    at = AppTest.from_file(EXPLORER, default_timeout=120)
    for k, v in {"v": "1", "r0": "adam~lr:0.1", "sch0": "warmup~start_factor:0.01~total_iters:50"}.items():
        at.query_params[k] = v
    at.run()
    at.session_state["ex_r0_open"] = True  # a closed editor renders no widgets
    at.run()
    at.selectbox(key="ex_r0_then.1").set_value("cosine").run()
    assert not at.exception and not at.error
    assert at.query_params["sch0.1"] in ("cosine@50~T_max:auto~eta_min:0", ["cosine@50~T_max:auto~eta_min:0"])
    assert at.number_input(key="ex_r0_at.1").value is None  # blank: where the warm-up ends
    at.number_input(key="ex_r0_at.1").set_value(80).run()
    at.selectbox(key="ex_r0_then.2").set_value("exponential").run()
    assert not at.exception and any("say from which step it starts" in e.value for e in at.error)
    spec, warnings = from_query_string("&".join(f"{k}={at.query_params[k]}" for k in at.query_params))
    assert warnings == [] and spec.runs[0].then[0][0] == 80  # the last valid run stays


def test_odd_phase_keys_are_named_and_ignored():
    spec, warnings = from_query_string("v=1&r0=adam&sch0=warmup&sch0.1234=cosine@50&sch00.1=cosine@9&sch0.0=step@3")
    assert spec.runs[0].then == ()
    assert sorted(warnings) == sorted(f"'{k}': not part of an explorer link; ignored"
                                      for k in ("sch0.0", "sch0.1234", "sch00.1"))


def test_a_sweep_link_keeps_a_phase_axis():
    from ui.sweep_links import from_query_string as sweep_from_query_string
    from ui.sweep_links import query_string as sweep_query_string

    spec = SweepSpec(runs=(WARM_COSINE,), steps=80, x=AxisSpec("lr", 1e-3, 0.1, 5, True),
                     y=AxisSpec("schedule.1.eta_min", 0.0, 0.01, 4, False))
    qs = sweep_query_string(spec)
    assert "ay=schedule.1.eta_min~0~0.01~4~lin" in qs and "sch0.1=cosine@40" in qs
    assert sweep_from_query_string(qs) == (spec, [])
