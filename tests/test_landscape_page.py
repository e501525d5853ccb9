"""The Landscape page under Streamlit's AppTest, on a throwaway run store: empty, with two runs whose grid is
in the store (the map, the 3D view, the line, the link), hostile links, and Evaluate launching a worker."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from training.job import Job
from training.landscape import LineSpec, PlaneSpec, cache
from training.landscape.compute import evaluate
from training.runner import train
from training.store import RunSink, Store
from ui.landscape_links import from_query
from ui.text import plain

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "app_pages" / "landscape.py")
COMPARE = str(ROOT / "app_pages" / "compare.py")
TIMEOUT = 120  # AppTest's per-run limit: the first run imports torch
N = 5  # points per side: the page's figures, not the numbers, are under test here


@pytest.fixture(scope="module")
def store(tmp_path_factory, one_torch_thread):
    """Two digits-mlp runs with snapshots, their plane and line evaluated."""
    s = Store(tmp_path_factory.mktemp("page") / "runs.sqlite")
    ids = []
    for opt, lr in (("adam", 1e-3), ("sgd", 0.1)):
        job = Job.from_dict(dict(task="digits-mlp", optimizer=opt, hparams=(("lr", lr),), steps=40, eval_every=20,
                                 snapshots=5))
        run_id = s.create_run(job)
        with RunSink(s, run_id, heartbeat_every=0) as sink:
            train(job, sink)
        ids.append(run_id)
    for spec in (PlaneSpec(run=ids[0], paths=tuple(ids), n=N), LineSpec(a=ids[0], b=ids[1], n=N)):
        assert evaluate(s, cache.request(s, spec)) == "done"
    s.ids = ids
    return s


def page(db, monkeypatch, query: dict | None = None) -> AppTest:
    monkeypatch.setenv("OPT_PLAYGROUND_DB", str(db))
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [plain(e.value) for e in at.error]


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def test_an_empty_store_says_how_to_keep_weights(tmp_path, monkeypatch):
    at = page(tmp_path / "empty.sqlite", monkeypatch)
    clean(at)
    assert any("--snapshots 20" in str(i.value) for i in at.info) and not charts(at)


@pytest.mark.slow  # ~0.9 s: Streamlit page runs
def test_the_page_shows_the_map_the_surface_and_the_line_of_a_link(store, monkeypatch):
    a, b = store.ids
    at = page(store.path, monkeypatch, {"run": str(a), "paths": f"{a},{b}", "n": str(N), "line": f"{a},{b}"})
    clean(at)
    assert len(charts(at)) == 3  # the contour map, the 3D surface, the line
    assert at.selectbox(key="ls_w_run").value == a and at.multiselect(key="ls_w_paths").value == [a, b]
    said = " ".join(plain(c.value) for c in at.caption)
    assert "of the paths' variance" in said and "the point lies off the plane" in said
    assert [b.label for b in at.get("download_button")] == ["The grid (CSV)"]
    view, warnings = from_query(at.query_params)  # the address bar holds the view shown
    assert warnings == [] and view.run == a and view.paths == (a, b) and view.line == (a, b) and view.n == N


def test_a_view_not_evaluated_yet_offers_evaluate_with_an_estimate(store, monkeypatch):
    a, b = store.ids
    at = page(store.path, monkeypatch, {"run": str(b), "plane": "random", "n": "7"})
    clean(at)
    (go,) = [x for x in at.button if x.key == "ls_goplane"]
    assert go.label == "Evaluate the 7 × 7 grid" and "worker process" in go.help and not charts(at)


@pytest.mark.parametrize("query", [
    {"run": "99999"}, {"run": "-1", "paths": "<script>", "n": "1e999"}, {"plane": "**x**", "span": "nan,1,2,3"},
    {"line": "1,1", "t": "9,1", "color": "\x00", "v": "9"}, {"paths": ",".join(map(str, range(1, 60)))},
])
@pytest.mark.slow  # ~1.9 s: Streamlit page runs
def test_hostile_links_open_a_working_page(store, monkeypatch, query):
    at = page(store.path, monkeypatch, query)
    assert not at.exception, [e.value for e in at.exception]
    for el in (*at.error, *at.warning, *at.info, *at.caption):
        assert "Traceback" not in str(el.value) and "Error:" not in str(el.value)


@pytest.mark.slow  # ~0.8 s: Streamlit page runs
def test_compare_links_to_the_landscape_of_its_runs(store, monkeypatch):
    a, b = store.ids
    monkeypatch.setenv("OPT_PLAYGROUND_DB", str(store.path))
    at = AppTest.from_file(COMPARE, default_timeout=TIMEOUT)
    at.query_params["runs"] = f"{a},{b}"
    at.run()
    assert not at.exception
    urls = [x.proto.url for x in at.get("link_button") if x.proto.label == "Loss landscape of these runs"]
    assert len(urls) == 1 and urls[0].startswith("landscape?")
    view, warnings = from_query({k: v[0] for k, v in __import__("urllib.parse").parse.parse_qs(
        urls[0].split("?", 1)[1]).items()})
    assert warnings == [] and view.run == a and view.paths == (a, b)


@pytest.mark.slow  # ~10 s: spawns a worker (imports torch) that evaluates a small grid
def test_evaluate_launches_a_worker_whose_rows_the_page_then_shows(store, monkeypatch):
    a, b = store.ids
    at = page(store.path, monkeypatch, {"run": str(a), "paths": f"{a},{b}", "plane": "random", "n": "4"})
    at = at.button(key="ls_goplane").click().run()
    assert not at.exception
    spec = PlaneSpec(run=a, paths=(a, b), plane="random", n=4)
    row = cache.find(store, spec)
    assert row is not None and row["status"] in ("queued", "running", "done")
    deadline = time.monotonic() + 180
    while cache.find(store, spec)["status"] in cache.ACTIVE and time.monotonic() < deadline:
        time.sleep(0.3)
    assert cache.find(store, spec)["status"] == "done", cache.find(store, spec)["error"]
    at = at.run()
    clean(at)
    assert len(charts(at)) == 2 and cache.find(store, spec)["done"] == 4
    at = at.run()  # a rerun starts nothing new
    assert len(cache.for_run(store, a)) == 3
