"""plots: the race figure (frames, payload, image background, divergence), summary, CSV, HTML, (L0,L1), 3D.

Data is made by hand with numpy (plots never sees the simulator); one test runs trajectories.race
end to end where it imports.
"""
import base64
import csv
import io
import math
from types import SimpleNamespace

import numpy as np
import plotly.io as pio
import pytest
from PIL import Image

import plots
from plots.race import frame_steps
from plots.surface_image import log_field, surface_image


def made_race(runs=3, steps=50, seed=0, diverge=None, labels=None):
    """A Result-like: runs spiral from (-1.5, 2) into the minimum (1, 1) of Rosenbrock.

    diverge: {run: k}: update k diverged, so positions and loss stay at step k-1 from then on.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(steps + 1)[:, None]  # (T, 1)
    rate = np.linspace(0.02, 0.1, runs)[None, :]  # (1, R)
    decay = np.exp(-rate * t)  # (T, R)
    xy = np.stack([1.0 - 2.5 * decay * np.cos(0.1 * t + 0 * rate), 1.0 + 1.0 * decay], axis=-1)  # (T, R, 2)
    loss = (1 - xy[..., 0]) ** 2 + 100 * (xy[..., 1] - xy[..., 0] ** 2) ** 2
    grad = rng.normal(size=(steps, runs, 2))
    grad_norm = np.linalg.norm(grad, axis=-1)
    lr = np.full((steps, runs), 1e-2)
    clip_coef = np.minimum(1.0, 1.0 / (grad_norm + 1e-6))
    smoothness = np.abs(rng.normal(size=(steps, runs))) + 0.1
    diverged_at = np.full(runs, -1)
    for r, k in (diverge or {}).items():
        diverged_at[r] = k
        xy[k:, r] = xy[k - 1, r]
        loss[k:, r] = loss[k - 1, r]
    return SimpleNamespace(xy=xy, loss=loss, grad=grad, grad_norm=grad_norm, lr=lr, clip_coef=clip_coef,
                           smoothness=smoothness, diverged_at=diverged_at,
                           labels=labels or [f"opt {i}" for i in range(runs)])


def rosenbrock_grid(n=60, nan_corner=False):
    xs, ys = np.linspace(-2, 2, n), np.linspace(-1, 3, n)
    xx, yy = np.meshgrid(xs, ys)  # (n, n): rows follow y
    z = (1 - xx) ** 2 + 100 * (yy - xx**2) ** 2
    if nan_corner:
        z[: n // 4, : n // 4] = np.nan
    return xs, ys, z


def figure(race=None, *, grid=None, minima=((1.0, 1.0),), min_value=0.0, **kw):
    race = race if race is not None else made_race()
    return plots.race_figure(grid or rosenbrock_grid(), plots.as_race(race), minima=list(minima),
                             start=(-1.5, 2.0), bounds=((-2, 2), (-1, 3)), min_value=min_value, **kw)


def payload(fig) -> int:
    return len(pio.to_json(fig, validate=False))


def moving_indices(fig) -> set[int]:
    return set(fig["frames"][0]["traces"])


# --- frames ---------------------------------------------------------------------------------

@pytest.mark.parametrize("steps, max_frames", [(50, 200), (999, 200), (1000, 37), (1, 200), (0, 5)])
def test_frames_are_capped_and_end_on_the_last_step(steps, max_frames):
    race = made_race(steps=steps)
    fig = figure(race, max_frames=max_frames)
    names = [f["name"] for f in fig["frames"]]
    assert len(names) <= max_frames
    assert len(names) >= min(max_frames, steps + 1) // 3  # the round stride costs at most 2.5x the frames
    assert names[0] == "0" and names[-1] == str(steps)
    assert [int(n) for n in names] == sorted({int(n) for n in names})  # increasing, no duplicates
    slider = fig["layout"]["sliders"][0]["steps"]
    assert [s["label"] for s in slider] == names and [s["args"][0] for s in slider] == [[n] for n in names]


def test_frame_steps_keeps_both_ends():
    assert frame_steps(10, 3).tolist() == [0, 5, 10]
    assert frame_steps(4, 100).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("steps", "max_frames", "stride"), [
    (300, 200, 2), (999, 200, 10), (1000, 37, 50), (5000, 200, 50), (20000, 200, 200), (7, 3, 5), (59, 200, 1)])
def test_frames_fall_on_round_steps(steps, max_frames, stride):
    """Before: linspace(0, 300, 200) rounded, so the slider read 0, 20, 39, 59. Now every frame is a
    multiple of one 1/2/5 x 10^k stride (the smallest that fits), then the last step."""
    t = frame_steps(steps, max_frames).tolist()
    assert len(t) <= max_frames
    assert t[:-1] == list(range(0, steps, stride))[: len(t) - 1] and t[-1] == steps
    assert all(v % stride == 0 for v in t[:-1])
    assert frame_steps(300, 200).tolist()[10:31:10] == [20, 40, 60]


def slider_labels_of(fig) -> list[dict]:
    return [a for a in fig["layout"]["annotations"] if a.get("name") == "slider label"]


@pytest.mark.parametrize(("steps", "max_frames", "labels"), [
    (300, 200, [0, 50, 100, 150, 200, 250, 300]),
    (60, 200, [0, 10, 20, 30, 40, 50, 60]),
    (999, 200, [0, 200, 400, 600, 800]),
    (1000, 37, [0, 200, 400, 600, 800, 1000]),
    (5, 200, [0, 1, 2, 3, 4, 5]),
])
@pytest.mark.slow  # ~0.8 s: many runs
def test_the_step_slider_is_labelled_at_round_steps_on_their_frames(steps, max_frames, labels):
    fig = figure(made_race(runs=2, steps=steps), max_frames=max_frames)
    slider = fig["layout"]["sliders"][0]
    assert slider["font"]["color"] == "rgba(0,0,0,0)"  # plotly's own labels (every k-th frame, k by pixels) hidden
    assert slider["currentvalue"]["visible"] and slider["currentvalue"]["font"]["color"] != "rgba(0,0,0,0)"
    notes = slider_labels_of(fig)
    assert [int(a["text"]) for a in notes] == labels
    names = [f["name"] for f in fig["frames"]]
    n = len(names)
    for a in notes:  # each label sits where plotly.js draws its frame's step on the slider
        i = names.index(a["text"])
        f = i / (n - 1)
        assert a["x"] == pytest.approx(slider["x"] + slider["len"] * f)
        assert a["xshift"] == pytest.approx(10 * (1 - 2 * f))  # plotly.js's stepInset: 10 px at each end
        assert a["xref"] == a["yref"] == "paper" and a["y"] == slider["y"]
    assert slider["pad"]["l"] == slider["pad"]["r"] == 0  # the geometry above assumes no side padding


def test_frames_carry_only_the_moving_traces_one_point_per_run():
    runs = 4
    race = made_race(runs=runs, steps=80)
    fig = figure(race)
    data = fig["data"]
    moving = moving_indices(fig)
    labels = set(race.labels)
    trails_and_curves = {i for i, d in enumerate(data) if d.get("name") in labels}
    assert trails_and_curves and not moving & trails_and_curves  # static lines are never re-sent
    assert 1 + 4 == len(moving)  # heads on the map + one marker per diagnostics panel
    for f in fig["frames"]:
        assert set(f["traces"]) == moving and len(f["data"]) == len(f["traces"])
        for d in f["data"]:
            assert len(d["x"]) == len(d["y"]) == runs
    # the heads sit on the trajectory at the frame's step (5 significant digits)
    head = next(i for i in sorted(moving) if data[i].get("xaxis", "x") == "x")
    pos = fig["frames"][0]["traces"].index(head)
    for f in fig["frames"]:
        t = int(f["name"])
        np.testing.assert_allclose(f["data"][pos]["x"], race.xy[t, :, 0], rtol=1e-4)
        np.testing.assert_allclose(f["data"][pos]["y"], race.xy[t, :, 1], rtol=1e-4)
    # ...and the panel markers at the same step, on every panel (the diagnostics read in sync)
    for f in fig["frames"]:
        t = int(f["name"])
        for i, d in zip(f["traces"], f["data"], strict=True):
            if i != head:
                assert set(d["x"]) == {t}


def test_panel_marker_reads_loss_minus_min_at_the_frame_step():
    race = made_race(runs=2, steps=30)
    fig = figure(race, min_value=0.0)
    loss_marker = next(i for i, d in enumerate(fig["data"]) if d.get("yaxis") == "y2" and i in moving_indices(fig))
    f = fig["frames"][10]
    d = f["data"][f["traces"].index(loss_marker)]
    np.testing.assert_allclose(d["y"], race.loss[int(f["name"])], rtol=1e-4)


def test_play_pause_do_not_redraw():
    menu = figure()["layout"]["updatemenus"][0]
    play, pause = menu["buttons"]
    assert play["method"] == pause["method"] == "animate"
    assert play["args"][1]["frame"]["redraw"] is False and 20 <= play["args"][1]["frame"]["duration"] <= 100
    assert pause["args"][0] == [None] and pause["args"][1]["mode"] == "immediate"


# --- the map ---------------------------------------------------------------------------------

def test_surface_is_a_layout_image_not_a_contour_trace():
    fig = figure()
    assert not [d for d in fig["data"] if d.get("type") in ("contour", "heatmap", "histogram2dcontour")]
    images = fig["layout"]["images"]
    assert len(images) == 1 and images[0]["source"].startswith("data:image/png;base64,")
    assert images[0]["xref"] == "x" and images[0]["yref"] == "y" and images[0]["layer"] == "below"
    assert fig["layout"]["xaxis"]["range"] == [-2, 2] and fig["layout"]["yaxis"]["range"] == [-1, 3]
    assert fig["layout"]["yaxis"]["scaleanchor"] == "x"  # equal aspect


def test_trails_hover_step_and_loss():
    race = made_race(runs=2, steps=40)
    fig = figure(race)
    trail = next(d for d in fig["data"] if d.get("name") == race.labels[0] and d.get("xaxis", "x") == "x")
    assert len(trail["x"]) == 41
    for word in ("step", "loss", "%{x", "%{y"):
        assert word in trail["hovertemplate"]


def test_a_diverged_run_is_marked_where_it_stopped():
    k = 17
    race = made_race(runs=3, steps=60, diverge={1: k})
    fig = figure(race)
    marks = [d for d in fig["data"] if d.get("name") == "diverged"]
    assert len(marks) == 1
    (m,) = marks
    assert m["x"] == pytest.approx([race.xy[k - 1, 1, 0]], rel=1e-4)
    assert m["y"] == pytest.approx([race.xy[k - 1, 1, 1]], rel=1e-4)
    text = m["hovertext"][0]
    assert f"step {k}" in text and "lr" in text and "clip" in text
    # its trail ends at the last real point
    trail = next(d for d in fig["data"] if d.get("name") == race.labels[1] and d.get("xaxis", "x") == "x")
    assert len(trail["x"]) == k


def test_no_divergence_no_marker():
    assert not [d for d in figure()["data"] if d.get("name") == "diverged"]


def test_no_known_minimum_says_so_and_moves_no_distance_marker():
    fig = figure(minima=(), min_value=None)
    notes = [a["text"] for a in fig["layout"].get("annotations", [])]
    assert "no known minimum" in notes
    assert not [d for d in fig["data"] if d.get("yaxis") == "y5"]
    assert len(moving_indices(fig)) == 1 + 3


def test_nan_in_the_surface_renders_grey():
    xs, ys, z = rosenbrock_grid(40, nan_corner=True)
    img = surface_image((xs, ys, z))
    png = Image.open(io.BytesIO(base64.b64decode(img.source.split(",", 1)[1]))).convert("RGB")
    a = np.asarray(png)
    grey = (a == [158, 158, 158]).all(-1)
    # NaN block: rows of small y (bottom of the image), columns of small x (left)
    assert grey[-1, 0] and not grey[0, -1]
    assert 0.04 < grey.mean() < 0.09  # a quarter by a quarter of the grid = 1/16
    fig = figure(grid=(xs, ys, z))  # and the race figure takes it too
    assert fig["layout"]["images"][0]["source"].startswith("data:image/png")


def test_surface_image_spans_the_grid_and_draws_contour_lines():
    xs, ys, z = rosenbrock_grid(50)
    img = surface_image((xs, ys, z), levels=12)
    dx = xs[1] - xs[0]
    assert img.x0 == pytest.approx(-2 - dx / 2) and img.width == pytest.approx(4 + dx)
    a = np.asarray(Image.open(io.BytesIO(base64.b64decode(img.source.split(",", 1)[1]))).convert("L"), float)
    # line pixels are much darker than both their neighbours across the line somewhere in each row band
    dark = a < 0.6 * np.median(a)
    assert 0.01 < dark.mean() < 0.3


def test_log_field_spans_decades_and_survives_unbounded_below():
    xs, ys, z = rosenbrock_grid(60)
    v, lo, hi = log_field(z)
    assert hi - lo > 3  # Rosenbrock on this window: many decades
    v2, lo2, hi2 = log_field(-z)  # unbounded below: the window's minimum is the reference
    assert np.isfinite(v2).all() and hi2 > lo2
    _, lo3, hi3 = log_field(np.ones((5, 5)))  # flat: still a range
    assert hi3 > lo3


# --- payload ---------------------------------------------------------------------------------

def test_payload_under_2mb_for_8_runs_by_1000_steps_and_linear_in_steps():
    grid = rosenbrock_grid(200)
    small = payload(figure(made_race(runs=8, steps=1000), grid=grid, max_frames=200))
    big = payload(figure(made_race(runs=8, steps=5000), grid=grid, max_frames=200))
    assert small < 2_000_000
    assert big / small < 6  # 5x the steps; quadratic growth would be 25x


def test_arrows_move_with_the_heads():
    race = made_race(runs=2, steps=20)
    fig = figure(race, arrows=True)
    moving = moving_indices(fig)
    assert len(moving) == 1 + 4 + 2
    f = fig["frames"][3]
    t = int(f["name"])
    arrows_ = [d for i, d in zip(f["traces"], f["data"], strict=True) if len(d["x"]) == 3 * 2]
    assert len(arrows_) == 2
    grad_arrow, update_arrow = arrows_
    # the gradient arrow points along -grad from the head
    x = np.array(grad_arrow["x"][:2], float)
    y = np.array(grad_arrow["y"][:2], float)
    d = np.array([x[1] - x[0], y[1] - y[0]])
    g = -race.grad[t, 0]
    assert d @ g / (np.linalg.norm(d) * np.linalg.norm(g)) == pytest.approx(1.0, abs=1e-3)
    # the update arrow goes from xy[t] to xy[t+1]
    np.testing.assert_allclose(update_arrow["x"][:2], race.xy[t:t + 2, 0, 0], rtol=1e-4)


# --- summary ---------------------------------------------------------------------------------

def hand_made(steps=10):
    """Two runs, 10 updates: run 0 gets within 1e-6 of the minimum at step 7; run 1 diverges at update 4."""
    loss = np.empty((steps + 1, 2))
    loss[:, 0] = [10.0, 5, 2, 1, 0.1, 1e-3, 1e-5, 1e-7, 1e-9, 2e-6, 1e-10]
    loss[:, 1] = [10.0, 20, 40, 80, 80, 80, 80, 80, 80, 80, 80]
    xy = np.zeros((steps + 1, 2, 2))
    xy[:, 0, 0] = np.linspace(-1, 1, steps + 1)  # run 0 ends on the minimum (1, 0)
    xy[:, 1, 0] = -1 - np.arange(steps + 1)
    xy[4:, 1] = xy[3, 1]
    clip = np.ones((steps, 2))
    clip[[1, 4, 8], 0] = [0.5, 0.2, 0.999]  # 3 of 10 clipped
    clip[0, 1] = 1 - 1e-15  # rounding noise is not clipping
    return SimpleNamespace(xy=xy, loss=loss, grad=np.zeros((steps, 2, 2)), grad_norm=np.ones((steps, 2)),
                           lr=np.full((steps, 2), 0.1), clip_coef=clip, smoothness=np.full((steps, 2), np.nan),
                           diverged_at=np.array([-1, 4]), labels=["adam", "sgd, lr=1"])


def test_summary_rows_against_hand_made_arrays():
    rows = plots.summary_rows(plots.as_race(hand_made()), minima=[(1.0, 0.0)], min_value=0.0, tol=1e-6)
    assert [r["run"] for r in rows] == ["adam", "sgd, lr=1"]
    a, b = rows
    steps_key = next(k for k in a if k.startswith("steps to"))
    assert a[steps_key] == 7
    assert a["clipped fraction"] == pytest.approx(0.3)
    assert a["final loss"] == pytest.approx(1e-10) and a["best loss"] == pytest.approx(1e-10)
    assert a["distance to minimum"] == pytest.approx(0.0, abs=1e-12)
    assert a["diverged at"] is None
    assert b["diverged at"] == 4 and b[steps_key] is None
    assert b["final loss"] == pytest.approx(80.0) and b["best loss"] == pytest.approx(10.0)
    assert b["distance to minimum"] == pytest.approx(5.0)  # frozen at xy[3] = (-4, 0)
    assert b["clipped fraction"] == 0.0
    for r in rows:  # plain Python values, ready for a table
        assert all(v is None or type(v) in (str, int, float) for v in r.values())


def test_summary_without_a_known_minimum():
    (a, _) = plots.summary_rows(plots.as_race(hand_made()), minima=[], min_value=None)
    assert a["distance to minimum"] is None
    assert a[next(k for k in a if k.startswith("steps to"))] is None


# --- numbers in tables --------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [
    (None, "—"), (float("nan"), "—"), (np.nan, "—"),
    (3e-11, "3e-11"), (0.00000000003, "3e-11"), (-3.2e-11, "-3.2e-11"), (9.99949e-4, "9.999e-4"),
    (0.001, "0.001"), (0.123456, "0.1235"), (1.0, "1"), (80.0, "80"), (1.7154321, "1.715"),
    (1234.5678, "1235"), (12345.6, "12346"), (123456.0, "1.235e5"), (1e300, "1e300"),
    (0.0, "0"), (-0.0, "0"), (7, "7"), (np.int64(123456), "123456"), (np.float32(0.5), "0.5"),
    (float("inf"), "∞"), (float("-inf"), "-∞"), ("adam", "adam"),
])
def test_number_text_reads_well(value, text):
    assert plots.number_text(value) == text


def test_number_text_percent_and_digits():
    assert plots.number_text(0.3, percent=True) == "30%"
    assert plots.number_text(1 / 3, percent=True) == "33.3%"
    assert plots.number_text(0, percent=True) == "0%"
    assert plots.number_text(None, percent=True) == "—"
    assert plots.number_text(2.34567, 3) == "2.35"


def test_summary_as_table_text():
    rows = plots.summary_rows(plots.as_race(hand_made()), minima=[(1.0, 0.0)], min_value=0.0, tol=1e-6)
    a, b = plots.table_text(rows, percent=("clipped fraction",))
    steps_key = next(k for k in a if k.startswith("steps to"))
    assert a == {"run": "adam", "steps": "10", "evaluations": "—", "final loss": "1e-10", "best loss": "1e-10",
                 "distance to minimum": "0", steps_key: "7", "clipped fraction": "30%", "sharpness": "—",
                 "diverged at": "—"}
    assert b == {"run": "sgd, lr=1", "steps": "4", "evaluations": "—", "final loss": "80", "best loss": "10",
                 "distance to minimum": "5", steps_key: "—", "clipped fraction": "0%", "sharpness": "—",
                 "diverged at": "4"}
    costly = SimpleNamespace(**vars(hand_made()), evaluations=np.array([[11, 0], [0, 2]]),
                             sharpness=np.array([44.41, -2.0]))
    a, b = plots.table_text(plots.summary_rows(plots.as_race(costly)))
    assert (a["evaluations"], b["evaluations"]) == ("110 f", "8 ∇f")  # per update x updates taken (4: diverged)
    assert (a["sharpness"], b["sharpness"]) == ("44.41", "-2")
    columns = plots.table_text({"loss": [2.5e-8, None], "steps": [12, None]})
    assert columns == {"loss": ["2.5e-8", "—"], "steps": ["12", "—"]}


# --- exports ---------------------------------------------------------------------------------

def test_csv_parses_back_with_every_real_step():
    race = plots.as_race(hand_made())
    text = plots.trajectories_csv(race)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["run", "step", "x", "y", "loss", "grad_norm", "lr", "clip_coef", "smoothness"]
    adam = [r for r in rows if r["run"] == "adam"]
    sgd = [r for r in rows if r["run"] == "sgd, lr=1"]  # a comma in a label survives the quoting
    assert len(adam) == 11 and len(sgd) == 4  # the diverged run stops at its last real point, step 3
    assert [int(r["step"]) for r in adam] == list(range(11))
    assert float(adam[7]["loss"]) == 1e-7 and float(adam[4]["clip_coef"]) == 0.2
    assert float(adam[10]["x"]) == 1.0
    assert adam[10]["grad_norm"] == "" and adam[3]["smoothness"] == ""  # no update from the end; NaN
    assert float(sgd[3]["x"]) == -4.0


def test_figure_html_is_self_contained_and_holds_the_data():
    race = made_race(runs=2, steps=12, labels=["adam lr=0.05", "sgd lr=0.001"])
    html = plots.figure_html(figure(race))
    assert html.lstrip().lower().startswith("<html") or "<!doctype" in html.lower()[:100]
    assert "plotly" in html.lower() and len(html) > 1_000_000  # plotly.js inlined: plays offline
    assert "adam lr=0.05" in html and "data:image/png;base64," in html
    assert "addFrames" in html and '"name":"12"' in html  # the frames, up to the last step


# --- the other views -------------------------------------------------------------------------

def test_smoothness_figure_drops_nan_and_non_positive_points():
    race = made_race(runs=2, steps=20, diverge={1: 10})
    race.smoothness[[2, 5], 0] = np.nan
    race.smoothness[6, 0] = 0.0
    race.grad_norm[7, 0] = np.inf
    fig = plots.smoothness_figure(plots.as_race(race))
    fig = fig if isinstance(fig, dict) else fig.to_dict()
    a, b = fig["data"][:2]
    assert len(a["x"]) == len(a["y"]) == 20 - 4
    assert list(a["customdata"]) == [t for t in range(20) if t not in (2, 5, 6, 7)]  # hover gives the step
    assert len(b["x"]) == 10  # a diverged run: updates 1..10 are real, later ones are not
    for v in (*a["x"], *a["y"]):
        assert v is not None and math.isfinite(v) and v > 0
    assert fig["layout"]["xaxis"]["type"] == fig["layout"]["yaxis"]["type"] == "log"


def test_scene_data_colours_the_surface_as_the_map_and_keeps_every_trail():
    from plots.surface_image import LIGHTEN, log_field, viridis

    race = made_race(runs=3, steps=15, diverge={2: 9})
    grid = rosenbrock_grid(30, nan_corner=True)
    d = plots.scene_data(grid, plots.as_race(race), minima=[(1.0, 1.0)])
    v, lo, hi = log_field(grid[2])
    c = d["c"]
    assert np.isnan(c[0, 0]) and np.isnan(d["z"][0, 0])  # the NaN corner is left out, not painted
    ok = np.isfinite(v)
    np.testing.assert_allclose(c[ok], np.clip((v[ok] - lo) / (hi - lo), 0, 1))
    assert d["scale"][0] == (124, 77, 135) and d["scale"][-1] == (254, 238, 102)  # Viridis' ends, 30% to white
    assert len(d["scale"]) == 11 and d["scale"] == [tuple(round(x) for x in col) for col in viridis(11, LIGHTEN)]
    zs = grid[2][np.isfinite(grid[2])]
    assert d["zrange"] == (zs.min(), zs.max()) and d["lift"] == pytest.approx(0.01 * (zs.max() - zs.min()))
    assert d["minima"] == [(1.0, 1.0)] and d["height"] >= 600
    for r, run in enumerate(d["runs"]):
        last = int(plots.as_race(race).last_position[r])
        assert run["xyl"].shape == (last + 1, 3)  # a diverged run ends at its last real point
        np.testing.assert_array_equal(run["xyl"][:, :2], race.xy[: last + 1, r])
        np.testing.assert_array_equal(run["xyl"][:, 2], race.loss[: last + 1, r])
    assert len(d["runs"][2]["xyl"]) < len(d["runs"][0]["xyl"])

def test_a_real_race_draws():
    trajectories = pytest.importorskip("trajectories")
    try:
        res = trajectories.race("rosenbrock", [trajectories.Run("adam", {"lr": 0.05}),
                                               trajectories.Run("sgd", {"lr": 1e-3})], (-1.5, 2.0), 300)
        import surfaces
        s = surfaces.get("rosenbrock")
        grid = trajectories.grid(s, 80)
    except Exception as e:  # pragma: no cover - the simulator is somebody else's suite
        pytest.skip(f"trajectories not usable here: {e}")
    race = plots.as_race(res, ["adam", "sgd"])
    fig = plots.race_figure(grid, race, minima=s.minima, start=s.start, bounds=s.bounds, min_value=s.min_value)
    assert fig["frames"][-1]["name"] == "300" and payload(fig) < 500_000
    rows = plots.summary_rows(race, minima=s.minima, min_value=s.min_value)
    assert rows[0]["best loss"] <= rows[0]["final loss"] <= float(res.loss[0, 0])
    assert rows[0]["final loss"] == pytest.approx(float(res.loss[-1, 0]))


# --- rounding for JSON ----------------------------------------------------------------------

@pytest.mark.parametrize("v", [1e-300, 3.7e-305, -2.2250738585072014e-308, 5e-324, -1e-320, 1e-290, 1.5,
                               -123456.789, 1e300, 1.7976931348623157e308, -1.7976931348623157e308])
def test_round_sig_keeps_every_finite_value_finite(v):
    from plots.race import round_sig, rounded

    for digits in (1, 5, 17):
        r = float(round_sig(np.array([v]), digits)[0])
        assert math.isfinite(r) and math.copysign(1.0, r) == math.copysign(1.0, v)
        assert r == pytest.approx(v, rel=10.0 ** (1 - digits) + 1e-15)  # rounded sensibly, or kept as it is
    assert rounded([v])[0] is not None


def test_round_sig_keeps_nan_inf_and_zero_and_rounds_ordinary_values():
    from plots.race import round_sig, rounded

    a = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 3.14159265, -0.000123456789, 98765.4321])
    r = round_sig(a)
    assert np.isnan(r[0]) and r[1] == np.inf and r[2] == -np.inf
    assert r[3:].tolist() == [0.0, -0.0, 3.1416, -0.00012346, 98765.0]
    assert rounded(a)[:3] == [None, None, None]


def test_a_trail_that_comes_within_1e_minus_300_of_zero_keeps_every_point():
    race = made_race(runs=2, steps=40)
    race.xy[10:, 0, 1] = np.geomspace(1e-290, 1e-320, 31)  # a run settling onto y = 0, as in a long ravine race
    fig = figure(race)
    trail = next(d for d in fig["data"] if d.get("name") == race.labels[0] and d.get("xaxis", "x") == "x")
    assert len(trail["y"]) == 41 and None not in trail["y"] and None not in trail["x"]
    for f in fig["frames"]:
        assert None not in f["data"][0]["y"]


# --- the loss panel fits the surface ---------------------------------------------------------

def tick_value(text: str) -> float:
    """The number a symlog tick label stands for: 0, 20, −500, 10<sup>3</sup>, −2×10<sup>4</sup>."""
    t = text.replace("−", "-")
    sign = -1.0 if t.startswith("-") else 1.0
    t = t.lstrip("-")
    if "10<sup>" in t:
        m, _, k = t.partition("10<sup>")
        return sign * float(m.rstrip("×") or 1) * 10.0 ** int(k.removesuffix("</sup>"))
    return sign * float(t)


def saddle_race():
    trajectories = pytest.importorskip("trajectories")
    surfaces = pytest.importorskip("surfaces")
    s = surfaces.get("saddle")
    runs = [trajectories.Run("adam", {"lr": 0.05}), trajectories.Run("sgd", {"lr": 0.01}),
            trajectories.Run("sgd", {"lr": 0.5})]
    res = trajectories.race(s, runs, s.start, 300)
    race = plots.as_race(res, ["adam", "sgd slow", "sgd fast"])
    fig = plots.race_figure(trajectories.grid(s, 60), race, minima=s.minima, start=s.start, bounds=s.bounds,
                            min_value=s.min_value)
    return s, race, fig


def test_without_a_known_minimum_the_loss_panel_shows_the_loss_on_a_symmetric_log_axis():
    from plots.ticks import symlog

    s, race, fig = saddle_race()
    assert s.min_value is None  # x² − y²: unbounded below
    ax = fig["layout"]["yaxis2"]
    assert ax["type"] == "linear" and "symlog" in ax["title"]["text"]  # the choice, said on the axis ...
    title = next(a["text"] for a in fig["layout"]["annotations"] if a["text"].startswith("loss"))
    assert "symmetric log" in title and "no known minimum" in title  # ... and in the panel's title
    curves = [d for d in fig["data"] if d.get("yaxis") == "y2" and d.get("mode") == "lines"]
    assert [d["name"] for d in curves] == list(race.labels)
    last = race.last_position
    for r, d in enumerate(curves):
        y = np.array(d["y"][: last[r] + 1], dtype=float)  # one point per step (300 steps: stride 1)
        assert np.isfinite(y).all()
        np.testing.assert_allclose(y, symlog(race.loss[: last[r] + 1, r]), rtol=1e-4, atol=1e-12)
        np.testing.assert_allclose(np.array(d["customdata"][: last[r] + 1], dtype=float),
                                   race.loss[: last[r] + 1, r], rtol=1e-4)  # hover reads the loss itself
        assert "customdata" in d["hovertemplate"]
    lo_loss = float(np.nanmin(race.loss[race.positions_mask()]))
    assert lo_loss < -100 and race.loss[0, 0] > 0  # the values cross zero and span decades: symlog's case
    lo, hi = ax["range"]
    assert lo <= symlog(lo_loss) and hi >= symlog(race.loss[0, 0]) and np.isfinite([lo, hi]).all()
    # the ticks stand where their labels' values fall: tickval = symlog(label), "0" among them
    vals, text = ax["tickvals"], ax["ticktext"]
    assert len(vals) >= 3 and "0" in text and any(t.startswith("−") for t in text)
    for v, t in zip(vals, text, strict=True):
        assert v == pytest.approx(float(symlog(tick_value(t))), abs=1e-6) and lo <= v <= hi
    # the panel's moving marker reads symlog(loss) at the frame's step
    marker = next(i for i in moving_indices(fig) if fig["data"][i].get("yaxis") == "y2")
    f = fig["frames"][100]
    d = f["data"][f["traces"].index(marker)]
    t = int(f["name"])
    ok = t <= last
    np.testing.assert_allclose(np.array(d["y"], dtype=float)[ok], symlog(race.loss[t])[ok], rtol=1e-4)


def test_with_a_known_minimum_the_loss_panel_keeps_loss_minus_min_on_a_log_axis():
    race = made_race(runs=2, steps=30)
    fig = figure(race, min_value=0.0)
    ax = fig["layout"]["yaxis2"]
    assert ax["type"] == "log" and ax["title"]["text"] == "loss − min" and "tickvals" not in ax
    curve = next(d for d in fig["data"] if d.get("yaxis") == "y2" and d.get("mode") == "lines")
    np.testing.assert_allclose(curve["y"], race.loss[:, 0], rtol=1e-4)
    assert "customdata" not in curve


def test_a_feasible_box_is_drawn_on_the_map_and_the_summary_says_what_the_updates_cost():
    import surfaces
    import trajectories

    s = surfaces.get("reddi")
    res = trajectories.race(s, [trajectories.Run("adam", {"lr": 0.5}), trajectories.Run("zo_sgd", {"lr": 0.1})],
                            s.start, 30)
    race = plots.as_race(res, ["adam", "zo"])
    fig = plots.race_figure(trajectories.grid(s, 40), race, minima=s.minima, bounds=s.bounds, box=s.box)
    (rect,) = fig["layout"]["shapes"]
    assert rect["type"] == "rect" and (rect["x0"], rect["x1"], rect["y0"], rect["y1"]) == (-1.0, 1.0, -1.0, 1.0)
    assert rect["xref"] == "x" and rect["yref"] == "y"  # on the map, not a panel
    assert "shapes" not in plots.race_figure(trajectories.grid(s, 40), race, bounds=s.bounds)["layout"]
    rows = plots.table_text(plots.summary_rows(race, minima=s.minima, min_value=s.min_value))
    assert [(r["steps"], r["evaluations"], r["sharpness"]) for r in rows] == [("30", "30 ∇f", "0"),
                                                                            ("30", "60 f", "0")]
