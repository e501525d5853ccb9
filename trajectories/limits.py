"""Caps that keep a public deployment safe, enforced in the engine (not only in widgets).

Work caps are checked before anything runs; the compute deadline (deploy.settings().deadline_s,
public mode only by default) is checked inside the simulation loop, once per step, because the
cost of a step varies 100x with the formula.
"""
from __future__ import annotations

import time

import deploy

# Three step bounds, each for its own kind of request. They differ because the work differs:
# - simulate() and race() are the library's entry points (scripts, tests, benchmarks, the explorer's
#   engine); they record full histories, already bounded by rows x steps (simulate.MAX_RECORDED), so
#   their step bound is only a sanity ceiling.
# - a sweep or basins request is what a visitor asks of the Sweeps page: up to 10^6 rows, so its
#   steps are capped low, next to the cells, rows and work caps below (check_work).
# - the explorer's view (ui.spec.ExplorerSpec, its links and widgets) races up to 8 runs with full
#   histories and draws every step; it has its own bound, equal to the sweeps' today but not tied to it.
MAX_SIMULATE_STEPS = 100_000  # steps of one simulate() or race() call: the engine's hard bound
MAX_SWEEP_STEPS = 5_000  # steps of one sweep or basins request (trajectories.MAX_STEPS, the old name)
MAX_EXPLORER_STEPS = 5_000  # steps of the explorer's view (ui.spec.MAX_STEPS; a Sweeps spec is checked by it too)
MAX_CELLS = 300 * 300  # cells of one hyperparameter map (per optimizer)
MAX_BASIN_CELLS = 400 * 400  # start points of one basins map
MAX_SEEDS = 16
MAX_ROWS = 1_000_000  # rows of one request (cells x seeds)
MAX_WORK = deploy.LOCAL_MAX_WORK  # rows x steps of one request, all its optimizers and seeds together
CHUNK_ROWS = 1 << 17  # rows simulated at once: bounds memory to a few hundred MB whatever the request


class TimeLimit(ValueError):
    """A request ran past its compute deadline. `done` is what finished (steps, or optimizers of a sweep)."""

    def __init__(self, message: str, done: int = 0):
        super().__init__(message)
        self.done = done


def max_work() -> int:
    """rows x steps one request may run: 5 * 10^8, lower on a public server (deploy.settings())."""
    return min(MAX_WORK, deploy.settings().max_work)


def check_work(rows: int, steps: int, cells: int, max_cells: int, what: str, total: int | None = None) -> None:
    """Raise ValueError, saying what to reduce, where a request exceeds a cap.

    rows x steps is one call's work; total (default: the same) is the whole request's, e.g. a
    sweeps page request of four optimizers is four calls whose work adds up.
    """
    if not (1 <= steps <= MAX_SWEEP_STEPS):
        raise ValueError(f"steps must be from 1 to {MAX_SWEEP_STEPS}, got {steps}")
    if cells > max_cells:
        raise ValueError(f"{what} has {cells:,} cells; the limit is {max_cells:,}: use a coarser grid")
    if rows > MAX_ROWS:
        raise ValueError(f"{what} needs {rows:,} runs; the limit is {MAX_ROWS:,}: use fewer cells or seeds")
    cap = max_work()
    work = rows * steps if total is None else total
    if work > cap:
        raise ValueError(f"{what} needs {work // steps:,} runs x {steps:,} steps = {work:,} run-steps; "
                         f"the limit is {cap:,}: use fewer steps, cells, seeds or optimizers")


def deadline(seconds: float | None = None) -> float | None:
    """An absolute time.monotonic() deadline `seconds` from now (default: the server's per-request
    limit, deploy.settings().deadline_s); None where there is no limit."""
    if seconds is None:
        seconds = deploy.settings().deadline_s
    return None if seconds is None else time.monotonic() + seconds


def seconds_text() -> str:
    """"15 s" (the per-request limit in words), for messages."""
    s = deploy.settings().deadline_s
    return "no" if s is None else f"{s:g} s"
