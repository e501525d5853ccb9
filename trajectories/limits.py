"""Caps that keep a public deployment safe, enforced in the engine (not only in widgets)."""
from __future__ import annotations

MAX_STEPS = 5_000  # steps of one sweep or basins request
MAX_CELLS = 300 * 300  # cells of one hyperparameter map (per optimizer)
MAX_BASIN_CELLS = 400 * 400  # start points of one basins map
MAX_SEEDS = 16
MAX_ROWS = 1_000_000  # rows of one request (cells x seeds)
MAX_WORK = 5 * 10**8  # rows x steps of one request (10^6 rows x 500 steps)
CHUNK_ROWS = 1 << 17  # rows simulated at once: bounds memory to a few hundred MB whatever the request


def check_work(rows: int, steps: int, cells: int, max_cells: int, what: str) -> None:
    """Raise ValueError, saying what to reduce, where a request exceeds a cap."""
    if not (1 <= steps <= MAX_STEPS):
        raise ValueError(f"steps must be from 1 to {MAX_STEPS}, got {steps}")
    if cells > max_cells:
        raise ValueError(f"{what} has {cells:,} cells; the limit is {max_cells:,}: use a coarser grid")
    if rows > MAX_ROWS:
        raise ValueError(f"{what} needs {rows:,} runs; the limit is {MAX_ROWS:,}: use fewer cells or seeds")
    if rows * steps > MAX_WORK:
        raise ValueError(f"{what} needs {rows:,} runs x {steps:,} steps = {rows * steps:,} run-steps; "
                         f"the limit is {MAX_WORK:,}: use fewer steps, cells or seeds")
