"""Heavy computations: a server-wide bound on how many run at once, each in a worker process at a
lower CPU priority, so one visitor cannot starve the others.

Streamlit runs every browser session as a thread of one server process. A heavy computation (a
sweep, a long race, a custom formula) run in such a thread would hold Python's global lock for much
of its time (a race of a few rows is mostly per-step Python) and slow every other session's script;
so it runs in one of deploy.settings().slots spawned worker processes, niced (the OS serves the
light requests first) with deploy.settings().torch_threads threads. A light computation (the
default view) runs in the session's own thread and never waits.

    result = compute(spec.race, on_wait=..., progress=..., seconds=15)   # fn(*args, progress=, deadline=)

While no slot is free the caller is told, about five times a second, how long it has waited (the
page shows "waiting for a free slot", and Streamlit can stop a waiting script when its visitor
changes a widget: every report is a chance to). A stopped caller's computation is cancelled at its
next progress report; its slot comes free when the worker is done with it. No streamlit here.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path

import deploy
from training.workers import NICE, background  # noqa: F401  (slots.NICE: the workers run at a lower priority)

POLL_S = 0.2
ROOT = str(Path(__file__).resolve().parent.parent)


class Busy(ValueError):
    """No slot came free within deploy.settings().slot_wait_s."""


class NotCached(LookupError):
    """A page's cached function has no result for a heavy request: those are computed here, in a
    worker (compute()), then stored; a miss raises this (an exception is not cached), so the engine
    never runs a heavy request in the server's own thread, whatever the cache evicted."""


def waiting_note(note, what: str) -> Callable[[float, int], None]:
    """An on_wait for compute() that says so in `note` (a Streamlit placeholder: anything with .info)."""

    def on_wait(waited: float, running: int) -> None:
        note.info(f"Waiting for a free slot: {running} heavy computation(s) are running on this server "
                  f"({waited:.0f} s so far). Your {what} starts as soon as one ends.")

    return on_wait


class Cancelled(Exception):
    """Raised inside a worker when the session that asked for the computation went away."""


# ---------------------------------------------------------------- slots: how many heavy computations at once


class _Pool:
    """`size` numbered places; a taken place is given back when its computation ends."""

    def __init__(self, size: int):
        self.size = size
        self.free = list(range(size))
        self._cond = threading.Condition()

    @property
    def taken(self) -> int:
        return self.size - len(self.free)

    def acquire(self, timeout: float) -> int | None:
        with self._cond:
            if not self.free:
                self._cond.wait(timeout)
            return self.free.pop() if self.free else None

    def release(self, index: int) -> None:
        with self._cond:
            self.free.append(index)
            self._cond.notify()


_lock = threading.Lock()
_pool: _Pool | None = None


def pool() -> _Pool:
    """The process's slots, sized by the settings in force (a new size makes a new pool: tests)."""
    global _pool
    size = deploy.settings().slots
    with _lock:
        if _pool is None or (_pool.size != size and _pool.taken == 0):
            _pool = _Pool(size)
        return _pool


def busy() -> tuple[int, int]:
    """(taken, size) of the slots now."""
    p = pool()
    return p.taken, p.size


def acquire(on_wait: Callable[[float, int], None] | None = None, wait_s: float | None = None) -> tuple[_Pool, int]:
    """(pool, slot index) once a slot is free; on_wait(waited seconds, computations running) before
    each wait of POLL_S. Raises Busy after wait_s (default deploy.settings().slot_wait_s)."""
    p = pool()
    limit = deploy.settings().slot_wait_s if wait_s is None else wait_s
    t0 = time.monotonic()
    while (index := p.acquire(timeout=POLL_S)) is None:
        waited = time.monotonic() - t0
        if waited >= limit:
            raise Busy(f"the server is busy: {p.taken} heavy computation(s) have been running for the last "
                       f"{waited:.0f} s. Try again in a minute, or make this request smaller.")
        if on_wait is not None:
            on_wait(waited, p.taken)
    return p, index


@contextmanager
def heavy(on_wait: Callable[[float, int], None] | None = None, wait_s: float | None = None) -> Iterator[int]:
    """Hold one slot for the duration of the block (yields its index)."""
    p, index = acquire(on_wait, wait_s)
    try:
        yield index
    finally:
        p.release(index)


# ---------------------------------------------------------------- worker processes


class _Workers:
    """A spawn-context process pool with one shared progress value and cancel flag per slot."""

    def __init__(self, size: int, threads: int):
        ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no copy of the server, no forked threads
        self.size, self.threads = size, threads
        self.progress = ctx.Array("d", size, lock=False)  # fraction done, written by the worker
        self.cancel = ctx.Array("b", size, lock=False)  # set by the server: stop at the next report
        self.executor = cf.ProcessPoolExecutor(size, mp_context=ctx, initializer=_init,
                                               initargs=(self.progress, self.cancel, threads, ROOT))

    def submit(self, *args) -> cf.Future:
        from training.workers import bare_main  # spawn must not re-run the server's __main__ in the child

        with bare_main():
            return self.executor.submit(*args)


_workers: _Workers | None = None


def workers() -> _Workers:
    """The process pool (started on first use; a new size or thread count, or a broken pool, makes a new one)."""
    global _workers
    s = deploy.settings()
    with _lock:
        if _workers is None or (_workers.size, _workers.threads) != (s.slots, s.torch_threads):
            old, _workers = _workers, _Workers(s.slots, s.torch_threads)
            if old is not None:
                old.executor.shutdown(wait=False, cancel_futures=True)
        return _workers


def fit_threads(threads: int) -> None:
    """torch's intra-op threads in this (the server's) process: every session is a thread of it, and
    torch's default (a thread per core) in each of them oversubscribes the cores."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def warm() -> None:
    """Start the worker processes now (each imports torch: seconds), so the first heavy request need not."""
    w = workers()
    for _ in range(w.size):
        w.submit(_noop)


def compute(fn: Callable, *args, on_wait: Callable[[float, int], None] | None = None,
            progress: Callable[[float], None] | None = None, seconds: float | None = None,
            wait_s: float | None = None, **kwargs):
    """fn(*args, progress=..., deadline=..., **kwargs) in a worker process, holding a slot.

    fn and its arguments must pickle (a module-level function, a bound method of a spec; specs are
    plain data). seconds: the compute time it gets, counted in the worker from when it starts
    (None: no limit); the worker passes fn a time.monotonic() deadline. progress(fraction) is
    called about five times a second. Exceptions from fn come back as raised there (ValueError,
    trajectories.limits.TimeLimit); a worker that died says so as a ValueError.
    """
    p, index = acquire(on_wait, wait_s)
    w = workers()
    w.progress[index], w.cancel[index] = 0.0, 0
    try:
        future = w.submit(_run, index, fn, args, kwargs, seconds)
    except BaseException:
        p.release(index)
        raise
    future.add_done_callback(lambda _: p.release(index))  # free when the worker is done, not before
    try:
        while True:
            try:
                return future.result(timeout=POLL_S)
            except cf.TimeoutError:
                if progress is not None:
                    progress(w.progress[index])
    except BrokenProcessPool:
        global _workers
        with _lock:
            if _workers is w:
                _workers = None
        raise ValueError("the computation's worker process died (out of memory?): try a smaller request") from None
    finally:
        if not future.done():  # the caller went away (Streamlit stopped the script): stop the worker
            w.cancel[index] = 1


# ---------------------------------------------------------------- inside a worker

_progress = _cancel = None


def _init(progress, cancel, threads: int, root: str) -> None:
    global _progress, _cancel
    _progress, _cancel = progress, cancel
    if root not in sys.path:
        sys.path.insert(0, root)
    background()
    import torch

    torch.set_num_threads(threads)
    import trajectories  # noqa: F401  (imported once here, not on the first request)


def _noop() -> None:
    return None


def _run(index: int, fn: Callable, args: tuple, kwargs: dict, seconds: float | None):
    def report(fraction: float) -> None:
        _progress[index] = fraction
        if _cancel[index]:
            raise Cancelled("the session went away")

    deadline = None if seconds is None else time.monotonic() + seconds
    return fn(*args, progress=report, deadline=deadline, **kwargs)
