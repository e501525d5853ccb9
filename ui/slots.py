"""A server-wide bound on concurrent heavy computations, so one visitor cannot starve the others.

Streamlit runs every browser session as a thread of one server process: a semaphore of
deploy.settings().slots places is shared by all of them. A heavy computation (a sweep, a long
race, a custom formula) takes a place for as long as it runs; a light one (the default view)
never waits. While no place is free the caller is told, about five times a second, how long it
has waited, so the page can show "waiting for a free slot" (and Streamlit can stop a waiting
script when its visitor changes a widget: every report is a chance to). No streamlit here.

    with heavy(on_wait=lambda waited, busy: ...):
        result = compute()
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import deploy

POLL_S = 0.2


class Busy(ValueError):
    """No slot came free within deploy.settings().slot_wait_s."""


class _Pool:
    """A counting semaphore that can say how many places are taken (for the waiting message)."""

    def __init__(self, size: int):
        self.size = size
        self.taken = 0
        self._cond = threading.Condition()

    def acquire(self, timeout: float) -> bool:
        with self._cond:
            if self.taken >= self.size:
                self._cond.wait(timeout)
            if self.taken < self.size:
                self.taken += 1
                return True
            return False

    def release(self) -> None:
        with self._cond:
            self.taken -= 1
            self._cond.notify()


_lock = threading.Lock()
_pool: _Pool | None = None


def pool() -> _Pool:
    """The process's pool, sized by the settings in force (a new size makes a new pool: tests)."""
    global _pool
    size = deploy.settings().slots
    with _lock:
        if _pool is None or (_pool.size != size and _pool.taken == 0):
            _pool = _Pool(size)
        return _pool


def busy() -> tuple[int, int]:
    """(taken, size) of the pool now."""
    p = pool()
    return p.taken, p.size


@contextmanager
def heavy(on_wait: Callable[[float, int], None] | None = None, wait_s: float | None = None) -> Iterator[None]:
    """Hold one slot for the duration of the block; wait (reporting) while none is free.

    on_wait(waited seconds, computations running) is called before each wait of POLL_S seconds.
    Raises Busy after wait_s (default deploy.settings().slot_wait_s) without a slot.
    """
    p = pool()
    limit = deploy.settings().slot_wait_s if wait_s is None else wait_s
    t0 = time.monotonic()
    while not p.acquire(timeout=POLL_S):
        waited = time.monotonic() - t0
        if waited >= limit:
            raise Busy(f"the server is busy: {p.taken} heavy computation(s) have been running for the last "
                       f"{waited:.0f} s. Try again in a minute, or make this request smaller.")
        if on_wait is not None:
            on_wait(waited, p.taken)
    try:
        yield
    finally:
        p.release()
