"""Landscape evaluations in worker processes, for the pages: never in the Streamlit server's threads.

    landscape_id = launch(spec, owner=...)     # the stored request, and a spawned, niced process evaluating it
    cancel(landscape_id)                       # it stops after its current row (the rows done are kept)

Like training jobs (training/workers.py) the store is the only channel: the page polls the request's
rows and status, a reload or a second tab never starts it twice (a request is one row of the store,
and a running one is not launched again), and a killed worker leaves its rows for the next request
to resume from. The worker runs at a lower priority (training.workers.background) with the threads
a CPU job would get (training.workers.cpu_threads), bounded in public mode by deploy.settings():
max_grid points per side (checked by the spec), max_landscapes at once, landscape_s seconds each.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time

from ..store import Store, pid_alive
from ..workers import ROOT, Terminated, _raise_terminated, background, bare_main, cpu_threads
from . import cache
from .spec import Spec

ADMIT_LOCK = threading.Lock()  # from the limits check until the request is running: one place each
POLL_S = 0.25  # a worker asks the store whether it was cancelled at most this often


def admit(store: Store, spec: Spec) -> None:
    """Raise ValueError, saying which limit and what to do, unless spec may be evaluated now."""
    import deploy

    limits = deploy.settings()
    spec.check()
    cache.reap(store)
    if limits.max_landscapes is not None:
        active = cache.count_active(store)
        if active >= limits.max_landscapes:
            raise ValueError(f"this server evaluates at most {limits.max_landscapes} landscape(s) at once and "
                             f"{active} is running: try again when it is done")


def launch(spec: Spec, db_path: str | os.PathLike | None = None, *, owner: str | None = None,
           device: str | None = None, threads: int | None = None) -> int:
    """The request's id, with a worker evaluating it unless it is complete or already being evaluated.
    Raises ValueError where this server's limits refuse it (nothing started then)."""
    import deploy

    store = Store(db_path)
    with ADMIT_LOCK:
        existing = cache.find(store, spec)
        if existing is not None and (existing["status"] == "done" or existing["status"] in cache.ACTIVE):
            cache.reap(store)
            existing = cache.find(store, spec)
            if existing["status"] == "done" or existing["status"] in cache.ACTIVE:
                return int(existing["id"])
        admit(store, spec)
        landscape_id = cache.request(store, spec, owner)
        limits = deploy.settings()
        if threads is None:
            threads = limits.torch_threads if limits.public else cpu_threads(store)
        if str(ROOT) not in sys.path:
            sys.path.append(str(ROOT))
        ctx = multiprocessing.get_context("spawn")
        p = ctx.Process(target=_child, args=(landscape_id, str(store.path), str(ROOT), threads, device,
                                             limits.landscape_s), name=f"landscape-{landscape_id}", daemon=False)
        try:
            with bare_main():
                p.start()
        except BaseException as e:
            cache.set_status(store, landscape_id, "failed", error=f"could not start a worker: {e}")
            raise
        cache.claim(store, landscape_id, p.pid)
    children = getattr(multiprocessing.process, "_children", None)
    if children is not None:  # detached: the launcher's exit does not wait for it
        children.discard(p)
    _PROCS[p.pid] = p
    _reap_children()
    return landscape_id


_PROCS: dict[int, multiprocessing.process.BaseProcess] = {}


def _reap_children() -> None:
    for pid, p in list(_PROCS.items()):
        if not p.is_alive() or not pid_alive(pid):
            _PROCS.pop(pid, None)


def cancel(landscape_id: int, db_path: str | os.PathLike | None = None) -> None:
    """Ask the request's worker to stop after its current row; a queued one that never started is marked now."""
    store = Store(db_path)
    cache.request_cancel(store, landscape_id)
    cache.reap(store)
    row = cache.get(store, landscape_id)
    if row["status"] == "queued" and not pid_alive(row["pid"]):
        cache.set_status(store, landscape_id, "cancelled", error="cancelled before it started", only_if_active=True)


def polled_cancel(store: Store, landscape_id: int):
    """A cancelled() for compute.evaluate that asks the store at most every POLL_S seconds."""
    last = [0.0, False]

    def cancelled() -> bool:
        now = time.monotonic()
        if not last[1] and now - last[0] >= POLL_S:
            last[0] = now
            last[1] = cache.cancel_requested(store, landscape_id)
        return last[1]

    return cancelled


def _child(landscape_id: int, db_path: str, root: str, threads: int, device: str | None,
           seconds: float | None) -> None:
    """The worker process's entry point (spawned: a fresh interpreter)."""
    if root not in sys.path:
        sys.path.insert(0, root)
    background()  # a lower priority and a session of its own
    import torch

    from .compute import evaluate

    if threads:
        torch.set_num_threads(threads)
    signal.signal(signal.SIGTERM, _raise_terminated)
    store = Store(db_path)
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        status = evaluate(store, landscape_id, device=device, cancelled=polled_cancel(store, landscape_id),
                          deadline=deadline)
    except Terminated:
        cache.set_status(store, landscape_id, "interrupted", error="terminated by a signal; the rows done are kept",
                         only_if_active=True)
        status = "interrupted"
    sys.exit(0 if status in ("done", "cancelled", "stopped") else 1)
