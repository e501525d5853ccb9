"""Figures for sweeps: hyperparameter maps, robustness (lr ranges that converge) and basins of attraction.

Pure: numpy in, Plotly out. Results are read by attribute name (duck-typed), so a
trajectories.SweepResult / BasinsResult works, and so does any object a test builds:

    map entry    (title, r): r.axes (each .target, .values), r.final_loss, r.hit_at, r.diverged_at
                 with shape (seeds, *axis lengths); r.target (the loss that counts as reached) optional
    basins entry (title, b): b.xs (nx,), b.ys (ny,), b.label (ny, nx) with minimum index,
                 -1 not converged, -2 diverged

Several seeds: every statistic is the median over seeds (a seed that diverged counts as +inf, so
a cell is drawn as diverged when at least half its seeds diverged), with the spread (IQR) in the hover.
The statistics themselves (cell_stats, best_cell, robustness, basins_fractions) live with the engine,
in trajectories.stats; this module only draws them.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from trajectories.stats import CellStats, Robustness, basin_codes, basins_fractions, best_cell, cell_stats, robustness
from trajectories.sweep import Target

from .style import FONT_SMALL, LOG_FLOOR, OUTLINE, PALETTE

METRICS = ("final_loss", "hit_at", "diverged")
METRIC_TITLES = {"final_loss": "final loss", "hit_at": "steps to reach tol", "diverged": "step it diverged"}

DIVERGED_COLOUR = "#e4002b"  # red: no Viridis colour is near it
NOT_REACHED_COLOUR = "#d9d9d9"  # light grey: never reached the tolerance / did not diverge
BASIN_NOT_CONVERGED = "#bdbdbd"
BASIN_DIVERGED = "#000000"
MINIMA_COLOURS = tuple(c for c in PALETTE if c != "#000000")  # black means diverged here
BEST_MARKER = dict(symbol="star", size=15, color="#ffffff", line=dict(color=OUTLINE, width=1.5))
# customdata columns of a map's cell layer (the page reads the first three to build the cell's link)
MAX_HOVER_TEXT = 200 * 200  # basins cells with a hover text each
CELL_COLUMNS = ("optimizer", "i", "j", "loss", "loss_spread", "hit_at", "diverged_fraction", "diverged_at")


# ---------------------------------------------------------------- axes


def _is_log(values: np.ndarray) -> bool:
    """Geometric spacing (what Axis.span(log=True) makes), guessed where the caller does not say."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 3 or (v <= 0).any():
        return False
    r = np.diff(np.log(v))
    return bool(np.allclose(r, r[0], rtol=1e-6)) and not np.allclose(np.diff(v), np.diff(v)[0], rtol=1e-6)


def cell_edges(values, log: bool) -> np.ndarray:
    """(n+1,) cell edges around the centres: geometric midpoints on a log axis (Plotly would put them
    at arithmetic midpoints, and the first edge below 0 where the cells are few and the range wide)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 1:
        return v * np.array([1 / 1.5, 1.5]) if log else v + np.array([-0.5, 0.5])
    if log:  # in log space, so an axis up to 1e308 has finite edges (v * v would overflow)
        lv = np.log(v)
        mid = (lv[:-1] + lv[1:]) / 2
        return np.exp(np.clip(np.concatenate([[2 * lv[0] - mid[0]], mid, [2 * lv[-1] - mid[-1]]]), -708.0, 709.0))
    mid = (v[:-1] + v[1:]) / 2
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


def axis_label(target: str) -> str:
    """A target as an axis title: "lr", "betas[0]", "clip threshold", "schedule: gamma"."""
    t = Target.parse(target)
    if t.kind == "clip":
        return "clip threshold"
    if t.kind == "schedule":
        return f"schedule: {t.name}"
    if t.kind == "pair":
        return f"{t.name}[{t.index}]"
    return target


# ---------------------------------------------------------------- hyperparameter maps


def _colour_values(stats: CellStats, color: str, floor_at: float) -> tuple[np.ndarray, np.ndarray]:
    """(z, category), both (nx, ny): z the colour value (NaN where a category is drawn instead);
    category 0 none, 1 diverged, 2 not reached (hit_at) / did not diverge (diverged)."""
    cat = np.zeros(stats.loss.shape, dtype=np.int8)
    if color == "final_loss":
        cat[stats.diverged] = 1
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.log10(np.maximum(stats.loss - floor_at, LOG_FLOOR))
    elif color == "hit_at":
        cat[~np.isfinite(stats.hit_at)] = 2
        cat[stats.diverged] = 1
        z = stats.hit_at.copy()
    elif color == "diverged":
        cat[~np.isfinite(stats.diverged_at)] = 2
        z = stats.diverged_at.copy()
    else:
        raise ValueError(f"color must be one of {', '.join(METRICS)}, got {color!r}")
    z = np.where(cat == 0, z, np.nan).astype(np.float32)  # float32 halves a 300 x 300 figure; colour needs no more
    return z, cat


def map_figure(maps, *, color: str = "final_loss", min_value: float | None = None,
               log: tuple[bool, ...] | None = None, height: int = 460) -> go.Figure:
    """One heatmap per optimizer, side by side, on the same axes and the same colour scale.

    maps: [(title, SweepResult-like)], all over the same axes. color: "final_loss" (log10 of
    loss - min_value, or of loss - the lowest loss on the maps where min_value is unknown),
    "hit_at" (median steps to reach the tolerance) or "diverged" (the step it diverged at).
    log: per axis, whether it is log-spaced (guessed from the values where not given).
    Diverged cells, and cells that never reached the tolerance (hit_at) or never diverged
    (diverged), are drawn in their own colours; each map's best cell carries a star. Each cell's
    customdata holds CELL_COLUMNS: (optimizer index, i, j, ...) - enough to rebuild its exact run.
    """
    if color not in METRICS:
        raise ValueError(f"color must be one of {', '.join(METRICS)}, got {color!r}")
    maps = list(maps)
    if not maps:
        raise ValueError("map_figure needs at least one map")
    stats = [cell_stats(r) for _, r in maps]
    axes = list(maps[0][1].axes)
    targets = [a.target for a in axes]
    one_d = len(axes) == 1
    logs = tuple(log) if log is not None else tuple(_is_log(a.values) for a in axes)
    logs = (*logs, False)[:2]

    finite_losses = [s.loss[np.isfinite(s.loss)] for s in stats]
    lowest = min((float(v.min()) for v in finite_losses if v.size), default=0.0)
    floor_at = float(min_value) if min_value is not None else lowest
    layers = [_colour_values(s, color, floor_at) for s in stats]
    finite = np.concatenate([z[np.isfinite(z)] for z, _ in layers])
    zmin, zmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if not zmax > zmin:
        zmin, zmax = zmin - 0.5, zmax + 0.5

    titles = []
    best = [best_cell(s, color) for s in stats]
    for (title, _), s, b in zip(maps, stats, best, strict=True):
        # several maps side by side are narrow on a phone (~80 px each at 390 px): short lines, no overlap
        width = TITLE_CHARS if len(maps) > 1 else 80
        best_lines = "<br>".join(wrap_words(_best_text(s, b, color, targets), width))
        titles.append("<br>".join(wrap_words(title, width)) + f"<br><sup>{best_lines}</sup>")
    fig = make_subplots(rows=1, cols=len(maps), shared_yaxes=True, horizontal_spacing=0.03 if one_d else 0.02,
                        subplot_titles=titles)
    colorbar_title = {"final_loss": "log10(loss − min)" if min_value is not None else "log10(loss − lowest)",
                      "hit_at": "steps to tol", "diverged": "diverged at step"}[color]
    colorscale = {"final_loss": "Viridis_r", "hit_at": "Viridis_r", "diverged": "Reds_r"}[color]
    cat_names = {1: "diverged", 2: "never reached tol" if color == "hit_at" else "did not diverge"}
    cat_colours = {1: DIVERGED_COLOUR, 2: NOT_REACHED_COLOUR}
    shown = set()
    for k, ((title, _), s, (z, cat), b) in enumerate(zip(maps, stats, layers, best, strict=True)):
        col = k + 1
        # cells around their centres (the axis values); edges given on log axes (see cell_edges)
        hx = cell_edges(s.xs, True) if logs[0] else s.xs
        hy = cell_edges(s.ys, True) if logs[1] and not one_d else s.ys
        fig.add_trace(go.Heatmap(
            x=hx, y=hy, z=z.T, coloraxis="coloraxis", zmin=zmin, zmax=zmax, hoverinfo="skip",
            name=f"{title}: {METRIC_TITLES[color]}", showlegend=False,
        ), row=1, col=col)
        present = sorted(int(c) for c in np.unique(cat) if c)
        if present:
            overlay = np.where(cat > 0, cat, np.nan).astype(np.float32)
            fig.add_trace(go.Heatmap(
                x=hx, y=hy, z=overlay.T, zmin=1, zmax=2, showscale=False, hoverinfo="skip",
                colorscale=[[0, cat_colours[1]], [0.5, cat_colours[1]], [0.5, cat_colours[2]], [1, cat_colours[2]]],
                name=f"{title}: " + " / ".join(cat_names[c] for c in present), showlegend=False,
            ), row=1, col=col)
            shown |= set(present)
        for layer in _cell_layers(k, title, s, targets, one_d):
            fig.add_trace(layer, row=1, col=col)
        if b is not None:
            i, j = b
            fig.add_trace(go.Scatter(
                x=[s.xs[i]], y=[s.ys[j]], mode="markers", marker=BEST_MARKER, name="best cell",
                legendgroup="best", showlegend=k == 0, hoverinfo="skip",
            ), row=1, col=col)
    for c in sorted(shown):  # legend entries for the categorical colours
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=cat_names[c],
                                 marker=dict(symbol="square", size=12, color=cat_colours[c],
                                             line=dict(color=OUTLINE, width=1))), row=1, col=1)

    for k in range(len(maps)):
        suffix = "" if k == 0 else str(k + 1)
        fig.layout[f"xaxis{suffix}"].update(
            type="log" if logs[0] else "linear", title_text=axis_label(targets[0]),
            matches=None if k == 0 else "x", showgrid=False)
        fig.layout[f"yaxis{suffix}"].update(type="log" if logs[1] and not one_d else "linear", showgrid=False,
                                            showticklabels=not one_d and k == 0)
    if not one_d:
        fig.layout.yaxis.title.text = axis_label(targets[1])
    fig.update_layout(
        coloraxis=dict(colorscale=colorscale, cmin=zmin, cmax=zmax,
                       colorbar=dict(title=dict(text=colorbar_title, side="right"), thickness=14)),
        height=height if not one_d else 300,
        margin=dict(l=60, r=20, t=40 + 14 * max(t.count("<br>") for t in titles), b=50),
        legend=dict(orientation="h", yanchor="top", y=-0.18, x=0),
        hovermode="closest",
        font=dict(size=12),
        clickmode="event+select",
    )
    fig.update_annotations(font_size=FONT_SMALL + 1)
    return fig


def cell_from_point(point) -> tuple[int, int, int] | None:
    """(optimizer index, i, j) of a clicked cell, from one point of a selection event on a
    map_figure (a dict with "customdata", as st.plotly_chart reports it); None if it is not a cell."""
    try:
        data = point.get("customdata") if hasattr(point, "get") else None
        if isinstance(data, dict):  # a typed-array row reaches Streamlit as {"0": k, "1": i, ...}
            data = [data[str(n)] for n in range(len(data)) if str(n) in data]
        if data is None or len(data) < 3:
            return None
        k, i, j = (int(round(float(v))) for v in data[:3])
    except (TypeError, ValueError):
        return None
    return (k, i, j) if min(k, i, j) >= 0 else None


TITLE_CHARS = 18  # characters per title line of a map beside others


def wrap_words(text: str, width: int) -> list[str]:
    """Text in lines of at most `width` characters, broken at spaces (a longer word keeps its own line)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _best_text(s: CellStats, b: tuple[int, int] | None, color: str, targets: list[str]) -> str:
    if b is None:
        return "no cell converged" if color == "hit_at" else "every cell diverged"
    i, j = b
    where = f"{targets[0]}={s.xs[i]:.3g}" + (f", {targets[1]}={s.ys[j]:.3g}" if len(targets) > 1 else "")
    if color == "hit_at":
        return f"best: {where} (tol at step {s.hit_at[i, j]:.0f})"
    return f"best: {where} (loss {s.loss[i, j]:.3g})"


def _cell_layers(k: int, title: str, s: CellStats, targets: list[str], one_d: bool) -> list[go.Scattergl]:
    """Invisible markers at the cell centres: the hover text, and what a click selects (heatmaps are
    not selectable in Plotly); customdata = CELL_COLUMNS per cell.

    One layer per outcome (reached tol or not, diverged or not, ...), each with its own sentence in
    the hover ("never diverged", "diverged at step 12"): Plotly's hover templates cannot branch on a
    value, and a text per cell would double the figure's size on a 300 x 300 map.
    """
    nx, ny = s.loss.shape
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")  # (nx, ny)

    def finite_or(a, v):
        return np.where(np.isfinite(a), a, v)

    data = np.stack([
        np.full(ii.shape, k), ii, jj,
        finite_or(s.loss, np.nan), finite_or(s.loss_spread, np.nan),
        finite_or(s.hit_at, -1), s.diverged_fraction, finite_or(s.diverged_at, -1),
    ], axis=-1).reshape(-1, len(CELL_COLUMNS)).astype(np.float32)
    # outcome per cell: (final loss finite, reached tol, how it diverged: 0 never, 1 at a (median) step,
    # 2 some seeds but fewer than half, so no median step)
    some = s.diverged_fraction > 0
    how = np.where(np.isfinite(s.diverged_at), 1, np.where(some, 2, 0))
    outcome = np.stack([np.isfinite(s.loss), np.isfinite(s.hit_at), how], axis=-1).reshape(-1, 3).astype(int)

    # float32 positions where they fit (enough to place and read; the exact values come from (i, j)),
    # float64 for an axis beyond float32's range (an lr up to 1e308 is a valid, if odd, axis)
    def pos(a):
        return a.astype(np.float32) if np.all(np.abs(a) < np.finfo(np.float32).max) else a

    x, y = pos(s.xs[ii.ravel()]), pos(s.ys[jj.ravel()])
    layers = []
    for key in np.unique(outcome, axis=0):
        rows = np.flatnonzero((outcome == key).all(axis=1))
        lines = _cell_hover(title, targets, one_d, s.seeds, *(int(v) for v in key))
        layers.append(go.Scattergl(
            x=x[rows], y=y[rows], mode="markers",
            customdata=data[rows],
            marker=dict(size=6, opacity=0, color="#ffffff"),
            selected=dict(marker=dict(opacity=1, size=10, color="#ffffff")),
            unselected=dict(marker=dict(opacity=0)),
            hovertemplate="<br>".join(lines) + "<extra></extra>", name=f"{title} cells", showlegend=False,
        ))
    return layers


def _cell_hover(title: str, targets: list[str], one_d: bool, seeds: int, loss_ok: int, reached: int,
                how: int) -> list[str]:
    """The hover lines of cells with one outcome, in words ("reached tol at step 30", "never diverged")."""
    many = seeds > 1
    med = f" (median of {seeds} seeds)" if many else ""
    lines = [f"<b>{title}</b>", f"{axis_label(targets[0])} = %{{x:.6g}}"]
    if not one_d:
        lines.append(f"{axis_label(targets[1])} = %{{y:.6g}}")
    if loss_ok:
        lines.append(f"final loss{med} = %{{customdata[3]:.4g}}" + (" (IQR %{customdata[4]:.3g})" if many else ""))
    elif many:
        lines.append("no final loss: at least half the seeds diverged")
    else:
        lines.append("no final loss: it diverged" if how else "no final loss: it is not finite")
    if reached:
        lines.append(f"reached tol at step %{{customdata[5]:.0f}}{med}")
    else:
        lines.append("at least half the seeds never reached tol" if many else "never reached tol")
    if not many:
        lines.append("diverged at step %{customdata[7]:.0f}" if how else "never diverged")
    elif how == 0:
        lines.append("no seed diverged")
    else:
        lines.append("diverged in %{customdata[6]:.0%} of seeds"
                     + (" (median step %{customdata[7]:.0f})" if how == 1 else ""))
    lines.append("<i>click: open this run in the explorer</i>")
    return lines


# ---------------------------------------------------------------- robustness


def robustness_figure(curves, *, stable_only: bool | None = None, height: int | None = None) -> go.Figure:
    """For each optimizer: the share of a log-spaced lr range that converges (bars), and where (the
    converging lrs as marks, the longest converging interval as a thick range with its width).

    curves: [(title, SweepResult-like over one "lr" axis)] (or (title, Robustness)).
    """
    curves = list(curves)
    if not curves:
        raise ValueError("robustness_figure needs at least one curve")
    summaries = [(t, r if isinstance(r, Robustness) else robustness(r, stable_only=stable_only)) for t, r in curves]
    if stable_only is None:
        stable_only = any(getattr(r, "target", 0.0) is None for _, r in curves if not isinstance(r, Robustness))
    what = "did not diverge" if stable_only else "converged (reached tol)"
    fig = make_subplots(rows=1, cols=2, column_widths=[0.28, 0.72], shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[f"share of the lr range that {what}", f"lrs that {what}"])
    names = [t for t, _ in summaries]
    for k, (title, s) in enumerate(summaries):
        c = PALETTE[k % len(PALETTE)]
        fig.add_trace(go.Bar(
            x=[s.fraction], y=[title], orientation="h", marker_color=c, name=title, legendgroup=title,
            text=[f"{s.fraction:.0%}"], textposition="auto", showlegend=False,
            hovertemplate=f"<b>{title}</b><br>%{{x:.0%}} of the lr range {what}<extra></extra>",
        ), row=1, col=1)
        ok = s.converged_fraction >= 0.5
        fig.add_trace(go.Scatter(
            x=s.lrs[ok], y=[title] * int(ok.sum()), mode="markers", name=title, legendgroup=title,
            marker=dict(symbol="line-ns-open", size=12, color=c, line=dict(width=2)), showlegend=False,
            customdata=s.converged_fraction[ok],
            hovertemplate=f"<b>{title}</b><br>lr = %{{x:.4g}}<br>%{{customdata:.0%}} of seeds {what}<extra></extra>",
        ), row=1, col=2)
        if s.interval is not None:
            lo, hi = s.interval
            fig.add_trace(go.Scatter(
                x=[lo, hi], y=[title, title], mode="lines+markers", name=title, legendgroup=title, showlegend=False,
                line=dict(color=c, width=9), marker=dict(size=11, color=c, line=dict(color=OUTLINE, width=1)),
                hovertemplate=(f"<b>{title}</b><br>longest interval: {lo:.3g} … {hi:.3g}"
                               f"<br>×{hi / lo:.3g} ({s.decades:.2f} decades)<extra></extra>"),
            ), row=1, col=2)
            fig.add_annotation(x=np.log10(np.sqrt(lo * hi)), y=title, yshift=14, showarrow=False, xref="x2", yref="y2",
                               text=f"×{hi / lo:.3g}", font=dict(size=FONT_SMALL, color=c))
    lrs = np.concatenate([s.lrs for _, s in summaries])
    fig.update_xaxes(range=[0, 1], tickformat=".0%", row=1, col=1)
    fig.update_xaxes(type="log", title_text="lr", range=[np.log10(lrs.min()) - 0.1, np.log10(lrs.max()) + 0.1],
                     row=1, col=2)
    fig.update_yaxes(categoryorder="array", categoryarray=names[::-1], autorange=True)
    fig.update_layout(height=height or 140 + 60 * len(summaries), margin=dict(l=10, r=20, t=50, b=40),
                      showlegend=False, bargap=0.35)
    fig.update_annotations(font_size=FONT_SMALL + 1)
    return fig


# ---------------------------------------------------------------- basins of attraction


def basin_colours(n_minima: int) -> list[str]:
    """Colour of each category, in code order: minimum 0 .. n-1, not converged, diverged."""
    return [MINIMA_COLOURS[i % len(MINIMA_COLOURS)] for i in range(n_minima)] + [BASIN_NOT_CONVERGED, BASIN_DIVERGED]


def basins_figure(basins, *, minima, bounds=None, height: int = 430) -> go.Figure:
    """Per optimizer, the grid of start points coloured by the minimum each run ended in, grey where
    it converged to none and black where it diverged; minima marked, one legend, shares in the titles.

    basins: [(title, BasinsResult-like)]; minima: [(x, y)]; bounds: ((x0, x1), (y0, y1)) to frame.
    """
    basins = list(basins)
    if not basins:
        raise ValueError("basins_figure needs at least one map")
    minima = [tuple(map(float, m)) for m in (minima or [])]
    m = len(minima)
    colours = basin_colours(m)
    names = [f"minimum {i + 1} ({x:.3g}, {y:.3g})" for i, (x, y) in enumerate(minima)] + ["not converged", "diverged"]
    short = [f"min {i + 1}" for i in range(m)] + ["not conv.", "diverged"]
    n_cat = m + 2
    # a discrete colour scale: code c fills [c - 0.5, c + 0.5] of zmin=-0.5 .. zmax=n_cat-0.5
    scale = []
    for c, col in enumerate(colours):
        scale += [[c / n_cat, col], [(c + 1) / n_cat, col]]
    titles = []
    for title, b in basins:
        fr = basins_fractions(b.label, m)
        parts = [f"{short[c]} {fr[c]:.0%}" for c in range(n_cat) if fr[c] > 0]
        titles.append(f"{title}<br><sup>{' · '.join(parts)}</sup>")
    fig = make_subplots(rows=1, cols=len(basins), shared_yaxes=True, horizontal_spacing=0.02, subplot_titles=titles)
    for k, (title, b) in enumerate(basins):
        codes = basin_codes(b.label, m)
        if codes.size <= MAX_HOVER_TEXT:  # a text per cell; beyond this the figure would grow by megabytes
            extra = dict(customdata=np.asarray(names, dtype=object)[codes.astype(np.int64)],
                         hovertemplate=f"<b>{title}</b><br>start (%{{x:.3g}}, %{{y:.3g}})<br>→ %{{customdata}}"
                                       "<extra></extra>")
        else:
            extra = dict(hovertemplate=f"<b>{title}</b><br>start (%{{x:.3g}}, %{{y:.3g}})<br>→ outcome %{{z:.0f}} "
                                       f"(0..{m - 1}: minimum 1..{m}, {m}: not converged, {m + 1}: diverged)"
                                       "<extra></extra>")
        fig.add_trace(go.Heatmap(
            x=np.asarray(b.xs, dtype=np.float64), y=np.asarray(b.ys, dtype=np.float64), z=codes.astype(np.int16),
            zmin=-0.5, zmax=n_cat - 0.5, colorscale=scale, showscale=False, name=title, **extra,
        ), row=1, col=k + 1)
        if minima:
            fig.add_trace(go.Scatter(
                x=[p[0] for p in minima], y=[p[1] for p in minima], mode="markers+text",
                text=[str(i + 1) for i in range(m)], textposition="top center",
                textfont=dict(color="#ffffff", size=FONT_SMALL),
                marker=dict(symbol="x", size=11, color="#ffffff", line=dict(color=OUTLINE, width=1.5)),
                name="minima", legendgroup="minima", showlegend=k == 0, hoverinfo="skip",
            ), row=1, col=k + 1)
    present = np.zeros(n_cat, dtype=bool)
    for _, b in basins:
        present |= basins_fractions(b.label, m) > 0
    for c in range(n_cat):  # one shared legend
        if present[c] or c < m:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=names[c], legendgroup=f"cat{c}",
                                     marker=dict(symbol="square", size=12, color=colours[c],
                                                 line=dict(color=OUTLINE, width=1))), row=1, col=1)
    if bounds is not None:
        (x0, x1), (y0, y1) = bounds
        fig.update_xaxes(range=[x0, x1])
        fig.update_yaxes(range=[y0, y1])
    fig.update_xaxes(title_text="start x", showgrid=False)
    fig.update_yaxes(showgrid=False)
    fig.layout.yaxis.title.text = "start y"
    # The legend stands in a column right of the maps, top-aligned: below them, a horizontal legend (paper
    # coordinates) sat a fixed fraction of the plot height under the axes and ran into the "start x" title
    # whenever it wrapped or pushed the margin (a narrow page, several minima). To the right nothing can
    # overlap it; Plotly widens the right margin to fit it (margin.autoexpand).
    fig.update_layout(height=height, margin=dict(l=50, r=20, t=80, b=50, autoexpand=True),
                      legend=dict(orientation="v", xref="paper", x=1.02, xanchor="left",
                                  yref="paper", y=1, yanchor="top", itemsizing="constant"))
    fig.update_annotations(font_size=FONT_SMALL + 1)
    return fig
