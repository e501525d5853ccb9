"""plots.sweeps: one heatmap per optimizer on one colour scale, best cells, diverged cells, basins."""
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest

from plots import sweeps as ps
from trajectories import stats

LRS = tuple(np.geomspace(1e-4, 1e-1, 6))
MOM = tuple(np.linspace(0.0, 0.9, 4))


def fake(loss, hit=None, div=None, axes=((("lr", LRS)), ("momentum", MOM)), target=1e-3):
    """A SweepResult-like object: arrays (seeds, nx, ny)."""
    loss = np.asarray(loss, dtype=np.float64)
    hit = np.full(loss.shape, -1) if hit is None else np.asarray(hit)
    div = np.full(loss.shape, -1) if div is None else np.asarray(div)
    return SimpleNamespace(axes=tuple(SimpleNamespace(target=t, values=v) for t, v in axes), final_loss=loss,
                           hit_at=hit, diverged_at=div, target=target, seeds=tuple(range(loss.shape[0])))


def grid(seed, seeds=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.01, 10.0, size=(seeds, len(LRS), len(MOM)))


def heatmaps(fig, colour_layer=True):
    hs = [t for t in fig.data if isinstance(t, go.Heatmap)]
    return [h for h in hs if (h.coloraxis == "coloraxis") == colour_layer]


def test_one_heatmap_per_optimizer_on_the_same_colour_scale_and_axes():
    a, b, c = fake(grid(0)), fake(grid(1) * 100), fake(grid(2) / 100)
    fig = ps.map_figure([("A", a), ("B", b), ("C", c)], color="final_loss", min_value=0.0)
    main = heatmaps(fig)
    assert len(main) == 3
    assert len({(h.zmin, h.zmax) for h in main}) == 1  # one colour scale for all
    zs = np.concatenate([np.asarray(h.z, dtype=float).ravel() for h in main])
    assert main[0].zmin == pytest.approx(np.nanmin(zs)) and main[0].zmax == pytest.approx(np.nanmax(zs))
    assert fig.layout.coloraxis.cmin == main[0].zmin and fig.layout.coloraxis.cmax == main[0].zmax
    # colour = log10(loss - min_value); z is (ny, nx)
    np.testing.assert_allclose(np.asarray(main[1].z, dtype=float), np.log10(b.final_loss[0]).T, rtol=1e-6)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "linear"
    assert fig.layout.xaxis2.matches == "x" and fig.layout.xaxis.title.text == "lr"
    assert fig.layout.yaxis.title.text == "momentum"
    # cells sit around their centres, the axis values: on a log axis the edges are geometric midpoints
    edges = np.asarray(main[2].x)
    assert edges.size == len(LRS) + 1 and (edges > 0).all()
    np.testing.assert_allclose(np.sqrt(edges[:-1] * edges[1:]), LRS)
    np.testing.assert_allclose(main[2].y, MOM)  # linear: the centres themselves


def test_best_cell_marker_at_the_argmin_and_earliest_hit():
    loss = grid(3)
    loss[0, 4, 1] = 1e-6
    hit = np.full(loss.shape, -1)
    hit[0, 2, 3], hit[0, 4, 1], hit[0, 0, 0] = 40, 90, 55
    fig = ps.map_figure([("A", fake(loss, hit))], color="final_loss")
    star = [t for t in fig.data if t.name == "best cell"]
    assert len(star) == 1 and star[0].x[0] == LRS[4] and star[0].y[0] == MOM[1]
    fig = ps.map_figure([("A", fake(loss, hit))], color="hit_at")
    star = [t for t in fig.data if t.name == "best cell"][0]
    assert (star.x[0], star.y[0]) == (LRS[2], MOM[3])


def test_diverged_cells_are_drawn_in_their_own_colour_and_never_best():
    loss = grid(4)
    div = np.full(loss.shape, -1)
    div[0, 5, :] = 7  # the largest lr diverges
    loss[0, 5, 0] = 1e-9  # its last finite loss was tiny: still not "best"
    fig = ps.map_figure([("A", fake(loss, div=div))], color="final_loss")
    main = heatmaps(fig)[0]
    assert np.isnan(np.asarray(main.z, dtype=float)[:, 5]).all()
    overlay = heatmaps(fig, colour_layer=False)[0]
    oz = np.asarray(overlay.z, dtype=float)
    assert (oz[:, 5] == 1).all() and np.isnan(oz[:, :5]).all()
    assert overlay.colorscale[0][1] == ps.DIVERGED_COLOUR
    assert any(t.name == "diverged" and t.marker.color == ps.DIVERGED_COLOUR for t in fig.data)
    star = [t for t in fig.data if t.name == "best cell"][0]
    assert star.x[0] != LRS[5]


def test_seeds_median_colour_and_spread_in_customdata():
    loss = grid(5, seeds=3)
    div = np.full(loss.shape, -1)
    div[0, 1, 1] = 3  # one of three seeds diverged: the cell still shows the median of the others + inf
    fig = ps.map_figure([("A", fake(loss, div=div))], color="final_loss", min_value=0.0)
    main = heatmaps(fig)[0]
    l2 = np.where(div >= 0, np.inf, loss)
    np.testing.assert_allclose(np.asarray(main.z, dtype=float), np.log10(np.median(l2, axis=0)).T, rtol=1e-6)
    layers = [t for t in fig.data if isinstance(t, go.Scattergl)]
    data = np.concatenate([np.asarray(c.customdata, dtype=float) for c in layers]).reshape(-1, len(ps.CELL_COLUMNS))
    assert len(data) == len(LRS) * len(MOM)  # every cell in exactly one layer
    row = data[(data[:, 1] == 1) & (data[:, 2] == 1)][0]
    assert row[6] == pytest.approx(1 / 3)
    q1, q3 = np.percentile(loss[1:, 1, 1], [25, 75])
    assert row[4] == pytest.approx(q3 - q1, rel=1e-5)
    assert all("median of 3 seeds" in c.hovertemplate and "IQR" in c.hovertemplate for c in layers)
    (some,) = [c for c in layers if any(d[1] == 1 and d[2] == 1 for d in c.customdata)]
    assert "diverged in %{customdata[6]:.0%} of seeds" in some.hovertemplate  # 1 of 3: no median step
    assert "median step" not in some.hovertemplate and len(some.customdata) == 1
    assert all("no seed diverged" in c.hovertemplate for c in layers if c is not some)


def hover_of(fig, i: int, j: int) -> str:
    """The hover text Plotly shows for cell (i, j) of the first map: its layer's template, filled in."""
    for layer in (t for t in fig.data if isinstance(t, go.Scattergl)):
        for row in layer.customdata:
            if (int(row[1]), int(row[2])) == (i, j):
                text = layer.hovertemplate
                for n, v in enumerate(row):
                    text = text.replace(f"%{{customdata[{n}]:.0f}}", f"{v:.0f}").replace(
                        f"%{{customdata[{n}]:.4g}}", f"{v:.4g}")
                return text
    raise AssertionError(f"no cell ({i}, {j})")


def test_cell_hover_says_in_words_whether_and_when_it_diverged():
    loss = grid(9)
    hit = np.full(loss.shape, -1)
    div = np.full(loss.shape, -1)
    div[0, 5, 2] = 12
    hit[0, 1, 0] = 30
    fig = ps.map_figure([("A", fake(loss, hit, div))], color="final_loss")
    diverged, reached, plain = hover_of(fig, 5, 2), hover_of(fig, 1, 0), hover_of(fig, 0, 0)
    assert "diverged at step 12" in diverged and "never diverged" not in diverged
    assert "no final loss: it diverged" in diverged and "NaN" not in diverged
    assert "never diverged" in reached and "reached tol at step 30" in reached
    assert "never diverged" in plain and "never reached tol" in plain
    assert f"final loss = {loss[0, 0, 0]:.4g}" in plain
    for text in (diverged, reached, plain):
        assert "-1" not in text and "−1" not in text
    layers = [t for t in fig.data if isinstance(t, go.Scattergl)]
    assert len(layers) == 3 and sum(len(t.customdata) for t in layers) == len(LRS) * len(MOM)


def test_cell_customdata_names_the_cell_for_its_link():
    fig = ps.map_figure([("A", fake(grid(6))), ("B", fake(grid(7)))])
    cells = [t for t in fig.data if isinstance(t, go.Scattergl)]
    assert len(cells) == 2
    data = np.asarray(cells[1].customdata, dtype=float).reshape(-1, len(ps.CELL_COLUMNS))
    for n in (0, 7, 23):
        k, i, j = ps.cell_from_point({"customdata": list(data[n])})
        assert k == 1 and cells[1].x[n] == pytest.approx(LRS[i], rel=1e-6) and cells[1].y[n] == pytest.approx(MOM[j])
    assert ps.cell_from_point({"x": 1}) is None and ps.cell_from_point({"customdata": "junk"}) is None
    # what Streamlit really reports for a click (seen in chromium): the row as an index-keyed dict
    clicked = {"curve_number": 2, "x": 7.3e-05, "y": 0.406,
               "customdata": {"0": 1, "1": 4, "2": 3, "3": 5.77, "4": 0, "5": -1, "6": 0, "7": -1}}
    assert ps.cell_from_point(clicked) == (1, 4, 3)


def test_cell_edges():
    np.testing.assert_allclose(ps.cell_edges([1.0, 10.0, 100.0], True), [10**-0.5, 10**0.5, 10**1.5, 10**2.5])
    np.testing.assert_allclose(ps.cell_edges([0.0, 1.0, 2.0], False), [-0.5, 0.5, 1.5, 2.5])
    assert (ps.cell_edges([1e-4, 1.0], True) > 0).all()


def test_one_dimensional_map_and_metrics():
    r = fake(grid(8)[:, :, 0], axes=(("lr", LRS),))
    for color in ps.METRICS:
        fig = ps.map_figure([("A", r), ("B", r)], color=color)
        assert len(heatmaps(fig)) == 2
    with pytest.raises(ValueError):
        ps.map_figure([("A", r)], color="nope")


def test_hit_at_marks_cells_that_never_reached_tol():
    loss = grid(9)
    hit = np.full(loss.shape, -1)
    hit[0, :3] = 10
    fig = ps.map_figure([("A", fake(loss, hit))], color="hit_at")
    overlay = heatmaps(fig, colour_layer=False)[0]
    oz = np.asarray(overlay.z, dtype=float)
    assert (oz[:, 3:] == 2).all() and np.isnan(oz[:, :3]).all()
    assert any(t.name == "never reached tol" for t in fig.data)


def test_robustness_fraction_and_interval():
    lrs = tuple(np.geomspace(1e-4, 1.0, 9))
    hit = np.array([[-1, 5, 5, 5, -1, 5, 5, -1, -1]])
    div = np.array([[-1, -1, -1, -1, -1, -1, -1, 3, 2]])
    r = fake(np.ones((1, 9)), hit, div, axes=(("lr", lrs),))
    rb = stats.robustness(r)
    assert rb.fraction == pytest.approx(5 / 9)
    assert rb.interval == (lrs[1], lrs[3]) and rb.decades == pytest.approx(1.0)
    fig = ps.robustness_figure([("A", r), ("B", r)])
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert len(bars) == 2 and bars[0].x[0] == pytest.approx(5 / 9)
    assert fig.layout.xaxis2.type == "log"
    assert stats.robustness(r, stable_only=True).fraction == pytest.approx(7 / 9)


def test_basins_categories_minima_and_fractions():
    label = np.array([[0, 0, 1], [1, -1, -2]])
    b = SimpleNamespace(xs=np.array([-1.0, 0.0, 1.0]), ys=np.array([-1.0, 1.0]), label=label)
    minima = [(-1.0, -1.0), (1.0, 1.0)]
    fig = ps.basins_figure([("A", b), ("B", b)], minima=minima, bounds=((-1, 1), (-1, 1)))
    hm = [t for t in fig.data if isinstance(t, go.Heatmap)]
    assert len(hm) == 2
    np.testing.assert_array_equal(np.asarray(hm[0].z, dtype=float), [[0, 0, 1], [1, 2, 3]])
    colours = ps.basin_colours(2)
    assert colours[2] == ps.BASIN_NOT_CONVERGED and colours[3] == ps.BASIN_DIVERGED
    assert len(set(colours)) == 4
    # each code maps to its colour on the discrete scale (zmin -0.5 .. zmax 3.5)
    scale = hm[0].colorscale
    for code, colour in enumerate(colours):
        at = (code + 0.5) / 4
        assert [c for pos, c in scale if pos <= at][-1] == colour
    legend = {t.name for t in fig.data if t.showlegend is not False and isinstance(t, go.Scatter)}
    assert {"not converged", "diverged", "minima"} <= legend
    marks = [t for t in fig.data if t.name == "minima"]
    assert len(marks) == 2 and list(marks[0].x) == [-1.0, 1.0]
    title = fig.layout.annotations[0].text
    assert "min 1 33%" in title and "min 2 33%" in title and "diverged 17%" in title
    np.testing.assert_allclose(stats.basins_fractions(label, 2), [2 / 6, 2 / 6, 1 / 6, 1 / 6])


def basins_fixture(n_minima=4):
    codes = np.arange(30).reshape(5, 6) % (n_minima + 2)
    label = np.where(codes >= n_minima, n_minima - 1 - codes, codes)  # minimum index, -1 not converged, -2 diverged
    b = SimpleNamespace(xs=np.linspace(-5, 5, 6), ys=np.linspace(-5, 5, 5), label=label)
    minima = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)][:n_minima]
    return b, minima


def test_basins_legend_stands_right_of_the_maps_clear_of_the_axis_titles():
    b, minima = basins_fixture()
    fig = ps.basins_figure([("A", b), ("B", b)], minima=minima, bounds=((-5, 5), (-5, 5)))
    legend = fig.layout.legend
    # a vertical column outside the plot area, to the right (paper x > 1, left-anchored), from its top down:
    # nothing of the axes (tick labels, the "start x" title below, the "start y" title left) lies there
    assert legend.orientation == "v"
    assert legend.xref in (None, "paper") and legend.x > 1 and legend.xanchor == "left"
    assert legend.yref in (None, "paper") and legend.y == 1 and legend.yanchor == "top"
    assert fig.layout.margin.autoexpand is not False  # Plotly widens the right margin to fit it
    assert fig.layout.xaxis.title.text == "start x" and fig.layout.xaxis2.title.text == "start x"
    assert fig.layout.yaxis.title.text == "start y"
    entries = [t.name for t in fig.data if isinstance(t, go.Scatter) and t.showlegend is not False]
    assert entries[0] == "minima" and "minimum 2 (-2.81, 3.13)" in entries and "diverged" in entries
    # every panel keeps the whole domain left of the legend
    assert max(fig.layout[f"xaxis{s}"].domain[1] for s in ("", "2")) <= 1.0 < legend.x


def test_with_the_engine():
    trajectories = pytest.importorskip("trajectories")
    axes = [trajectories.Axis.span("lr", 1e-4, 1.0, 12, log=True), trajectories.Axis.span("momentum", 0, 0.95, 5)]
    r = trajectories.sweep("rosenbrock", "momentum", (-1.5, 2.0), 100, axes)
    fig = ps.map_figure([("momentum", r)], color="final_loss", min_value=0.0)
    assert len(heatmaps(fig)) == 1 and r.diverged_at.max() > 0  # large lrs diverge: an overlay exists
    assert heatmaps(fig, colour_layer=False)
    b = trajectories.basins("himmelblau", "sgd", 200, n=20, hparams={"lr": 0.01})
    fig = ps.basins_figure([("sgd", b)], minima=b.minima, bounds=((-5, 5), (-5, 5)))
    assert "min 4" in fig.layout.annotations[0].text


def test_cell_edges_of_a_log_axis_up_to_1e308_are_finite_and_geometric():
    from plots.sweeps import cell_edges

    v = np.geomspace(1e-300, 1e308, 7)
    with np.errstate(all="raise"):
        e = cell_edges(v, log=True)
    assert np.isfinite(e).all() and (np.diff(e) > 0).all()
    assert np.allclose(np.log(e[1:-1]), (np.log(v[:-1]) + np.log(v[1:])) / 2)
    assert np.allclose(cell_edges([1.0, 100.0], log=True), [0.1, 10.0, 1000.0])


def test_titles_of_maps_side_by_side_wrap_to_fit_a_phone():
    from plots.sweeps import TITLE_CHARS, wrap_words

    assert wrap_words("SGD + Nesterov momentum", 18) == ["SGD + Nesterov", "momentum"]
    assert wrap_words("best: lr=0.00194, momentum=0.933 (loss 1.22e-06)", 18) == [
        "best: lr=0.00194,", "momentum=0.933", "(loss 1.22e-06)"]
    assert wrap_words("averyveryverylongword x", 5) == ["averyveryverylongword", "x"]
    import re

    fig = ps.map_figure([("SGD + Nesterov momentum", fake(grid(6))), ("Adam", fake(grid(7)))])
    for a in fig.layout.annotations[:2]:
        lines = re.split(r"<br>|<sup>|</sup>", a.text)
        assert all(len(line) <= TITLE_CHARS for line in lines if line), a.text
