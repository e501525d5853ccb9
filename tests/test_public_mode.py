"""Public mode (deploy.py): settings, training limits rechecked on the server, runs that belong to the
session that started them, the compute deadline and the request-wide work cap in the engine, and the
server-wide bound on heavy computations (ui.slots)."""
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import deploy
import trajectories
from training import workers
from training.job import Job
from training.store import SCHEMA_VERSION, RunSink, Store
from trajectories.limits import TimeLimit, deadline
from ui import slots
from ui.links import to_query
from ui.spec import ExplorerSpec, RunConfig, default_run
from ui.sweep_links import to_query as sweep_query
from ui.sweep_spec import AxisSpec, SweepSpec
from ui.text import plain

ROOT = Path(__file__).resolve().parent.parent
TRAIN = str(ROOT / "app_pages" / "train.py")
COMPARE = str(ROOT / "app_pages" / "compare.py")
EXPLORER = str(ROOT / "app_pages" / "explorer.py")
SWEEPS = str(ROOT / "app_pages" / "sweeps.py")
TIMEOUT = 120


@pytest.fixture
def public(monkeypatch):
    for k in [k for k in os.environ if k.startswith(deploy.PREFIX)]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("OPT_PLAYGROUND_PUBLIC", "1")
    return monkeypatch


@pytest.fixture
def local(monkeypatch):
    for k in [k for k in os.environ if k.startswith(deploy.PREFIX)]:
        monkeypatch.delenv(k)
    return monkeypatch


@pytest.fixture
def db(tmp_path, monkeypatch) -> str:
    path = str(tmp_path / "runs.sqlite")
    monkeypatch.setenv("OPT_PLAYGROUND_DB", path)
    return path


def page(path: str, query: dict | None = None, owner: str | None = None) -> AppTest:
    at = AppTest.from_file(path, default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    if owner is not None:
        at.session_state["owner_token"] = owner
    return at.run()


def shown(elements) -> list[str]:
    return [plain(e.value) for e in elements]


def running_run(store: Store, owner: str | None, steps: int = 100) -> int:
    """A run that is running in this (alive) process, owned by `owner`."""
    job = Job(task="digits-mlp", steps=steps)
    run_id = store.create_run(job, pid=os.getpid(), owner=owner)
    RunSink(store, run_id, heartbeat_every=0).start(job, "cpu", {"steps": steps})
    return run_id


# ---------------------------------------------------------------- settings


def test_local_defaults_keep_every_power_and_public_defaults_limit(local):
    s = deploy.settings()
    assert not s.public and s.training and s.max_jobs is None and s.deadline_s is None
    assert s.max_train_steps == 10_000_000 and s.max_work == 5 * 10**8
    local.setenv("OPT_PLAYGROUND_PUBLIC", "yes")
    s = deploy.settings()
    assert s.public and not s.training and s.max_jobs == 2 and s.max_session_jobs == 2
    assert s.deadline_s == 15 and s.max_train_steps == 5000 and s.max_work == 150_000_000
    assert s.disabled_reason() is not None and "OPT_PLAYGROUND_TRAINING" in s.disabled_reason()


def test_overrides_lower_the_ceilings_but_never_raise_them(public):
    public.setenv("OPT_PLAYGROUND_TRAINING", "on")
    public.setenv("OPT_PLAYGROUND_MAX_JOBS", "none")
    public.setenv("OPT_PLAYGROUND_MAX_TRAIN_STEPS", "1e12")
    public.setenv("OPT_PLAYGROUND_DEADLINE_S", "2.5")
    s = deploy.settings()
    assert s.training and s.max_jobs is None and s.deadline_s == 2.5
    assert s.max_train_steps == deploy.LOCAL_MAX_TRAIN_STEPS  # 1e12 asked, the hard ceiling kept


@pytest.mark.parametrize("name, value", [("PUBLIC", "maybe"), ("MAX_JOBS", "two"), ("DEADLINE_S", "-1"),
                                         ("SLOTS", "nan"), ("MAX_WORK", "inf")])
def test_a_malformed_setting_is_refused_by_name(local, name, value):
    local.setenv(deploy.PREFIX + name, value)
    with pytest.raises(ValueError, match=deploy.PREFIX + name):
        deploy.settings()


# ---------------------------------------------------------------- training jobs: one validator, the server's limits


@pytest.mark.parametrize("field, value", [("steps", 10**12), ("batch_size", 10**9), ("size", 1e6),
                                          ("eval_every", 10**9), ("seed", 2**70), ("size", float("nan")),
                                          ("label", "x" * 1000)])
def test_check_job_refuses_what_the_widgets_cannot_set(local, field, value):
    with pytest.raises(ValueError) as e:
        workers.check_job(Job(task="digits-mlp", **{field: value}))
    assert len(str(e.value)) < 300  # a 10^70 seed is not echoed digit by digit


def test_check_job_applies_the_public_ceilings(public):
    workers.check_job(Job(task="digits-mlp", steps=5000, batch_size=512))
    with pytest.raises(ValueError, match="5,000 on this server"):
        workers.check_job(Job(task="digits-mlp", steps=5001))
    with pytest.raises(ValueError, match="at most 1 on this server"):
        workers.check_job(Job(task="digits-mlp", size=2.0))


def test_admit_refuses_training_when_it_is_off_and_past_each_limit(public, tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    with pytest.raises(ValueError, match="switched off"):
        workers.admit(store, 1, "me")
    public.setenv("OPT_PLAYGROUND_TRAINING", "on")
    workers.admit(store, 2, "me")  # two places, none taken
    with pytest.raises(ValueError, match="at most 2 training job"):
        workers.admit(store, 3, "me")
    running_run(store, "someone")
    workers.admit(store, 1, "me")
    with pytest.raises(ValueError, match="1 are running"):
        workers.admit(store, 2, "me")
    public.setenv("OPT_PLAYGROUND_MAX_JOBS", "5")
    public.setenv("OPT_PLAYGROUND_MAX_SESSION_JOBS", "1")
    running_run(store, "me")
    with pytest.raises(ValueError, match="1 of yours are running"):
        workers.admit(store, 1, "me")
    workers.admit(store, 1, "you")
    public.setenv("OPT_PLAYGROUND_MAX_STORE_MB", "1")
    store.set_status(1, "running", error="x" * 2_000_000)  # the store past 1 MB
    with pytest.raises(ValueError, match="run store is full"):
        workers.admit(store, 1, "you")


def test_an_old_store_gains_the_owner_column_and_keeps_its_runs(tmp_path):
    path = tmp_path / "old.sqlite"
    Store(path)
    con = sqlite3.connect(path)  # make it a version-1 store: no owner column, one run
    con.execute("ALTER TABLE runs DROP COLUMN owner")
    con.execute("INSERT INTO runs (created, job_json, task, optimizer) VALUES (1, '{\"task\": \"digits-mlp\"}', "
                "'digits-mlp', 'adam')")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    store = Store(path)
    assert store.pragma("user_version") == SCHEMA_VERSION == 3
    (run,) = store.list_runs()
    assert run["owner"] is None and run["task"] == "digits-mlp"


# ---------------------------------------------------------------- the pages in public mode


def test_train_page_says_training_is_off_and_start_is_disabled(public, db):
    at = page(TRAIN)
    assert not at.exception
    assert any("switched off on this public demo" in t for t in shown(at.info))
    assert at.button(key="tr_start").disabled


def test_start_is_refused_past_a_limit_and_nothing_starts(public, db):
    public.setenv("OPT_PLAYGROUND_TRAINING", "on")
    public.setenv("OPT_PLAYGROUND_MAX_JOBS", "1")
    store = Store(db)
    other = running_run(store, "someone-else")
    at = page(TRAIN, owner="me")
    assert not at.exception
    assert not at.button(key="tr_start").disabled
    assert not any(b.key == f"tr_cancel{other}" for b in at.button)  # not shown: another visitor's
    at = at.button(key="tr_start").click().run()
    assert not at.exception
    assert any("at most 1 training job" in t for t in shown(at.error))
    assert [r["id"] for r in store.list_runs()] == [other]
    store.set_status(other, "cancelled")


@pytest.mark.slow  # ~0.9 s: Streamlit page runs
def test_another_sessions_run_cannot_be_cancelled_or_deleted_on_compare(public, db):
    store = Store(db)
    theirs = running_run(store, "someone-else")
    mine = store.create_run(Job(task="digits-mlp", steps=5), owner="me")
    store.set_status(mine, "done")
    at = page(COMPARE, {"runs": f"{theirs},{mine}"}, owner="me")
    assert not at.exception
    keys = {b.key for b in at.button}
    assert f"cmp_cancel{theirs}" not in keys and f"cmp_del{theirs}" not in keys
    assert f"cmp_del{mine}" in keys
    assert any("Started by another visitor" in t for t in shown(at.caption))
    at = at.button(key=f"cmp_del{mine}").click().run()
    at = at.button(key=f"cmp_yes{mine}").click().run()
    assert not at.exception
    assert [r["id"] for r in store.list_runs()] == [theirs]
    store.set_status(theirs, "cancelled")


def test_locally_every_run_can_be_cancelled(local, db):
    store = Store(db)
    theirs = running_run(store, "someone-else")
    at = page(TRAIN, owner="me")
    assert at.button(key=f"tr_cancel{theirs}").label == "Cancel"
    store.set_status(theirs, "cancelled")


# ---------------------------------------------------------------- compute: deadline, request-wide cap, slots


@pytest.mark.slow  # ~1.5 s
def test_a_race_past_its_deadline_keeps_the_steps_it_did():
    full = trajectories.race("rosenbrock", [trajectories.Run("adam", {"lr": 0.01})], (1.0, 1.0), 3000)
    cut = trajectories.race("rosenbrock", [trajectories.Run("adam", {"lr": 0.01})], (1.0, 1.0), 3000,
                            deadline=time.monotonic() + 0.02)
    assert full.stopped_at is None and cut.stopped_at is not None and 1 <= cut.stopped_at < 3000
    k = cut.stopped_at
    assert cut.xy.shape == (k + 1, 1, 2) and cut.grad_norm.shape == cut.lr.shape == cut.smoothness.shape == (k, 1)
    assert (cut.xy == full.xy[: k + 1]).all() and (cut.loss == full.loss[: k + 1]).all()


def test_a_sweep_or_basins_past_its_deadline_raises_time_limit():
    axes = [trajectories.Axis.span("lr", 1e-4, 1e-1, 200, log=True), trajectories.Axis.span("betas.0", 0, 0.99, 200)]
    with pytest.raises(TimeLimit, match="compute limit"):
        trajectories.sweep("rosenbrock", "adam", (1.0, 1.0), 2000, axes, deadline=deadline(0.05))
    with pytest.raises(TimeLimit):
        trajectories.basins("himmelblau", "adam", 2000, n=300, deadline=deadline(0.05))


def test_the_work_cap_counts_every_optimizer_of_a_request(local):
    runs = tuple(default_run(n) for n in ("momentum", "nesterov", "adam", "rmsprop"))
    x, y = AxisSpec("lr", 1e-4, 1e-1, 300, True), AxisSpec("momentum", 0.0, 0.99, 300, False)
    one = SweepSpec(runs=runs[:1], x=x, y=y, steps=5000, seeds=1)  # 4.5e8 run-steps: within 5e8
    assert one.work() == 450_000_000
    with pytest.raises(ValueError, match="1,800,000,000 run-steps"):
        SweepSpec(runs=runs[:2] + (default_run("momentum"), default_run("nesterov")), x=x, y=y, steps=5000)
    local.setenv("OPT_PLAYGROUND_PUBLIC", "1")  # public: a lower cap, same rule
    with pytest.raises(ValueError, match="the limit is 150,000,000"):
        SweepSpec(runs=runs[:1], x=x, y=y, steps=5000)
    with pytest.raises(ValueError, match="the limit is 150,000,000"):  # the engine checks the same on its own
        trajectories.sweep("rosenbrock", "sgd", (1.0, 1.0), 5000,
                           [x.axis(), trajectories.Axis.span("momentum", 0, 0.9, 300)])


@pytest.mark.slow  # ~1 s of real waits
def test_slots_bound_heavy_computations_and_say_who_waits(public):
    public.setenv("OPT_PLAYGROUND_SLOTS", "1")
    release, inside, waits = threading.Event(), threading.Event(), []

    def first():
        with slots.heavy():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    inside.wait(10)
    assert slots.busy() == (1, 1)
    with pytest.raises(slots.Busy, match="server is busy"):
        with slots.heavy(on_wait=lambda waited, running: waits.append(running), wait_s=0.5):
            pass
    assert waits and set(waits) == {1}
    threading.Timer(0.3, release.set).start()
    with slots.heavy(on_wait=lambda waited, running: waits.append(waited), wait_s=10):
        assert slots.busy() == (1, 1)
    t.join()
    assert slots.busy() == (0, 1)


@pytest.mark.slow  # ~4 s
def test_the_explorer_stops_an_expensive_view_at_the_deadline_and_shows_what_it_did(public):
    public.setenv("OPT_PLAYGROUND_DEADLINE_S", "0.3")
    formula = " + ".join(f"sin({i}*x)*cos({i}*y) + exp(-(x-{i})**2)*tanh(y)" for i in range(1, 9))
    runs = tuple(RunConfig(n) for n in ("adam", "sgd", "momentum", "rmsprop"))
    spec = ExplorerSpec(surface="custom", formula=formula, runs=runs, steps=5000)
    at = AppTest.from_file(EXPLORER, default_timeout=TIMEOUT)
    for k, v in to_query(spec).items():
        at.query_params[k] = v
    at = at.run()
    assert not at.exception
    stopped = [t for t in shown(at.warning) if t.startswith("Stopped after")]
    assert stopped and "of 5,000 steps" in stopped[0] and "0.3 s" in stopped[0]
    assert at.get("bidi_component")  # the steps done are drawn (the explorer's player)


def sweeps_page(spec: SweepSpec) -> AppTest:
    at = AppTest.from_file(SWEEPS, default_timeout=TIMEOUT)
    for k, v in sweep_query(spec).items():
        at.query_params[k] = v
    return at.run()


BIG = dict(runs=(default_run("momentum"), default_run("nesterov")), x=AxisSpec("lr", 1e-4, 1e-2, 300, True),
           y=AxisSpec("momentum", 0.0, 0.99, 300, False), steps=500)


@pytest.mark.slow  # ~1 s
def test_the_sweeps_page_stops_at_the_deadline_with_a_message(public):
    public.setenv("OPT_PLAYGROUND_DEADLINE_S", "0.2")
    at = sweeps_page(SweepSpec(**BIG))
    assert not at.exception
    texts = shown(at.error)
    assert any(t.startswith("Stopped:") and "0.2 s of computation" in t for t in texts), texts


@pytest.mark.slow  # ~2 s
def test_the_sweeps_page_keeps_the_optimizers_that_finished_before_the_deadline(public):
    real = slots.compute

    def second_one_stops(fn, spec, k, **kw):  # the deadline falls during optimizer 2
        if k == 1:
            raise TimeLimit("stopped at the compute limit after 40% of the work (90,000 runs x 500 steps)")
        return real(fn, spec, k, **kw)

    public.setattr(slots, "compute", second_one_stops)
    small = {"x": AxisSpec("lr", 1e-4, 1e-2, 20, True), "y": AxisSpec("momentum", 0.0, 0.99, 10, False)}
    spec = SweepSpec(**{**BIG, **small})
    at = sweeps_page(spec)
    assert not at.exception
    (warning,) = [t for t in shown(at.warning) if t.startswith("Stopped:")]
    assert "40% of the work" in warning and "Showing the optimizers that finished" in warning
    assert len(at.get("plotly_chart")) == 1  # optimizer 1's map


def worker_facts(progress=None, deadline=None) -> tuple[int, int, int, bool]:
    """(pid, niceness, torch threads, deadline given) as a worker process sees them."""
    import torch

    progress(0.5)
    return os.getpid(), os.nice(0), torch.get_num_threads(), deadline is not None


def slow_then_raise(seconds: float, progress=None, deadline=None):
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        progress(0.5)
        time.sleep(0.05)
    raise ValueError("surface exploded")


@pytest.mark.slow  # ~1 s: a worker process
def test_heavy_computations_run_in_a_niced_worker_process_and_errors_come_back(public):
    pid, nice, threads, limited = slots.compute(worker_facts, seconds=5)
    assert pid != os.getpid() and nice >= os.nice(0) + slots.NICE and threads == 1 and limited
    seen = []
    with pytest.raises(ValueError, match="surface exploded"):
        slots.compute(slow_then_raise, 0.6, progress=seen.append)
    assert 0.5 in seen  # the worker's progress reached the caller
    with pytest.raises(TimeLimit):  # the engine's own stop comes back as itself
        slots.compute(trajectories.sweep, "rosenbrock", "adam", (1.0, 1.0), 3000,
                      [trajectories.Axis.span("lr", 1e-4, 1e-1, 300, log=True)], seconds=0.01)
    until = time.monotonic() + 10  # a slot comes back when the worker is done (a callback, just after)
    while slots.busy()[0] and time.monotonic() < until:
        time.sleep(0.05)
    assert slots.busy()[0] == 0
