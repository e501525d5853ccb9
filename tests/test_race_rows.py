"""A race assembled from cached rows (ui/race_rows.py) equals the race computed at once, to the last bit:
the engine's rows never depend on each other, whatever the optimizers, noise, schedules or surface."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import ui
from trajectories.result import BY_ROW, BY_STEP, stack, take
from ui import race_rows
from ui.spec import ExplorerSpec

R = ui.RunConfig


def same(a, b) -> None:
    for f in (*BY_STEP, *BY_ROW):
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None) == (y is None), f
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=f)
    assert a.stopped_at == b.stopped_at


VIEWS = {
    "default": ExplorerSpec(),
    "noise, every kind of rule": ExplorerSpec(
        surface="rosenbrock", steps=120, noise=0.7, seed=3,
        runs=(R("zo_sgd", {"lr": 0.001}), R("sam", {"lr": 0.001}), R("swats", {"lr": 0.01}),
              R("adam", {"lr": 0.05}, clip=("norm", 1.0), schedule=("cosine", {})))),
    "online box": ui.preset("reddi_adam").view(),
    "the same run twice": ExplorerSpec(runs=(R("adam", {"lr": 0.05}), R("sgd", {"lr": 0.001}),
                                             R("adam", {"lr": 0.05}))),
}


@pytest.fixture(autouse=True)
def empty_rows():
    race_rows.ROWS.clear()
    yield
    race_rows.ROWS.clear()


@pytest.mark.parametrize("name", list(VIEWS))
def test_take_then_stack_is_the_result(name):
    r = VIEWS[name].race()
    same(stack([take(r, [i]) for i in range(len(VIEWS[name].runs))]), r)


@pytest.mark.parametrize("name", list(VIEWS))
def test_a_race_from_known_rows_equals_the_race(name):
    spec = VIEWS[name]
    fresh = spec.race()
    same(race_rows.race(spec), fresh)  # nothing known
    same(race_rows.race(spec), fresh)  # every row known
    race_rows.ROWS.clear()
    race_rows.race(dataclasses.replace(spec, runs=spec.runs[1:2]))  # one row known, raced alone
    same(race_rows.race(spec), fresh)
    same(race_rows.race(dataclasses.replace(spec, runs=spec.runs[::-1])),
         dataclasses.replace(spec, runs=spec.runs[::-1]).race())


def test_a_changed_run_computes_that_run_alone(monkeypatch):
    spec = ExplorerSpec()
    race_rows.race(spec)
    raced = []
    real = ExplorerSpec.race
    monkeypatch.setattr(ExplorerSpec, "race", lambda self, **kw: raced.append(self.runs) or real(self, **kw))
    changed = dataclasses.replace(spec, runs=(*spec.runs[:2], R("nadam", {"lr": 0.02}), *spec.runs[3:]))
    same(race_rows.race(changed), real(changed))
    assert raced == [(R("nadam", {"lr": 0.02}),)]
    raced.clear()
    race_rows.race(spec)  # back to the first view: nothing to compute
    assert raced == []


def test_a_race_cut_short_is_returned_whole_and_not_kept():
    spec = ExplorerSpec()
    cut = race_rows.race(spec, deadline=0.0)  # long past: the engine stops at once
    assert cut.stopped_at is not None and cut.xy.shape[1] == len(spec.runs)
    assert all(race_rows.ROWS.get(race_rows.row_key(spec, r)) is None for r in spec.runs)


def test_stack_refuses_results_of_different_lengths():
    a = dataclasses.replace(ExplorerSpec(), steps=10).race()
    b = dataclasses.replace(ExplorerSpec(), steps=11).race()
    with pytest.raises(ValueError, match="same length"):
        stack([a, b])
