"""The (L0, L1) panel and the interactive 3D view."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .inputs import as_grid, as_race
from .race import TEMPLATE, round_sig, rounded
from .style import OUTLINE, colours
from .surface_image import LIGHTEN, log_field, viridis


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


HEIGHT_3D = 600  # px: the 3D view gets the room a rotating surface needs
# What st.plotly_chart (or plotly.io) should pass with the 3D figure: the scroll wheel zooms, the
# camera turns with a drag; never staticPlot.
CONFIG_3D = {"displaylogo": False, "scrollZoom": True, "displayModeBar": True}
CAMERA_3D = {"eye": {"x": 1.45, "y": -1.45, "z": 1.0}, "up": {"x": 0, "y": 0, "z": 1},
             "center": {"x": 0, "y": 0, "z": -0.1}}


def _lightened_viridis(n: int = 11) -> list:
    """The map's colours (Viridis lightened toward white) as a colorscale: run colours are chosen to read on it."""
    return [[i / (n - 1), "rgb({:.0f},{:.0f},{:.0f})".format(*c)] for i, c in enumerate(viridis(n, LIGHTEN))]


def surface3d_figure(grid, race, *, minima=(), height: int = HEIGHT_3D) -> go.Figure:
    """The surface in 3D, coloured as the map (log scale, lightened Viridis), with each run's trail
    lifted just above it, its start and its end (a diamond). An interactive scene: a drag turns it
    (turntable: z stays up), the wheel zooms (CONFIG_3D), hover reads x, y and the loss; x and y keep
    the map's proportions."""
    race = as_race(race)
    g = as_grid(grid)
    v, lo, hi = log_field(g.z)
    fig = go.Figure(go.Surface(x=g.xs, y=g.ys, z=g.z, surfacecolor=v, cmin=lo, cmax=hi,
                               colorscale=_lightened_viridis(), showscale=False, opacity=0.92, name="surface",
                               hovertemplate="x %{x:.3g}, y %{y:.3g}<br>loss %{z:.4g}<extra></extra>"))
    finite = np.isfinite(g.z)
    zspan = float(np.nanmax(g.z) - np.nanmin(g.z)) if finite.any() else 1.0
    for r, c in enumerate(colours(race.runs)):
        last = int(race.last_position[r])
        x, y = race.xy[: last + 1, r, 0], race.xy[: last + 1, r, 1]
        z = race.loss[: last + 1, r] + 0.01 * zspan
        fig.add_trace(go.Scatter3d(x=rounded(x), y=rounded(y), z=rounded(z), mode="lines",
                                   line=dict(color=c, width=6), name=race.labels[r], legendgroup=f"r{r}",
                                   customdata=np.stack([np.arange(last + 1), round_sig(z - 0.01 * zspan)], axis=1),
                                   hovertemplate="step %{customdata[0]}<br>x %{x}, y %{y}<br>loss %{customdata[1]}"
                                                 "<extra>%{fullData.name}</extra>"))  # the loss, not the lifted z
        fig.add_trace(go.Scatter3d(x=rounded(x[[0, -1]]), y=rounded(y[[0, -1]]), z=rounded(z[[0, -1]]),
                                   mode="markers", legendgroup=f"r{r}", showlegend=False, name=race.labels[r],
                                   marker=dict(size=[3, 6], symbol=["circle", "diamond"], color=c,
                                               line=dict(color=OUTLINE, width=1)),
                                   hovertemplate="%{fullData.name}<extra></extra>"))
    if len(minima):
        m = np.asarray(minima, dtype=np.float64).reshape(-1, 2)
        fig.add_trace(go.Scatter3d(x=m[:, 0], y=m[:, 1], z=[float(np.nanmin(g.z))] * len(m), mode="markers",
                                   marker=dict(symbol="x", size=5, color="white", line=dict(color=OUTLINE)),
                                   name="minima"))
    (x0, x1), (y0, y1) = (float(g.xs[0]), float(g.xs[-1])), (float(g.ys[0]), float(g.ys[-1]))
    w = max(abs(x1 - x0), abs(y1 - y0)) or 1.0
    fig.update_layout(
        height=height, margin=dict(l=0, r=0, t=30, b=0), template="plotly_white",
        scene=dict(xaxis_title="x", yaxis_title="y", zaxis_title="loss", dragmode="turntable",
                   aspectmode="manual", aspectratio=dict(x=abs(x1 - x0) / w, y=abs(y1 - y0) / w, z=0.7),
                   camera=CAMERA_3D),
        legend=dict(orientation="h", y=1.0, x=0))
    return fig
