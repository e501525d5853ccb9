"""The run store and the worker processes: rows survive, kills are reaped, cancels stop, writers don't collide.

The trainers here are fakes (fake_train, stubborn_train below) that report rows to the sink with
sleeps, so these tests need neither training.runner nor a real task; worker processes load them
by file path (workers.launch(..., target=FAKE)).
"""
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from training import workers
from training.job import EvalRow, Job, StepRow
from training.store import SCHEMA_VERSION, RunSink, Store, pid_alive

HERE = Path(__file__).resolve()
FAKE = f"{HERE}:fake_train"
STUBBORN = f"{HERE}:stubborn_train"
TIMEOUT = 120.0  # generous: 2 busy cores, spawn + imports per worker


# ---------------------------------------------------------------- fake trainers (run in worker processes)


def fake_train(job: Job, sink) -> dict:
    """Reports job.steps steps in flushes of `flush` rows, sleeping `delay` s per flush; obeys cancel.
    The knobs come in the label as JSON (fake_job); any other label leaves them at their defaults."""
    h = json.loads(job.label) if job.label.startswith("{") else {}
    delay = float(os.environ.get("FAKE_TRAIN_DELAY", h.get("delay", 0.0)))
    flush = int(h.get("flush", 10))
    steps = job.steps or 100
    eval_every = job.eval_every or 50
    sink.start(job, "cpu", {"text": "fake CPU", "metric_name": "accuracy", "steps": steps})
    t0 = time.perf_counter()
    batch = []
    for step in range(steps):
        batch.append(StepRow(step=step, loss=1.0 / (step + 1), lr=0.1, grad_norm=2.0, clip_coef=1.0,
                             wall=time.perf_counter() - t0))
        if len(batch) == flush or step == steps - 1:
            sink.steps(batch)
            batch = []
            if sink.cancelled():
                sink.finish("cancelled", {"steps": step + 1})
                return {"steps": step + 1}
            time.sleep(delay)
        if (step + 1) % eval_every == 0:
            sink.evals([EvalRow(step=step, val_loss=1.0 / (step + 1), metric=min(1.0, step / steps), throughput=1e3,
                                wall=time.perf_counter() - t0)])
    sink.finish("done", {"steps": steps})
    return {"steps": steps}


def stubborn_train(job: Job, sink) -> dict:
    """Never looks at cancelled(): only terminating its process stops it."""
    sink.start(job, "cpu", {})
    for step in range(100_000):
        sink.steps([StepRow(step, 1.0, 0.1, 1.0, 1.0, 0.0)])
        time.sleep(0.05)
    return {}


# ---------------------------------------------------------------- helpers


def wait_for(cond, timeout=TIMEOUT, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def n_steps(store: Store, run_id: int) -> int:
    return len(store.steps(run_id)["step"])


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "runs.sqlite")


def fake_job(steps=100, delay=0.0, flush=10, **kw) -> Job:
    return Job(task="fake", steps=steps, label=json.dumps({"delay": delay, "flush": flush}), **kw)


# ---------------------------------------------------------------- the store itself


def test_wal_mode_and_schema_version(store):
    assert store.pragma("journal_mode") == "wal"
    assert store.pragma("user_version") == SCHEMA_VERSION
    assert Store(store.path).pragma("journal_mode") == "wal"  # reopening keeps it


def test_newer_schema_is_refused(store):
    import sqlite3

    con = sqlite3.connect(store.path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(RuntimeError, match="schema version"):
        Store(store.path)


def test_default_path_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPT_PLAYGROUND_DB", str(tmp_path / "sub" / "x.sqlite"))
    s = Store()
    assert s.path == tmp_path / "sub" / "x.sqlite" and s.path.exists()


def test_run_written_through_runsink_appears_with_its_rows(store):
    job = Job.from_dict(dict(task="digits-mlp", optimizer="adam", hparams=(("lr", 0.01),), clip=("norm", 1.0), steps=3,
                             label="first"))
    run_id = store.create_run(job)
    r = store.run(run_id)
    assert r["status"] == "queued" and r["job"]["optimizer"] == "adam" and r["label"] == "first"
    assert store.job(run_id) == job
    with RunSink(store, run_id) as sink:
        sink.start(job, "cpu", {"text": "CPU, 2 threads"})
        assert store.run(run_id)["status"] == "running"
        assert store.run(run_id)["pid"] == os.getpid()
        sink.steps([StepRow(0, 2.5, 0.01, 3.0, 0.33, 0.1), StepRow(1, float("nan"), 0.01, float("inf"), 0.0, 0.2)])
        sink.steps([StepRow(2, 1.5, 0.005, 1.0, 1.0, 0.3)])
        sink.evals([EvalRow(2, 1.25, 0.75, 900.0, smoothness=None, wall=0.31, extra={"note": "x"})])
        assert not sink.cancelled()
        sink.finish("done", {"best_metric": 0.75, "array": np.float32(1.5)})
    r = store.run(run_id)
    assert r["status"] == "done" and r["finished"] >= r["started"] >= r["created"]
    assert r["device"] == "cpu" and r["device_info"] == {"text": "CPU, 2 threads"}
    assert r["summary"] == {"best_metric": 0.75, "array": 1.5}
    assert r["last_step"] == 2 and r["last_loss"] == 1.5 and r["n_evals"] == 1 and r["total_steps"] == 3
    s = store.steps(run_id)
    assert s["step"].dtype == np.int64 and s["step"].tolist() == [0, 1, 2]
    assert s["loss"][0] == 2.5 and math.isnan(s["loss"][1]) and s["loss"][2] == 1.5  # NaN comes back as NaN
    assert math.isinf(s["grad_norm"][1])
    assert s["clip_coef"].tolist() == [0.33, 0.0, 1.0] and s["lr"].tolist() == [0.01, 0.01, 0.005]
    assert store.steps(run_id, since=1)["step"].tolist() == [2]  # incremental polling
    e = store.evals(run_id)
    assert e["step"].tolist() == [2] and e["metric"].tolist() == [0.75] and math.isnan(e["smoothness"][0])
    assert e["extra"] == [{"note": "x"}]
    assert [x["id"] for x in store.list_runs()] == [run_id]
    assert store.list_runs(status="running") == [] and len(store.list_runs(status=["done"], task="digits-mlp")) == 1


def test_a_step_written_twice_replaces_the_first(store):
    run_id = store.create_run(fake_job())
    sink = RunSink(store, run_id, heartbeat_every=0)
    sink.evals([EvalRow(5, 1.0, 0.5, 1.0)])
    sink.evals([EvalRow(5, 0.9, 0.6, 1.0)])
    assert store.evals(run_id)["metric"].tolist() == [0.6]


def test_unknown_status_and_run_are_refused(store):
    run_id = store.create_run(fake_job())
    with pytest.raises(ValueError, match="unknown run status"):
        store.set_status(run_id, "finished-ish")
    with pytest.raises(KeyError, match="no run 999"):
        store.run(999)


def test_delete_run_refuses_an_active_run(store):
    run_id = store.create_run(fake_job())
    RunSink(store, run_id, heartbeat_every=0).steps([StepRow(0, 1, 1, 1, 1, 0)])
    with pytest.raises(ValueError, match="cancel it"):
        store.delete_run(run_id)
    store.set_status(run_id, "cancelled")
    store.delete_run(run_id)
    assert store.list_runs() == [] and n_steps(store, run_id) == 0


def test_cancel_flag_reaches_the_sink(store):
    run_id = store.create_run(fake_job())
    sink = RunSink(store, run_id, poll_every=0.0, heartbeat_every=0)
    assert not sink.cancelled()
    store.request_cancel(run_id)
    assert sink.cancelled() and store.run(run_id)["cancel_requested"]


def test_reap_marks_runs_whose_process_is_gone(store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = store.create_run(fake_job(), pid=dead.pid)
    alive = store.create_run(fake_job(), pid=os.getpid())
    fresh_queued = store.create_run(fake_job())  # no process yet: waits for one
    finished = store.create_run(fake_job(), pid=dead.pid)
    store.set_status(finished, "done")
    assert not pid_alive(dead.pid) and pid_alive(os.getpid())
    assert store.reap() == [gone]
    assert store.run(gone)["status"] == "interrupted" and "process ended" in store.run(gone)["error"]
    assert [store.status(i) for i in (alive, fresh_queued, finished)] == ["queued", "queued", "done"]
    time.sleep(0.05)
    assert sorted(store.reap(stale_after=0.01)) == [alive, fresh_queued]  # no heartbeat: given up on


def test_execute_marks_every_ending(store):
    def crashes(job, sink):
        sink.start(job, "cpu", {})
        sink.steps([StepRow(0, 1, 1, 1, 1, 0)])
        raise FloatingPointError("boom")

    def returns_without_finish(job, sink):
        sink.start(job, "cpu", {})
        return {"steps": 0}

    def interrupted(job, sink):
        sink.start(job, "cpu", {})
        raise KeyboardInterrupt

    a, b, c = (store.create_run(fake_job()) for _ in range(3))
    assert workers.execute(a, store, target=crashes) == "failed"
    assert "FloatingPointError: boom" in store.run(a)["error"] and "Traceback" in store.run(a)["error"]
    assert n_steps(store, a) == 1
    assert workers.execute(b, store, target=returns_without_finish) == "done"
    assert store.run(b)["summary"] == {"steps": 0}
    assert workers.execute(c, store, target=interrupted) == "interrupted"
    d = store.create_run(fake_job())
    store.request_cancel(d)
    assert workers.execute(d, store, target=interrupted) == "cancelled"  # a stop was asked for
    e = store.create_run(fake_job(steps=30))
    assert workers.execute(e, store, target=FAKE) == "done" and n_steps(store, e) == 30


def test_check_job_rejects_bad_jobs_before_anything_starts():
    workers.check_job(Job.from_dict(dict(task="digits-mlp", optimizer="adam", hparams=(("lr", 0.01),),
                                         clip=("norm", 1.0), schedule=("one_cycle", (("pct_start", 0.3),)), steps=20)))
    bad_runs = [
        (dict(optimizer="nope"), "unknown optimizer"),
        (dict(hparams=(("momentum", 0.9),)), "no hyperparameter momentum"),
        (dict(hparams=(("lr", -1.0),)), "invalid lr"),
        (dict(clip=("norm", 0.0)), "clip threshold"),
        (dict(schedule=("nope", ())), "unknown schedule"),
        (dict(schedule=("step", (("gamma", -2.0),))), "gamma"),
        (dict(hparams=5), "malformed"),
    ]
    for run, match in bad_runs:  # a run that cannot be trained makes no Job
        with pytest.raises(ValueError, match=match):
            Job.from_dict(dict(task="digits-mlp", **run))
    bad = [
        (Job(task="nope"), "unknown task"),
        (Job(task="digits-mlp", steps=-5), "steps"),
        (Job(task="digits-mlp", size=0.0), "size"),
        (Job(task="digits-mlp", device="tpu"), "unknown device"),
    ]
    for job, match in bad:
        with pytest.raises(ValueError, match=match):
            workers.check_job(job)


def test_auto_jobs_go_to_the_least_busy_gpu(store, monkeypatch):
    monkeypatch.setattr(workers, "gpu_count", lambda: 3)
    assert workers.assign_device(fake_job(), store).device == "cuda:0"
    for dev in ("cuda:0", "cuda:1", "cuda:0"):
        store.create_run(fake_job(device=dev))
    assert workers.assign_device(fake_job(), store).device == "cuda:2"
    assert workers.assign_device(fake_job(device="cpu"), store).device == "cpu"
    monkeypatch.setattr(workers, "gpu_count", lambda: 1)
    assert workers.assign_device(fake_job(), store).device == "auto"  # one GPU: the runner picks it


# ---------------------------------------------------------------- worker processes


@pytest.mark.slow  # ~3.2 s: a worker process
def test_worker_runs_a_job_in_its_own_process_and_session(store):
    run_id = workers.launch(fake_job(steps=60, delay=0.05), store.path, target=FAKE, validate=False)
    wait_for(lambda: store.status(run_id) == "running", what="the worker to start")
    pid = store.run(run_id)["pid"]
    assert pid != os.getpid() and pid_alive(pid)
    if hasattr(os, "getsid"):
        assert os.getsid(pid) != os.getsid(0)  # detached: a Ctrl-C at the launcher does not reach it
    assert workers.wait([run_id], store.path, timeout=TIMEOUT)[run_id] == "done"
    r = store.run(run_id)
    assert n_steps(store, run_id) == 60 and r["n_evals"] == 1 and r["summary"] == {"steps": 60}
    wait_for(lambda: not pid_alive(pid), what="the worker to exit")
    assert workers.running(store.path) == []


@pytest.mark.slow  # ~2 s: a worker process
def test_killed_worker_keeps_its_flushed_rows_and_is_reaped(store):
    run_id = workers.launch(fake_job(steps=100_000, delay=0.02, flush=10), store.path, target=FAKE, validate=False)
    wait_for(lambda: n_steps(store, run_id) >= 50, what="rows from the worker")
    pid = store.run(run_id)["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), what="the killed worker to die")
    seen = n_steps(store, run_id)
    assert store.integrity_check() == "ok"
    assert store.status(run_id) == "running"  # nobody marked it yet
    assert store.reap() == [run_id]
    r = store.run(run_id)
    assert r["status"] == "interrupted" and r["finished"] is not None
    s = store.steps(run_id)
    assert len(s["step"]) == seen >= 50
    assert s["step"].tolist() == list(range(seen))  # every flushed row, in order, no gaps
    assert seen % 10 == 0  # each flush landed whole or not at all
    assert store.reap() == []  # once


@pytest.mark.slow  # ~2 s: a worker process
def test_cancel_stops_a_cooperative_worker(store):
    run_id = workers.launch(fake_job(steps=100_000, delay=0.02), store.path, target=FAKE, validate=False)
    wait_for(lambda: n_steps(store, run_id) >= 20, what="rows from the worker")
    assert workers.cancel(run_id, store.path, grace=TIMEOUT) == "cancelled"
    r = store.run(run_id)
    assert r["summary"]["steps"] == r["last_step"] + 1  # the trainer finished it itself
    assert r["error"] is None


@pytest.mark.slow  # ~3 s: waits out the grace period
def test_cancel_terminates_a_worker_that_ignores_it(store):
    run_id = workers.launch(fake_job(), store.path, target=STUBBORN, validate=False)
    wait_for(lambda: n_steps(store, run_id) >= 3, what="rows from the worker")
    pid = store.run(run_id)["pid"]
    assert workers.cancel(run_id, store.path, grace=0.5) == "cancelled"
    wait_for(lambda: not pid_alive(pid), what="the worker to die")
    assert store.integrity_check() == "ok"


@pytest.mark.slow  # ~10 s: three workers, 1 500 steps each
def test_concurrent_writers_lose_nothing(store):
    ids = [workers.launch(fake_job(steps=1500, flush=3), store.path, target=FAKE, validate=False) for _ in range(3)]
    statuses = workers.wait(ids, store.path, timeout=TIMEOUT * 2)
    assert list(statuses.values()) == ["done"] * 3
    for run_id in ids:
        s = store.steps(run_id)
        assert s["step"].tolist() == list(range(1500))
        np.testing.assert_allclose(s["loss"], 1.0 / np.arange(1, 1501))
        assert len(store.evals(run_id)["step"]) == 30
    assert store.integrity_check() == "ok"
    wait_for(lambda: workers.running(store.path) == [], what="the workers to exit")


@pytest.mark.slow  # ~4 s: a script that launches a worker
def test_a_worker_starts_from_any_cwd_and_an_unguarded_script(tmp_path):
    # no `if __name__ == "__main__":` guard, another working directory: spawn must not re-run the script
    script = tmp_path / "launch.py"
    script.write_text(
        f"import sys\nsys.path.insert(0, {str(HERE.parent.parent)!r})\n"
        "from training import workers\nfrom training.job import Job\n"
        f"rid = workers.launch(Job(task='fake', steps=25), 'here.sqlite', target={FAKE!r}, validate=False)\n"
        "print(workers.wait([rid], 'here.sqlite', timeout=120)[rid])\n"
    )
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0 and p.stdout.strip() == "done", p.stderr
    (r,) = Store(tmp_path / "here.sqlite").list_runs()
    assert r["last_step"] == 24


def test_placement_runs_against_an_injected_device_list(store):
    """The multi-GPU placement code, run without GPUs: the candidates are a list the caller gives."""
    devices = ["cuda:0", "cuda:1"]
    assert workers.assign_device(fake_job(), store, devices).device == "cuda:0"
    store.create_run(fake_job(device="cuda:0"))
    assert workers.assign_device(fake_job(), store, devices).device == "cuda:1"
    store.create_run(fake_job(device="cuda:1"))
    store.create_run(fake_job(device="cuda:1"))
    assert workers.assign_device(fake_job(), store, devices).device == "cuda:0"
    assert workers.assign_device(fake_job(), store, ["cpu"]).device == "auto"  # one device: nothing to place


def test_cpu_jobs_share_the_cores_with_the_cpu_runs_already_active(store):
    assert workers.cpu_threads(store, 1, cores=9) == 8  # one core left to the rest of the machine
    assert workers.cpu_threads(store, 2, cores=9) == 4 and workers.cpu_threads(store, 1, cores=2) == 1
    store.create_run(fake_job(device="cpu"))  # queued: holds its share
    store.create_run(fake_job(device="cuda:0"))  # not a CPU run (and not a device here)
    assert workers.cpu_threads(store, 1, cores=9) == 4
    assert workers.cpu_threads(store, 3, cores=9) == 2 and workers.cpu_threads(store, 9, cores=2) == 1
