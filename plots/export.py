"""Downloads: the trajectories as tidy CSV, the animated figure as one self-contained HTML file."""
from __future__ import annotations

import csv
import io

import numpy as np
import plotly.io as pio

from .inputs import as_race


def trajectories_csv(race) -> str:
    """run, step, x, y, loss, then the update's grad_norm, lr, clip_coef, smoothness (empty at the last step)."""
    race = as_race(race)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["run", "step", "x", "y", "loss", "grad_norm", "lr", "clip_coef", "smoothness"])
    steps = race.steps
    for r in range(race.runs):
        for t in range(int(race.last_position[r]) + 1):
            per_update = [race.grad_norm[t, r], race.lr[t, r], race.clip_coef[t, r], race.smoothness[t, r]] \
                if t < steps else [np.nan] * 4
            w.writerow([race.labels[r], t, *(repr(float(v)) for v in (*race.xy[t, r], race.loss[t, r])),
                        *("" if not np.isfinite(v) else repr(float(v)) for v in per_update)])
    return buf.getvalue()


def figure_html(fig) -> str:
    """A self-contained HTML page (plotly.js inlined) that plays offline."""
    return pio.to_html(fig, include_plotlyjs=True, full_html=True, auto_play=False, validate=False)
