"""The race: a contour map with every run's trail and an animated head, beside synced diagnostics.

Layout: the map (left) spans four small panels (right) that share the step axis: loss - min,
gradient norm before clipping, applied lr (lr x clip coefficient) and distance to the nearest
minimum. Each frame moves the heads on the map AND one marker per panel, so the diagnostics are
read at the same step as the map.

Payload: static traces (trails, diagnostic lines) are sent once as float32 numpy arrays (Plotly
encodes them as base64 binary); frames are plain dicts that carry only the moving traces (one per
panel, one point per run, values rounded to 5 significant digits), at most `max_frames` of them,
so the JSON grows linearly with the steps.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .inputs import Race, as_grid, as_race, distance_to_nearest, sig
from .style import (FONT_SMALL, GRAD_ARROW, LOG_FLOOR, MINIMUM_COLOUR, OUTLINE, START_COLOUR, TOL_LINE,
                    UPDATE_ARROW, colours)
from .surface_image import surface_image

F32 = np.float32  # static arrays: 4 bytes a number in the JSON's base64, ~7 significant digits
ARROW_LENGTH = 0.07  # gradient arrows: this fraction of the window's diagonal (direction only)
DIVERGED_HINT = "diverged at step {k}: try a lower lr or clipping"


def frame_steps(steps: int, max_frames: int) -> np.ndarray:
    """At most max_frames steps, evenly spread over 0..steps, always with 0 and the last step."""
    if max_frames < 2:
        raise ValueError(f"max_frames must be >= 2, got {max_frames}")
    n = min(max_frames, steps + 1)
    return np.unique(np.rint(np.linspace(0, steps, n)).astype(np.int64))


def _panels(r: Race, minima, min_value) -> list[dict]:
    """The diagnostic panels: title, (T, R) values with NaN where not real, log axis or not."""
    pos, upd = r.positions_mask(), r.updates_mask()
    if min_value is not None:
        loss = (np.maximum(r.loss - min_value, LOG_FLOOR), "loss − min", True)
    else:
        loss = (r.loss, "loss", False)  # no finite minimum: the loss may go negative, linear axis
    with np.errstate(invalid="ignore"):
        lr = r.lr * r.clip_coef
        lr = np.where(lr > 0, lr, np.nan)  # a zero lr (warm-up from 0) is a gap on a log axis
    dist = distance_to_nearest(r.xy, minima)
    panels = [
        dict(key="loss", title=loss[1], y=np.where(pos, loss[0], np.nan), log=loss[2]),
        dict(key="grad", title="‖∇f‖ pre-clip", y=np.where(upd, np.maximum(r.grad_norm, LOG_FLOOR), np.nan),
             log=True),
        dict(key="lr", title="applied lr", y=np.where(upd, lr, np.nan), log=True),
        dict(key="dist", title="dist to min", log=True,
             y=None if dist is None else np.where(pos, np.maximum(dist, LOG_FLOOR), np.nan)),
    ]
    for p in panels:
        if p["y"] is not None:
            p["y"] = np.where(np.isfinite(p["y"]), p["y"], np.nan)
    return panels


def _arrows(r: Race, t: int, bounds) -> tuple[list, list, list, list]:
    """Segments (x, y lists with None between runs) for -grad and the update at step t."""
    (x0, x1), (y0, y1) = bounds
    length = ARROW_LENGTH * float(np.hypot(x1 - x0, y1 - y0))
    gx, gy, ux, uy = [], [], [], []
    for i in range(r.runs):
        p = r.xy[t, i]
        if t >= r.updates_taken[i] or t >= r.steps:  # no update from here
            gx += [None] * 3
            gy += [None] * 3
            ux += [None] * 3
            uy += [None] * 3
            continue
        g = r.grad[t, i] if r.grad is not None else np.zeros(2)
        n = float(np.hypot(*g))
        d = -g / n * length if np.isfinite(n) and n > 0 else np.zeros(2)
        u = r.xy[t + 1, i] - p if t + 1 <= r.last_position[i] else np.zeros(2)
        gx += sig([p[0], p[0] + d[0]]) + [None]
        gy += sig([p[1], p[1] + d[1]]) + [None]
        ux += sig([p[0], p[0] + u[0]]) + [None]
        uy += sig([p[1], p[1] + u[1]]) + [None]
    return gx, gy, ux, uy


def race_figure(grid, race, *, minima=(), start=None, bounds=None, min_value=None, labels=None,
                max_frames: int = 200, frame_ms: int = 40, arrows: bool = False, tol: float = 1e-6,
                levels: int = 18, height: int = 620) -> go.Figure:
    """The animated race (see the module docstring).

    grid: (xs, ys, z) as trajectories.grid returns; race: a trajectories Result (or any object
    with xy, loss, grad_norm, lr, clip_coef, smoothness, diverged_at; grad for arrows);
    minima: [(x, y)]; start: (x, y) or None; bounds: ((xmin, xmax), (ymin, ymax)), default the
    grid's extent; min_value: the surface's minimum (None: the loss panel shows the raw loss);
    labels: one per run (default: race.labels, else "run i"); tol: dashed reference line on the
    loss - min and distance panels (the summary's "steps to tol").
    """
    r = as_race(race, labels)
    g = as_grid(grid)
    if bounds is None:
        bounds = ((float(g.xs[0]), float(g.xs[-1])), (float(g.ys[0]), float(g.ys[-1])))
    (bx0, bx1), (by0, by1) = bounds
    cols = colours(r.runs)
    steps_shown = frame_steps(r.steps, max_frames)
    panels = _panels(r, minima, min_value)

    fig = make_subplots(rows=4, cols=2, column_widths=[0.57, 0.43], horizontal_spacing=0.09,
                        vertical_spacing=0.035, shared_xaxes=True,
                        specs=[[{"rowspan": 4}, {}], [None, {}], [None, {}], [None, {}]])
    traces, where = [], []  # added at once at the end (one validation pass)

    def add(trace, row, col):
        traces.append(trace)
        where.append((row, col))
        return len(traces) - 1

    # --- static: the map's marks and each run's whole trail, drawn once ---
    if start is not None:
        add(go.Scatter(x=[start[0]], y=[start[1]], mode="markers", name="start", hoverinfo="name",
                       marker=dict(symbol="star", size=16, color=START_COLOUR, line=dict(color=OUTLINE, width=1.2))),
            1, 1)
    mins = np.asarray(list(minima or []), dtype=np.float64).reshape(-1, 2)
    if mins.shape[0]:
        add(go.Scatter(x=mins[:, 0], y=mins[:, 1], mode="markers", name="minimum",
                       hovertemplate="minimum (%{x:.4g}, %{y:.4g})<extra></extra>",
                       marker=dict(symbol="x", size=12, color=MINIMUM_COLOUR, line=dict(color=OUTLINE, width=1))),
            1, 1)
    for i, label in enumerate(r.labels):
        n = int(r.last_position[i]) + 1  # a diverged run's trail ends at its last real point
        add(go.Scatter(x=r.xy[:n, i, 0].astype(F32), y=r.xy[:n, i, 1].astype(F32),
                       customdata=r.loss[:n, i].astype(F32), mode="lines", name=label, legendgroup=label,
                       line=dict(color=cols[i], width=1.8), opacity=0.6,
                       hovertemplate=(f"<b>{label}</b><br>step %{{pointNumber}}<br>x %{{x:.5g}}<br>"
                                      "y %{y:.5g}<br>loss %{customdata:.5g}<extra></extra>")), 1, 1)
    div = [i for i in range(r.runs) if r.diverged_at[i] >= 0]
    if div:
        at = [r.xy[max(int(r.diverged_at[i]) - 1, 0), i] for i in div]
        add(go.Scatter(x=[p[0] for p in at], y=[p[1] for p in at], mode="markers", name="diverged",
                       hovertext=[f"{r.labels[i]}: " + DIVERGED_HINT.format(k=int(r.diverged_at[i])) for i in div],
                       hoverinfo="text",
                       marker=dict(symbol="circle-x", size=15, color=[cols[i] for i in div],
                                   line=dict(color=OUTLINE, width=1.5))), 1, 1)

    # --- static: the diagnostic lines, x = step implied by x0/dx (no x array to send) ---
    for row, p in enumerate(panels, start=2):
        if p["y"] is None:
            continue
        for i, label in enumerate(r.labels):
            add(go.Scatter(y=p["y"][:, i].astype(F32), x0=0, dx=1, mode="lines", name=label, legendgroup=label,
                           showlegend=False, line=dict(color=cols[i], width=1.4),
                           hovertemplate=f"{label}<br>step %{{x}}<br>{p['title']} %{{y:.4g}}<extra></extra>"),
                row - 1, 2)

    # --- moving: one trace per panel, one point per run; frames replace only these ---
    def heads(t: int) -> list[dict]:
        out = [dict(x=sig(r.xy[t, :, 0]), y=sig(r.xy[t, :, 1]))]
        if arrows:
            gx, gy, ux, uy = _arrows(r, t, bounds)
            out += [dict(x=gx, y=gy), dict(x=ux, y=uy)]
        for p in panels:
            if p["y"] is None:
                continue
            last = (r.last_position if p["y"].shape[0] == r.steps + 1 else r.updates_taken - 1)
            s = np.minimum(np.minimum(t, p["y"].shape[0] - 1), last)  # (R,) stays at the last real entry
            y = [p["y"][s[i], i] if s[i] >= 0 else np.nan for i in range(r.runs)]
            out.append(dict(x=[int(v) if v >= 0 else None for v in s], y=sig(y)))
        return out

    first = heads(int(steps_shown[0]))
    moving = [add(go.Scatter(**first[0], mode="markers", name="now", showlegend=False, uid="head-map",
                             hovertext=list(r.labels), hoverinfo="text",
                             marker=dict(size=13, color=cols, line=dict(color="#ffffff", width=2))), 1, 1)]
    k = 1
    if arrows:
        tip = dict(symbol="arrow", angleref="previous", size=[0, 10, 0] * r.runs)
        moving.append(add(go.Scatter(**first[1], mode="lines+markers", name="−∇f (direction)", uid="head-grad",
                                     hoverinfo="skip", line=dict(color=GRAD_ARROW, width=2),
                                     marker=dict(**tip, color=GRAD_ARROW)), 1, 1))
        moving.append(add(go.Scatter(**first[2], mode="lines+markers", name="update", uid="head-update",
                                      hoverinfo="skip", line=dict(color=UPDATE_ARROW, width=2),
                                      marker=dict(**tip, color=UPDATE_ARROW)), 1, 1))
        k = 3
    for row, p in enumerate(panels, start=2):
        if p["y"] is None:
            continue
        moving.append(add(go.Scatter(**first[k], mode="markers", showlegend=False, uid=f"head-{p['key']}",
                                     hovertext=list(r.labels), hoverinfo="text",
                                     marker=dict(size=8, color=cols, line=dict(color="#ffffff", width=1))),
                          row - 1, 2))
        k += 1
    fig.add_traces(traces, rows=[w[0] for w in where], cols=[w[1] for w in where])

    # --- frames: plain dicts (go.Frame objects are far slower to build), moving traces only ---
    names = [str(int(t)) for t in steps_shown]
    fig.frames = [dict(name=name, data=heads(int(t)), traces=moving) for name, t in zip(names, steps_shown, strict=True)]

    # --- layout: the image under the map, equal aspect, log axes, play/pause and the step slider ---
    img = surface_image(g, levels=levels)
    fig.add_layout_image(img.layout_image("x", "y"))
    fig.update_xaxes(range=[bx0, bx1], title_text="x", constrain="domain", showgrid=False, zeroline=False,
                     row=1, col=1)
    fig.update_yaxes(range=[by0, by1], title_text="y", scaleanchor="x", scaleratio=1, constrain="domain",
                     showgrid=False, zeroline=False, row=1, col=1)
    last_steps = max(r.steps, 1)
    for row, p in enumerate(panels, start=2):
        fig.update_yaxes(type="log" if p["log"] else "linear", title_text=p["title"],
                         title_font=dict(size=FONT_SMALL), tickfont=dict(size=FONT_SMALL - 1),
                         exponentformat="power", row=row - 1, col=2)
        fig.update_xaxes(range=[0, last_steps], tickfont=dict(size=FONT_SMALL - 1), row=row - 1, col=2)
    fig.update_xaxes(title_text="step", title_font=dict(size=FONT_SMALL), row=4, col=2)

    for row, p in enumerate(panels, start=2):
        ax = fig.get_subplot(row - 1, 2)
        xa, ya = ax.xaxis.plotly_name.replace("axis", ""), ax.yaxis.plotly_name.replace("axis", "")
        if p["y"] is None:
            fig.update_yaxes(type="linear", showticklabels=False, row=row - 1, col=2)
            fig.add_annotation(text="no known minimum", xref=f"{xa} domain", yref=f"{ya} domain", x=0.5, y=0.5,
                               showarrow=False, font=dict(size=FONT_SMALL, color=TOL_LINE))
        elif p["key"] in ("loss", "dist") and p["log"] and tol and tol > 0:
            fig.add_shape(type="line", xref=f"{xa} domain", yref=ya, x0=0, x1=1, y0=tol, y1=tol,
                          line=dict(color=TOL_LINE, width=1, dash="dot"))

    play = dict(frame=dict(duration=frame_ms, redraw=False), transition=dict(duration=0), fromcurrent=True,
                mode="immediate")
    pause = dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0), mode="immediate")
    fig.update_layout(
        height=height, margin=dict(l=50, r=20, t=40, b=20), hovermode="closest", plot_bgcolor="#ffffff",
        legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom", font=dict(size=FONT_SMALL)),
        updatemenus=[dict(type="buttons", direction="left", x=0, y=-0.06, xanchor="left", yanchor="top",
                          pad=dict(r=8, t=0), showactive=False,
                          buttons=[dict(label="▶ Play", method="animate", args=[None, play]),
                                   dict(label="❚❚ Pause", method="animate", args=[[None], pause])])],
        sliders=[dict(active=0, x=0.16, len=0.84, y=-0.04, yanchor="top", pad=dict(t=0, b=0),
                      ticklen=2, minorticklen=0, font=dict(size=1, color="rgba(0,0,0,0)"),  # 200 labels: hide
                      currentvalue=dict(prefix="step ", font=dict(size=FONT_SMALL + 1)),
                      steps=[dict(method="animate", label=name, args=[[name], pause]) for name in names])],
    )
    return fig
