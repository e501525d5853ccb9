"""The Ray backend end to end, on a local Ray cluster (2 CPUs, a small object store) this module
starts once and always shuts down: grids land in the store, a killed task is retried and the store
holds every step exactly once, the same compare gives the same numbers as the local pool, cancels
work. Skipped, saying why, where Ray is not installed (requirements-ray.txt; CI installs it).

The trainers here are fakes run by file path (as --target), except the comparison with the local
pool, which trains digits-mlp for real.
"""
import json
import math
import os
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")

from training import cli, ray_backend, workers  # noqa: E402
from training.job import EvalRow, Job, StepRow  # noqa: E402
from training.ray_backend import Placement  # noqa: E402
from training.store import Store  # noqa: E402

pytestmark = pytest.mark.slow  # a Ray cluster: ~5 s to start, ~1 s per test
HERE = Path(__file__).resolve()
FAKE = f"{HERE.with_name('test_store.py')}:fake_train"
DYING = f"{HERE}:dying_train"
RAISING = f"{HERE}:raising_train"
TIMEOUT = 180.0  # 2 busy cores: a Ray worker's first torch import


# ---------------------------------------------------------------- trainers (run in Ray workers)


def dying_train(job: Job, sink) -> dict:
    """Reports job.steps steps in flushes of 10, loss = attempt * 1000 + step so the store tells the
    attempts apart; the first attempt (no marker file yet) exits its process after die_at steps, without
    a word, as a killed machine would. Attempts after it finish. The label holds the knobs as JSON."""
    h = json.loads(job.label)
    marker = Path(h["marker"])
    first = not marker.exists() or h.get("always")
    attempt = 1 if first else 2
    sink.start(job, "cpu", {"text": "fake CPU", "steps": job.steps})
    batch = []
    for step in range(job.steps):
        batch.append(StepRow(step, attempt * 1000.0 + step, 0.1, 1.0, 1.0, 0.0))
        if len(batch) == 10:
            sink.steps(batch)
            batch = []
            if step + 1 == int(h.get("die_at", 30)) and first:
                marker.write_text("died")
                os._exit(1)
    sink.steps(batch)
    sink.evals([EvalRow(job.steps, attempt, 0.5, 1.0)])
    sink.finish("done", {"steps": job.steps})
    return {"steps": job.steps}


def raising_train(job: Job, sink) -> dict:
    sink.start(job, "cpu", {})
    sink.steps([StepRow(0, 1.0, 0.1, 1.0, 1.0, 0.0)])
    raise RuntimeError("the trainer broke")


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def cluster():
    c = ray_backend.connect("local", num_cpus=2, object_store_mb=80)
    yield c
    ray_backend.shutdown()
    assert not ray.is_initialized()


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "runs.sqlite")


def wait_for(cond, what: str, timeout: float = TIMEOUT) -> None:
    # imported here, not at the top: Ray workers load this file for its trainers, without tests/ on their path
    from test_store import wait_for as wait

    wait(cond, timeout=timeout, what=what)


def launch(cluster, job: Job, db: str, target: str, place: Placement | None = None, retries=3) -> int:
    return ray_backend.launch(job, db, place=place or ray_backend.placement(job, cluster.nodes), retries=retries,
                              target=target)


def fake_job(steps=100, delay=0.0, **kw) -> Job:
    return Job(task="fake", steps=steps, label=json.dumps({"delay": delay, "flush": 10}), **kw)


# ---------------------------------------------------------------- a grid end to end


def test_a_grid_runs_on_the_cluster_into_the_store(cluster, db, capsys):
    code = cli.main(["compare", "--task", "digits-mlp", "--optimizer", "adam,sgd", "--lr", "0.1,0.01",
                     "--steps", "60", "--backend", "ray", "--db", db, "--target", FAKE])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "a local Ray cluster: 1 node, 2 CPUs, 0 GPUs; each run 1 CPU thread, up to 3 retries" in err
    store = Store(db)
    runs = store.list_runs(newest_first=False)
    assert [r["status"] for r in runs] == ["done"] * 4
    for r in runs:
        assert store.steps(r["id"])["step"].tolist() == list(range(60))
        assert r["pid"] is None and r["host"] and r["device"] == "cpu"  # no local process owns a Ray run
        ray_info = r["device_info"]["ray"]
        assert ray_info["attempt"] == 1 and ray_info["threads"] == 1 and ray_info["pid"] != os.getpid()
    assert [line.split()[1] for line in out.strip().splitlines()[2:]] == ["adam", "adam", "sgd", "sgd"]
    assert cli.main(["show", str(runs[0]["id"]), "--db", db]) == 0
    shown = capsys.readouterr().out
    assert "on Ray node" in shown and "attempt 1 of 4, 1 thread(s), GPUs none" in shown


def test_the_same_compare_gives_the_same_rows_as_the_local_pool(cluster, tmp_path, capsys):
    """digits-mlp for real, two seeds: the local worker pool (2 at a time, one thread each) and the Ray
    cluster (one thread each) write the same numbers, step for step, and the same weight snapshots."""
    argv = ["compare", "--task", "digits-mlp", "--optimizer", "adam", "--lr", "0.01", "--seed", "0,1",
            "--clip", "norm:1", "--steps", "30", "--eval-every", "10", "--smoothness-every", "7", "--snapshots", "3",
            "--device", "cpu", "-q"]
    local, on_ray = str(tmp_path / "local.sqlite"), str(tmp_path / "ray.sqlite")
    assert cli.main([*argv, "--parallel", "2", "--db", local]) == 0, capsys.readouterr().err
    assert cli.main([*argv, "--backend", "ray", "--db", on_ray]) == 0, capsys.readouterr().err
    a, b = Store(local), Store(on_ray)
    ra, rb = a.list_runs(newest_first=False), b.list_runs(newest_first=False)
    assert [r["job"] for r in ra] == [r["job"] for r in rb] and len(ra) == 2
    assert {r["device_info"]["device"]["threads"] for r in ra + rb} == {1}
    for x, y in zip(ra, rb, strict=True):
        assert x["status"] == y["status"] == "done"
        sa, sb = a.steps(x["id"]), b.steps(y["id"])
        for col in ("step", "loss", "lr", "grad_norm", "clip_coef"):
            assert sa[col].tolist() == sb[col].tolist(), col
        ea, eb = a.evals(x["id"]), b.evals(y["id"])
        for col in ("step", "val_loss", "metric", "smoothness", "grad_norm"):
            assert [v if math.isfinite(v) else None for v in ea[col].tolist()] == \
                   [v if math.isfinite(v) else None for v in eb[col].tolist()], col
        (ka, wa), (kb, wb) = a.snapshots(x["id"]), b.snapshots(y["id"])  # the weights, through the Ray sink too
        assert ka.tolist() == kb.tolist() == [0, 15, 30] and (wa == wb).all()
    assert len({tuple(a.steps(r["id"])["loss"].tolist()) for r in ra}) == 2  # the seeds differ


# ---------------------------------------------------------------- retries


def test_a_task_killed_mid_run_is_retried_and_every_step_is_stored_once(cluster, db, tmp_path):
    job = Job(task="fake", steps=80, label=json.dumps({"die_at": 30, "marker": str(tmp_path / "died")}))
    run_id = launch(cluster, job, db, DYING)
    assert workers.wait([run_id], db, timeout=TIMEOUT)[run_id] == "done", Store(db).run(run_id)["error"]
    assert (tmp_path / "died").read_text() == "died"  # the first attempt did die
    store = Store(db)
    steps = store.steps(run_id)
    assert steps["step"].tolist() == list(range(80))  # every step, once
    assert steps["loss"].tolist() == [2000.0 + i for i in range(80)]  # all from the attempt that finished
    assert store.evals(run_id)["val_loss"].tolist() == [2.0]
    r = store.run(run_id)
    assert r["device_info"]["ray"]["attempt"] == 2 and r["device_info"]["ray"]["max_attempts"] == 4
    assert r["error"] is None and r["summary"] == {"steps": 80}


def test_a_task_that_dies_more_often_than_its_retries_is_interrupted(cluster, db, tmp_path):
    job = Job(task="fake", steps=80, label=json.dumps({"die_at": 20, "always": True, "marker": str(tmp_path / "died")}))
    run_id = launch(cluster, job, db, DYING, retries=1)
    assert workers.wait([run_id], db, timeout=TIMEOUT)[run_id] == "interrupted", Store(db).run(run_id)["error"]
    r = Store(db).run(run_id)
    assert "2 attempt(s), 1 retries allowed" in r["error"] and "rows of the last attempt are kept" in r["error"]
    steps = Store(db).steps(run_id)
    # the last attempt's rows, up to its death; the batch it sent as it died may be lost (in flight)
    assert steps["step"].tolist() in (list(range(10)), list(range(20)))
    assert steps["loss"].tolist() == [1000.0 + i for i in steps["step"].tolist()]


def test_a_trainer_that_raises_fails_with_its_traceback_and_is_not_retried(cluster, db):
    run_id = launch(cluster, Job(task="fake", steps=5), db, RAISING)
    assert workers.wait([run_id], db, timeout=TIMEOUT)[run_id] == "failed"
    r = Store(db).run(run_id)
    assert r["error"].startswith("RuntimeError: the trainer broke") and "Traceback" in r["error"]
    assert r["device_info"]["ray"]["attempt"] == 1


# ---------------------------------------------------------------- cancel


def test_cancel_stops_a_remote_run_through_the_store(cluster, db):
    run_id = launch(cluster, fake_job(steps=100_000, delay=0.02), db, FAKE)
    store = Store(db)
    wait_for(lambda: (store.run(run_id)["last_step"] or 0) >= 30, what="steps")
    assert workers.cancel(run_id, db, grace=30) == "cancelled"
    r = store.run(run_id)
    assert r["error"] is None and r["last_step"] >= 30  # it stopped itself at a flush and kept its rows


def test_a_queued_run_is_cancelled_before_it_starts_and_a_stubborn_one_is_terminated(cluster, db):
    """A run that takes both CPUs keeps the next one queued in Ray; cancelling the queued one drops it.
    The first never looks at its cancel flag: after the grace period it is marked cancelled and the
    writer actor kills its task."""
    store = Store(db)
    both = Placement(num_cpus=2, num_gpus=0, threads=1)
    stubborn = launch(cluster, Job(task="fake", steps=100_000), db, f"{HERE.with_name('test_store.py')}:stubborn_train",
                      place=both)
    wait_for(lambda: store.status(stubborn) == "running", what="the first run to start")
    queued = launch(cluster, fake_job(steps=10), db, FAKE, place=both)
    time.sleep(1.0)
    assert store.status(queued) == "queued"
    assert workers.cancel(queued, db, grace=30) == "cancelled"
    assert store.run(queued)["error"] == "cancelled before it started" and store.run(queued)["last_step"] is None
    pid = store.run(stubborn)["device_info"]["ray"]["pid"]
    assert workers.cancel(stubborn, db, grace=1.0) == "cancelled"
    wait_for(lambda: not workers.pid_alive(pid), what="the stubborn run's Ray worker to be terminated", timeout=60)
    n = store.run(stubborn)["last_step"]
    time.sleep(0.5)
    assert store.run(stubborn)["last_step"] == n and store.status(stubborn) == "cancelled"
    # the cluster is free again: a new run starts and finishes
    after = launch(cluster, fake_job(steps=20), db, FAKE, place=both)
    assert workers.wait([after], db, timeout=TIMEOUT)[after] == "done"


def test_reap_leaves_a_queued_or_running_ray_run_alone(cluster, db):
    """A Ray run has no local pid: reap() goes by its heartbeat, which the writer actor beats."""
    store = Store(db)
    run_id = launch(cluster, fake_job(steps=100_000, delay=0.02), db, FAKE)
    wait_for(lambda: store.status(run_id) == "running", what="the run to start")
    assert store.reap() == [] and store.reap(stale_after=60) == []
    assert workers.cancel(run_id, db, grace=30) == "cancelled"


# ---------------------------------------------------------------- the Train page


def test_the_train_page_starts_a_run_on_the_cluster(cluster, db, monkeypatch):
    """Ray is installed here, so the page offers it; Start sends the run to the cluster (this process's
    connection), the page follows it through the store, and the Ray run trains for real."""
    from streamlit.testing.v1 import AppTest

    from ui.text import plain

    monkeypatch.setenv("OPT_PLAYGROUND_DB", db)
    at = AppTest.from_file(str(HERE.parent.parent / "app_pages" / "train.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    radio = at.radio(key="tr_backend")
    assert radio.value == "local" and radio.options == ["this machine (worker processes)", "a Ray cluster"]
    at = radio.set_value("ray").run()
    at.number_input(key="tr_steps.digits-mlp").set_value(12)
    at.number_input(key="tr_eval.digits-mlp").set_value(6)
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="tr_device").options == ["auto", "cpu"]  # no GPU in this cluster
    assert any("a local Ray cluster: 1 node, 2 CPUs, 0 GPUs" in plain(c.value) for c in at.caption)
    at = at.button(key="tr_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("1 run(s) sent to a local Ray cluster" in plain(i.value) and "1 CPU thread" in plain(i.value)
               for i in at.info)
    store = Store(db)
    (r,) = store.list_runs()
    assert workers.wait([r["id"]], db, timeout=TIMEOUT)[r["id"]] == "done", store.run(r["id"])["error"]
    r = store.run(r["id"])
    assert r["pid"] is None and r["device"] == "cpu" and r["device_info"]["ray"]["attempt"] == 1
    assert store.steps(r["id"])["step"].tolist() == list(range(12))
    assert [k for k, m in zip(store.evals(r["id"])["step"].tolist(), store.evals(r["id"])["metric"].tolist(),
                              strict=True) if math.isfinite(m)] == [0, 6, 12]
    at = at.run()
    assert not at.exception and [p.value for p in at.get("progress")] == [100]
