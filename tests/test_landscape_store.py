"""Weight snapshots (Job.snapshots) in the runner and the run store, the landscape cache (resumable), the
`python -m training landscape` command end to end, the Landscape page's link and figures.

Two short digits-mlp runs trained in this process (a second each) carry the store tests."""
from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest

from plots import landscape as pl
from training import snapshots
from training.cli import main
from training.job import Job
from training.landscape import PlaneSpec, cache
from training.landscape.compute import evaluate, final_weights
from training.landscape.probe import Probe
from training.runner import train
from training.store import SCHEMA_VERSION, RunSink, Store
from training.workers import check_job
from ui.landscape_links import LandscapeView, from_query, from_query_string, query_string
from ui.landscape_runs import companions, compare_link, drawable

STEPS = 60


def trained(store: Store, optimizer: str, lr: float, snaps: int = 4, steps: int = STEPS) -> int:
    job = Job.from_dict(dict(task="digits-mlp", optimizer=optimizer, hparams=(("lr", lr),), steps=steps, eval_every=30,
                             snapshots=snaps))
    run_id = store.create_run(job)
    with RunSink(store, run_id, heartbeat_every=0) as sink:
        train(job, sink)
    return run_id


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, one_torch_thread):
    store = Store(tmp_path_factory.mktemp("landscape") / "runs.sqlite")
    return store, trained(store, "adam", 1e-3), trained(store, "sgd", 0.1)


# ---------------------------------------------------------------- snapshots


def test_snapshot_plan_spaces_steps_evenly_and_keeps_within_the_budget():
    assert snapshots.plan(0, 100, 10, 1.0) == ([], None)
    assert snapshots.plan(1, 100, 10, 1.0) == ([100], None)
    assert snapshots.plan(5, 100, 10, 1.0) == ([0, 25, 50, 75, 100], None)
    steps, note = snapshots.plan(10, 100, 100_000, 1.0)  # 0.4 MB each, 1 MB a run: 2 fit
    assert steps == [0, 100] and "kept 2 of the 10" in note and "1 MB" in note
    steps, note = snapshots.plan(10, 3, 10, 1.0)  # 4 distinct points only
    assert steps == [0, 1, 2, 3] and "4 distinct points" in note
    assert snapshots.plan(3, 100, 10**9, 1.0)[0] == []  # not even one fits


def test_a_run_keeps_its_snapshots_and_the_last_is_the_weights_it_scored(two_runs):
    store, adam, _ = two_runs
    steps, ws = store.snapshots(adam)
    assert steps.tolist() == [0, 20, 40, 60] and ws.shape == (4, 26_122) and ws.dtype == np.float32
    assert not np.array_equal(ws[0], ws[-1])
    info = store.snapshot_info(adam)
    assert info["bytes"] == 4 * 26_122 * 4 and info["n_params"] == 26_122
    assert store.snapshot_counts()[adam] == 4
    run = store.run(adam)
    step, w = final_weights(store, adam)
    assert step == 60
    probe = Probe.of_run(run["job"], "val", "cpu")
    import torch

    loss, acc = probe.at(torch.from_numpy(w))
    assert loss == pytest.approx(run["summary"]["final_val_loss"], rel=1e-5)
    assert acc == pytest.approx(run["summary"]["final_metric"], rel=1e-6)


def test_snapshots_are_bounded(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setenv("OPT_PLAYGROUND_MAX_SNAPSHOT_MB", "0.25")  # 0.1 MB a snapshot: two fit
    store = Store(tmp_path / "r.sqlite")
    run_id = trained(store, "adam", 1e-3, snaps=10, steps=20)
    assert store.snapshot_info(run_id)["step"].tolist() == [0, 20]
    assert any("kept 2 of the 10" in n for n in store.run(run_id)["summary"]["notes"])
    check_job(Job(task="digits-mlp", snapshots=200))
    with pytest.raises(ValueError, match="snapshots must be an integer from 0 to 200"):
        check_job(Job(task="digits-mlp", snapshots=201))
    monkeypatch.setenv("OPT_PLAYGROUND_PUBLIC", "1")
    with pytest.raises(ValueError, match="snapshots must be an integer from 0 to 20 on this server"):
        check_job(Job(task="digits-mlp", steps=100, snapshots=21))


def test_deleting_a_run_deletes_its_snapshots_and_the_landscapes_that_read_it(tmp_path, one_torch_thread):
    store = Store(tmp_path / "r.sqlite")
    a, b = trained(store, "adam", 1e-3, steps=10), trained(store, "sgd", 0.1, steps=10)
    lid = cache.request(store, PlaneSpec(run=a, paths=(a, b), n=3))
    assert evaluate(store, lid) == "done"
    store.delete_run(b)
    assert store.snapshot_info(b)["bytes"] == 0 and cache.for_run(store, a) == []
    with store._read() as con:
        assert con.execute("SELECT COUNT(*) FROM landscape_rows").fetchone()[0] == 0
    assert store.snapshot_info(a)["bytes"] > 0


def test_a_version_2_store_gains_the_landscape_tables_and_keeps_its_runs(tmp_path):
    path = tmp_path / "old.sqlite"
    Store(path).create_run(Job(task="digits-mlp"))
    con = sqlite3.connect(path)
    for table in ("landscape_rows", "landscapes", "snapshots"):
        con.execute(f"DROP TABLE {table}")
    con.execute("PRAGMA user_version = 2")
    con.commit()
    con.close()
    store = Store(path)
    assert store.pragma("user_version") == SCHEMA_VERSION == 3
    assert len(store.list_runs()) == 1 and store.snapshot_counts() == {}


# ---------------------------------------------------------------- the cache: evaluated once, resumable


def test_a_plane_is_evaluated_once_and_a_cancelled_one_resumes_where_it_stopped(two_runs):
    store, adam, sgd = two_runs
    spec = PlaneSpec(run=adam, paths=(adam, sgd), n=5, plane="pca")
    lid = cache.request(store, spec)
    rows = []

    def after_two_rows() -> bool:
        rows.append(1)
        return len(cache.rows_done(store, lid)) >= 2

    assert evaluate(store, lid, cancelled=after_two_rows) == "cancelled"
    assert cache.rows_done(store, lid) == {0, 1}
    partial, _ = cache.values(store, lid, 5, 5)
    assert np.isfinite(partial[:2]).all() and np.isnan(partial[2:]).all()
    assert cache.request(store, spec) == lid and cache.get(store, lid)["status"] == "queued"
    assert evaluate(store, lid) == "done"
    loss, metric = cache.values(store, lid, 5, 5)
    np.testing.assert_array_equal(loss[:2], partial[:2])
    fresh = cache.request(store, PlaneSpec(run=adam, paths=(adam, sgd), n=5, plane="pca", span=tuple(
        cache.get(store, lid)["result"]["span"])))
    assert evaluate(store, fresh) == "done"
    np.testing.assert_allclose(cache.values(store, fresh, 5, 5)[0], loss, rtol=1e-6)  # the same plane, whole
    result = cache.get(store, lid)["result"]
    assert result["plane"]["kind"] == "pca" and sum(result["plane"]["explained"]) <= 1.0 + 1e-9
    assert [p["run"] for p in result["paths"]] == [adam, sgd]
    centre = result["paths"][0]
    assert (centre["a"][-1], centre["b"][-1], centre["off"][-1]) == (0.0, 0.0, 0.0)
    assert centre["loss"][-1] == pytest.approx(centre["plane_loss"][-1], rel=1e-6)  # the centre is on the plane
    assert np.isfinite(metric).all() and 0 <= metric.min() <= metric.max() <= 1


def test_runs_of_another_model_or_without_snapshots_are_refused_in_words(two_runs, one_torch_thread):
    store, adam, _ = two_runs
    bare = store.create_run(Job(task="digits-mlp", steps=5))
    with RunSink(store, bare, heartbeat_every=0) as sink:
        train(Job(task="digits-mlp", steps=5), sink)
    lid = cache.request(store, PlaneSpec(run=bare, n=3))
    assert evaluate(store, lid) == "failed"
    assert "kept no weights" in cache.get(store, lid)["error"]
    wide = trained(store, "adam", 1e-3, steps=5)
    with store._write() as con:  # the same task at another size: another layout
        con.execute("UPDATE runs SET job_json = ? WHERE id = ?",
                    (json.dumps({**store.run(wide)["job"], "size": 2.0}), wide))
    lid = cache.request(store, PlaneSpec(run=adam, paths=(adam, wide), n=3))
    assert evaluate(store, lid) == "failed"
    assert "a plane holds runs of one task and size" in cache.get(store, lid)["error"]


# ---------------------------------------------------------------- the command line


@pytest.mark.slow  # ~0.8 s: many runs
def test_the_landscape_command_writes_the_grid_and_the_figures(two_runs, tmp_path, capsys):
    store, adam, sgd = two_runs
    out = tmp_path / "out"
    args = ["landscape", str(adam), "--paths", f"{adam},{sgd}", "--grid", "4", "--line", str(sgd),
            "--out", str(out), "--db", str(store.path), "-q"]
    assert main(args) == 0
    said = capsys.readouterr().out
    assert "plane done" in said and "PCA explains" in said and "line done" in said
    (npz,) = out.glob("landscape-*-plane-*.npz")
    z = np.load(npz)
    assert z["loss"].shape == (4, 4) and np.isfinite(z["loss"]).all() and z["xs"].shape == (4,)
    assert z[f"path{sgd}_loss"].shape == (4,) and json.loads(str(z["spec_json"]))["n"] == 4
    (csv_plane,) = out.glob("landscape-*-plane-*.csv")
    assert len(csv_plane.read_text().splitlines()) == 1 + 16
    (line_npz,) = out.glob("landscape-*-line-*.npz")
    t = np.load(line_npz)["t"]
    assert 0.0 in t and 1.0 in t
    html = (out / f"landscape-{adam}.html").read_text()
    assert html.count("plotly-graph-div") >= 3 and "Plotly.newPlot" in html
    assert main(args[:-1]) == 0  # again: from the cache
    assert "already evaluated" in capsys.readouterr().err


def test_the_landscape_command_says_what_is_wrong(two_runs, tmp_path, capsys):
    store, adam, _ = two_runs
    db = ["--db", str(store.path), "--out", str(tmp_path), "-q"]
    for argv, what in [(["landscape", str(adam), "--grid", "2"], "points per side"),
                       (["landscape", "999"], "no run 999"),
                       (["landscape", str(adam), "--span", "1,2"], "--span takes 4"),
                       (["landscape", str(adam), "--span", "2,1,0,1"], "a0 < a1"),
                       (["landscape", str(adam), "--line", str(adam)], "two different runs")]:
        assert main(argv + db) == 2, argv
        assert what in capsys.readouterr().err


# ---------------------------------------------------------------- the page's link, runs and figures


def test_landscape_links_round_trip_and_bad_fields_fall_back_one_by_one():
    view = LandscapeView(run=3, paths=(3, 4), plane="random", seed=2, keep_1d=True, n=21, span=(-1.0, 2.0, -3.0, 4.5),
                         data="train", color="metric", line=(3, 4), t=(-1.0, 2.0))
    assert from_query_string(query_string(view)) == (view, [])
    assert from_query({}) == (LandscapeView(), [])
    got, warnings = from_query_string("run=x&paths=1,a,2,2&span=1,0,0,1&line=3,3&n=1000&t=2,1&zz=1&r0=adam")
    assert got == LandscapeView(paths=(1, 2))
    assert len(warnings) == 8 and any("'zz': not part of a landscape link" in w for w in warnings)
    assert any("'r0': not part of a landscape link" in w for w in warnings)


def test_a_public_server_brings_a_linked_grid_within_its_limit(monkeypatch):
    monkeypatch.setenv("OPT_PLAYGROUND_PUBLIC", "1")
    view, warnings = from_query_string("run=3&n=201")
    assert view.n == 51 and warnings == ["points per side (n): 201 is more than 51, the most this server "
                                         "evaluates; used 51"]


def test_runs_that_share_a_plane_and_the_compare_pages_link(two_runs):
    store, adam, sgd = two_runs
    runs = store.list_runs(ids=[adam, sgd], newest_first=False)
    counts = store.snapshot_counts()
    assert [r["id"] for r in drawable(runs, counts)] == [adam, sgd]
    assert [r["id"] for r in companions(runs, runs[1])] == [sgd, adam]
    url, about = compare_link(runs, counts)
    assert url.startswith("landscape?") and f"paths={adam},{sgd}" in url and f"run={adam}" in url
    assert compare_link(runs, {})[0] is None


@pytest.mark.slow  # ~0.6 s: many figures
def test_figures_draw_partial_grids_colour_points_by_their_real_loss_and_escape_labels(two_runs):
    store, adam, sgd = two_runs
    lid = cache.request(store, PlaneSpec(run=adam, paths=(adam, sgd), n=5))
    evaluate(store, lid)
    result = cache.get(store, lid)["result"]
    loss, metric = cache.values(store, lid, 5, 5)
    loss[3:] = np.nan  # a grid still filling
    labels = {adam: "#1 <b>Adam</b>", sgd: "#2 SGD"}
    fig = pl.plane_figure(result, loss, metric, labels=labels)
    names = [t.name for t in fig.data if t.name]
    assert "#1 &lt;b&gt;Adam&lt;/b&gt;" in names and all("<b>" not in n for n in names)
    assert fig.data[0].type == "contour" and np.isnan(np.array(fig.data[0].z, dtype=float)[3:]).all()
    paths = [t for t in fig.data if t.type == "scatter" and t.mode == "lines+markers"]
    assert len(paths) == 2
    lo, hi = fig.data[0].zmin, fig.data[0].zmax
    for t, p in zip(paths, result["paths"], strict=True):  # each point filled with its real loss's colour
        want = [min(max(math.log10(v), lo), hi) for v in p["loss"]]
        assert list(t.marker.color) == pytest.approx(want) and t.marker.cmin == lo and t.marker.cmax == hi
    rows = pl.path_rows(result, labels)
    off = pl.path_rows(result, labels, only_off=True)
    assert len(rows) == 8 and [r for r in rows if abs(r["difference"]) > pl.OFF_PLANE] == off
    assert pl.plane_figure(result, loss, metric, field="metric").data[0].zmax <= 1.0
    surface = pl.surface_figure(result, loss, labels=labels)
    assert surface.data[0].type == "surface"
    vals, texts = pl.log_ticks(math.log10(0.2), math.log10(30))
    assert texts == ["0.2", "0.5", "1", "2", "5", "10", "20"] and len(vals) == len(texts)
    assert pl.log_ticks(math.log10(1.72), math.log10(3.2))[1] == ["2", "2.5", "3"]  # within a decade: finer


def test_a_public_server_evaluates_one_landscape_at_once_and_cancel_stops_a_queued_one(two_runs, monkeypatch):
    from training.landscape import worker

    store, adam, sgd = two_runs
    busy = cache.request(store, PlaneSpec(run=adam, n=3, seed=11, plane="random"))
    cache.claim(store, busy)  # this process "evaluates" it: alive, so not reaped
    cache.set_status(store, busy, "running")
    monkeypatch.setenv("OPT_PLAYGROUND_PUBLIC", "1")
    with pytest.raises(ValueError, match="at most 1 landscape"):
        worker.admit(store, PlaneSpec(run=adam, n=3, seed=12, plane="random"))
    with pytest.raises(ValueError, match="points per side"):
        worker.admit(store, PlaneSpec(run=adam, n=52))
    cache.set_status(store, busy, "done")
    worker.admit(store, PlaneSpec(run=adam, n=3, seed=12, plane="random"))
    queued = cache.request(store, PlaneSpec(run=sgd, n=3, seed=13, plane="random"))
    worker.cancel(queued, store.path)
    row = cache.get(store, queued)
    assert row["status"] == "cancelled" and row["cancel_requested"]
    assert cache.request(store, row["spec"]) == queued and cache.get(store, queued)["status"] == "queued"


@pytest.mark.slow  # ~0.7 s: many runs
def test_run_keeps_the_snapshots_its_flag_asks_for(tmp_path, one_torch_thread):
    db = str(tmp_path / "r.sqlite")
    assert main(["run", "--task", "digits-mlp", "--steps", "10", "--snapshots", "3", "--db", db, "-q"]) == 0
    assert main(["run", "--task", "digits-mlp", "--steps", "10", "--db", db, "-q"]) == 0
    store = Store(db)
    first, second = sorted(r["id"] for r in store.list_runs())
    assert store.snapshot_info(first)["step"].tolist() == [0, 5, 10] and store.run(first)["job"]["snapshots"] == 3
    assert store.snapshot_counts() == {first: 3}  # --snapshots defaults to 0: none


def test_the_estimate_counts_the_runs_own_evaluations(two_runs):
    from ui.landscape_runs import estimate_text, scored_evals

    store, adam, _ = two_runs
    run = store.run(adam)
    n = scored_evals(store, adam)
    assert n == 3  # steps 0, 30, 60 (the smoothness-only rows between do not count)
    per = run["summary"]["eval_s"] / n
    assert estimate_text(run, n, 2601, "val") == (f"about {per * 2601:.0f} s" if per * 2601 < 90
                                                  else f"about {per * 2601 / 60:.0f} min")
    assert estimate_text(run, n, 2601, "train") == "" and estimate_text(run, 0, 10, "val") == ""


def test_a_full_batch_runs_training_surface_is_its_whole_training_set(tmp_path, one_torch_thread):
    """Snapshot k holds the weights after k updates: on the full batch its loss is the run's logged loss of step k."""
    import torch

    store = Store(tmp_path / "r.sqlite")
    job = Job.from_dict(dict(task="digits-mlp", optimizer="sgd", hparams=(("lr", 0.5),), steps=10, batch_size="full",
                             snapshots=3))
    run_id = store.create_run(job)
    with RunSink(store, run_id, heartbeat_every=0) as sink:
        train(job, sink)
    probe = Probe.of_run(store.run(run_id)["job"], "train", "cpu")
    assert probe.about.startswith("the whole training set (1,437 examples)")
    steps, ws = store.snapshots(run_id)
    logged = store.steps(run_id)["loss"]
    assert steps.tolist() == [0, 5, 10]
    for k, w in zip(steps[:2], ws[:2], strict=True):
        assert probe.at(torch.from_numpy(w))[0] == pytest.approx(logged[k], rel=1e-5)
