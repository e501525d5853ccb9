"""A race assembled from its runs: each run's row cached server-wide by what it depends on (the surface,
start, steps, noise and seed, and the run itself; never the other runs), so a change to one run computes
that run alone and a run that comes back (a preset, an undo) costs nothing. The engine's rows never depend
on each other (a fair race: every run meets the same noise), which tests/test_race_rows.py checks."""
from __future__ import annotations

import dataclasses

from trajectories.result import Result, stack, take

from .lru import Lru
from .spec import ExplorerSpec, RunConfig

ROWS = Lru(512)  # one-row Results by row_key: 3 runs x 300 steps are ~100 kB


def row_key(spec: ExplorerSpec, run: RunConfig) -> tuple:
    """What one run's row depends on."""
    return (spec.surface, spec.surface_params, spec.formula, spec.start_point(), spec.steps, spec.noise, spec.seed,
            run)


def known(spec: ExplorerSpec) -> Result | None:
    """The race from known rows alone (None while one is missing): no computation."""
    rows = [ROWS.get(row_key(spec, r)) for r in spec.runs]
    return None if any(r is None for r in rows) else stack(rows)


def race(spec: ExplorerSpec, deadline: float | None = None) -> Result:
    """spec.race(): the rows known from any earlier view, the others in one engine call (row i is runs[i]).
    A computation cut short by the deadline is returned whole and remembers nothing (its rows are shorter
    than the known ones)."""
    keys = [row_key(spec, r) for r in spec.runs]
    rows = {k: ROWS.get(k) for k in keys}
    missing = list(dict.fromkeys(r for r, k in zip(spec.runs, keys, strict=True) if rows[k] is None))
    if not missing:
        return stack([rows[k] for k in keys])
    whole = len(missing) == len(spec.runs)  # nothing known and no run twice: missing is spec.runs
    new = spec.race(deadline=deadline) if whole else dataclasses.replace(spec, runs=tuple(missing)).race(
        deadline=deadline)
    if new.stopped_at is not None:
        return new if whole else spec.race(deadline=deadline)
    rows.update(keep(spec, missing, new))
    return new if whole else stack([rows[k] for k in keys])


def keep(spec: ExplorerSpec, runs, result: Result) -> dict:
    """Remember row i of result as runs[i]'s row in spec's setting (a result the deadline cut short: nothing);
    {row_key: row} of what it remembered."""
    out = {} if result.stopped_at is not None else {row_key(spec, r): take(result, [i]) for i, r in enumerate(runs)}
    for k, row in out.items():
        ROWS.put(k, row)
    return out
