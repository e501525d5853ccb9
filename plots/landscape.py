"""Figures of a network's loss landscape (training/landscape): the plane as a contour map and a 3D surface
with the runs' paths, the line between two runs, the table of path points. Pure functions.

Inputs are what the run store keeps (training/landscape/compute.py), as plain data:
    result = {"xs": [...], "ys": [...],                  # the grid's axes: a along d1, b along d2
              "plane": {"kind": "pca" | "random", "explained": [r1, r2] | None, ...},
              "centre": {"run": 3, "step": 2000},
              "paths": [{"run", "steps", "a", "b", "off", "loss", "metric", "plane_loss", "plane_metric"}],
              "metric_name": "accuracy" | None, "data": "the validation set ...", ...}
    loss, metric: (len(ys), len(xs)) arrays, NaN where not evaluated yet (a grid fills row by row)
    labels: {run id: "#3 Adam lr=0.001"} (legend entries; HTML-escaped here)
A path point is drawn where it projects, filled with the colour of its real loss on the map's scale:
where that differs from the map around it, the point lies off the plane (its hover gives both
values; path_rows lists those whose losses differ by more than OFF_PLANE, and the 3D view drops a
dotted line from the surface to their real loss).
"""
from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from .numbers import number_text
from .style import MINIMUM_COLOUR, OUTLINE, colour

OFF_PLANE = 0.05  # relative difference between a point's real loss and the plane's value: "off the plane"
DECADES = 3.0  # the colour scale of a log map spans at most this many decades above its minimum
MANTISSAS = ((1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9), tuple(x / 2 for x in range(2, 20)))  # coarse to fine


# ---------------------------------------------------------------- values and their colour scale


def _values(loss, metric, field: str) -> tuple[np.ndarray, bool]:
    """(the field as a float array, whether it is drawn on a log scale)."""
    if field == "metric":
        return np.asarray(metric, dtype=np.float64), False
    if field != "loss":
        raise ValueError(f"field must be loss or metric, got {field!r}")
    return np.asarray(loss, dtype=np.float64), True


def colour_range(z: np.ndarray, log: bool) -> tuple[np.ndarray, float, float]:
    """(the values to colour: log10 where log, the colour range's ends): a log map spans at most DECADES
    above its smallest value, so a few huge losses far out do not wash out the basin."""
    z = np.asarray(z, dtype=np.float64)
    ok = np.isfinite(z) & ((z > 0) if log else True)
    zc = np.full_like(z, np.nan)
    if log:
        zc[ok] = np.log10(z[ok])
    else:
        zc[ok] = z[ok]
    if not ok.any():
        return zc, 0.0, 1.0
    lo, hi = float(zc[ok].min()), float(zc[ok].max())
    if log:
        hi = min(hi, lo + DECADES)
    if hi <= lo:
        hi = lo + (1.0 if lo == 0 else abs(lo) * 0.01)
    return zc, lo, hi


def log_ticks(lo: float, hi: float, least: int = 4) -> tuple[list[float], list[str]]:
    """Colour-bar ticks between 10^lo and 10^hi at round values (1, 2, 5 x 10^k; finer mantissas where
    the range spans less than a decade, until there are `least`), labelled as the values."""
    inside: list[float] = []
    for mantissas in MANTISSAS:
        vals = [m * 10.0 ** k for k in range(math.floor(lo) - 1, math.ceil(hi) + 1) for m in mantissas]
        inside = sorted({v for v in vals if lo - 1e-9 <= math.log10(v) <= hi + 1e-9})
        if len(inside) >= least:
            break
    while len(inside) > 8:
        inside = inside[::2]
    return [math.log10(v) for v in inside], [number_text(v, 3) for v in inside]


def _axis_titles(result: Mapping) -> tuple[str, str]:
    plane = result.get("plane") or {}
    ex = plane.get("explained")
    if plane.get("kind") == "pca" and ex:
        return (f"a along PC1 ({number_text(ex[0], 3, percent=True)} of the paths' variance)",
                f"b along PC2 ({number_text(ex[1], 3, percent=True)})")
    return "a along d1 (filter-normalised)", "b along d2 (filter-normalised)"


def plane_title(result: Mapping, labels: Mapping[int, str]) -> str:
    c = result.get("centre") or {}
    who = labels.get(c.get("run"), f"#{c.get('run')}")
    plane = result.get("plane") or {}
    kind = "path plane (PCA)" if plane.get("kind") == "pca" else "random filter-normalised plane"
    return f"Loss around {html.escape(str(who), quote=False)}'s weights at step {c.get('step')}: {kind}"


# ---------------------------------------------------------------- paths


def _off(path: Mapping, i: int) -> bool:
    real, flat = path["loss"][i], path["plane_loss"][i]
    if real is None or flat is None or not (math.isfinite(real) and math.isfinite(flat)):
        return False
    return abs(real - flat) > OFF_PLANE * max(abs(real), 1e-12)


def _hover(path: Mapping, metric_name: str | None) -> tuple[list, str]:
    """customdata rows and a hovertemplate: step, both losses, the distance off the plane."""
    custom = []
    for i, step in enumerate(path["steps"]):
        row = [step, number_text(path["loss"][i]), number_text(path["plane_loss"][i]),
               number_text(path["off"][i], 3, percent=True)]
        if metric_name:
            row += [number_text(path["metric"][i]), number_text(path["plane_metric"][i])]
        custom.append(row)
    tmpl = ("step %{customdata[0]}<br>loss %{customdata[1]} (on the plane: %{customdata[2]})"
            "<br>off the plane: %{customdata[3]} of its distance")
    if metric_name:
        tmpl += f"<br>{html.escape(metric_name)} %{{customdata[4]}} (on the plane: %{{customdata[5]}})"
    return custom, tmpl + "<extra>%{fullData.name}</extra>"


def _name(labels: Mapping[int, str], run: int) -> str:
    return html.escape(str(labels.get(run, f"#{run}")), quote=False)


def _fill(p: Mapping, fill: tuple[str, float, float, bool]) -> list:
    """Each point's real value (loss or metric) on the map's colour scale (log10 where the map is log)."""
    key, lo, hi, log = fill
    out = []
    for v in p[key]:
        ok = v is not None and math.isfinite(v) and (v > 0 or not log)
        out.append(None if not ok else min(max(math.log10(v) if log else v, lo), hi))
    return out


def path_traces(result: Mapping, labels: Mapping[int, str], z_of=None,
                fill: tuple[str, float, float, bool] | None = None) -> list:
    """The paths' traces: 2D, each point filled with its real value on the map's colours (fill: the key,
    the colour range, log), or 3D where z_of(path) gives each point's heights (on the plane, real)."""
    traces = []
    metric_name = result.get("metric_name")
    for k, p in enumerate(result.get("paths") or []):
        custom, tmpl = _hover(p, metric_name)
        marker = dict(color=colour(k), size=5, line=dict(color=OUTLINE, width=0.6))
        if fill is not None:
            marker = dict(color=_fill(p, fill), colorscale="Viridis", cmin=fill[1], cmax=fill[2], size=9,
                          showscale=False, line=dict(color=colour(k), width=2))
        common = dict(name=_name(labels, p["run"]), legendgroup=str(p["run"]), customdata=custom,
                      hovertemplate=tmpl, line=dict(color=colour(k), width=2.5), marker=marker)
        off = [i for i in range(len(p["steps"])) if _off(p, i)]
        if z_of is None:
            traces.append(go.Scatter(x=p["a"], y=p["b"], mode="lines+markers", **common))
            traces.append(go.Scatter(x=p["a"][:1], y=p["b"][:1], mode="markers", showlegend=False,
                                     legendgroup=str(p["run"]), hoverinfo="skip",
                                     marker=dict(symbol="triangle-up", size=12, color=colour(k),
                                                 line=dict(color=OUTLINE, width=1))))
        else:
            z_plane, z_real = z_of(p)
            traces.append(go.Scatter3d(x=p["a"], y=p["b"], z=z_plane, mode="lines+markers", **common))
            if off:  # the real loss, joined to the point on the surface it projects to
                xs, ys, zs = [], [], []
                for i in off:
                    xs += [p["a"][i], p["a"][i], None]
                    ys += [p["b"][i], p["b"][i], None]
                    zs += [z_plane[i], z_real[i], None]
                traces.append(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines+markers", showlegend=False,
                                           legendgroup=str(p["run"]), hoverinfo="skip",
                                           line=dict(color=colour(k), width=2, dash="dot"),
                                           marker=dict(symbol="diamond-open", size=3, color=colour(k))))
    return traces


def _centre_trace(result: Mapping, labels: Mapping[int, str], z: float | None = None):
    c = result.get("centre") or {}
    name = f"centre: {_name(labels, c.get('run'))}, step {c.get('step')}"
    marker = dict(symbol="star" if z is None else "diamond", size=16 if z is None else 6, color=MINIMUM_COLOUR,
                  line=dict(color=OUTLINE, width=1.5))
    if z is None:
        return go.Scatter(x=[0.0], y=[0.0], mode="markers", name=name, marker=marker, hovertemplate=name +
                          "<extra></extra>")
    return go.Scatter3d(x=[0.0], y=[0.0], z=[z], mode="markers", name=name, marker=marker,
                        hovertemplate=name + "<extra></extra>")


# ---------------------------------------------------------------- the figures


def plane_figure(result: Mapping, loss, metric=None, *, labels: Mapping[int, str] | None = None,
                 field: str = "loss", height: int = 560) -> go.Figure:
    """The plane as a filled contour map (log colour for the loss) with every path on it."""
    labels = labels or {}
    z, log = _values(loss, metric if metric is not None else loss, field)
    zc, lo, hi = colour_range(z, log)
    name = "loss" if field == "loss" else str(result.get("metric_name") or "metric")
    bar = dict(title=dict(text=name + (" (log)" if log else ""), side="right"), len=0.9)
    if log:
        bar["tickvals"], bar["ticktext"] = log_ticks(lo, hi)
    hover = (f"a %{{x:.4g}}, b %{{y:.4g}}<br>{html.escape(name)} %{{customdata}}<extra></extra>")
    fig = go.Figure(go.Contour(
        x=result["xs"], y=result["ys"], z=np.where(np.isfinite(zc), np.clip(zc, lo, hi), np.nan).tolist(),
        customdata=[[number_text(v) for v in row] for row in z], hovertemplate=hover,
        colorscale="Viridis", zmin=lo, zmax=hi, ncontours=28, connectgaps=False, colorbar=bar,
        contours=dict(coloring="heatmap", showlines=True), line=dict(width=0.6, color="rgba(20,20,20,0.35)"),
        showlegend=False))
    for t in path_traces(result, labels, fill=("loss" if field == "loss" else "metric", lo, hi, log)):
        fig.add_trace(t)
    fig.add_trace(_centre_trace(result, labels))
    xt, yt = _axis_titles(result)
    fig.update_layout(title=dict(text=plane_title(result, labels), x=0, font=dict(size=14)), height=height,
                      template="plotly_white", margin=dict(l=60, r=20, t=50, b=60),
                      legend=dict(orientation="h", y=-0.14, yanchor="top", x=0),
                      xaxis=dict(title=xt, range=[result["xs"][0], result["xs"][-1]]),
                      yaxis=dict(title=yt, range=[result["ys"][0], result["ys"][-1]]))
    return fig


def surface_figure(result: Mapping, loss, *, labels: Mapping[int, str] | None = None,
                   height: int = 560) -> go.Figure:
    """The plane as a 3D surface of the loss (log10 height, capped as the map's colours), the paths on
    it at the plane's values, and dotted drops to the real loss where a point lies off the plane."""
    labels = labels or {}
    z = np.asarray(loss, dtype=np.float64)
    zc, lo, hi = colour_range(z, True)
    capped = np.where(np.isfinite(zc), np.clip(zc, lo, hi), np.nan)

    def z_of(p):
        def h(v):
            return None if v is None or not math.isfinite(v) or v <= 0 else min(math.log10(v), hi)

        return [h(v) for v in p["plane_loss"]], [h(v) for v in p["loss"]]

    ticks = log_ticks(lo, hi)
    fig = go.Figure(go.Surface(x=result["xs"], y=result["ys"], z=capped.tolist(), colorscale="Viridis", cmin=lo,
                               cmax=hi, showscale=False, opacity=0.92, name="loss",
                               customdata=[[number_text(v) for v in row] for row in z],
                               hovertemplate="a %{x:.4g}, b %{y:.4g}<br>loss %{customdata}<extra></extra>",
                               contours=dict(z=dict(show=True, usecolormap=True, project=dict(z=True)))))
    for t in path_traces(result, labels, z_of):
        fig.add_trace(t)
    centre_z = next((z_of(p)[0][-1] for p in result.get("paths") or []
                     if p["run"] == (result.get("centre") or {}).get("run")), None)
    if centre_z is not None:
        fig.add_trace(_centre_trace(result, labels, centre_z))
    xt, yt = _axis_titles(result)
    fig.update_layout(
        title=dict(text="The same plane in 3D (height: log loss)", x=0, font=dict(size=14)), height=height,
        template="plotly_white", margin=dict(l=0, r=0, t=40, b=0), showlegend=False,
        scene=dict(xaxis=dict(title=dict(text=xt.split(" (")[0])), yaxis=dict(title=dict(text=yt.split(" (")[0])),
                   zaxis=dict(title=dict(text="loss"), tickvals=ticks[0], ticktext=ticks[1]),
                   camera=dict(eye=dict(x=1.5, y=-1.5, z=1.0)), aspectmode="manual",
                   aspectratio=dict(x=1, y=1, z=0.6)))
    return fig


def line_figure(result: Mapping, loss, metric=None, *, labels: Mapping[int, str] | None = None,
                height: int = 380) -> go.Figure:
    """Loss (log) and metric along w(t) = (1 - t)·w_A + t·w_B, with the two runs at t = 0 and 1."""
    labels = labels or {}
    ts = list(result["ts"])
    y = np.asarray(loss, dtype=np.float64).ravel()
    ok = np.isfinite(y) & (y > 0)
    fig = go.Figure(go.Scatter(x=[t for t, o in zip(ts, ok, strict=True) if o], y=y[ok].tolist(),
                               mode="lines+markers", name="loss", line=dict(color=colour(1), width=2),
                               marker=dict(size=4), hovertemplate="t %{x:.3g}<br>loss %{y:.4g}<extra></extra>"))
    name = result.get("metric_name")
    if metric is not None and name:
        m = np.asarray(metric, dtype=np.float64).ravel()
        okm = np.isfinite(m)
        fig.add_trace(go.Scatter(x=[t for t, o in zip(ts, okm, strict=True) if o], y=m[okm].tolist(), yaxis="y2",
                                 mode="lines", name=html.escape(name), line=dict(color=colour(2), width=2, dash="dash"),
                                 hovertemplate=f"t %{{x:.3g}}<br>{html.escape(name)} %{{y:.4g}}<extra></extra>"))
    ends = result.get("ends") or []
    for t, end in zip((0.0, 1.0), ends, strict=False):
        fig.add_vline(x=t, line=dict(color="#888888", dash="dot", width=1))
        fig.add_annotation(x=t, y=1.0, yref="paper", yanchor="bottom", showarrow=False, font=dict(size=11),
                           text=f"{'A' if t == 0 else 'B'}: {_name(labels, end['run'])}")
    fig.update_layout(title=dict(text="Between the two runs' weights: (1 − t)·A + t·B", x=0, font=dict(size=14),
                                 y=0.97),
                      height=height, template="plotly_white", margin=dict(l=60, r=60, t=70, b=50),
                      xaxis=dict(title="t"), yaxis=dict(title="loss (log)", type="log", exponentformat="power"),
                      legend=dict(orientation="h", y=-0.2, yanchor="top", x=0))
    if metric is not None and name:
        fig.update_layout(yaxis2=dict(title=html.escape(name), overlaying="y", side="right", showgrid=False,
                                      tickmode="auto", nticks=6, tickformat=".3~g"))
    return fig


# ---------------------------------------------------------------- tables and files


def path_rows(result: Mapping, labels: Mapping[int, str] | None = None, only_off: bool = False) -> list[dict]:
    """One row per path point: run, step, a, b, loss (real), loss on the plane, their difference, distance
    off the plane (as a fraction of the point's distance from the centre). only_off: those whose losses
    differ by more than OFF_PLANE."""
    labels = labels or {}
    rows = []
    for p in result.get("paths") or []:
        for i, step in enumerate(p["steps"]):
            if only_off and not _off(p, i):
                continue
            real, flat = p["loss"][i], p["plane_loss"][i]
            diff = None if real is None or flat is None or not real else (flat - real) / abs(real)
            rows.append({"run": labels.get(p["run"], f"#{p['run']}"), "step": int(step), "a": p["a"][i],
                         "b": p["b"][i], "loss": real, "loss on the plane": flat, "difference": diff,
                         "off the plane": p["off"][i]})
    return rows


def grid_csv(result: Mapping, loss, metric=None) -> str:
    """a, b, loss[, metric]: one line per grid point (the plane), or t, loss[, metric] (a line)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    loss = np.asarray(loss, dtype=np.float64)
    name = result.get("metric_name")
    m = None if metric is None or not name else np.asarray(metric, dtype=np.float64)

    def num(v: float) -> str:
        return repr(float(v)) if math.isfinite(v) else ""

    if result.get("kind") == "line":
        w.writerow(["t", "loss", *([name] if m is not None else [])])
        for i, t in enumerate(result["ts"]):
            w.writerow([repr(float(t)), num(loss.ravel()[i]), *([num(m.ravel()[i])] if m is not None else [])])
        return buf.getvalue()
    w.writerow(["a", "b", "loss", *([name] if m is not None else [])])
    for j, b in enumerate(result["ys"]):
        for i, a in enumerate(result["xs"]):
            w.writerow([repr(float(a)), repr(float(b)), num(loss[j, i]), *([num(m[j, i])] if m is not None else [])])
    return buf.getvalue()


def figures_html(figures: Sequence[go.Figure], title: str) -> str:
    """One self-contained HTML page (plotly.js inlined once) with the figures one under the other."""
    parts = [pio.to_html(f, include_plotlyjs=(i == 0), full_html=False, validate=False) for i, f in enumerate(figures)]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body style='font-family: sans-serif; max-width: 1000px; margin: auto'>{''.join(parts)}</body></html>")
