"""The Landscape page's plain helpers: which stored runs can be drawn together, how long a grid takes,
the Compare page's link to the landscape of its runs. No streamlit here.

Runs can share a plane when they are runs of one task at one size (the same parameter layout)
that ended and kept snapshots (Job.snapshots); a run without snapshots has no weights to draw.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from training.store import ACTIVE, Store

from .landscape_links import landscape_url


def model_of(run: Mapping) -> tuple[str, float]:
    """(task, size): runs with the same pair have the same parameter layout."""
    job = run.get("job") or {}
    return str(run.get("task", "")), float(job.get("size", 1.0) or 1.0)


def drawable(runs: Iterable[Mapping], counts: Mapping[int, int]) -> list[Mapping]:
    """The runs (in the order given) that ended and kept snapshots (counts: Store.snapshot_counts())."""
    return [r for r in runs if counts.get(r["id"], 0) > 0 and r.get("status") not in ACTIVE]


def companions(runs: Sequence[Mapping], centre: Mapping) -> list[Mapping]:
    """The runs of `runs` that can share the centre's plane (its task and size), the centre first."""
    same = [r for r in runs if model_of(r) == model_of(centre) and r["id"] != centre["id"]]
    return [centre, *same]


def scored_evals(store: Store, run_id: int) -> int:
    """How many validation evaluations the run made (its eval rows with a loss; the others carry only a
    smoothness estimate)."""
    return int(np.isfinite(store.evals(run_id)["val_loss"]).sum())


def seconds_per_point(run: Mapping, evaluations: int) -> float | None:
    """One evaluation's time as the run measured it while training (its summary's eval_s over its
    `evaluations`), None where unknown: a landscape point costs one evaluation on the same data."""
    eval_s = (run.get("summary") or {}).get("eval_s")
    if evaluations <= 0 or not isinstance(eval_s, (int, float)) or eval_s <= 0:
        return None
    return float(eval_s) / evaluations


def estimate_text(run: Mapping, evaluations: int, points: int, data: str) -> str:
    """"about 80 s" for `points` evaluations of the validation set (nothing for other data)."""
    per = seconds_per_point(run, evaluations)
    if per is None or data != "val":
        return ""
    s = per * points
    return f"about {s:.0f} s" if s < 90 else f"about {s / 60:.0f} min"


def compare_link(runs: Sequence[Mapping], counts: Mapping[int, int]) -> tuple[str | None, str]:
    """(the Landscape page's URL for the Compare page's selection, a sentence about it): centred on the
    first selected run that kept snapshots, with the paths of every selected run that can share its plane."""
    ok = drawable(runs, counts)
    if not ok:
        return None, ("None of these runs kept its weights: train with 'keep weight snapshots' (Train page) or "
                      "--snapshots N to see their loss landscape.")
    group = companions(ok, ok[0])
    left = len(runs) - len(group)
    note = f"Centred on #{group[0]['id']}, with the path{'s' if len(group) > 1 else ''} of " + \
        ", ".join(f"#{r['id']}" for r in group)
    if left:
        note += f"; {left} selected run(s) left out (no snapshots, still running, or another task or size)"
    return landscape_url(group[0]["id"], [r["id"] for r in group]), note + "."
