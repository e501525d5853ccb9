"""What a Ray run is inside the cluster: the task that trains it, the Sink it reports to, and the one
writer of the run store, an actor on the machine that launched the grid.

    Ray task (any node)                       StoreWriter actor (launching machine)     SQLite
    training.runner.train(job, RaySink) --steps/evals/snapshot/finish/cancelled--> RunSink --> runs.sqlite

The trainer is the local workers' (workers.train_outcome: training.runner.train by default) and the
store writes are RunSink's: only the transport differs (RaySink pipelines the rows: one batch in
flight at most, in order, each reply carrying the cancel flag). The actor owns the tasks (it submits
them), so it can see them end, retry, die or hang:

- a retry (Ray restarts a task whose worker or node died, up to max_retries times) begins a new
  attempt: the run's rows (steps, evaluations, snapshots) are cleared and the trainer starts from
  scratch (no checkpoints); every call carries its attempt number and the actor ignores an older
  attempt's, so the store holds each step exactly once, from one attempt; rows are keyed (run, step).
- a cancel is the store's flag, as for local runs: the RaySink's cancelled() reads it, the runner
  stops at its next flush; a run still going `grace` seconds later (or one that someone else's
  workers.cancel already marked cancelled) has its task force-cancelled here.
- a task that ends without settling its run (its worker died once more than the retries allow, its
  node vanished, it was cancelled before it began) is settled here: interrupted, failed or cancelled.
- while a task is queued or running the actor beats the run's heartbeat, so Store.reap() (which
  goes by heartbeats alone for a run with no local pid) leaves it alone; if the actor dies (the
  launching process ended), the beats stop and reap() marks the run interrupted.
"""
from __future__ import annotations

import functools
import os
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import ray
import ray.exceptions

from . import workers
from .job import EvalRow, Job, StepRow
from .store import ACTIVE, HEARTBEAT_EVERY, RunSink, Store


class ClusterRunSink(RunSink):
    """RunSink for a run whose trainer is on a Ray node: no process here owns it (pid NULL), the
    host is the node's, and a final status written first (a cancel) is never overwritten."""

    keep_final = True

    def __init__(self, store: Store, run_id: int, where: dict):
        super().__init__(store, run_id, heartbeat_every=0)  # the actor beats for every run it holds
        self.where = where  # the node, attempt, threads, GPU ids: shown with the device

    def start(self, job: Job, device: str, info: dict) -> None:
        info = {**(info or {}), "ray": self.where}
        self.store.mark_running(self.run_id, device, info, pid=None, host=self.where.get("host"),
                                only_if_active=True)


Key = tuple[str, int]  # a run, anywhere: (its store's path, its id in that store)


@dataclass
class _Task:
    """What the actor knows of one run's task."""

    store: Store
    run_id: int
    ref: Any  # the task's ObjectRef
    retries: int
    attempt: int = 0  # attempts begun (1 + retries used)
    sink: ClusterRunSink | None = None
    cancel_seen: float | None = None  # monotonic time the actor first saw the run's cancel flag
    forced: bool = False  # force-cancelled here
    settled: bool = False  # the task gave its run a final status itself (finish or settle): let it end
    beat: float = field(default_factory=time.monotonic)


class StoreWriter:
    """The run stores' writer for Ray runs (a threaded actor pinned to the launching machine's node;
    one per launching process, for any number of stores: a run is a Key, (store path, run id)).

    The launcher calls submit() and close(); the tasks call begin() and then, through their RaySink,
    start/steps/evals/finish/cancelled and settle(). A watcher thread sees tasks end, beats the
    heartbeats and enforces cancels."""

    def __init__(self, *, grace: float = workers.GRACE, poll: float = 0.5, heartbeat_every: float = HEARTBEAT_EVERY):
        self.grace, self.poll, self.heartbeat_every = float(grace), float(poll), float(heartbeat_every)
        self.lock = threading.Lock()
        self.stores: dict[str, Store] = {}
        self.tasks: dict[Key, _Task] = {}
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch_loop, name="ray-store-writer", daemon=True)
        self._watcher.start()

    # ------------------------------------------------------------ the launcher's calls

    def where(self) -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid()}

    def submit(self, key: Key, job_json: str, options: dict, threads: int, target: str) -> None:
        """Start the task that trains run `key` (created queued in its store by the launcher)."""
        path, run_id = str(key[0]), int(key[1])
        me = ray.get_runtime_context().current_actor
        ref = _remote_task().options(**options).remote(me, (path, run_id), job_json, int(threads), target)
        with self.lock:
            store = self.stores.get(path) or self.stores.setdefault(path, Store(path))
            self.tasks[(path, run_id)] = _Task(store, run_id, ref, int(options.get("max_retries", 0)))

    def close(self, why: str) -> list[Key]:
        """The launcher is ending: stop every task still going and mark its run (cancelled where a
        cancel was asked for, else interrupted). Returns the runs it marked."""
        self._stop.set()
        with self.lock:
            tasks = dict(self.tasks)
            self.tasks.clear()
        marked = []
        for key, task in tasks.items():
            if not task.settled:  # a task that settled its run is returning: leave it be (see _watch)
                ray.cancel(task.ref, force=True)
            status = "cancelled" if task.store.cancel_requested(task.run_id) else "interrupted"
            if task.store.set_status(task.run_id, status, error=why, only_if_active=True):
                marked.append(key)
        return marked

    # ------------------------------------------------------------ the tasks' calls

    def begin(self, key: Key, where: dict) -> int | None:
        """A task (attempt) begins: its attempt number, or None where the run must not start (cancelled
        meanwhile, or not this actor's). A retry clears the earlier attempt's rows."""
        with self.lock:
            task = self.tasks.get(tuple(key))
            if task is None:
                return None
            store, run_id = task.store, task.run_id
            if store.status(run_id) not in ACTIVE or store.cancel_requested(run_id):
                return None
            task.attempt += 1
            if task.attempt > 1:
                store.clear_rows(run_id)
            task.sink = ClusterRunSink(store, run_id, {**where, "attempt": task.attempt,
                                                       "max_attempts": task.retries + 1})
            return task.attempt

    def _sink(self, key: Key, attempt: int) -> ClusterRunSink | None:
        """The run's sink where `attempt` is its current one (a dead attempt's late calls are dropped)."""
        task = self.tasks.get(tuple(key))
        return task.sink if task is not None and task.attempt == attempt else None

    def start(self, key: Key, attempt: int, job_json: str, device: str, info: dict) -> None:
        sink = self._sink(key, attempt)
        if sink is not None:
            sink.start(Job.from_json(job_json), device, info)

    def steps(self, key: Key, attempt: int, rows: list[StepRow]) -> bool:
        """Store the rows; whether the run is to stop (the RaySink's next cancelled() says so)."""
        sink = self._sink(key, attempt)
        if sink is None:
            return True  # an attempt that is no longer current stops
        sink.steps(rows)
        return sink.cancelled()

    def evals(self, key: Key, attempt: int, rows: list[EvalRow]) -> bool:
        sink = self._sink(key, attempt)
        if sink is None:
            return True
        sink.evals(rows)
        return sink.cancelled()

    def snapshot(self, key: Key, attempt: int, step: int, params) -> bool:
        sink = self._sink(key, attempt)
        if sink is None:
            return True
        sink.snapshot(step, params)
        return sink.cancelled()

    def finish(self, key: Key, attempt: int, status: str, summary: dict) -> None:
        sink = self._sink(key, attempt)
        if sink is not None:
            self.tasks[tuple(key)].settled = True
            sink.finish(status, summary)

    def cancelled(self, key: Key, attempt: int) -> bool:
        sink = self._sink(key, attempt)
        return True if sink is None else sink.cancelled()  # an attempt that is no longer current stops

    def settle(self, key: Key, attempt: int, outcome: tuple[str, Any], last_step: int | None) -> str | None:
        """The trainer returned or raised (workers.train_outcome): the run's final status, as a
        local worker's (workers.settle); None for an attempt that is no longer current."""
        sink = self._sink(key, attempt)
        if sink is None:
            return None
        self.tasks[tuple(key)].settled = True
        stopped = outcome[0] == "stopped"
        return workers.settle(sink.store, sink.run_id, outcome, cancel_wanted=stopped and sink.cancel_wanted,
                              last_step=last_step)

    # ------------------------------------------------------------ the watcher

    def _watch_loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self._watch()
            except Exception:  # a busy store, a transient Ray error: the next round tries again
                traceback.print_exc(file=sys.stderr)

    def _watch(self) -> None:
        with self.lock:
            tasks = dict(self.tasks)
        if not tasks:
            return
        ready, _ = ray.wait([t.ref for t in tasks.values()], num_returns=len(tasks), timeout=0)
        ready = set(ready)
        runs = {}
        for path in {k[0] for k in tasks}:
            ids = [k[1] for k in tasks if k[0] == path]
            runs |= {(path, r["id"]): r for r in self.stores[path].list_runs(ids=ids)}
        now = time.monotonic()
        for key, task in tasks.items():
            run = runs.get(key)
            if task.ref in ready:
                self._ended(key, task)
            elif task.settled:  # ended its run itself and is returning: never cancel a task that is
                continue  # completing (that races inside Ray and can kill this actor, its owner)
            elif run is None or run["status"] not in ACTIVE:  # deleted, or marked by someone's cancel()
                self._force(key, task, None)
            elif run["cancel_requested"]:
                self._cancel(key, task, run, now)
            elif now - task.beat >= self.heartbeat_every:
                task.store.heartbeat(task.run_id)
                task.beat = now

    def _cancel(self, key: Key, task: _Task, run: dict, now: float) -> None:
        """The run's cancel flag is set: a task that has not begun is dropped now; a running one
        has `grace` seconds to stop at a flush (the runner polls the flag), then it is terminated."""
        if task.cancel_seen is None:
            task.cancel_seen = now
        if task.attempt == 0 and run["status"] == "queued":  # still waiting for resources: it never runs
            self._force(key, task, "cancelled before it started")
        elif now - task.cancel_seen >= self.grace:
            self._force(key, task, "terminated after the cancel grace period")

    def _force(self, key: Key, task: _Task, why: str | None) -> None:
        """Stop the task now (its worker exits) and, with `why`, mark the run cancelled."""
        task.forced = True
        ray.cancel(task.ref, force=True)
        if why is not None:
            task.store.set_status(task.run_id, "cancelled", error=why, only_if_active=True)
        with self.lock:
            self.tasks.pop(key, None)

    def _ended(self, key: Key, task: _Task) -> None:
        """The task is over: where its run is still active (the task could not settle it), settle it
        (a task that returned has settled its run through settle(), so nothing changes then)."""
        with self.lock:
            self.tasks.pop(key, None)
        status, error = "failed", "the Ray task ended without settling its run"
        try:
            if ray.get(task.ref) == NOT_STARTED:
                status, error = "cancelled", "cancelled before it started"
        except ray.exceptions.TaskCancelledError:
            status, error = "cancelled", "cancelled on the Ray cluster"
        except ray.exceptions.RayTaskError as e:  # the task's own code raised: e.g. the project is not importable there
            status, error = "failed", f"the Ray task failed: {e}"
        except ray.exceptions.RayError as e:  # its worker or node died once more than the retries allow
            tried = f"{task.attempt} attempt(s), {task.retries} retries allowed"
            status = "cancelled" if task.forced or task.store.cancel_requested(task.run_id) else "interrupted"
            error = (f"its Ray worker or node died ({tried}); rows of the last attempt are kept: "
                     f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        task.store.set_status(task.run_id, status, error=error, only_if_active=True)


# ---------------------------------------------------------------- the task (runs on any node)

NOT_STARTED = "not started"  # what a task returns that found its run cancelled before it began


@functools.cache
def _remote_task():
    """train_task as a Ray remote function (made once: Ray exports a function's code per definition)."""
    return ray.remote(train_task)



class RaySink:
    """The Sink (training.job.Sink) a trainer on a Ray node reports to, through the StoreWriter
    actor, every call tagged with this attempt's number.

    Rows are pipelined: steps() and evals() send their rows and return; the next send (or finish)
    first waits for the previous one to land, so at most one batch is in flight, the order is kept,
    and the training loop does not wait a round trip per flush (on a busy machine that was a third
    of a short run's time). Each reply says whether the run is to stop, which cancelled() reads;
    where nothing was sent for poll_every seconds it sends a probe. finish() and drain() wait for
    everything to land. A worker that dies may lose its last batch: a retry writes every row again."""

    def __init__(self, writer, key: Key, attempt: int, *, poll_every: float = 0.25):
        self.writer, self.key, self.attempt = writer, key, attempt
        self.poll_every = poll_every
        self.last_step: int | None = None
        self._pending = None  # the call in flight; its reply: whether the run is to stop
        self._sent = time.monotonic()
        self._cancel_seen = False

    def _send(self, method, *args) -> None:
        self.drain()
        self._pending = method.remote(self.key, self.attempt, *args)
        self._sent = time.monotonic()

    def drain(self) -> None:
        """Wait for the call in flight (if any) to land."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._cancel_seen |= bool(ray.get(pending))

    def start(self, job: Job, device: str, info: dict) -> None:
        self.drain()
        ray.get(self.writer.start.remote(self.key, self.attempt, job.to_json(), str(device), info))

    def steps(self, rows: list[StepRow]) -> None:
        if rows:
            self._send(self.writer.steps, list(rows))
            self.last_step = int(rows[-1].step)

    def evals(self, rows: list[EvalRow]) -> None:
        if rows:
            self._send(self.writer.evals, list(rows))

    def snapshot(self, step: int, params) -> None:
        """The weights after `step` updates (float32 (P,)): pipelined like the rows."""
        self._send(self.writer.snapshot, int(step), params)

    def finish(self, status: str, summary: dict) -> None:
        self.drain()
        ray.get(self.writer.finish.remote(self.key, self.attempt, status, dict(summary or {})))

    def cancelled(self) -> bool:
        if self._pending is not None and ray.wait([self._pending], timeout=0)[0]:
            self.drain()
        if not self._cancel_seen and self._pending is None and time.monotonic() - self._sent >= self.poll_every:
            self._send(self.writer.cancelled)  # a probe: nothing was sent for a while (a long evaluation)
        return self._cancel_seen


def where_am_i(threads: int) -> dict:
    """This task's node, process, threads and GPUs (Ray sets CUDA_VISIBLE_DEVICES to the GPUs it gave)."""
    ctx = ray.get_runtime_context()
    return {"host": socket.gethostname(), "node_id": ctx.get_node_id(), "pid": os.getpid(), "threads": threads,
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}


def train_task(writer, key: Key, job_json: str, threads: int, target: str) -> str | None:
    """The Ray task of one run: begin an attempt, train with a RaySink, settle the run. Returns
    NOT_STARTED where the run was cancelled before this attempt began, else the run's status."""
    attempt = ray.get(writer.begin.remote(key, where_am_i(threads)))
    if attempt is None:
        return NOT_STARTED
    if threads:
        import torch

        torch.set_num_threads(threads)
    job = Job.from_json(job_json)
    sink = RaySink(writer, key, attempt)
    outcome = workers.train_outcome(job, sink, target)
    sink.drain()  # every row the trainer sent lands before the run is settled
    return ray.get(writer.settle.remote(key, attempt, outcome, sink.last_step))
