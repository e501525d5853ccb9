"""The per-run summary table: plain Python values from numpy results."""
from __future__ import annotations

import numpy as np

from .inputs import as_race, distance_to_nearest

CLIPPED = 1 - 1e-12  # a clip coefficient below this means clipping scaled the gradient down


def summary_rows(race, *, minima=(), min_value=None, tol: float = 1e-6) -> list[dict]:
    """One dict per run: final and best loss, distance to the nearest minimum, steps to reach the
    tolerance (first step with loss - min_value <= tol; None if never or the minimum is unknown),
    clipped fraction of the updates, and the step it diverged at (None if never)."""
    race = as_race(race)
    pos = race.positions_mask()
    upd = race.updates_mask()
    dist = distance_to_nearest(race.xy, minima)
    rows = []
    for r in range(race.runs):
        last = int(race.last_position[r])
        loss = race.loss[: last + 1, r]
        reached = None
        if min_value is not None:
            hit = np.nonzero(loss - min_value <= tol)[0]
            reached = int(hit[0]) if hit.size else None
        taken = upd[:, r]
        clipped = float(np.mean(race.clip_coef[taken, r] < CLIPPED)) if taken.any() else 0.0
        k = int(race.diverged_at[r])
        rows.append({
            "run": race.labels[r],
            "final loss": float(race.loss[last, r]),
            "best loss": float(np.min(loss)),
            "distance to minimum": None if dist is None else float(dist[last, r]),
            f"steps to loss − min ≤ {tol:g}": reached,
            "clipped fraction": clipped,
            "diverged at": None if k < 0 else k,
        })
        assert pos[last, r]
    return rows
