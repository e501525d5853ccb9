"""`python -m training ...`: real runs land in the store, bad arguments exit 2 in one line, exports parse back.

Most commands run in-process through training.cli.main (fast); the ones whose point is the
process boundary (exit codes, Ctrl-C, a real run) go through a subprocess. The fake trainer
lives in test_store.py (loaded by file path, as --target, a hidden option for tests).
"""
import csv
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training import cli
from training.export import export_runs
from training.job import EvalRow, Job, StepRow
from training.store import RunSink, Store

ROOT = Path(__file__).resolve().parent.parent
FAKE = f"{Path(__file__).resolve().with_name('test_store.py')}:fake_train"
TIMEOUT = 300  # seconds: 2 busy cores
HAVE_RUNNER = importlib.util.find_spec("training.runner") is not None
needs_runner = pytest.mark.skipif(not HAVE_RUNNER, reason="training/runner.py has not landed yet")


def cli_proc(*args, env=None, **kw):
    """Run `python -m training ARGS` from the repository root (a subprocess)."""
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "training", *args], cwd=ROOT, env=e, capture_output=True,
                          text=True, timeout=TIMEOUT, **kw)


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "runs.sqlite")


def write_run(store: Store, optimizer="adam", steps=5, status="done") -> int:
    job = Job.from_dict(dict(task="digits-mlp", optimizer=optimizer, hparams=(("lr", 0.01),), clip=("norm", 1.0),
                             steps=steps))
    run_id = store.create_run(job)
    with RunSink(store, run_id, heartbeat_every=0) as sink:
        sink.start(job, "cpu", {"device": {"text": "CPU"}})
        sink.steps([StepRow(i, 2.0 / (i + 1), 0.01, 1.5, 0.5, 0.1 * i) for i in range(steps)])
        sink.evals([EvalRow(steps, 0.5, 0.9, 1000.0, smoothness=3.0, grad_norm=1.0, wall=1.0, extra={"k": 1})])
        sink.finish(status, {"metric_name": "accuracy", "final_metric": 0.9})
    return run_id


# ---------------------------------------------------------------- bad arguments


BAD = [
    (["run", "--task", "no-such-task", "--steps", "5"], "unknown task"),
    (["run", "--task", "digits-mlp", "--optimizer", "nope"], "unknown optimizer"),
    (["run", "--task", "digits-mlp", "--optimizer", "adam", "--momentum", "0.9"], "no hyperparameter momentum"),
    (["run", "--task", "digits-mlp", "--hp", "betas=0.9"], "betas"),
    (["run", "--task", "digits-mlp", "--hp", "lr"], "name=value"),
    (["run", "--task", "digits-mlp", "--lr", "fast"], "expected a number"),
    (["run", "--task", "digits-mlp", "--lr", "-1"], "invalid lr"),
    (["run", "--task", "digits-mlp", "--clip", "norm"], "needs a threshold"),
    (["run", "--task", "digits-mlp", "--clip", "norm:-1"], "clip threshold"),
    (["run", "--task", "digits-mlp", "--clip", "wobble:1"], "unknown clipping"),
    (["run", "--task", "digits-mlp", "--schedule", "nope"], "unknown schedule"),
    (["run", "--task", "digits-mlp", "--schedule", "one_cycle:max_lr=1"], "no argument max_lr"),
    (["run", "--task", "digits-mlp", "--schedule", "step:step_size=2.5"], "integer"),
    (["run", "--task", "digits-mlp", "--steps", "-3"], "steps"),
    (["run", "--task", "digits-mlp", "--steps", "many"], "invalid int value"),
    (["run", "--task", "digits-mlp", "--device", "tpu"], "unknown device"),
    (["run", "--steps", "5"], "required: --task"),
    (["compare", "--task", "digits-mlp", "--optimizer", "adam,nope"], "unknown optimizer"),
    (["compare", "--task", "digits-mlp", "--lr", "1e-3,x"], "expected a number"),
    (["compare", "--task", "digits-mlp", "--parallel", "0"], "--parallel"),
    (["compare", "--task", "digits-mlp", "--lr", "1,2,3", "--seed", "1,2,3", "--max-runs", "5"], "more than"),
    (["export", "--out", "x"], "--run ID"),
    (["show", "12345"], "no run 12345"),
    (["cancel", "abc"], "run id is a number"),
    (["list", "--status", "sleeping"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
]


@pytest.mark.parametrize("argv,message", BAD, ids=[" ".join(a) or "(none)" for a, _ in BAD])
def test_bad_arguments_exit_2_with_one_line(argv, message, db, capsys):
    code = cli.main([*argv, "--db", db] if argv and argv[0] in ("run", "compare", "export", "show", "cancel", "list")
                    else argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err
    assert not Store(db).list_runs()  # nothing was started


@pytest.mark.slow  # ~2 s: two subprocesses
def test_bad_arguments_through_the_real_entry_point(db):
    p = cli_proc("run", "--task", "digits-mlp", "--optimizer", "adam", "--hp", "nope=1", "--db", db)
    assert p.returncode == 2
    assert p.stderr.startswith("error: adam has no hyperparameter nope") and "Traceback" not in p.stderr
    p = cli_proc("run", "--db", db)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "--task" in p.stderr


def test_a_store_that_is_not_a_database_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "not.sqlite"
    bad.write_text("hello, I am not SQLite" * 100)
    assert cli.main(["list", "--db", str(bad)]) == 2
    assert "cannot open the run store" in capsys.readouterr().err


# ---------------------------------------------------------------- parsing


def test_values_are_parsed_by_their_declared_kinds():
    assert cli.parse_hp("adam", "betas", "0.8,0.99") == (0.8, 0.99)
    assert cli.parse_hp("adam", "lr", "1e-3") == 0.001
    assert cli.parse_clip("none") is None and cli.parse_clip("smooth:0.5") == ("smooth", 0.5)
    assert cli.parse_schedule("one_cycle:pct_start=0.25,three_phase=true,anneal_strategy=linear") == (
        "one_cycle", (("pct_start", 0.25), ("three_phase", True), ("anneal_strategy", "linear")))
    assert cli.parse_schedule("step:step_size=10") == ("step", (("step_size", 10),))
    assert cli.split_list("cosine,one_cycle:pct_start=0.3,div_factor=10,none") == [
        "cosine", "one_cycle:pct_start=0.3,div_factor=10", "none"]


def test_compare_builds_the_cartesian_product():
    args = cli.build_parser().parse_args(
        ["compare", "--task", "digits-mlp", "--optimizer", "adam,momentum", "--lr", "1e-3,1e-2", "--momentum", "0.9",
         "--clip", "none,norm:1", "--schedule", "none,cosine", "--hp", "eps=1e-8", "--hp", "eps=1e-6"])
    notes = []
    jobs = cli.jobs_from_grid(args, notes.append)
    # adam: 2 lr x 2 eps x 2 clip x 2 schedules; momentum (no eps): 2 lr x 2 clip x 2 schedules
    assert len(jobs) == 16 + 8 == len(set(jobs))
    assert {j.run.optimizer for j in jobs} == {"adam", "momentum"}
    assert all(j.run.hparam("momentum") == 0.9 for j in jobs if j.run.optimizer == "momentum")
    stored = [json.loads(j.to_json()) for j in jobs]  # the values given, alone
    assert {j.run.clip_pair for j in jobs} == {None, ("norm", 1.0)}
    assert {repr(d["schedule"]) for d in stored} == {"None", "['cosine', []]"}
    assert {tuple(k for k, _ in d["hparams"]) for d in stored} == {("eps", "lr"), ("lr", "momentum")}
    assert any("adam has no hyperparameter momentum" in n for n in notes)
    assert any("momentum has no hyperparameter eps" in n for n in notes)


def test_runs_measure_smoothness_by_default_about_40_times():
    """A run from the command line has an (L0, L1) picture on Compare unless asked not to."""
    parse = cli.build_parser().parse_args
    assert cli.job_from_args(parse(["run", "--task", "digits-mlp"])).smoothness_every == 2000 // 40
    assert cli.job_from_args(parse(["run", "--task", "digits-mlp", "--steps", "400"])).smoothness_every == 10
    assert cli.job_from_args(parse(["run", "--task", "digits-mlp", "--smoothness-every", "0"])).smoothness_every == 0
    jobs = cli.jobs_from_grid(parse(["compare", "--task", "digits-mlp", "--optimizer", "adam,sgd"]), lambda n: None)
    assert {j.smoothness_every for j in jobs} == {50}


# ---------------------------------------------------------------- running (fake trainer, in-process)


def test_run_in_the_foreground_writes_the_store(db, capsys):
    code = cli.main(["run", "--task", "digits-mlp", "--steps", "40", "--lr", "0.01", "--clip", "norm:1",
                     "--label", "mine", "--db", db, "--target", FAKE])
    out, err = capsys.readouterr()
    assert code == 0, err
    (r,) = Store(db).list_runs()
    assert r["status"] == "done" and r["label"] == "mine" and r["last_step"] == 39 and r["pid"] == os.getpid()
    assert r["job"]["clip"] == ["norm", 1.0] and dict(r["job"]["hparams"]) == {"lr": 0.01}
    assert out.startswith(f"run {r['id']} done, step 40")
    assert "step 40/40" in err and "steps/s" in err  # the progress bar


@pytest.mark.slow  # ~5 s: four runs in worker processes
def test_compare_in_parallel_workers(db, capsys):
    code = cli.main(["compare", "--task", "digits-mlp", "--optimizer", "adam,sgd", "--lr", "0.1,0.01", "--steps",
                     "30", "--parallel", "2", "--db", db, "--target", FAKE])
    out, err = capsys.readouterr()
    assert code == 0, err
    runs = Store(db).list_runs(newest_first=False)
    assert [r["status"] for r in runs] == ["done"] * 4
    assert {r["pid"] for r in runs}.isdisjoint({os.getpid()})  # trained in workers
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["run", "optimizer", "lr"] and len(lines) == 2 + 4
    assert [line.split()[1] for line in lines[2:]] == ["adam", "adam", "sgd", "sgd"]


@pytest.mark.slow  # ~2 s: a subprocess
def test_ctrl_c_stops_a_foreground_run_cleanly(db):
    cmd = [sys.executable, "-m", "training", "run", "--task", "digits-mlp", "--steps", "100000", "--db", db,
           "--target", FAKE]
    p = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, FAKE_TRAIN_DELAY="0.02"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            runs = Store(db).list_runs() if Path(db).exists() else []
            if runs and (runs[0]["last_step"] or 0) >= 20:
                break
            time.sleep(0.1)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=TIMEOUT)
    finally:
        p.kill()
    assert p.returncode == 130, err
    assert "Traceback" not in err and "stopping after the current step" in err
    (r,) = Store(db).list_runs()
    assert r["status"] == "cancelled" and r["last_step"] >= 20
    assert out.startswith(f"run {r['id']} cancelled")


# ---------------------------------------------------------------- the real thing


@pytest.mark.slow  # ~7 s: trains digits-mlp in a subprocess
@needs_runner
def test_run_a_real_task_through_the_command_line(db):
    p = cli_proc("run", "--task", "digits-mlp", "--optimizer", "adam", "--lr", "3e-3", "--clip", "norm:1",
                 "--schedule", "cosine", "--steps", "20", "--eval-every", "10", "--device", "cpu", "--db", db)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    store = Store(db)
    (r,) = store.list_runs()
    assert r["status"] == "done" and r["device"] == "cpu"
    s = store.steps(r["id"])
    assert s["step"].tolist() == list(range(20))
    assert all(math.isfinite(x) for x in s["loss"]) and s["lr"][0] > s["lr"][-1]  # the cosine schedule
    e = store.evals(r["id"])
    evaluated = [(k, m) for k, m in zip(e["step"].tolist(), e["metric"].tolist(), strict=True) if math.isfinite(m)]
    assert [k for k, _ in evaluated] == [0, 10, 20] and all(0 <= m <= 1 for _, m in evaluated)
    measured = [k for k, x in zip(e["step"].tolist(), e["smoothness"].tolist(), strict=True) if math.isfinite(x)]
    assert measured == list(range(20))  # by default about 40 estimates a run: here every step
    assert p.stdout.startswith(f"run {r['id']} done, step 20")


def test_list_shows_runs_written_by_the_command_line(db, capsys):
    store = Store(db)
    a, b = write_run(store), write_run(store, optimizer="sgd", status="diverged")
    assert cli.main(["list", "--db", db]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[2].split()[0] == str(b) and out.splitlines()[3].split()[0] == str(a)
    assert "diverged" in out and "SGD lr=0.01 · clip norm 1" in out  # the run's one label (RunConfig.label)
    assert cli.main(["show", str(a), "--db", db]) == 0
    assert "CPU" in capsys.readouterr().out


def test_cancel_and_delete_commands(db, capsys):
    store = Store(db)
    done = write_run(store)
    queued = store.create_run(Job(task="digits-mlp"))  # no process will ever take it
    assert cli.main(["cancel", f"{done},{queued}", "--grace", "0.1", "--db", db]) == 0
    out = capsys.readouterr().out
    assert f"run {done} is already done" in out and f"run {queued} cancelled" in out
    assert cli.main(["delete", str(done), "--db", db]) == 0
    assert [r["id"] for r in store.list_runs()] == [queued]


@pytest.mark.slow  # ~5 s: trains digits-mlp twice
@needs_runner
def test_compare_a_real_task_one_run_after_another(db, capsys):
    code = cli.main(["compare", "--task", "digits-mlp", "--optimizer", "adam,sgd", "--lr", "0.01", "--steps", "15",
                     "--device", "cpu", "--db", db, "-q"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [r["status"] for r in Store(db).list_runs()] == ["done", "done"]
    assert [line.split()[1] for line in out.strip().splitlines()[2:]] == ["adam", "sgd"]


# ---------------------------------------------------------------- export


def test_export_writes_csv_that_parses_back(db, tmp_path, capsys):
    store = Store(db)
    ids = [write_run(store), write_run(store, optimizer="sgd", steps=3)]
    out_dir = tmp_path / "out"
    assert cli.main(["export", "--all", "--out", str(out_dir), "--db", db]) == 0
    assert "wrote 2 run(s)" in capsys.readouterr().out
    with open(out_dir / "runs.csv") as f:
        runs = list(csv.DictReader(f))
    assert [int(r["id"]) for r in runs] == ids and [r["optimizer"] for r in runs] == ["adam", "sgd"]
    assert runs[0]["clip"] == "norm:1" and json.loads(runs[0]["hparams"]) == {"lr": 0.01}
    assert Job.from_json(runs[1]["job_json"]) == store.job(ids[1])
    assert json.loads(runs[0]["summary_json"])["final_metric"] == 0.9
    for run_id, n in zip(ids, (5, 3), strict=True):
        with open(out_dir / f"run-{run_id}-steps.csv") as f:
            rows = list(csv.DictReader(f))
        assert [int(r["step"]) for r in rows] == list(range(n))
        assert [float(r["loss"]) for r in rows] == [2.0 / (i + 1) for i in range(n)]
        with open(out_dir / f"run-{run_id}-evals.csv") as f:
            (ev,) = list(csv.DictReader(f))
        assert float(ev["metric"]) == 0.9 and float(ev["smoothness"]) == 3.0 and json.loads(ev["extra_json"]) == {
            "k": 1}
    # one run by id, into another directory
    assert cli.main(["export", "--run", str(ids[1]), "--out", str(tmp_path / "one"), "--db", db]) == 0
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == sorted([
        "runs.csv", f"run-{ids[1]}-evals.csv", f"run-{ids[1]}-steps.csv"])


def test_export_writes_tensorboard_scalars_when_a_writer_exists(db, tmp_path):
    store = Store(db)
    run_id = write_run(store)
    calls = []

    class Writer:  # stands in for torch.utils.tensorboard.SummaryWriter
        def __init__(self, logdir):
            calls.append(("dir", Path(logdir).name))

        def add_scalar(self, tag, value, step, walltime=None):
            calls.append((tag, step, value))

        def add_text(self, tag, text, step):
            calls.append((tag, step, text))

        def close(self):
            calls.append(("closed",))

    res = export_runs(store, [run_id], tmp_path / "tb", writer_factory=Writer)
    assert res["tensorboard"] == tmp_path / "tb" / "tensorboard"
    assert calls[0] == ("dir", f"run-{run_id}-adam") and calls[-1] == ("closed",)
    assert [c[2] for c in calls if c[0] == "train/loss"] == [2.0 / (i + 1) for i in range(5)]
    assert ("val/accuracy", 5, 0.9) in calls and ("val/smoothness", 5, 3.0) in calls


@pytest.mark.slow  # ~1.3 s: many runs
@needs_runner
def test_zeroth_order_and_sam_runs_with_sharpness_from_the_command_line(db, capsys):
    code = cli.main(["compare", "--task", "digits-mlp", "--optimizer", "zo_sgd,sam", "--lr", "0.05", "--steps", "12",
                     "--eval-every", "6", "--sharpness", "--device", "cpu", "--db", db, "-q"])
    out, err = capsys.readouterr()
    assert code == 0, err
    runs = Store(db).list_runs(newest_first=False)
    assert [r["status"] for r in runs] == ["done", "done"] and all(r["job"]["sharpness"] for r in runs)
    header, _, zo, sam = out.strip().splitlines()
    assert header.split()[:2] == ["run", "optimizer"] and "evaluations" in header and "sharpness" in header
    assert "24 f" in zo and "24 ∇f" in sam  # zo_sgd: 2 loss values a step; SAM: 2 gradients a step
    extra = Store(db).evals(runs[1]["id"])["extra"]
    assert [x["evaluations"] for x in extra] == [[0, 0], [0, 12], [0, 24]] and all(x["sharpness"] > 0 for x in extra)
