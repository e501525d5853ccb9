"""The explorer's race for its own player in the browser: the still figure, and every run's numbers as arrays.

race_figure(live=True) gives the layout and the traces that stay still (trails, start, minima, where
runs diverged, the panels' curves); here the trails' and curves' numbers are taken out as one float32
array per run, `series`, over the steps `shown` (a stride grid of at most MAX_LINE_POINTS steps and every
frame step; beyond 2 000 steps a diverged run's trail ends at the last shown step before its last real
one, the diverged mark at the real one), and the traces point at them ({"$": [run, channel]}, {"$": "S"}
for the step numbers). The player (ui/race_view.js) puts them back, draws the moving marks (heads, the
panels' markers, arrows) at the frame steps, and draws a bank row (a knob's other values) the same way.

Channels of a series (C = 7), each over `shown`: x, y (NaN after the run's last real position, so its
trail ends there), the loss, then the four panels' values as drawn: log10 of the value on a log axis
(float32 holds every decade of float64 that way), the value itself on a linear one (the symlog loss
panel); NaN where a panel has no value (after divergence, the last update, no known minimum).

Pure numpy: plots never sees the simulator (the bank's rows come in as a Result-like too).
"""
from __future__ import annotations

import html

import numpy as np

from .inputs import as_race
from .race import MAX_LINE_POINTS, diagnostics, frame_steps, race_figure
from .style import colours

X, Y, LOSS = 0, 1, 2
PANEL0 = 3  # channel of panel p is PANEL0 + p
CHANNELS = 7
BANK_POINTS = 400  # steps of a bank row's stride grid (frame steps come on top): a preview, not the record
ARROW_SPAN = 0.08  # the -gradient arrow's length, as a fraction of the map's diagonal (as race_figure)


def shown_steps(steps: int, frames: np.ndarray, most: int) -> np.ndarray:
    """Sorted step numbers: every stride-th step (at most `most` of them) and every frame step."""
    stride = max(1, -(-(steps + 1) // most))
    return np.union1d(np.arange(0, steps + 1, stride), frames).astype(np.int64)


def panel_logs(min_value) -> list[bool]:
    """Per panel: drawn on a log axis (else linear: the symlog loss panel where no minimum is known)."""
    return [min_value is not None, True, True, True]


def series(race, shown: np.ndarray, *, min_value, minima) -> np.ndarray:
    """(R, CHANNELS, len(shown)) float32: each run's numbers at the shown steps (see the module doc)."""
    race = as_race(race)
    diag = diagnostics(race, min_value, minima)
    logs = panel_logs(min_value)
    n, k = race.runs, shown.size
    out = np.full((n, CHANNELS, k), np.nan, dtype=np.float32)
    real = shown[:, None] <= race.last_position[None, :]  # (k, R)
    out[:, X] = np.where(real, race.xy[shown, :, 0], np.nan).T
    out[:, Y] = np.where(real, race.xy[shown, :, 1], np.nan).T
    out[:, LOSS] = race.loss[shown].T
    with np.errstate(divide="ignore", invalid="ignore"):
        for p, values in enumerate(diag):
            if values is not None:
                v = values[shown]
                out[:, PANEL0 + p] = (np.log10(v) if logs[p] else v).T
    return out


def live_race(grid, race, *, minima=(), start=None, bounds=None, min_value=None, max_frames: int = 200,
              arrows: bool = False, height: int = 540, box=None, image: dict | None = None) -> dict:
    """What the player draws: {"figure", "narrow", "shown", "frames", "series", "runs", "panels", "arrows"}.

    figure: race_figure(live=True) with the trails' and curves' numbers replaced by references;
    narrow: the layout's changes for a narrow screen (the map above the panels); shown, frames: step
    numbers (int arrays); series: (R, CHANNELS, len(shown)) float32; runs: per run its label, colour,
    diverged_at, last real step, updates taken and [loss values, gradients] each update used (or None);
    panels: per panel its axes, whether log, and whether it has values; arrows: (R, F, 4) float32 tips
    of the -gradient and the update arrow at each frame step, or None.
    """
    race = as_race(race)
    steps = race.steps
    frames = frame_steps(steps, max_frames)
    # the same steps for every run: a change to one run leaves the others' arrays as they were
    shown = shown_steps(steps, frames, MAX_LINE_POINTS)
    fig = race_figure(grid, race, minima=minima, start=start, bounds=bounds, min_value=min_value,
                      max_frames=max_frames, height=height, live=True, box=box, image=image)
    logs = panel_logs(min_value)
    has = [v is not None for v in diagnostics(race, min_value, minima)]
    _point_at_series(fig, race, logs, min_value is None)
    cols = colours(race.runs)
    return {
        "figure": fig,
        "narrow": narrow_layout(fig["layout"]),
        "shown": shown,
        "frames": frames,
        "series": series(race, shown, min_value=min_value, minima=minima),
        "runs": [{"label": race.labels[r], "colour": cols[r], "diverged_at": int(race.diverged_at[r]),
                  "last": int(race.last_position[r]), "taken": int(race.updates_taken[r]),
                  "evals": None if race.evaluations is None else [int(v) for v in race.evaluations[r]]}
                 for r in range(race.runs)],
        "panels": [{"x": f"x{p + 2}", "y": f"y{p + 2}", "log": logs[p], "has": has[p]} for p in range(4)],
        "arrows": arrow_tips(race, frames, bounds, grid) if arrows and race.grad is not None else None,
    }


def _point_at_series(fig: dict, race, logs: list[bool], loss_symlog: bool) -> None:
    """Replace the trails' and curves' numbers by references into the series (in place)."""
    for t in fig["data"]:
        group = t.get("legendgroup", "")
        if not group.startswith("r"):
            continue
        r = int(group[1:])
        t["name"] = html.escape(race.labels[r], quote=False)  # Plotly reads a few HTML tags in names
        axis = t.get("xaxis", "x")
        if axis == "x":  # a trail: x, y and (step, loss) for the hover
            t.update(x={"$": [r, X]}, y={"$": [r, Y]}, customdata={"$": [r, "S", LOSS]})
        else:
            p = int(axis[1:]) - 2
            t.pop("x0", None), t.pop("dx", None)
            t.update(x={"$": "S"}, y={"$": [r, PANEL0 + p], "pow10": logs[p]})
            if p == 0 and loss_symlog:
                t["customdata"] = {"$": [r, LOSS]}


def narrow_layout(layout: dict) -> dict:
    """Layout changes for a narrow screen (a phone): the map on top at full width, the panels under it."""
    top, gap, n = 0.50, 0.045, 4
    h = (top - 0.04 - (n - 1) * gap) / n
    out = {"height": 1000, "xaxis.domain": [0.0, 1.0], "yaxis.domain": [top + 0.04, 1.0],
           "margin": {"l": 58, "r": 10, "t": 60, "b": 40}}
    for p in range(n):
        lo = top - 0.04 - (p + 1) * h - p * gap
        out[f"xaxis{p + 2}.domain"] = [0.0, 1.0]
        out[f"yaxis{p + 2}.domain"] = [max(0.0, lo), lo + h]
    notes = [dict(a) for a in layout.get("annotations", [])]
    for a, p in zip(notes, _panel_of_notes(notes), strict=True):
        lo = top - 0.04 - (p + 1) * h - p * gap
        a.update(x=0.5, y=lo + (h / 2 if a.get("text") == "no known minimum" else h))
    out["annotations"] = notes
    return out


def _panel_of_notes(notes: list[dict]) -> list[int]:
    """The panel each of _axes's annotations belongs to: one title per panel, and 'no known minimum' on the last."""
    out, p = [], 0
    for a in notes:
        if a.get("text") == "no known minimum":
            out.append(3)
        else:
            out.append(p)
            p += 1
    return out


def arrow_tips(race, frames: np.ndarray, bounds, grid) -> np.ndarray:
    """(R, F, 4) float32: at each frame step, the -gradient arrow's tip (length ARROW_SPAN of the map's
    diagonal) and the update's end x[t+1] (as race_figure's arrows; NaN past the run's last step)."""
    race = as_race(race)
    if bounds is None:
        xs, ys = grid[0], grid[1]
        bounds = ((xs[0], xs[-1]), (ys[0], ys[-1]))
    (x0, x1), (y0, y1) = bounds
    length = ARROW_SPAN * float(np.hypot(x1 - x0, y1 - y0))
    t = np.asarray(frames)
    p0 = race.xy[t]  # (F, R, 2)
    g = -race.grad[np.minimum(t, race.steps - 1)]
    norm = np.linalg.norm(g, axis=-1, keepdims=True)
    tip = p0 + length * np.divide(g, norm, out=np.zeros_like(g), where=norm > 0)
    end = race.xy[np.minimum(t + 1, race.steps)]
    out = np.concatenate([tip, end], axis=-1).transpose(1, 0, 2)  # (R, F, 4)
    return out.astype(np.float32)


def bank_series(bank, *, steps: int, frames: np.ndarray, min_value, minima) -> tuple[np.ndarray, np.ndarray]:
    """(shown, (rows, CHANNELS, len(shown)) float32) of a bank's rows (a Result-like), on a coarser grid."""
    shown = shown_steps(steps, frames, BANK_POINTS)
    race = as_race(bank, labels=[""] * np.asarray(bank.xy).shape[1])
    return shown, series(race, shown, min_value=min_value, minima=minima)
