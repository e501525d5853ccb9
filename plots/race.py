"""The race: the map with every run's trail and moving head, and four diagnostics panels moving in sync.

Built for a small payload that grows linearly with steps: the surface is one PNG in
layout.images (a contour trace would vanish once the animation plays), trails and diagnostics
curves are drawn once, and each frame carries only the moving marks (heads, the current step's
marker on each panel, optional arrows) as plain dicts (go.Frame objects are ~30x slower to build).
Returns the figure as a plain dict, ready for st.plotly_chart / plotly.io.to_html(validate=False).
"""
from __future__ import annotations

import numpy as np
import plotly.io as pio

from .inputs import as_grid, as_race, distance_to_nearest
from .style import GRAD_ARROW, LOG_FLOOR, MINIMUM_COLOUR, OUTLINE, START_COLOUR, UPDATE_ARROW, colours
from .surface_image import surface_image
from .ticks import nice_step, nice_steps, symlog, symlog_ticks

TEMPLATE = pio.templates["plotly_white"].to_plotly_json()  # inlined: a template name is resolved by
# go.Figure, which a prebuilt dict skips
MAX_LINE_POINTS = 2000  # trails and curves of longer runs are thinned to this many points per run
CLICK_GRID = 41  # invisible points over the map: a click on one sets the start there
PANELS = (  # (title, y axis title) of the diagnostics, top to bottom
    ("loss", "loss − min"),
    ("gradient norm before clipping", "‖g‖"),
    ("applied lr (schedule × clip coefficient)", "lr"),
    ("distance to the nearest minimum", "distance"),
)
# Where the surface has no known minimum (a saddle is unbounded below) "loss − min" has no min: the
# loss panel shows the loss itself on a symmetric log scale, sign(loss)·log10(1 + |loss|), labelled
# with the loss values. It reads both the start near 0 and an escape to -10^6 (a linear axis would be
# flat and then fall off a cliff; loss − lowest seen on a log axis did the same).
LOSS_SYMLOG = ("loss, symmetric log scale (no known minimum)", "loss (symlog)")
SLIDER_X, SLIDER_LEN, SLIDER_Y = 0.13, 0.42, -0.05  # the step slider under the map (paper coordinates)
SLIDER_INSET = 10  # px: plotly.js draws a slider's first and last step this far inside its ends
SLIDER_LABELS = 6  # at most this many intervals between the slider's step labels
SLIDER_LABEL_DROP = 52  # px from the slider's top down to its step labels (under the current value, rail, ticks)


def round_sig(a, digits: int = 5) -> np.ndarray:
    """a rounded to `digits` significant digits (NaN and inf kept): the JSON of each number is short.

    A finite value stays finite: where the scale 10^(digits-1-magnitude) would leave the normal
    float range (values below ~1e-300, or digits beyond it) or rounding up would pass the largest
    float, the value is kept as it is.
    """
    a = np.asarray(a, dtype=np.float64)
    finite = np.isfinite(a) & (a != 0)
    mag = np.floor(np.log10(np.abs(np.where(finite, a, 1.0))))
    exp = digits - 1 - mag
    ok = finite & (np.abs(exp) <= 300)  # 10^exp and a * 10^exp are normal, finite floats
    scale = 10.0 ** np.where(ok, exp, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.round(a * scale) / scale  # inf only where rounding up passes the largest float
    return np.where(ok & np.isfinite(r), r, a)


def as_list(a) -> list:
    """A flat list for JSON, None where not finite (JSON has no NaN)."""
    return [v if v - v == 0 else None for v in np.asarray(a).ravel().tolist()]


def rounded(a, digits: int = 5) -> list:
    """Values rounded to `digits` significant digits as a list (None for NaN/inf)."""
    return as_list(round_sig(a, digits))


def frame_steps(steps: int, max_frames: int) -> np.ndarray:
    """The steps shown as frames: every s-th step for the smallest s of 1, 2, 5 × 10^k that keeps at
    most max_frames (at least 2) frames, and the last step; so the slider reads 0, 20, 40, never 0, 20, 39."""
    if steps <= 0:
        return np.zeros(1, dtype=int)
    most = max(2, int(max_frames))
    for s in nice_steps(max(1.0, steps / most)):
        t = np.arange(0, steps + 1, int(s))
        if t[-1] != steps:
            t = np.append(t, steps)
        if t.size <= most:
            return t
    raise AssertionError("unreachable")  # pragma: no cover


def log_positive(a: np.ndarray) -> np.ndarray:
    return np.maximum(a, LOG_FLOOR)


def diagnostics(race, min_value, minima) -> list[np.ndarray | None]:
    """Per panel a (steps+1, R) array indexed by step (NaN where not real): loss − min (or, with no known
    minimum, symlog(loss)), ‖g‖, lr, and the distance to the nearest minimum (None with no known minimum)."""
    steps, n = race.steps, race.runs
    pos = race.positions_mask()
    upd = race.updates_mask()
    if min_value is not None:
        loss_panel = np.where(pos, log_positive(race.loss - min_value), np.nan)
    else:  # no minimum to subtract: the loss itself on a symmetric log scale (LOSS_SYMLOG)
        loss_panel = np.where(pos, symlog(race.loss), np.nan)

    def per_update(a):  # (steps, R) -> (steps+1, R): the value of update t shown at step t
        out = np.full((steps + 1, n), np.nan)
        out[:steps] = np.where(upd, a, np.nan)
        return out

    dist = distance_to_nearest(race.xy, minima)
    return [
        loss_panel,
        per_update(log_positive(race.grad_norm)),
        per_update(log_positive(race.lr * race.clip_coef)),
        None if dist is None else np.where(pos, log_positive(dist), np.nan),
    ]


def _axes(has_distance: bool, loss_symlog: np.ndarray | None = None) -> tuple[dict, list]:
    """Layout axes: the map (x, y) on the left, four stacked panels (x2..x5, y2..y5) on the right.

    loss_symlog: the loss panel's values where it shows symlog(loss) (no known minimum), else None."""
    gap, top = 0.05, 1.0
    h = (top - 3 * gap) / 4
    layout = {
        "xaxis": {"domain": [0.0, 0.55], "title": {"text": "x"}, "showgrid": False, "zeroline": False,
                  "constrain": "domain"},
        "yaxis": {"domain": [0.0, 1.0], "title": {"text": "y"}, "showgrid": False, "zeroline": False,
                  "scaleanchor": "x", "scaleratio": 1, "constrain": "domain"},
    }
    notes = []
    for p, (title, ytitle) in enumerate(PANELS):
        i = p + 2
        lo = top - (p + 1) * h - p * gap
        layout[f"xaxis{i}"] = {"domain": [0.64, 1.0], "anchor": f"y{i}", "matches": "x2" if i > 2 else None,
                               "showticklabels": p == 3, "title": {"text": "step"} if p == 3 else None}
        layout[f"yaxis{i}"] = {"domain": [lo, lo + h], "anchor": f"x{i}", "type": "log", "exponentformat": "power",
                               "title": {"text": ytitle, "font": {"size": 11}}}
        if p == 0 and loss_symlog is not None:
            title, ytitle = LOSS_SYMLOG
            layout[f"yaxis{i}"] = {"domain": [lo, lo + h], "anchor": f"x{i}", "type": "linear",
                                   "title": {"text": ytitle, "font": {"size": 11}}, "zeroline": True,
                                   **_symlog_axis(loss_symlog)}
        notes.append({"text": title, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.82,
                      "y": lo + h, "yanchor": "bottom", "xanchor": "center", "font": {"size": 12}})
        if p == 3 and not has_distance:
            notes.append({"text": "no known minimum", "showarrow": False, "xref": "paper", "yref": "paper",
                          "x": 0.82, "y": lo + h / 2})
    for ax in layout.values():
        for k in [k for k, v in ax.items() if v is None]:
            del ax[k]
    return layout, notes


def _symlog_axis(values: np.ndarray) -> dict:
    """Ticks of a symlog axis over the finite values (labelled with the loss itself), and its range."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (-1.0, 1.0)
    pad = 0.05 * (hi - lo) or 0.5
    vals, text = symlog_ticks(lo - pad, hi + pad)
    return {"tickmode": "array", "tickvals": [float(t) for t in round_sig(vals, 8)], "ticktext": text,
            "range": [lo - pad, hi + pad]}


ON_MAP = {"type": "scatter", "xaxis": "x", "yaxis": "y"}  # a trace drawn on the map


def race_figure(grid, race, *, minima=(), start=None, bounds=None, min_value=None, max_frames: int = 200,
                arrows: bool = False, height: int = 640, live: bool = False, box=None) -> dict:
    """The animated race as a plain figure dict.

    grid: (xs, ys, z) as trajectories.grid returns; race: a Result-like with labels (see as_race).
    box: the surface's feasible set ((xmin, xmax), (ymin, ymax)), drawn as a rectangle, or None.
    Trace order: the click grid, one trail per run, start, minima, diverged marks, per panel one
    curve per run; then the moving traces (heads, one marker trace per panel, arrows).
    live: only what stays still (no click grid, moving traces, frames or controls): the explorer's
    own player (plots/live.py, ui/race_view.js) draws the moving marks, the controls and the scrub.
    box: the surface's feasible set ((xmin, xmax), (ymin, ymax)), drawn as a rectangle, or None.
    """
    race = as_race(race)
    g = as_grid(grid)
    steps, n = race.steps, race.runs
    cols = colours(n)
    (x0, x1), (y0, y1) = bounds or ((g.xs[0], g.xs[-1]), (g.ys[0], g.ys[-1]))
    diag = diagnostics(race, min_value, minima)
    layout, notes = _axes(diag[3] is not None, None if min_value is not None else diag[0])
    stride = max(1, -(-(steps + 1) // MAX_LINE_POINTS))
    shown = np.arange(0, steps + 1, stride)

    data = [*_trails(race, cols, shown), *_marks(race, cols, start, minima),
            *_curves(race, cols, diag, shown, stride, loss_symlog=min_value is None), *_switches(race, cols, diag)]
    layout["xaxis"]["range"] = [float(x0), float(x1)]
    layout["yaxis"]["range"] = [float(y0), float(y1)]
    layout.update(height=height, margin={"l": 50, "r": 20, "t": 50, "b": 60}, template=TEMPLATE,
                  hovermode="closest", images=[surface_image(g).layout_image()], annotations=notes,
                  legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "xanchor": "left"})
    if box is not None:
        layout["shapes"] = [feasible_box(box)]
    if live:
        return {"data": data, "layout": layout}
    data.insert(0, _click_grid(x0, x1, y0, y1))

    # the moving marks: heads on the map, the current step on each panel, optional arrows
    head_idx = len(data)
    data.append({**ON_MAP, "x": rounded(race.xy[0, :, 0]), "y": rounded(race.xy[0, :, 1]), "mode": "markers",
                 "showlegend": False, "name": "current point", "text": list(race.labels),
                 "marker": {"size": 13, "color": cols, "line": {"color": OUTLINE, "width": 1.5}},
                 "hovertemplate": "%{text}<br>(%{x}, %{y})<extra></extra>"})
    marker_idx = []
    for p, values in enumerate(diag):
        if values is None:
            continue
        marker_idx.append((len(data), values))
        data.append({"type": "scatter", "xaxis": f"x{p + 2}", "yaxis": f"y{p + 2}", "x": [0] * n,
                     "y": rounded(values[0]), "mode": "markers", "showlegend": False, "hoverinfo": "skip",
                     "marker": {"size": 8, "color": cols, "line": {"color": OUTLINE, "width": 1}}})
    arrow_idx = []
    span = float(np.hypot(x1 - x0, y1 - y0))
    if arrows and race.grad is not None:
        for colour_, name in ((GRAD_ARROW, "−gradient (direction)"), (UPDATE_ARROW, "update")):
            arrow_idx.append(len(data))
            data.append({**ON_MAP, "x": [], "y": [], "mode": "lines", "name": name, "hoverinfo": "skip",
                         "line": {"color": colour_, "width": 2.5}})
    arrow_at = _arrows(race, 0.08 * span) if arrow_idx else None

    frames, slider_steps = _frames(race, max_frames, head_idx, marker_idx, arrow_idx, arrow_at)
    if arrow_at is not None:  # the arrows of step 0 before anything plays
        for i, d in zip(arrow_idx, arrow_at(0), strict=True):
            data[i].update(x=d["x"], y=d["y"])

    layout.update(annotations=notes + slider_labels(frame_steps(steps, max_frames)), **_controls(slider_steps))
    return {"data": data, "layout": layout, "frames": frames}


def feasible_box(box) -> dict:
    """The feasible set as a rectangle on the map (runs are projected onto it after every update)."""
    (x0, x1), (y0, y1) = box
    return {"type": "rect", "xref": "x", "yref": "y", "x0": float(x0), "x1": float(x1), "y0": float(y0),
            "y1": float(y1), "line": {"color": OUTLINE, "width": 2, "dash": "dash"}, "fillcolor": "rgba(0,0,0,0)",
            "layer": "above", "name": "feasible set"}


def _click_grid(x0, x1, y0, y1) -> dict:
    """The click grid: invisible but selectable, so a click anywhere on the map sets the start."""
    cx, cy = np.meshgrid(np.linspace(x0, x1, CLICK_GRID), np.linspace(y0, y1, CLICK_GRID))
    return {**ON_MAP, "x": rounded(cx.ravel()), "y": rounded(cy.ravel()), "mode": "markers",
            "showlegend": False, "marker": {"size": 14, "opacity": 0}, "hoverinfo": "none",
            "name": "click to start here"}


def _trails(race, cols: list, shown: np.ndarray) -> list[dict]:
    """One trail per run at the steps shown, drawn once; a diverged run's trail ends at its last finite point."""
    data = []
    last = race.last_position
    for r in range(race.runs):
        idx = shown[shown <= last[r]]
        if idx[-1] != last[r]:
            idx = np.append(idx, last[r])
        data.append({**ON_MAP, "x": rounded(race.xy[idx, r, 0]), "y": rounded(race.xy[idx, r, 1]),
                     "mode": "lines", "line": {"color": cols[r], "width": 2}, "opacity": 0.8,
                     "name": race.labels[r], "legendgroup": f"r{r}",
                     "customdata": [[int(i), v] for i, v in zip(idx.tolist(), rounded(race.loss[idx, r]),
                                                               strict=True)],
                     "hovertemplate": "step %{customdata[0]}<br>x=%{x:.5g}, y=%{y:.5g}<br>loss %{customdata[1]:.5g}"
                                      "<extra>%{fullData.name}</extra>"})
    return data


def _marks(race, cols: list, start, minima) -> list[dict]:
    """The fixed marks on the map: the start, the known minima, where runs diverged (each where there is one)."""
    data = []
    mark = {"color": START_COLOUR, "line": {"color": OUTLINE, "width": 1.5}}
    if start is not None:
        data.append({**ON_MAP, "x": [float(start[0])], "y": [float(start[1])], "mode": "markers", "name": "start",
                     "showlegend": False, "marker": {"symbol": "star", "size": 16, **mark},
                     "hovertemplate": "start (%{x}, %{y})<extra></extra>"})
    if len(minima):
        m = np.asarray(minima, dtype=np.float64).reshape(-1, 2)
        data.append({**ON_MAP, "x": m[:, 0].tolist(), "y": m[:, 1].tolist(), "mode": "markers",
                     "name": "minimum", "showlegend": False,
                     "marker": {"symbol": "x", "size": 11, **mark, "color": MINIMUM_COLOUR},
                     "hovertemplate": "minimum (%{x}, %{y})<extra></extra>"})
    dead = np.nonzero(race.diverged_at > 0)[0]
    if dead.size:
        k = race.diverged_at[dead]
        dc = [cols[r] for r in dead]
        data.append({**ON_MAP, "x": rounded(race.xy[k - 1, dead, 0]), "y": rounded(race.xy[k - 1, dead, 1]),
                     "mode": "markers+text", "text": ["diverged"] * dead.size, "textposition": "top center",
                     "showlegend": False, "name": "diverged",
                     "marker": {"symbol": "x-thin", "size": 18, "color": dc, "line": {"width": 3, "color": dc}},
                     "hovertext": [f"{race.labels[r]}: diverged at step {race.diverged_at[r]}: "
                                   "try a lower lr or clipping" for r in dead], "hoverinfo": "text"})
    return data


def _switches(race, cols: list, diag: list) -> list[dict]:
    """Where SWATS switched from Adam to SGD: a mark on the trail at xy[k] and on the lr panel at step k (the
    first SGD update), each with a hover text saying when and at which learned lr. Nothing where none did."""
    if race.switched_at is None:
        return []
    k = race.switched_at
    rows = np.nonzero((k > 0) & (k <= race.last_position) & (k < race.steps))[0]
    if not rows.size:
        return []
    at, dc = k[rows], [cols[r] for r in rows]
    text = [f"{race.labels[r]}: switched from Adam to SGD (momentum) after update {k[r]}, learned SGD lr "
            f"{race.switch_lr[r]:.3g}" for r in rows]
    mark = {"symbol": "diamond", "size": 12, "color": dc, "line": {"color": OUTLINE, "width": 1.5}}
    return [{**ON_MAP, "x": rounded(race.xy[at, rows, 0]), "y": rounded(race.xy[at, rows, 1]),
             "mode": "markers+text", "text": ["to SGD"] * rows.size, "textposition": "top center",
             "showlegend": False, "name": "switch to SGD", "marker": mark, "hovertext": text, "hoverinfo": "text"},
            {"type": "scatter", "xaxis": "x4", "yaxis": "y4", "x": at.tolist(), "y": rounded(diag[2][at, rows]),
             "mode": "markers", "showlegend": False, "name": "switch to SGD", "marker": mark, "hovertext": text,
             "hoverinfo": "text"}]


def _curves(race, cols: list, diag: list, shown: np.ndarray, stride: int, loss_symlog: bool = False) -> list[dict]:
    """Per diagnostics panel one curve per run, drawn once (x implicit: x0 + i * dx). On a symlog loss
    panel the hover reads the loss itself (customdata), not its symlog."""
    data = []
    for p, values in enumerate(diag):
        if values is None:
            continue
        for r in range(race.runs):
            curve = {"type": "scatter", "xaxis": f"x{p + 2}", "yaxis": f"y{p + 2}", "x0": 0, "dx": int(stride),
                     "y": rounded(values[shown, r]), "mode": "lines", "line": {"color": cols[r], "width": 1.5},
                     "showlegend": False, "legendgroup": f"r{r}", "name": race.labels[r],
                     "hovertemplate": "step %{x}: %{y:.4g}<extra>%{fullData.name}</extra>"}
            if p == 0 and loss_symlog:
                curve["customdata"] = rounded(race.loss[shown, r])
                curve["hovertemplate"] = "step %{x}: loss %{customdata:.5g}<extra>%{fullData.name}</extra>"
            data.append(curve)
    return data


def _frames(race, max_frames: int, head_idx: int, marker_idx: list, arrow_idx: list, arrow_at) -> tuple[list, list]:
    """(frames, slider steps): each frame moves the heads, the panels' markers and the arrows (where drawn)."""
    n = race.runs
    frames, slider_steps = [], []
    xy_r = round_sig(race.xy)  # rounded once, sliced per frame
    marks_r = [round_sig(v) for _, v in marker_idx]
    for t in frame_steps(race.steps, max_frames).tolist():
        fdata = [{"type": "scatter", "x": xy_r[t, :, 0].tolist(), "y": xy_r[t, :, 1].tolist()}]
        fdata += [{"type": "scatter", "x": [t] * n, "y": as_list(v[t])} for v in marks_r]
        traces = [head_idx, *(i for i, _ in marker_idx)]
        if arrow_at is not None:
            fdata += arrow_at(t)
            traces += arrow_idx
        frames.append({"name": str(t), "data": fdata, "traces": traces})
        slider_steps.append({"method": "animate", "label": str(t), "args": [[str(t)], {
            "mode": "immediate", "frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}}]})
    return frames, slider_steps


def _controls(slider_steps: list) -> dict:
    """The layout's play and pause buttons (updatemenus) and the step slider (sliders).

    plotly.js labels every k-th slider step, k set by the width in pixels, so its labels would read
    0, 26, 52 on one screen and 0, 22, 44 on another: its own labels are transparent (they still hold
    their place, and the current value above the slider reads the step) and slider_labels puts round
    steps there instead."""
    play = {"label": "Play", "method": "animate", "args": [None, {
        "frame": {"duration": 40, "redraw": False}, "fromcurrent": True, "transition": {"duration": 0},
        "mode": "immediate"}]}
    pause = {"label": "Pause", "method": "animate", "args": [[None], {
        "frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}, "mode": "immediate"}]}
    return {
        "updatemenus": [{"type": "buttons", "direction": "left", "buttons": [play, pause], "x": 0.0, "y": -0.07,
                         "xanchor": "left", "yanchor": "top", "pad": {"t": 0, "r": 10}, "showactive": False}],
        "sliders": [{"active": 0, "steps": slider_steps, "x": SLIDER_X, "y": SLIDER_Y, "len": SLIDER_LEN,
                     "xanchor": "left", "yanchor": "top", "pad": {"t": 0, "b": 0, "l": 0, "r": 0},
                     "font": {"size": 11, "color": "rgba(0,0,0,0)"}, "ticklen": 4, "minorticklen": 4,
                     "currentvalue": {"prefix": "step ", "visible": True, "font": {"size": 12, "color": "#444"}},
                     "transition": {"duration": 0}}],
    }


def slider_labels(frame_at: np.ndarray) -> list[dict]:
    """Annotations under the step slider at round steps (0, s, 2s, ... with s of 1, 2, 5 × 10^k and a
    multiple of the frames' stride, so each sits exactly on its frame's slider step).

    plotly.js puts step i of n at pixel x0 + inset + (length - 2 inset) · i / (n - 1) of the slider:
    in paper coordinates x = SLIDER_X + SLIDER_LEN · f, shifted by inset · (1 - 2f) pixels."""
    t = np.asarray(frame_at)
    if t.size < 2:
        return []
    stride = int(t[1] - t[0])
    step = int(nice_step(int(t[-1]), SLIDER_LABELS, multiple_of=stride))
    notes = []
    for value in range(0, int(t[-1]) + 1, step):
        f = (value // stride) / (t.size - 1)
        notes.append({"text": str(value), "showarrow": False, "xref": "paper", "yref": "paper",
                      "x": SLIDER_X + SLIDER_LEN * f, "xshift": SLIDER_INSET * (1 - 2 * f), "xanchor": "center",
                      "y": SLIDER_Y, "yanchor": "top", "yshift": -SLIDER_LABEL_DROP, "font": {"size": 11},
                      "name": "slider label"})
    return notes


def _arrows(race, length: float):
    """arrows(t) -> two frame traces: -gradient scaled to `length`, and the update x[t+1] - x[t]."""
    steps, n = race.steps, race.runs
    gap = np.full(n, np.nan)

    def at(t: int) -> list[dict]:
        p0 = race.xy[t]  # (R, 2)
        gvec = -race.grad[min(t, steps - 1)]
        gnorm = np.linalg.norm(gvec, axis=-1, keepdims=True)
        ends = (p0 + length * np.divide(gvec, gnorm, out=np.zeros_like(gvec), where=gnorm > 0),
                race.xy[min(t + 1, steps)])
        return [{"type": "scatter", "x": rounded(np.stack([p0[:, 0], e[:, 0], gap], axis=1).ravel()),
                 "y": rounded(np.stack([p0[:, 1], e[:, 1], gap], axis=1).ravel())} for e in ends]

    return at
