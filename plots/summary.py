"""The per-run summary table: plain Python values from numpy results."""
from __future__ import annotations

import numpy as np

from .inputs import as_race, distance_to_nearest

CLIPPED = 1 - 1e-12  # a clip coefficient below this means clipping scaled the gradient down


def evaluations_text(per_update, updates: int) -> str | None:
    """What the updates cost: "600 f" (loss values), "300 ∇f" (gradients), "10 f + 5 ∇f"; None if unknown."""
    if per_update is None:
        return None
    values, grads = (int(v) * int(updates) for v in per_update)
    parts = [f"{values} f"] * (values > 0) + [f"{grads} ∇f"] * (grads > 0)
    return " + ".join(parts) or "0"


def summary_rows(race, *, minima=(), min_value=None, tol: float = 1e-6) -> list[dict]:
    """One dict per run: the updates taken and what they cost (loss values f, gradients ∇f), final and
    best loss, distance to the nearest minimum, steps to reach the tolerance (first step with
    loss - min_value <= tol; None if never or the minimum is unknown), clipped fraction of the
    updates, sharpness (the top Hessian eigenvalue at the final point) and the step it diverged at
    (None if never). Evaluations and sharpness are None where the result does not hold them."""
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
        taken_n = int(race.updates_taken[r])
        rows.append({
            "run": race.labels[r],
            "steps": taken_n,
            "evaluations": evaluations_text(None if race.evaluations is None else race.evaluations[r], taken_n),
            "final loss": float(race.loss[last, r]),
            "best loss": float(np.min(loss)),
            "distance to minimum": None if dist is None else float(dist[last, r]),
            f"steps to loss − min ≤ {tol:g}": reached,
            "clipped fraction": clipped,
            "sharpness": None if race.sharpness is None else float(race.sharpness[r]),
            "diverged at": None if k < 0 else k,
        })
        assert pos[last, r]
    return rows
