"""The Train and Compare pages under Streamlit's AppTest, on a throwaway run store, and their helpers.

Real workers and a real CLI run (digits-mlp, a handful of steps); no wall-clock asserts, only
generous timeouts for 2 busy cores.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_hostile_links import run_ids

from training.job import EvalRow, Job, StepRow, run_of
from training.store import ACTIVE, RunSink, Store
from ui.links import from_query_string
from ui.spec import RunConfig, default_run
from ui.text import plain
from ui.train_spec import (
    compare_url,
    explorer_spec,
    explorer_url,
    run_from_state,
    run_label,
)

ROOT = Path(__file__).resolve().parent.parent
TRAIN = str(ROOT / "app_pages" / "train.py")
COMPARE = str(ROOT / "app_pages" / "compare.py")
TIMEOUT = 120  # AppTest's per-run limit: the first run imports torch
RUN_TIMEOUT = 180  # a 10-step worker: spawn + import torch + train, on 2 busy cores


@pytest.fixture
def db(tmp_path, monkeypatch) -> str:
    path = str(tmp_path / "runs.sqlite")
    monkeypatch.setenv("OPT_PLAYGROUND_DB", path)
    return path


def page(path: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(path, default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def errors(at: AppTest) -> list[str]:
    """The error boxes' texts as a person reads them (Markdown escapes undone)."""
    return [plain(e.value) for e in at.error]


def write_run(store: Store, *, optimizer="adam", steps=5, status="done", task="digits-mlp", clip=("norm", 1.0),
              smoothness: float | None = 3.0) -> int:
    """A finished run written straight into the store (no training): fast fixtures for the Compare page."""
    job = Job.from_dict(dict(task=task, optimizer=optimizer, hparams=(("lr", 0.01),), clip=clip, steps=steps))
    run_id = store.create_run(job)
    with RunSink(store, run_id, heartbeat_every=0) as sink:
        sink.start(job, "cpu", {"device": {"text": "CPU, 2 threads"}, "metric_name": "accuracy",
                                "higher_is_better": True, "target": 0.95, "steps": steps})
        sink.steps([StepRow(i, 2.0 / (i + 1), 0.01, 1.5, 0.5, 0.1 * (i + 1)) for i in range(steps)])
        sink.evals([EvalRow(0, 2.0, 0.1, float("nan"), wall=0.0),
                    EvalRow(steps, 0.5, 0.9, 1000.0, smoothness=smoothness, grad_norm=1.0, wall=1.0)])
        sink.finish(status, {"metric_name": "accuracy", "final_metric": 0.9, "steps_per_s": 50.0})
    return run_id


# ---------------------------------------------------------------- empty store


@pytest.mark.slow  # ~0.5 s: Streamlit page runs
def test_both_pages_render_on_an_empty_store(db):
    train = page(TRAIN)
    clean(train)
    assert not errors(train)
    start = train.button(key="tr_start")
    assert start.label == "Start 1 run" and not start.disabled
    assert any("digits" in str(c.value).lower() for c in train.caption)  # the task's about text
    assert any(str(c.value).startswith("Found:") for c in train.caption)  # what device was found
    compare = page(COMPARE)
    clean(compare)
    assert not errors(compare)
    assert any("No runs yet" in str(i.value) for i in compare.info)
    assert Store(db).list_runs() == []


# ---------------------------------------------------------------- a CLI run on the Compare page


@pytest.mark.slow  # ~7 s: trains digits-mlp in a subprocess
def test_a_run_from_the_command_line_appears_on_compare(db):
    p = subprocess.run([sys.executable, "-m", "training", "run", "--task", "digits-mlp", "--steps", "20",
                        "--smoothness-every", "5", "--clip", "norm:1", "--db", db, "-q"],
                       cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert p.returncode == 0, p.stderr
    (r,) = Store(db).list_runs()
    at = page(COMPARE)
    clean(at)
    assert not errors(at)
    picker = at.multiselect(key="cmp_runs")
    assert run_label(r) in picker.options
    assert picker.value == [r["id"]]  # the newest runs of the newest task, preselected
    assert len(at.get("plotly_chart")) == 6
    labels = [b.label for b in at.get("download_button")]
    assert "Steps of these runs (CSV)" in labels and "Evaluations of these runs (CSV)" in labels
    links = [b.proto.url for b in at.get("link_button")]
    assert len(links) == 1 and links[0].startswith("./?")
    spec, warnings = from_query_string(links[0].removeprefix("./?"))
    assert warnings == []
    assert spec.surface == "quartic" and spec.runs[0].clip == "norm" and spec.runs[0].clip_threshold == 1.0
    assert spec.steps == 20


# ---------------------------------------------------------------- Start: launches once, in a worker


@pytest.mark.slow  # ~5 s: trains in a worker process
def test_start_launches_one_worker_and_a_rerun_launches_nothing(db):
    at = page(TRAIN)
    at.number_input(key="tr_steps.digits-mlp").set_value(10)
    at.number_input(key="tr_eval.digits-mlp").set_value(5)
    at = at.run()
    clean(at)
    at = at.button(key="tr_start").click().run()
    clean(at)
    assert not errors(at)
    store = Store(db)
    runs = store.list_runs()
    assert len(runs) == 1
    job = runs[0]["job"]
    assert (job["task"], job["steps"], job["eval_every"], job["optimizer"]) == ("digits-mlp", 10, 5, "adam")
    assert job["snapshots"] == 21  # "keep weight snapshots" is ticked by default: the Landscape page's path
    deadline = time.monotonic() + RUN_TIMEOUT
    while store.status(runs[0]["id"]) in ACTIVE and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store.status(runs[0]["id"]) == "done", store.run(runs[0]["id"])["error"]
    assert store.run(runs[0]["id"])["last_step"] == 9
    assert store.snapshot_info(runs[0]["id"])["step"].tolist() == list(range(11))  # 21 asked, 11 distinct points
    for _ in range(2):  # reruns (and the polling) only read the store
        at = at.run()
        clean(at)
    assert len(store.list_runs()) == 1
    assert [b.proto.url for b in at.get("link_button")][0] == compare_url([runs[0]["id"]])
    assert [p.value for p in at.get("progress")] == [100]


@pytest.mark.slow  # ~0.5 s: Streamlit page runs
def test_another_session_shows_running_runs_and_launches_nothing(db):
    store = Store(db)
    job = Job(task="digits-mlp", steps=100)
    run_id = store.create_run(job, pid=os.getpid())  # running, in this (alive) process
    RunSink(store, run_id, heartbeat_every=0).start(job, "cpu", {"steps": 100})
    at = page(TRAIN)  # a new tab or a reload: its own session state, nothing launched there
    clean(at)
    assert len(at.get("progress")) == 1
    assert at.button(key=f"tr_cancel{run_id}").label == "Cancel"
    at = at.run()
    clean(at)
    assert [r["id"] for r in store.list_runs()] == [run_id]
    store.set_status(run_id, "cancelled")


@pytest.mark.slow  # ~0.7 s: Streamlit page runs
def test_bad_hyperparameters_show_an_error_and_start_nothing(db):
    at = page(TRAIN)
    at.session_state["tr_r0_opt"] = "momentum"
    at.session_state["tr_r0_hp.momentum.momentum"] = -0.5  # the sliders cannot; a stale state could
    at = at.run()
    clean(at)
    assert any(e.startswith("Run 1: momentum") for e in errors(at))
    assert at.button(key="tr_start").disabled
    at = at.run()
    clean(at)
    assert Store(db).list_runs() == []


def test_an_invalid_schedule_argument_shows_an_error(db):
    at = page(TRAIN)
    at.session_state["tr_r0_sched"] = "step"
    at.session_state["tr_r0_skw.step.gamma"] = -1.0  # a decay factor must be > 0
    at = at.run()
    clean(at)
    assert any("gamma" in e for e in errors(at))
    assert at.button(key="tr_start").disabled
    assert Store(db).list_runs() == []


# ---------------------------------------------------------------- Compare: selection, delete, live


@pytest.mark.slow  # ~1.2 s: Streamlit page runs
def test_compare_selects_runs_from_the_link_and_deletes_with_confirmation(db):
    store = Store(db)
    a, b, c = write_run(store), write_run(store, optimizer="sgd"), write_run(store, task="digits-cnn", clip=None)
    at = page(COMPARE, {"runs": f"{a},{b},999"})
    clean(at)
    assert at.multiselect(key="cmp_runs").value == [a, b]
    assert any("#999" in plain(w.value) for w in at.warning)
    at.multiselect(key="cmp_runs").set_value([a, b, c])
    at = at.run()
    clean(at)
    assert any("different tasks" in plain(w.value) for w in at.warning)
    assert at.query_params["runs"] in (f"{a},{b},{c}", [f"{a},{b},{c}"])
    (code,) = [x.value for x in at.code if "runs=" in x.value]  # the share box: this comparison's link
    assert run_ids(code.split("runs=", 1)[1]) == [a, b, c]
    # delete asks first, then deletes
    at = at.button(key=f"cmp_del{b}").click().run()
    clean(at)
    assert len(store.list_runs()) == 3
    at = at.button(key=f"cmp_yes{b}").click().run()
    clean(at)
    assert {r["id"] for r in store.list_runs()} == {a, c}
    assert at.multiselect(key="cmp_runs").value == [a, c]
    assert len(at.get("plotly_chart")) == 6


@pytest.mark.slow  # ~0.7 s: Streamlit page runs
def test_compare_shows_a_running_run_and_its_partial_curves(db):
    store = Store(db)
    job = Job(task="digits-mlp", steps=100)
    run_id = store.create_run(job, pid=os.getpid())  # "running" in this (alive) process
    sink = RunSink(store, run_id, heartbeat_every=0)
    sink.start(job, "cpu", {"steps": 100})
    sink.steps([StepRow(i, 1.0, 1e-3, 2.0, 1.0, 0.01 * (i + 1)) for i in range(10)])
    at = page(COMPARE, {"runs": str(run_id)})
    clean(at)
    assert any("still running" in str(c.value) for c in at.caption)
    (row,) = at.dataframe[0].value.to_dict("records")  # no evaluation yet: dashes, not "None"
    assert row["best"] == "—" and row["steps to target"] == "—" and row["last loss"] == "1"
    assert any(b.label == "Cancel" for b in at.button)
    assert at.button(key=f"cmp_del{run_id}").disabled  # cancel it first
    sink.steps([StepRow(i, 0.5, 1e-3, 2.0, 1.0, 0.01 * (i + 1)) for i in range(10, 20)])
    sink.finish("done", {})
    at = at.run()
    clean(at)
    assert not any("still running" in str(c.value) for c in at.caption)


# ---------------------------------------------------------------- helpers


def test_run_from_state_reads_what_the_editor_shows(db):
    at = page(TRAIN)
    at.selectbox(key="tr_r0_opt").set_value("sgd")
    at = at.run()
    at.selectbox(key="tr_r0_clip").set_value("smooth")
    at.selectbox(key="tr_r0_sched").set_value("cosine")
    at = at.run()
    clean(at)
    state = {k: at.session_state[k] for k in at.session_state if str(k).startswith("tr_r0_")}
    run = run_from_state("tr_r0_", state, default_run("adam"))
    assert run.optimizer == "sgd" and run.clip == "smooth" and run.schedule == "cosine"
    assert dict(run.schedule_kw)["T_max"] is None  # derived from the steps
    assert at.button(key="tr_start").label == "Start 1 run" and not errors(at)


def test_job_from_run_and_back_to_the_explorer():
    run = RunConfig("adam", (("lr", 0.003),), "norm", 0.25, "cosine", (("eta_min", 1e-5),))
    job = Job("char-lstm", run, steps=400, seed=3)
    stored = json.loads(job.to_json())
    assert stored["clip"] == ["norm", 0.25] and stored["schedule"][0] == "cosine"
    assert dict(stored["hparams"])["lr"] == 0.003
    plain = json.loads(Job("digits-mlp", default_run("adam")).to_json())
    assert plain["schedule"] is None and plain["clip"] is None  # the plain constant lr, no clipping
    back = Job.from_json(job.to_json())
    assert back.run == run and run_of(back) == run and run_of(json.loads(back.to_json())) == run
    spec = explorer_spec(job)
    assert spec.surface == "quartic" and spec.steps == 400 and spec.runs == (run,)
    _, warnings = from_query_string(explorer_url(job).removeprefix("./?"))
    assert warnings == []


@pytest.mark.parametrize("job", [
    {"optimizer": "adam", "hparams": [["lr", 50.0], ["betas", [0.9, 0.999]]], "clip": ["norm", 1e6],
     "schedule": ["cosine", [["T_max", 100000]]], "steps": 0},
    {"optimizer": "sgd", "hparams": [["lr", -1.0], ["nope", 1]], "clip": ["value", 0.0],
     "schedule": ["one_cycle", [["pct_start", 2.0]]], "steps": 10**7},
    {"optimizer": "adam", "hparams": [], "clip": None, "schedule": ["no-such", []], "steps": 3},
])
def test_explorer_links_of_odd_runs_decode_without_warnings(job):
    url = explorer_url(job, total_steps=job["steps"] or None)
    assert url is not None
    spec, warnings = from_query_string(url.removeprefix("./?"))
    assert warnings == [], warnings
    assert 10 <= spec.steps <= 5000 and len(spec.runs) == 1
    assert explorer_url({"optimizer": "no-such-optimizer"}) is None


def test_small_helpers():
    assert run_ids("3,1, x,#2,3") == [3, 1, 2]
    assert run_ids(["1,2", "5"]) == [1, 2, 5] and run_ids(None) == []
    assert compare_url([2, 7]) == "compare?runs=2,7"
    r = {"id": 4, "task": "digits-mlp", "optimizer": "adam", "status": "done", "label": "",
         "job": {"hparams": [], "clip": ["norm", 1.0], "schedule": ["cosine", []]}}
    assert run_label(r) == "#4 digits-mlp · Adam lr=0.001 · clip norm 1 · cosine · done"
    assert run_label(r | {"optimizer": "gone", "label": "mine"}) == "#4 digits-mlp · gone · “mine” · done"


def test_curve_cache_reads_only_new_rows_and_matches_the_store(db):
    import numpy as np

    from training.tasks import info as task_info
    from ui.train_spec import CurveCache

    store = Store(db)
    job = Job(task="char-lstm", steps=30)
    run_id = store.create_run(job, pid=os.getpid())
    sink = RunSink(store, run_id, heartbeat_every=0)
    sink.start(job, "cpu", {"steps": 30})
    sink.steps([StepRow(i, 3.0, 1e-3, 1.0, 1.0, 0.1 * i) for i in range(10)])
    cache = CurveCache()
    steps, _ = cache.get(store, store.run(run_id))
    assert len(steps["step"]) == 10
    sink.steps([StepRow(i, 2.0, 1e-3, 1.0, 1.0, 0.1 * i) for i in range(10, 25)])
    sink.evals([EvalRow(25, 2.0, 4.5, 100.0, wall=2.5)])
    steps, evals = cache.get(store, store.run(run_id))
    full = store.steps(run_id)
    assert all(np.array_equal(steps[k], full[k]) for k in full) and evals["step"].tolist() == [25]
    sink.finish("done", {})
    steps, _ = cache.get(store, store.run(run_id))
    assert len(steps["step"]) == 25
    info = task_info(store.run(run_id))  # what the registry says where the run did not store it
    assert info == {"metric_name": "bits/char", "higher_is_better": False, "target": None}


@pytest.mark.slow  # ~0.5 s: Streamlit page runs
def test_compare_says_which_runs_have_no_smoothness_instead_of_dropping_them(db):
    store = Store(db)
    a = write_run(store)
    b = write_run(store, smoothness=None)
    at = page(COMPARE, {"runs": f"{a},{b}"})
    clean(at)
    notes = [plain(c.value) for c in at.caption if "No smoothness" in plain(c.value)]
    assert len(notes) == 1 and f"run(s) #{b}:" in notes[0] and f"#{a}" not in notes[0]


@pytest.mark.slow  # ~5 s: waits for the run to stop
def test_cancel_returns_at_once_and_the_run_stops_in_the_background(db):
    """The Cancel callback sets the run's flag and returns (it used to wait up to the grace period,
    freezing the page); the run is then stopped in the background. Each status is shown once."""
    store = Store(db)
    job = Job(task="digits-mlp", steps=100)
    run_id = store.create_run(job, pid=os.getpid())  # "running" in this process: never terminated by cancel
    RunSink(store, run_id, heartbeat_every=0).start(job, "cpu", {"steps": 100})
    at = page(TRAIN)
    (bar,) = at.get("progress")
    assert plain(bar.proto.text).count("running") == 1
    at = at.button(key=f"tr_cancel{run_id}").click().run()
    clean(at)
    assert store.cancel_requested(run_id) and store.status(run_id) == "running"  # asked, not waited for
    assert any("cancelling" in plain(i.value) for i in at.info)
    deadline = time.monotonic() + 30
    while store.status(run_id) == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store.status(run_id) == "cancelled"
