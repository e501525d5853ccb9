"""The sweeps page under Streamlit's AppTest: renders, runs, reads links, and never shows a traceback."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import surfaces
from ui.sweep_links import from_query, from_query_string, to_query
from ui.sweep_spec import AxisSpec, SweepSpec
from ui.text import plain

PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "sweeps.py")
TIMEOUT = 180  # generous: the first run imports torch and warms up the engine


def app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def run_button(at: AppTest):
    return next(b for b in at.button if b.label == "Run")


def texts(elements) -> list[str]:
    """What each element shows a person (its Markdown escapes undone)."""
    return [plain(e.value) for e in elements]


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


@pytest.mark.slow  # ~3.3 s: Streamlit page runs
def test_default_renders_a_map_and_writes_the_link():
    at = app()
    assert not at.exception
    assert not at.error and not at.warning
    assert len(charts(at)) == 1
    spec, warnings = from_query(dict(at.query_params.items()) if hasattr(at.query_params, "items") else {})
    assert warnings == [] and spec == SweepSpec()
    assert any(b.label == "Download the results (CSV)" for b in at.get("download_button"))


@pytest.mark.slow  # ~0.4 s, ~7 s where it starts the first sweep worker process
def test_the_best_cells_table_reads_as_short_numbers():
    at = app()
    (table,) = [d.value for d in at.dataframe if "final loss" in d.value.columns]
    for r in table.to_dict("records"):
        assert r["optimizer"] in ("SGD + momentum", "SGD + Nesterov momentum")
        for k in ("lr", "momentum", "final loss", "steps to tol"):
            assert isinstance(r[k], str) and r[k] != "None", r
            assert r[k] == "—" or len(r[k].replace(".", "").split("e")[0].lstrip("0")) <= 4, r


@pytest.mark.slow  # ~0.6 s: Streamlit page runs
def test_the_surface_picker_shows_titles_like_the_explorer():
    at = app()
    picker = at.selectbox(key="sw_w_surface")
    assert picker.options[:2] == [surfaces.get(n).title for n in surfaces.names()[:2]]
    assert "Rosenbrock" in picker.options and "rosenbrock" not in picker.options
    assert picker.options[-1] == "custom formula"
    assert picker.value == "rosenbrock"  # the value (and the link) keep the name
    explorer = AppTest.from_file(str(Path(PAGE).parent / "explorer.py"), default_timeout=TIMEOUT).run()
    assert explorer.selectbox(key="ex_surface").options == picker.options


@pytest.mark.slow  # ~1 s, ~4 s where its sweep starts the first worker process
def test_the_constant_schedules_torch_knobs_sit_in_a_collapsed_advanced_area():
    at = app()
    adv = [e for e in at.expander if "(advanced)" in plain(e.label)]
    assert [plain(e.label) for e in adv] == ["ConstantLR settings (advanced): factor 1, total_iters 5"] * 2
    assert all(e.proto.expanded is False for e in adv)
    assert [n.key for n in adv[0].number_input] == ["sw_w_sch0_constant_factor", "sw_w_sch0_constant_total_iters"]
    assert "ConstantLR" in plain(adv[0].caption[0].value)


@pytest.mark.slow  # ~0.5 s: Streamlit page runs
def test_pressing_run_with_a_small_grid_shows_it():
    at = app()
    at.number_input(key="sw_w_x_lr_n").set_value(5)
    at.number_input(key="sw_w_y_momentum_n").set_value(4)
    at.number_input(key="sw_w_steps").set_value(40)
    at = run_button(at).click().run()
    assert not at.exception and not at.error
    assert len(charts(at)) == 1
    assert at.query_params["ax"] == ["lr~1e-5~0.01~5~log"] or at.query_params["ax"] == "lr~1e-5~0.01~5~log"
    spec, warnings = from_query({k: at.query_params[k] for k in at.query_params})
    assert warnings == [] and spec.x.n == 5 and spec.y.n == 4 and spec.steps == 40
    assert any("explorer" in str(c.value) for c in at.caption)


@pytest.mark.slow  # ~1 s
def test_robustness_and_basins_from_links():
    spec = SweepSpec(mode="robustness", steps=60, x=AxisSpec("lr", 1e-4, 1.0, 12, True), seeds=2, noise=0.1)
    at = app(to_query(spec))
    assert not at.exception and not at.error and not at.warning
    assert len(charts(at)) == 1
    spec = SweepSpec(mode="basins", surface="himmelblau", steps=60, basins_n=12)
    at = app(to_query(spec))
    assert not at.exception and not at.error and not at.warning
    assert len(charts(at)) == 1


@pytest.mark.slow  # ~1.0 s: Streamlit page runs
def test_switching_mode_and_running():
    at = app()
    at.radio(key="sw_w_mode").set_value("basins").run()
    assert not at.exception
    at.number_input(key="sw_w_bn").set_value(8)
    at.number_input(key="sw_w_steps").set_value(30)
    at = run_button(at).click().run()
    assert not at.exception and not at.error
    assert at.query_params["m"] in ("basins", ["basins"])


def test_a_garbage_link_warns_and_still_renders():
    at = app({"v": "1", "m": "mapp", "ax": "lr~abc~1~99999~log", "seeds": "nan", "r0": "adamx~lr:-1", "zz": "🙂",
              "n": "12"})
    assert not at.exception
    (note,) = [w for w in texts(at.warning) if "opened in part" in w]  # one calm message, not a banner each
    listed = [t.value for t in at.text if t.value.startswith("• ")]
    assert len(listed) >= 4 and f"{len(listed)} of its settings" in note
    assert any("mode (m)" in w for w in listed) and any("x axis (ax)" in w for w in listed)
    assert any("optimizer 1 (r0)" in w for w in listed)
    assert len(charts(at)) == 1
    (code,) = [c.value for c in at.code if "m=map" in c.value]  # the share box: a link to this sweep
    assert from_query_string(code.split("?", 1)[1]) == (at.session_state["sw_submitted"], [])


@pytest.mark.slow  # ~1.5 s: Streamlit page runs
def test_a_value_over_a_limit_is_reported_and_the_limit_used():
    at = app()
    at.number_input(key="sw_w_x_lr_n").set_value(301)
    at = run_button(at).click().run()
    assert not at.exception
    assert any("cells: 301 is more than 300" in w and "using 300" in w for w in texts(at.warning))
    assert at.session_state["sw_submitted"].x.n == 300  # what Run used, as said
    assert at.number_input(key="sw_w_x_lr_n").value == 301  # the person's text stays in the box


@pytest.mark.slow  # ~0.6 s: Streamlit page runs
def test_a_request_over_the_caps_shows_an_error_not_an_exception():
    at = app()
    at.number_input(key="sw_w_x_lr_n").set_value(300)
    at.number_input(key="sw_w_y_momentum_n").set_value(300)
    at.number_input(key="sw_w_steps").set_value(5000)
    at.number_input(key="sw_w_seeds").set_value(16)
    at = run_button(at).click().run()
    assert not at.exception
    errors = texts(at.error)
    assert errors and any("limit" in e for e in errors)
    assert len(charts(at)) == 1  # the last sweep is still shown


def test_a_custom_formula_that_does_not_parse_is_shown_inline():
    at = app({"s": "custom", "f": "x**"})
    assert not at.exception
    assert any("formula" in t.value for t in at.text if t.value.startswith("• "))
    assert any("does not parse" in e for e in texts(at.error))


@pytest.mark.slow  # ~2 s: a 300 x 300 map
def test_a_big_map_shows_progress_then_comes_from_the_cache():
    # 2 optimizers x 90 000 cells: big enough for the progress bar (fed from inside the engine, outside st.cache_data)
    spec = SweepSpec(steps=30, x=AxisSpec("lr", 1e-5, 1e-2, 300, True), y=AxisSpec("momentum", 0.0, 0.99, 300, False))
    at = app(to_query(spec))
    assert not at.exception and not at.error
    assert len(charts(at)) == 1
    assert any("180,000 runs × 30 steps" in c for c in texts(at.caption))
    at.run()  # a rerun (any widget change) reads the cache
    assert not at.exception and not at.error and len(charts(at)) == 1
    assert any("(cached)" in c for c in texts(at.caption))


@pytest.mark.slow  # ~1.5 s
def test_arriving_from_the_explorer_sweeps_its_runs():
    app_py = str(Path(PAGE).parent.parent / "app.py")
    if not Path(app_py).exists():
        return
    at = AppTest.from_file(app_py, default_timeout=TIMEOUT).run()
    at.switch_page("app_pages/sweeps.py").run()
    assert not at.exception and not at.error and not at.warning  # the explorer's link is not a bad sweep link
    assert len(charts(at)) == 1
    assert at.query_params["m"] in ("map", ["map"])
