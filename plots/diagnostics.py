"""The (L0, L1) panel and the 3D view's numbers."""
from __future__ import annotations

import numpy as np

from .inputs import as_grid, as_race
from .race import TEMPLATE, rounded
from .style import colours
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
LIFT_3D = 0.01  # a trail sits this share of the surface's height above it (drawn on it, not in it)
ASPECT_Z = 0.7  # the box's height against its longer side (the map's x : y proportions kept)


def scene_data(grid, race, *, minima=()) -> dict:
    """The 3D view as numbers (ui/scene_view.js draws it on a canvas): the surface on its grid, coloured as
    the map (log scale, lightened Viridis), and each run's trail up to its last real point.

    {"x": (x0, x1), "y": (y0, y1), "z": (ny, nx) float (NaN kept), "c": (ny, nx) float in [0, 1] (the colour
    position; NaN where z is), "scale": [(r, g, b), ...] the colours at evenly spaced positions,
    "zrange": (zmin, zmax) of the finite z, "lift": LIFT_3D * (zmax - zmin), "aspect_z": ASPECT_Z,
    "runs": [{"label", "colour", "xyl": (L, 3) x, y, loss}], "minima": [(x, y), ...], "height": HEIGHT_3D}."""
    race = as_race(race)
    g = as_grid(grid)
    v, lo, hi = log_field(g.z)
    with np.errstate(invalid="ignore"):
        c = np.clip((v - lo) / (hi - lo), 0.0, 1.0)
    finite = np.isfinite(g.z)
    zmin, zmax = (float(g.z[finite].min()), float(g.z[finite].max())) if finite.any() else (0.0, 1.0)
    runs = []
    for r, colour in enumerate(colours(race.runs)):
        last = int(race.last_position[r])
        runs.append({"label": race.labels[r], "colour": colour,
                     "xyl": np.stack([race.xy[: last + 1, r, 0], race.xy[: last + 1, r, 1],
                                      race.loss[: last + 1, r]], axis=1)})
    return {"x": (float(g.xs[0]), float(g.xs[-1])), "y": (float(g.ys[0]), float(g.ys[-1])), "z": g.z, "c": c,
            "scale": [tuple(int(round(x)) for x in col) for col in viridis(11, LIGHTEN)],
            "zrange": (zmin, zmax), "lift": LIFT_3D * ((zmax - zmin) or 1.0), "aspect_z": ASPECT_Z, "runs": runs,
            "minima": [tuple(map(float, m)) for m in np.asarray(minima, dtype=np.float64).reshape(-1, 2)],
            "height": HEIGHT_3D}
