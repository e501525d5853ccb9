"""Which steps a run keeps its weights at (Job.snapshots), within a size budget.

A snapshot is the model's flat parameter buffer (training/flat.py) after k updates, as float32:
4 bytes a parameter (digits-mlp 0.1 MB, char-lstm 0.47 MB, tiny-transformer 1.9 MB at size 1).
The loss landscape (training/landscape) draws a run's path through them and centres its plane on
the last one. Steps are evenly spaced from 0 (the initial model) to the last update, both kept,
so a path always runs from the start to where the run ended.
"""
from __future__ import annotations

BYTES_PER_PARAM = 4  # float32


def plan(asked: int, steps: int, n_params: int, budget_mb: float) -> tuple[list[int], str | None]:
    """(the steps to snapshot, a note where fewer than asked fit the budget, else None).

    asked: Job.snapshots (0: none, 1: the final weights only, n >= 2: n evenly spaced from step 0
    to `steps`); budget_mb: the most one run may keep (deploy.settings().max_snapshot_mb)."""
    if asked <= 0 or steps < 0:
        return [], None
    size = max(1, n_params) * BYTES_PER_PARAM
    fit = int(budget_mb * 1e6 // size)
    n = min(asked, fit, steps + 1)
    note = None
    if n < asked:
        why = (f"{asked} x {size / 1e6:.2g} MB is more than the {budget_mb:g} MB a run may keep here" if fit < asked
               else f"a run of {steps} steps has {steps + 1} distinct points")
        note = f"snapshots: kept {n} of the {asked} asked for ({why})"
    if n <= 0:
        return [], note
    if n == 1:
        return [steps], note
    return sorted({round(j * steps / (n - 1)) for j in range(n)}), note
