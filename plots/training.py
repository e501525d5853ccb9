"""Figures and tables of the Compare page: training runs (numpy columns from the run store) in, Plotly out.

A run is a plain dict:
    {"label": "#3 adam lr=0.001",
     "steps": {"step", "loss", "lr", "grad_norm", "clip_coef", "wall"},            # 1-D arrays, one row per step
     "evals": {"step", "val_loss", "metric", "throughput", "smoothness", "grad_norm", "wall"},
     # optional: "metric_name", "higher_is_better", "target", "status", "device", "steps_per_s",
     #           "clip": (kind, threshold) or None}
Every figure has exactly one trace per run (in the order given, coloured as on every page), drops
NaN/inf (and values <= 0 on log axes) instead of failing, and thins long curves to MAX_POINTS.
"""
from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .race import rounded
from .style import colour

MAX_POINTS = 2000  # per trace: a 100 000-step run draws as fast as a short one
X_TITLES = {"step": "step", "wall": "wall time (s)"}
Run = Mapping[str, Any]


# ---------------------------------------------------------------- array helpers


def col(table: Mapping | None, name: str) -> np.ndarray:
    """A column as float64 (empty where the table or the column is missing)."""
    if not table or name not in table:
        return np.zeros(0)
    return np.asarray(table[name], dtype=np.float64).ravel()


def ema(values, smoothing: float) -> np.ndarray:
    """Debiased exponential moving average (as TensorBoard's smoothing slider): smoothing in [0, 1).

    NaN/inf values are skipped (the average carries over them and they stay NaN in the output),
    so one non-finite loss does not blank the rest of the curve.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    a = float(smoothing)
    if not 0.0 < a < 1.0 or v.size == 0:
        return v.copy()
    out = np.full_like(v, np.nan)
    acc, weight = 0.0, 0.0
    for i, x in enumerate(v.tolist()):
        if not math.isfinite(x):
            continue
        acc = a * acc + (1 - a) * x
        weight = a * weight + (1 - a)
        out[i] = acc / weight
    return out


def thin(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most max_points evenly strided rows, always the first and the last."""
    if n <= max_points:
        return np.arange(n)
    idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))
    return idx


def _xy(x: np.ndarray, y: np.ndarray, log_y: bool = False, log_x: bool = False) -> tuple[list, list]:
    ok = np.isfinite(x) & np.isfinite(y)
    if log_y:
        ok &= y > 0
    if log_x:
        ok &= x > 0
    x, y = x[ok], y[ok]
    idx = thin(len(x))
    return rounded(x[idx], 7), rounded(y[idx])


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, *, log_y=False, log_x=False,
            height: int = 360) -> go.Figure:
    fig.update_xaxes(title_text=x_title, type="log" if log_x else "linear", exponentformat="power")
    fig.update_yaxes(title_text=y_title, type="log" if log_y else "linear", exponentformat="power")
    fig.update_layout(title=dict(text=title, x=0, font=dict(size=14)), height=height, template="plotly_white",
                      margin=dict(l=60, r=20, t=50, b=50), hovermode="closest",
                      legend=dict(orientation="h", y=-0.25, yanchor="top", x=0))
    return fig


def _check_x(x: str) -> str:
    if x not in X_TITLES:
        raise ValueError(f"x must be one of {', '.join(X_TITLES)}, got {x!r}")
    return x


def trace_name(run: Run, i: int) -> str:
    """A run's label as a trace name: Plotly renders tags in names (<a href> is a link), so a label a
    person typed is HTML-escaped; Plotly shows the entities as the characters."""
    return html.escape(str(run.get("label", i + 1)), quote=False)


def _line(run: Run, i: int, xs: list, ys: list, hover: str) -> go.Scatter:
    return go.Scatter(x=xs, y=ys, mode="lines" if len(xs) > 1 else "markers", name=trace_name(run, i),
                      line=dict(color=colour(i), width=1.6), marker=dict(color=colour(i), size=6),
                      hovertemplate=hover + "<extra>%{fullData.name}</extra>")


# ---------------------------------------------------------------- curves


def _step_curves(runs: Sequence[Run], x: str, column: str, smoothing: float, hover: str) -> go.Figure:
    """One line per run of a step column (smoothed by an EMA where smoothing > 0), log y, vs step or wall time."""
    _check_x(x)
    fig = go.Figure()
    for i, r in enumerate(runs):
        s = r.get("steps")
        xs, ys = _xy(col(s, x), ema(col(s, column), smoothing), log_y=True)
        fig.add_trace(_line(r, i, xs, ys, f"{X_TITLES[x]} %{{x}}<br>{hover} %{{y}}"))
    return fig


def _smoothed(title: str, smoothing: float) -> str:
    return title + (f" (smoothed {smoothing:g})" if 0 < smoothing < 1 else "")


def loss_figure(runs: Sequence[Run], *, x: str = "step", smoothing: float = 0.0) -> go.Figure:
    """Training loss per step (smoothed by an EMA where smoothing > 0), log y, vs step or wall time."""
    fig = _step_curves(runs, x, "loss", smoothing, "loss")
    return _layout(fig, _smoothed("Training loss", smoothing), X_TITLES[x], "training loss", log_y=True)


def _metric_title(runs: Sequence[Run]) -> str:
    names = {str(r.get("metric_name") or "metric") for r in runs}
    return names.pop() if len(names) == 1 else "metric (" + ", ".join(sorted(names)) + ")"


def metric_figure(runs: Sequence[Run], *, x: str = "step", which: str = "metric") -> go.Figure:
    """The validation metric (or val_loss) at each evaluation, vs step or wall time; the task's target dashed."""
    _check_x(x)
    fig = go.Figure()
    for i, r in enumerate(runs):
        e = r.get("evals")
        xs, ys = _xy(col(e, x), col(e, which))
        fig.add_trace(_line(r, i, xs, ys, f"{X_TITLES[x]} %{{x}}<br>{which} %{{y}}"))
        fig.data[-1].mode = "lines+markers"
        fig.data[-1].marker.size = 5
    name = _metric_title(runs) if which == "metric" else "validation loss"
    targets = {r.get("target") for r in runs if r.get("target") is not None}
    if which == "metric" and len(targets) == 1:
        t = float(targets.pop())
        fig.add_hline(y=t, line=dict(color="#888888", dash="dash", width=1),
                      annotation_text=f"target {t:g}", annotation_position="bottom right")
    return _layout(fig, f"Validation {name}", X_TITLES[x], name, log_y=which == "val_loss")


def lr_figure(runs: Sequence[Run], *, x: str = "step") -> go.Figure:
    """The learning rate each step used (the schedule, as the runner applied it), log y: schedules span decades."""
    return _layout(_step_curves(runs, x, "lr", 0.0, "lr"), "Learning rate", X_TITLES[x], "learning rate", log_y=True)


def grad_norm_figure(runs: Sequence[Run], *, x: str = "step", smoothing: float = 0.0) -> go.Figure:
    """The whole-model gradient norm before clipping, log y; a norm-clipping threshold is drawn dotted."""
    fig = _step_curves(runs, x, "grad_norm", smoothing, "‖g‖")
    for i, r in enumerate(runs):
        clip = r.get("clip")
        if clip and clip[0] == "norm" and float(clip[1]) > 0:
            fig.add_hline(y=float(clip[1]), line=dict(color=colour(i), dash="dot", width=1))
    return _layout(fig, _smoothed("Gradient norm before clipping", smoothing), X_TITLES[x], "‖∇L‖ (pre-clip)",
                   log_y=True)


def clipped_fraction(run: Run) -> float:
    """Share of the logged steps whose update was scaled down by clipping (clip coefficient < 1); NaN without steps."""
    c = col(run.get("steps"), "clip_coef")
    c = c[np.isfinite(c)]
    return float(np.mean(c < 1.0 - 1e-9)) if c.size else float("nan")


def clipped_figure(runs: Sequence[Run]) -> go.Figure:
    """One bar per run: the fraction of steps that clipping scaled down (and the mean coefficient on hover)."""
    fig = go.Figure()
    for i, r in enumerate(runs):
        f = clipped_fraction(r)
        c = col(r.get("steps"), "clip_coef")
        c = c[np.isfinite(c)]
        mean = float(c.mean()) if c.size else float("nan")
        name = trace_name(r, i)
        fig.add_trace(go.Bar(x=[name], y=[None if math.isnan(f) else f], name=name, marker_color=colour(i),
                             customdata=[[None if math.isnan(mean) else round(mean, 4)]],
                             hovertemplate="clipped %{y:.1%} of steps<br>mean coefficient %{customdata[0]}"
                                           "<extra></extra>"))
    fig = _layout(fig, "Clipped fraction of steps", "", "fraction of steps clipped")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_xaxes(type="category", showticklabels=False)  # one category per run (not the linear default)
    fig.update_layout(showlegend=True, bargap=0.3)
    return fig


def smoothness_figure(runs: Sequence[Run]) -> go.Figure:
    """Local smoothness vs gradient norm at the steps where the runner measured it, log-log
    (Zhang et al. 2020, Fig. 1): points climbing with ‖g‖ are (L0, L1)-smooth, not L-smooth."""
    fig = go.Figure()
    for i, r in enumerate(runs):
        e = r.get("evals")
        steps = col(e, "step")
        g, s = col(e, "grad_norm"), col(e, "smoothness")
        ok = np.isfinite(g) & np.isfinite(s) & (g > 0) & (s > 0)
        fig.add_trace(go.Scatter(x=rounded(g[ok]), y=rounded(s[ok]), mode="markers",
                                 name=trace_name(r, i),
                                 marker=dict(color=colour(i), size=6, opacity=0.75),
                                 customdata=steps[ok].astype(np.int64).tolist(),
                                 hovertemplate="step %{customdata}<br>‖g‖ %{x}<br>smoothness %{y}<extra></extra>"))
    return _layout(fig, "(L0, L1) smoothness", "gradient norm ‖∇L(x)‖",
                   "local smoothness ‖∇L(x+d/2) − ∇L(x)‖ / (‖d‖/2)", log_x=True, log_y=True, height=420)


# ---------------------------------------------------------------- the summary table


def summarize(run: Run) -> dict:
    """One run's numbers: best and final metric (direction from higher_is_better), first step and wall
    time at which the metric reached the target, steps/s, last loss, clipped fraction. None where unknown."""
    e, s = run.get("evals"), run.get("steps")
    metric, steps, wall = col(e, "metric"), col(e, "step"), col(e, "wall")
    ok = np.isfinite(metric)
    higher = bool(run.get("higher_is_better", True))
    best = final = step_to = time_to = None
    if ok.any():
        m = metric[ok]
        best = float(m.max() if higher else m.min())
        final = float(m[-1])
        target = run.get("target")
        if target is not None:
            hit = (metric >= target) if higher else (metric <= target)
            hit &= ok
            if hit.any():
                j = int(np.argmax(hit))
                step_to = int(steps[j])
                time_to = float(wall[j]) if j < len(wall) and math.isfinite(wall[j]) else None
    sps = run.get("steps_per_s")
    if sps is None:
        n, w = col(s, "step"), col(s, "wall")
        good = np.isfinite(w) & (w > 0)
        sps = float(len(n) / w[good][-1]) if good.any() else None
    loss = col(s, "loss")
    finite = loss[np.isfinite(loss)]
    frac = clipped_fraction(run)
    extras = list((e or {}).get("extra") or [])
    costs = [x["evaluations"] for x in extras if isinstance(x, dict) and "evaluations" in x]
    sharp = [x["sharpness"] for x in extras if isinstance(x, dict) and "sharpness" in x]
    return {"best": best, "final": final, "step_to_target": step_to, "time_to_target": time_to,
            "steps_per_s": None if sps is None or not math.isfinite(sps) else float(sps),
            "last_loss": float(finite[-1]) if finite.size else None,
            "clipped": None if math.isnan(frac) else frac,
            "steps": int(len(col(s, "step"))) if s else None,
            "evaluations": _cost_text(costs[-1]) if costs else None,
            "sharpness": float(sharp[-1]) if sharp else None}


def _cost_text(cost) -> str | None:
    """[loss values, gradients] at the last evaluation as "1500 f", "1000 ∇f" (None if malformed)."""
    try:
        f, g = (int(v) for v in cost)
    except (TypeError, ValueError):
        return None
    return " + ".join([f"{f} f"] * bool(f) + [f"{g} ∇f"] * bool(g)) or "0"


def summary_rows(runs: Sequence[Run]) -> dict[str, list]:
    """The summary table as columns (st.dataframe takes it as is): one row per run."""
    cols: dict[str, list] = {"run": [], "status": [], "steps": [], "evaluations": [], "metric": [], "best": [],
                             "final": [], "target": [], "steps to target": [], "time to target (s)": [],
                             "steps/s": [], "last loss": [], "clipped": [], "sharpness": [], "device": []}
    for i, r in enumerate(runs):
        v = summarize(r)
        cols["run"].append(str(r.get("label", i + 1)))
        cols["status"].append(str(r.get("status", "")))
        cols["steps"].append(v["steps"])
        cols["evaluations"].append(v["evaluations"])  # at the last evaluation
        cols["sharpness"].append(v["sharpness"])
        cols["metric"].append(str(r.get("metric_name") or "metric"))
        cols["best"].append(v["best"])
        cols["final"].append(v["final"])
        t = r.get("target")
        cols["target"].append(None if t is None else ("≥ " if r.get("higher_is_better", True) else "≤ ") + f"{t:g}")
        cols["steps to target"].append(v["step_to_target"])
        cols["time to target (s)"].append(v["time_to_target"])
        cols["steps/s"].append(v["steps_per_s"])
        cols["last loss"].append(v["last_loss"])
        cols["clipped"].append(v["clipped"])
        cols["device"].append(str(r.get("device") or ""))
    return cols


# ---------------------------------------------------------------- export


STEP_CSV = ("step", "loss", "lr", "grad_norm", "clip_coef", "wall")
EVAL_CSV = ("step", "val_loss", "metric", "throughput", "smoothness", "grad_norm", "wall")


def curves_csv(runs: Sequence[Run], which: str = "steps") -> str:
    """Every selected run's step rows (which="steps") or eval rows ("evals") in one CSV, with run id
    and label columns; missing values as empty cells."""
    names = {"steps": STEP_CSV, "evals": EVAL_CSV}.get(which)
    if names is None:
        raise ValueError(f"which must be steps or evals, got {which!r}")
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["run_id", "run", *names])
    for r in runs:
        table = r.get(which) or {}
        columns = [col(table, n) for n in names]
        n = max((len(c) for c in columns), default=0)
        for j in range(n):
            row = []
            for name, c in zip(names, columns, strict=True):
                v = c[j] if j < len(c) else float("nan")
                row.append("" if not math.isfinite(v) else (int(v) if name == "step" else repr(float(v))))
            w.writerow([r.get("id", ""), r.get("label", ""), *row])
    return out.getvalue()
