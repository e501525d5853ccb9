"""The explorer's server-side cost: a default rerun (simulate + figures) and the figure payload.

Prints, in one run:
- the default view (4 runs x 300 steps on Rosenbrock): race (with the smoothness estimate),
  race figure, the other figures and tables the page builds, their sum (aim: < 150 ms of compute);
  and what a rerun costs once those are cached
- 8 runs at 500, 1000 and 5000 steps: simulate and figure times, and the figure's JSON bytes
  (aim: < 2 MB for 8 runs x 1000 steps; it grows linearly with steps: frames carry only the heads)
Usage: python benchmarks/explorer.py
"""
from __future__ import annotations

import dataclasses
import time

import plotly.io as pio
from _common import best_of, table

import plots  # noqa: E402
import trajectories  # noqa: E402
import ui  # noqa: E402

EIGHT = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad", "lion", "radam")


def build(spec: ui.ExplorerSpec, result, grid) -> tuple[dict, float]:
    s = spec.surface_obj()
    race = plots.as_race(result, [r.label() for r in spec.runs])
    t0 = time.perf_counter()
    fig = plots.race_figure(grid, race, minima=s.minima, start=spec.start_point(), bounds=s.bounds,
                            min_value=s.min_value, arrows=spec.arrows)
    return fig, time.perf_counter() - t0


def extras(spec: ui.ExplorerSpec, result) -> None:
    s = spec.surface_obj()
    race = plots.as_race(result, [r.label() for r in spec.runs])
    plots.smoothness_figure(race)
    plots.summary_rows(race, minima=s.minima, min_value=s.min_value)  # (CSV and HTML: built on click)


def main() -> None:
    spec = ui.ExplorerSpec()
    grid = trajectories.grid(spec.surface_obj(), 200)
    result = spec.race()
    t_race = best_of(spec.race, repeats=5)
    t_grid = best_of(lambda: trajectories.grid(spec.surface_obj(), 200), repeats=5)
    t_fig = best_of(lambda: build(spec, result, grid), repeats=5)
    t_extra = best_of(lambda: extras(spec, result), repeats=5)
    total = t_race + t_grid + t_fig + t_extra
    print("default view: 4 runs x 300 steps on Rosenbrock")
    print(table([("race (simulate + smoothness)", f"{t_race * 1e3:.1f}"), ("surface grid", f"{t_grid * 1e3:.1f}"),
                 ("race figure", f"{t_fig * 1e3:.1f}"), ("summary table, (L0,L1) figure", f"{t_extra * 1e3:.1f}"),
                 ("default rerun, nothing cached", f"{total * 1e3:.1f}")], ("", "ms")))
    print(f"aim: < 150 ms -> {'met' if total < 0.150 else 'NOT met'}\n")

    rows = []
    for steps in (500, 1000, 5000):
        sp = dataclasses.replace(spec, runs=tuple(ui.default_run(o) for o in EIGHT), steps=steps)
        t_sim = best_of(sp.race, repeats=1)
        res = sp.race()
        fig, _ = build(sp, res, grid)
        t_f = best_of(lambda sp=sp, res=res: build(sp, res, grid), repeats=3)
        size = len(pio.to_json(fig, validate=False))
        fig_a, _ = build(dataclasses.replace(sp, arrows=True), res, grid)
        size_a = len(pio.to_json(fig_a, validate=False))
        rows.append((f"8 runs x {steps}", f"{t_sim * 1e3:.0f}", f"{t_f * 1e3:.0f}", f"{size / 1e6:.2f}",
                     f"{size_a / 1e6:.2f}", len(fig["frames"])))
    print(table(rows, ("view", "simulate ms", "figure ms", "payload MB", "with arrows MB", "frames")))
    print("aim: < 2 MB at 8 runs x 1000 steps")


if __name__ == "__main__":
    main()
