"""The (L0, L1) panel and the 3D view."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .inputs import as_grid, as_race
from .race import TEMPLATE, rounded
from .style import OUTLINE, colours
from .surface_image import log_field


def smoothness_figure(race, *, height: int = 420) -> dict:
    """Local smoothness estimate vs gradient norm along each trajectory, log-log (Zhang et al. 2020, Fig. 1).

    A plain figure dict (wrap it in plots.prebuilt for st.plotly_chart)."""
    race = as_race(race)
    data = []
    upd = race.updates_mask()
    for r, c in enumerate(colours(race.runs)):
        g, s = race.grad_norm[:, r], race.smoothness[:, r]
        ok = upd[:, r] & np.isfinite(g) & np.isfinite(s) & (g > 0) & (s > 0)
        data.append({"type": "scatter", "x": rounded(g[ok]), "y": rounded(s[ok]), "mode": "markers",
                     "name": race.labels[r], "marker": {"color": c, "size": 5, "opacity": 0.7},
                     "customdata": np.nonzero(ok)[0].tolist(),
                     "hovertemplate": "step %{customdata}<br>‖g‖ %{x}<br>smoothness %{y}<extra></extra>"})
    layout = {
        "height": height, "template": TEMPLATE, "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        "xaxis": {"type": "log", "title": {"text": "gradient norm ‖∇f(x)‖"}, "exponentformat": "power"},
        "yaxis": {"type": "log", "title": {"text": "local smoothness ‖∇f(x+d/2) − ∇f(x)‖ / (‖d‖/2)"},
                  "exponentformat": "power"},
    }
    return {"data": data, "layout": layout}


def surface3d_figure(grid, race, *, minima=(), height: int = 600) -> go.Figure:
    """The surface in 3D, coloured on the map's log scale, with each trail lifted just above it."""
    race = as_race(race)
    g = as_grid(grid)
    v, lo, hi = log_field(g.z)
    fig = go.Figure(go.Surface(x=g.xs, y=g.ys, z=g.z, surfacecolor=v, cmin=lo, cmax=hi, colorscale="Viridis",
                               showscale=False, opacity=0.9, name="surface", hoverinfo="skip"))
    zspan = float(np.nanmax(g.z) - np.nanmin(g.z)) if np.isfinite(g.z).any() else 1.0
    for r, c in enumerate(colours(race.runs)):
        last = int(race.last_position[r])
        fig.add_trace(go.Scatter3d(x=rounded(race.xy[: last + 1, r, 0]), y=rounded(race.xy[: last + 1, r, 1]),
                                   z=rounded(race.loss[: last + 1, r] + 0.01 * zspan), mode="lines",
                                   line=dict(color=c, width=5), name=race.labels[r]))
    if len(minima):
        m = np.asarray(minima, dtype=np.float64).reshape(-1, 2)
        fig.add_trace(go.Scatter3d(x=m[:, 0], y=m[:, 1], z=[float(np.nanmin(g.z))] * len(m), mode="markers",
                                   marker=dict(symbol="x", size=5, color="white", line=dict(color=OUTLINE)),
                                   name="minima"))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30, b=0), template="plotly_white",
                      scene=dict(xaxis_title="x", yaxis_title="y", zaxis_title="loss"),
                      legend=dict(orientation="h", y=1.0, x=0))
    return fig
