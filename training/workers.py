"""Training jobs in worker processes: launch, cancel, wait. The store is the only channel.

    run_id = launch(job)            # a run row (queued) + a detached "spawn" process that trains it
    cancel(run_id)                  # ask it to stop; terminate it if it does not within a grace period
    wait([run_id, ...])             # until they end; returns their statuses

Jobs never run in threads of the Streamlit server (they would halve its speed and lose every
st.* call): each is its own process, started with the "spawn" context (a clean interpreter: no
forked CUDA state, no copy of the server's memory). The process runs the trainer (by default
training.runner.train) with a RunSink and exits; pages and the CLI only read the store. Launching
is an explicit action that returns a run id, so a page rerun, a reload or a second tab never
starts a job twice. A worker starts a new session (os.setsid), so a Ctrl-C in the terminal of the
server that launched it does not kill it; a killed worker leaves its run for Store.reap() to mark
interrupted.

With several CUDA GPUs, jobs with device "auto" go to the least busy "cuda:i" (one per GPU).
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import multiprocessing
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .job import FULL_BATCH, Job
from .store import ACTIVE, RunSink, Store, pid_alive

DEFAULT_TARGET = "training.runner:train"
ROOT = Path(__file__).resolve().parent.parent  # the project root: what a worker puts on sys.path
GRACE = 10.0  # seconds cancel() waits for a run to stop by itself before terminating its process
MAX_INTERVAL = 10_000_000  # eval_every, smoothness_every
MAX_SEED = 2**63 - 1  # torch.manual_seed's range
MAX_LABEL = 200  # characters of a run's label
NICE = 10  # background computations' niceness (ui.slots' workers, landscapes): interactive requests first

# workers started by this process, by pid: (store path, run id, process); kept to reap them
_PROCS: dict[int, tuple[str, int, multiprocessing.process.BaseProcess]] = {}
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class Terminated(BaseException):
    """Raised in a worker (or the CLI) by SIGTERM, so the run is marked before the process ends."""


def _raise_terminated(signum, frame):
    raise Terminated(f"signal {signum}")


# ---------------------------------------------------------------- devices


def gpu_count() -> int:
    """How many CUDA GPUs this process can see (0 without CUDA)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:
        return 0


def assign_device(job: Job, store: Store, devices: list[str] | None = None) -> Job:
    """With several devices, send an "auto" job to the one running the fewest queued/running runs
    (the first of those on a tie). devices: the candidates, by default every CUDA GPU here
    ("cuda:0", "cuda:1", ...); tests inject a list, so the placement runs without GPUs too."""
    if devices is None:
        devices = [f"cuda:{i}" for i in range(gpu_count())]
    if job.device != "auto" or len(devices) < 2:
        return job
    busy = dict.fromkeys(devices, 0)
    for r in store.list_runs(status=ACTIVE):
        if r["device"] in busy:
            busy[r["device"]] += 1
    return dataclasses.replace(job, device=min(devices, key=busy.__getitem__))


# ---------------------------------------------------------------- validation


def check_job(job: Job, *, device_here: bool = True) -> None:
    """Raise ValueError (one readable line) unless the job can start: the task exists, the
    schedule fits the run's length (the run configuration checked itself when made), the numbers are
    in range (within the ceilings of deploy.settings(): steps, batch, size, snapshots; lower on a
    public server) and the device exists. Everything a worker would otherwise fail on seconds later.
    The pages and the command line both call it: one validator. device_here=False: the device's
    name is checked but not that this machine has it (a run on a Ray cluster: training.ray_backend
    checks it against the cluster's GPUs)."""
    import deploy
    from optimizers.base import shown

    from . import tasks

    limits = deploy.settings()

    try:
        task = tasks.get(job.task)
    except KeyError as e:
        raise ValueError(e.args[0]) from None
    run = job.run  # checked when made: optimizer, hyperparameters, clipping, schedule
    ceilings = {"steps": limits.max_train_steps, "batch_size": limits.max_batch, "eval_every": MAX_INTERVAL,
                "smoothness_every": MAX_INTERVAL, "seed": MAX_SEED, "snapshots": limits.max_snapshots}
    full = job.batch_size == FULL_BATCH
    if full:
        check_full_batch(task, limits)
    for name, ceiling in ceilings.items():
        v = getattr(job, name)
        if name == "batch_size" and full:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= ceiling:
            raise ValueError(f"{name.replace('_', '-')} must be an integer from 0 to {ceiling:,}"
                             f"{' or full' if name == 'batch_size' else ''}"
                             f"{' on this server' if limits.public else ''}, got {shown(v)}")
    steps = job.steps or task.steps
    if steps > limits.max_train_steps or (not full and (job.batch_size or task.batch_size) > limits.max_batch):
        raise ValueError(f"the task's default budget ({task.steps} steps of {task.batch_size}) is over this server's "
                         f"limits ({limits.max_train_steps:,} steps, batch {limits.max_batch:,}): set smaller ones")
    if not (isinstance(job.size, (int, float)) and not isinstance(job.size, bool) and math.isfinite(job.size)
            and 0 < job.size <= limits.max_size):
        raise ValueError(f"size must be a number > 0 and at most {limits.max_size:g}"
                         f"{' on this server' if limits.public else ''}, got {shown(job.size)}")
    if len(job.label) > MAX_LABEL:
        raise ValueError(f"the label has {len(job.label)} characters; at most {MAX_LABEL}")
    if not isinstance(job.sharpness, bool):
        raise ValueError(f"sharpness must be true or false, got {shown(job.sharpness)}")
    if job.flooding is not None and not (math.isfinite(job.flooding) and job.flooding >= 0):
        raise ValueError(f"flooding must be a number >= 0, got {job.flooding!r}")
    if run.lr_schedule is not None:  # the schedule over the run's real length (RunConfig checks one step)
        run.lr_schedule.checked(float(dict(run.hparams).get("lr", 1e-3)), max(1, steps))
    if not _DEVICE_RE.match(job.device):
        raise ValueError(f"unknown device {job.device!r}; use auto, cpu, cuda, cuda:N or mps")
    if device_here:
        from .device import pick

        pick(job.device)  # ValueError for a device this machine does not have


def check_full_batch(task, limits) -> None:
    """ValueError unless batch size "full" (the whole training set, every step) has a meaning for the task and
    fits this server's batch limit."""
    if task.full_batch is None:
        raise ValueError(f"batch size full: {task.no_full_batch}")
    if task.train_size > limits.max_batch:
        raise ValueError(f"batch size full: {task.name}'s whole training set is {task.train_size:,} examples, more "
                         f"than this server's batch limit of {limits.max_batch:,}")


def admit(store: Store, new: int, owner: str | None = None) -> None:
    """Raise ValueError, saying which limit, unless `new` more jobs may start now on this server
    (deploy.settings(): training allowed, active jobs server-wide and of this owner, store size).
    The caller holds ADMIT_LOCK from this check until the jobs' runs exist, so two clicks at the
    same moment cannot both take the last place."""
    import deploy

    limits = deploy.settings()
    reason = limits.disabled_reason()
    if reason:
        raise ValueError(reason)
    store.reap()  # a run whose worker died holds no place
    if limits.max_jobs is not None:
        active = store.count()
        if active + new > limits.max_jobs:
            raise ValueError(f"this server runs at most {limits.max_jobs} training job(s) at once and {active} "
                             f"are running: start {max(0, limits.max_jobs - active)} or fewer, or wait for one "
                             "to finish")
    if limits.max_session_jobs is not None and owner is not None:
        mine = store.count(owner=owner)
        if mine + new > limits.max_session_jobs:
            raise ValueError(f"one visitor may run at most {limits.max_session_jobs} training job(s) at once and "
                             f"{mine} of yours are running: cancel one or wait for it to finish")
    if limits.max_store_mb is not None and store.size_bytes() > limits.max_store_mb * 1e6:
        raise ValueError(f"the run store is full ({store.size_bytes() / 1e6:.0f} MB of the "
                         f"{limits.max_store_mb:g} MB this server allows): no new runs until the operator clears it")


ADMIT_LOCK = threading.Lock()


def background() -> None:
    """Make this worker process yield the CPU to everything interactive on the machine.

    os.nice() ranks it below the server's own threads. On Linux with autogroup scheduling (the
    default on desktops and many servers) nice counts only inside a session's group, and groups
    share the CPU equally: so the worker also starts a session of its own and sets that group's
    nice (/proc/self/autogroup), else it would take half the machine from the server and
    everything else. Where either is unavailable it runs at normal priority.
    """
    try:
        os.nice(NICE)
    except (AttributeError, OSError):
        pass
    try:
        os.setsid()  # its own autogroup (and no Ctrl-C from the server's terminal: the server stops it)
        Path("/proc/self/autogroup").write_text(str(NICE))
    except (AttributeError, OSError):
        pass


# ---------------------------------------------------------------- running a job in this process


def load_target(target: str | Callable) -> Callable:
    """The trainer: a callable, "package.module:function", or "/path/to/file.py:function"."""
    if callable(target):
        return target
    module, _, fn = target.rpartition(":")
    if not module or not fn:
        raise ValueError(f"target must look like 'module:function', got {target!r}")
    if module.endswith(".py"):
        spec = importlib.util.spec_from_file_location(Path(module).stem, module)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {module}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(spec.name, mod)
        spec.loader.exec_module(mod)
    else:
        mod = importlib.import_module(module)
    return getattr(mod, fn)


def execute(run_id: int, store: Store, *, target: str | Callable = DEFAULT_TARGET,
            wrap: Callable[[RunSink], Any] | None = None) -> str:
    """Train run `run_id` here, in this process, and return its final status.

    Whatever happens the run ends with a final status: the trainer's own (via sink.finish), else
    "done" when it returns, "failed" (with the traceback in `error`) when it raises, "cancelled"
    or "interrupted" on KeyboardInterrupt/Terminated (cancelled where a stop was asked for).
    wrap(sink) may return another Sink to hand the trainer (the CLI's progress bar).
    """
    job = store.job(run_id)
    with RunSink(store, run_id) as sink:
        outcome = train_outcome(job, wrap(sink) if wrap else sink, target)
        return settle(store, run_id, outcome, cancel_wanted=outcome[0] == "stopped" and sink.cancel_wanted,
                      last_step=sink.last_step)


def train_outcome(job: Job, sink: Any, target: str | Callable = DEFAULT_TARGET) -> tuple[str, Any]:
    """Run the trainer on `job`, reporting to `sink`, and say how it ended, never raising but for
    SystemExit: ("returned", summary dict), ("stopped", how) on KeyboardInterrupt or Terminated,
    ("raised", "Type: message" + the traceback). A worker process and a Ray task both call it."""
    try:
        train = load_target(target)
        summary = train(job, sink)
    except KeyboardInterrupt:
        return "stopped", "interrupted (Ctrl-C)"
    except Terminated:
        return "stopped", "terminated by a signal"
    except Exception as e:
        return "raised", f"{type(e).__name__}: {e}\n\n{traceback.format_exc()}"
    return "returned", summary if isinstance(summary, dict) else {}


def settle(store: Store, run_id: int, outcome: tuple[str, Any], *, cancel_wanted: bool,
           last_step: int | None) -> str:
    """Give run `run_id` its final status from train_outcome's answer, unless the trainer gave it
    one (through sink.finish): "done" where it returned, "failed" (keeping the runner's one-line
    error and adding the traceback) where it raised, "cancelled" or "interrupted" where it was
    stopped (cancelled where a stop was asked for). Returns the run's status."""
    kind, detail = outcome
    if kind == "stopped":
        status = "cancelled" if cancel_wanted else "interrupted"
        at = "before its first step" if last_step is None else f"after step {last_step}"
        store.set_status(run_id, status, error=f"{detail} {at}", only_if_active=True)
    elif kind == "raised":
        if store.status(run_id) in (*ACTIVE, "failed"):
            store.set_status(run_id, "failed", error=detail)
    elif store.status(run_id) in ACTIVE:  # the trainer returned without calling finish()
        error = detail.get("error")
        store.set_status(run_id, "done", summary=detail, error=None if error is None else str(error))
    return store.status(run_id)


def _child(run_id: int, db_path: str, target: str, root: str, threads: int | None = None) -> None:
    """The worker process's entry point (spawned: a fresh interpreter)."""
    if root not in sys.path:
        sys.path.insert(0, root)
    if threads:  # several CPU jobs at once: share the cores instead of oversubscribing them
        import torch

        torch.set_num_threads(threads)
    if hasattr(os, "setsid"):
        try:
            os.setsid()  # its own session: a Ctrl-C aimed at the launcher does not reach it
        except OSError:
            pass
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    status = execute(run_id, Store(db_path), target=target)
    sys.exit(0 if status in ("done", "diverged", "cancelled") else 1)


# ---------------------------------------------------------------- launching and stopping


def cpu_threads(store: Store, concurrent: int = 1, cores: int | None = None) -> int:
    """torch threads for a CPU job started now: the cores but one (left to the server, the browser,
    whatever else shares the machine) shared among the CPU runs already active on this machine and the
    `concurrent` ones started with it, at least 1. A job whose threads outnumber the free cores
    makes its OpenMP barriers wait for a descheduled thread: many times slower than one thread
    (benchmarks/threads.py: next to one busy core, 2 threads ran digits-mlp at 1/30 the speed)."""
    cores = cores or os.cpu_count() or 1
    here = (None, socket.gethostname())  # not a run on another machine (a Ray node's)
    busy = sum(_on_cpu(r["device"] or "auto") for r in store.list_runs(status=ACTIVE) if r["host"] in here)
    return share_cores(cores, busy + max(1, concurrent))


def share_cores(cores: int, runs: int) -> int:
    """Threads for each of `runs` CPU runs on `cores` cores: the cores but one, shared, at least 1."""
    return max(1, max(1, int(cores) - 1) // max(1, int(runs)))


def _on_cpu(device: str) -> bool:
    from .device import pick

    try:
        return pick(device).type == "cpu"
    except ValueError:  # a device this machine does not have: not one of its CPU runs
        return False


def launch(job: Job, db_path: str | os.PathLike | None = None, *, target: str = DEFAULT_TARGET,
           validate: bool = True, threads: int | None = None, owner: str | None = None,
           concurrent: int = 1) -> int:
    """Create a run for `job` (status queued) and start a worker process that trains it; returns the run id.

    db_path: the store (default: $OPT_PLAYGROUND_DB or ./runs.sqlite). target: the trainer,
    "module:function" or "/path/file.py:function" (tests inject a fake one). validate: check_job
    first (a ValueError then means nothing was started). threads: torch CPU threads for the worker;
    None: on a CPU, cpu_threads(store, concurrent) (the cores shared with the CPU runs already active
    and the `concurrent` jobs being started together); 0: torch's default (a thread per core).
    owner: the browser session that launched it (on a public server only it may cancel or delete it).
    """
    if validate:
        check_job(job)
    store = Store(db_path)
    job = assign_device(job, store)
    if threads is None:
        threads = cpu_threads(store, concurrent) if _on_cpu(job.device) else 0
    run_id = store.create_run(job, owner=owner)
    if str(ROOT) not in sys.path:  # spawn copies sys.path: the child must find `training`
        sys.path.append(str(ROOT))
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=_child, args=(run_id, str(store.path), target, str(ROOT), threads),
                    name=f"training-run-{run_id}", daemon=False)
    try:
        with bare_main():
            p.start()
    except BaseException as e:
        store.set_status(run_id, "failed", error=f"could not start a worker: {e}")
        raise
    store.claim(run_id, p.pid)
    # Detached: the launcher's exit must not wait for training to finish (multiprocessing joins
    # its non-daemon children at exit); we keep the handle only to reap the child when it ends.
    children = getattr(multiprocessing.process, "_children", None)
    if children is not None:
        children.discard(p)
    _PROCS[p.pid] = (str(store.path), run_id, p)
    _reap_children()
    return run_id


_MAIN_LOCK = threading.Lock()


@contextmanager
def bare_main() -> Iterator[None]:
    """Hide the launcher's __main__ from multiprocessing while a worker starts.

    "spawn" re-runs the parent's main script (or module) in the child before the target, which
    would start the Streamlit CLI again in every worker, or crash on a launcher script without an
    `if __name__ == "__main__":` guard. The worker needs nothing from it: its target,
    training.workers._child, is imported by name.
    """
    with _MAIN_LOCK:
        real = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if real is not None:
                sys.modules["__main__"] = real


def _reap_children() -> None:
    """Collect workers started here that have exited (no zombies in a long-lived server).

    is_alive() waits for an exited child; but where something else in the process reaped it first
    (subprocess's clean-up of a Popen whose recycled pid it was), multiprocessing answers "alive"
    for ever: a pid that no longer exists counts as ended too."""
    for pid, (_, _, p) in list(_PROCS.items()):
        if not p.is_alive() or not pid_alive(pid):
            _PROCS.pop(pid, None)


def running(db_path: str | os.PathLike | None = None) -> list[int]:
    """Run ids (in the store at db_path) whose workers, started by this process, are still alive."""
    _reap_children()
    path = str(Store(db_path).path)
    return sorted(run_id for where, run_id, _ in _PROCS.values() if where == path)


def cancel(run_id: int, db_path: str | os.PathLike | None = None, *, grace: float = GRACE) -> str:
    """Stop a run and return its final status.

    Sets the cancel flag its RunSink polls; if the run is still queued/running after `grace`
    seconds, sends its process SIGTERM (then SIGKILL), and marks it cancelled. Works from any
    process on the same host (the pid comes from the store).
    """
    store = Store(db_path)
    store.request_cancel(run_id)
    statuses = wait([run_id], store.path, timeout=grace)
    if statuses[run_id] not in ACTIVE:
        return statuses[run_id]
    run = store.run(run_id)
    pid = run["pid"]  # None for a run on a Ray cluster: its writer actor stops the task instead
    if pid and pid != os.getpid() and run["host"] in (None, socket.gethostname()):  # never a pid of another host
        for sig, patience in ((signal.SIGTERM, 5.0), (getattr(signal, "SIGKILL", signal.SIGTERM), 5.0)):
            if not pid_alive(pid):
                break
            try:
                os.kill(pid, sig)
            except OSError:
                break
            deadline = time.monotonic() + patience
            while pid_alive(pid) and time.monotonic() < deadline:
                _reap_children()
                time.sleep(0.05)
    _reap_children()
    store.set_status(run_id, "cancelled", error="terminated after the cancel grace period", only_if_active=True)
    return store.status(run_id)


def cancel_soon(run_id: int, db_path: str | os.PathLike | None = None, *, grace: float = GRACE) -> None:
    """cancel() without waiting for it: the run's cancel flag is set now (a running run stops at its
    next flush), and a background thread terminates it if it has not stopped after `grace` seconds.
    For pages: a callback that waited would freeze the page for the grace period."""
    Store(db_path).request_cancel(run_id)
    threading.Thread(target=cancel, args=(run_id, db_path), kwargs={"grace": grace}, daemon=True,
                     name=f"cancel-run-{run_id}").start()


def wait(run_ids: Iterable[int], db_path: str | os.PathLike | None = None, *, timeout: float | None = None,
         poll: float = 0.1) -> dict[int, str]:
    """Poll the store until every run has a final status (or timeout); returns {run_id: status}.

    A run whose process died meanwhile is marked interrupted (Store.reap) rather than waited on forever.
    """
    store = Store(db_path)
    ids = [int(i) for i in run_ids]
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        _reap_children()
        statuses = {r["id"]: r["status"] for r in store.list_runs(ids=ids)}
        if all(statuses.get(i) not in ACTIVE for i in ids):
            return statuses
        if deadline is not None and time.monotonic() >= deadline:
            return statuses
        store.reap()
        time.sleep(poll)
