"""plots.training: one trace per run per panel, log axes where expected, NaN-safe, summary numbers right."""
import csv
import io
import math

import numpy as np
import plotly.graph_objects as go
import pytest

from plots import training as pt


def run(label, n=100, *, loss=None, clip_coef=None, metric=None, eval_steps=None, target=0.9, higher=True,
        smoothness=None, clip=None, steps_per_s=None):
    """A run dict as the Compare page builds it, from hand-made arrays."""
    step = np.arange(n)
    steps = {"step": step, "loss": np.asarray(loss if loss is not None else 2.0 / (1 + step), dtype=float),
             "lr": np.full(n, 1e-3), "grad_norm": np.linspace(5.0, 0.5, n),
             "clip_coef": np.asarray(clip_coef if clip_coef is not None else np.ones(n), dtype=float),
             "wall": 0.01 * (step + 1)}
    es = np.asarray(eval_steps if eval_steps is not None else [0, 50, 100])
    m = np.asarray(metric if metric is not None else [0.1, 0.8, 0.95], dtype=float)
    evals = {"step": es, "val_loss": 1.0 / (1 + es), "metric": m, "throughput": np.full(len(es), 1000.0),
             "smoothness": np.asarray(smoothness if smoothness is not None else np.full(len(es), np.nan), dtype=float),
             "grad_norm": np.linspace(1.0, 3.0, len(es)), "wall": 0.01 * es + 0.5}
    return {"id": label, "label": f"run {label}", "steps": steps, "evals": evals, "metric_name": "accuracy",
            "target": target, "higher_is_better": higher, "status": "done", "device": "CPU", "clip": clip,
            "steps_per_s": steps_per_s}


def finite_values(trace) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in trace.y], dtype=float)


FIGURES = [
    lambda rs: pt.loss_figure(rs), lambda rs: pt.loss_figure(rs, x="wall", smoothing=0.9),
    lambda rs: pt.metric_figure(rs), lambda rs: pt.metric_figure(rs, x="wall"),
    lambda rs: pt.lr_figure(rs), lambda rs: pt.grad_norm_figure(rs, smoothing=0.5),
    pt.clipped_figure, pt.smoothness_figure,
]


@pytest.mark.parametrize("make", FIGURES)
def test_one_trace_per_run_in_every_panel(make):
    runs = [run(1), run(2, n=30), run(3, n=0, metric=[], eval_steps=[])]  # an empty (queued) run too
    fig = make(runs)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 3
    assert [t.name for t in fig.data] == ["run 1", "run 2", "run 3"]
    assert len({t.marker.color for t in fig.data}) == 3  # each run its own colour


def test_log_axes_where_expected():
    runs = [run(1)]
    assert pt.loss_figure(runs).layout.yaxis.type == "log"
    assert pt.grad_norm_figure(runs).layout.yaxis.type == "log"
    assert pt.metric_figure(runs).layout.yaxis.type == "linear"
    assert pt.lr_figure(runs).layout.yaxis.type == "log"
    s = pt.smoothness_figure(runs)
    assert s.layout.xaxis.type == "log" and s.layout.yaxis.type == "log"
    assert pt.clipped_figure(runs).layout.xaxis.type == "category"  # bars named by run, not a linear axis
    assert pt.loss_figure(runs, x="wall").layout.xaxis.title.text == "wall time (s)"
    with pytest.raises(ValueError):
        pt.loss_figure(runs, x="epoch")


def test_nan_inf_and_nonpositive_values_are_dropped_not_fatal():
    loss = np.array([2.0, np.nan, 1.0, np.inf, 0.0, -1.0, 0.5])
    r = run(1, n=7, loss=loss, clip_coef=[1, np.nan, 0.5, 1, 1, 1, 1], metric=[np.nan, 0.5, np.nan])
    fig = pt.loss_figure([r])
    ys = finite_values(fig.data[0])
    assert list(fig.data[0].x) == [0, 2, 6] and np.allclose(ys, [2.0, 1.0, 0.5])  # log y: NaN, inf, <= 0 go
    m = pt.metric_figure([r])
    assert list(m.data[0].x) == [50] and list(m.data[0].y) == [0.5]
    sm = pt.loss_figure([r], smoothing=0.5)
    assert np.isfinite(finite_values(sm.data[0])).all()
    assert pt.clipped_fraction(r) == pytest.approx(1 / 6)  # NaN coefficient left out


def test_ema_is_debiased_and_skips_nan():
    out = pt.ema([1.0, 3.0, np.nan, 3.0], 0.5)
    assert out[0] == pytest.approx(1.0)
    assert out[1] == pytest.approx((0.25 * 1 + 0.5 * 3) / 0.75)
    assert math.isnan(out[2])
    assert out[3] == pytest.approx((0.125 * 1 + 0.25 * 3 + 0.5 * 3) / 0.875)
    assert np.array_equal(pt.ema([1.0, 2.0], 0.0), [1.0, 2.0])


def test_long_runs_are_thinned_keeping_the_ends():
    r = run(1, n=50_000, metric=[0.1, 0.2, 0.3])
    fig = pt.loss_figure([r])
    assert len(fig.data[0].x) <= pt.MAX_POINTS
    assert fig.data[0].x[0] == 0 and fig.data[0].x[-1] == 49_999


def test_summary_values():
    r = run(1, metric=[0.1, 0.92, 0.91], eval_steps=[0, 40, 80], target=0.9,
            clip_coef=[0.5] * 25 + [1.0] * 75)
    v = pt.summarize(r)
    assert v["best"] == pytest.approx(0.92) and v["final"] == pytest.approx(0.91)
    assert v["step_to_target"] == 40 and v["time_to_target"] == pytest.approx(0.01 * 40 + 0.5)
    assert v["steps_per_s"] == pytest.approx(100 / 1.0)  # 100 steps, the last at wall 1.0 s
    assert v["clipped"] == pytest.approx(0.25)
    assert v["last_loss"] == pytest.approx(2.0 / 100)
    # lower is better (bits/char): best is the minimum, the target is reached going down
    low = pt.summarize(run(2, metric=[5.0, 2.0, 2.5], target=3.0, higher=False))
    assert low["best"] == 2.0 and low["final"] == 2.5 and low["step_to_target"] == 50
    # never reached, no target, no evals, the summary's own steps/s wins
    assert pt.summarize(run(3, metric=[0.1, 0.2, 0.3]))["step_to_target"] is None
    assert pt.summarize(run(4, target=None))["time_to_target"] is None
    empty = pt.summarize(run(5, n=0, metric=[], eval_steps=[]))
    assert empty == {"best": None, "final": None, "step_to_target": None, "time_to_target": None,
                     "steps_per_s": None, "last_loss": None, "clipped": None, "steps": 0, "evaluations": None,
                     "sharpness": None}
    assert pt.summarize(run(6, steps_per_s=321.0))["steps_per_s"] == 321.0


def test_summary_rows_one_per_run():
    rows = pt.summary_rows([run(1), run(2, target=3.0, higher=False)])
    assert rows["run"] == ["run 1", "run 2"]
    assert rows["target"] == ["≥ 0.9", "≤ 3"]
    assert len({len(v) for v in rows.values()}) == 1
    assert rows["steps"] == [100, 100] and rows["evaluations"] == [None, None] and rows["sharpness"] == [None, None]
    zo = run(3)
    zo["evals"]["extra"] = [{"evaluations": [0, 0]}, {"evaluations": [250, 0], "sharpness": 3.5},
                            {"evaluations": [500, 0], "sharpness": 2.25}]
    sam = run(4)
    sam["evals"]["extra"] = [{}, {"evaluations": [0, 200]}, {"bad": 1}]
    rows = pt.summary_rows([zo, sam])
    assert rows["evaluations"] == ["500 f", "200 ∇f"] and rows["sharpness"] == [2.25, None]


def test_metric_target_line_and_norm_threshold_line():
    fig = pt.metric_figure([run(1), run(2)])
    assert any(s.y0 == 0.9 for s in fig.layout.shapes)
    g = pt.grad_norm_figure([run(1, clip=("norm", 2.0)), run(2, clip=None)])
    assert [s.y0 for s in g.layout.shapes] == [2.0]


def test_smoothness_scatter_uses_measured_points_only():
    r = run(1, smoothness=[np.nan, 4.0, 0.0])
    fig = pt.smoothness_figure([r])
    assert list(fig.data[0].x) == [2.0] and list(fig.data[0].y) == [4.0]
    assert list(fig.data[0].customdata) == [50]


def test_csv_has_every_row_of_every_run():
    runs = [run(1, n=5), run(2, n=3, loss=[1.0, np.nan, 0.5])]
    rows = list(csv.DictReader(io.StringIO(pt.curves_csv(runs, "steps"))))
    assert len(rows) == 8
    assert [r["run_id"] for r in rows] == ["1"] * 5 + ["2"] * 3
    assert rows[6]["loss"] == "" and float(rows[7]["loss"]) == 0.5 and rows[7]["step"] == "2"
    ev = list(csv.DictReader(io.StringIO(pt.curves_csv(runs, "evals"))))
    assert len(ev) == 6 and float(ev[2]["metric"]) == 0.95
    with pytest.raises(ValueError):
        pt.curves_csv(runs, "nope")


def test_a_typed_label_is_text_in_every_legend():
    """Plotly renders tags in trace names (an <a href> becomes a link): a person's label is escaped."""
    evil = '<a href="https://evil.example">log in</a> **x**'
    steps = {"step": np.arange(3), "loss": np.ones(3), "lr": np.ones(3), "grad_norm": np.ones(3),
             "clip_coef": np.ones(3), "wall": np.arange(3.0)}
    evals = {"step": np.arange(2), "val_loss": np.ones(2), "metric": np.ones(2), "throughput": np.ones(2),
             "smoothness": np.ones(2), "grad_norm": np.ones(2), "wall": np.ones(2)}
    run = {"id": 1, "label": evil, "steps": steps, "evals": evals, "metric_name": "accuracy"}
    for fig in (pt.loss_figure([run]), pt.clipped_figure([run]), pt.smoothness_figure([run])):
        (name,) = {t.name for t in fig.data}
        assert "<a" not in name and name == '&lt;a href="https://evil.example"&gt;log in&lt;/a&gt; **x**'
