"""The explorer's server-side cost: a default rerun (simulate + figures), and what travels to the browser.

Prints, in one run:
- the default view (4 runs x 300 steps on Rosenbrock): race (with the smoothness estimate),
  the player's parts (ui.player.race_parts) and payload, the other figures and tables the page
  builds, their sum (aim: < 150 ms of compute); and the tune strip's bank for one run (its knobs'
  rows and every run's noise rows), computed after the page
- 8 runs at 500, 1000 and 5000 steps: simulate time, and bytes: the exported figure's JSON (the
  animation download; what st.plotly_chart sent on every rerun before), the player's first payload
  in a session, its payload once one run changed (only that run's arrays travel), and a run's bank
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
from ui import player  # noqa: E402
from ui.wire import Wire  # noqa: E402

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


def payloads(spec: ui.ExplorerSpec, result, grid, image) -> tuple[int, int]:
    """(first payload bytes in a session, bytes once run 1's lr changed) of the player."""
    sent: dict = {}
    first = player.race_payload(player.race_parts(spec, result, grid, image), spec, Wire(sent))
    runs = list(spec.runs)
    runs[0] = dataclasses.replace(runs[0], hparams=tuple((k, v * 1.5 if k == "lr" else v) for k, v in runs[0].hparams))
    changed = dataclasses.replace(spec, runs=tuple(runs))
    res2 = changed.race()
    again = player.race_payload(player.race_parts(changed, res2, grid, image), changed, Wire(sent))
    return len(first), len(again)


def bank_cost(spec: ui.ExplorerSpec) -> tuple[float, int, int]:
    """(seconds, rows, payload bytes) of run 1's bank, from scratch."""
    wanted = player.variations(spec, 0)
    t0 = time.perf_counter()
    groups = player.compute_groups(spec, wanted)
    seconds = time.perf_counter() - t0
    return seconds, player.rows_of(wanted), len(player.bank_payload(spec, 0, groups, Wire({})))


def main() -> None:
    spec = ui.ExplorerSpec()
    grid = trajectories.grid(spec.surface_obj(), 200)
    image = plots.surface_layout_image(grid)
    result = spec.race()
    t_race = best_of(spec.race, repeats=5)
    t_grid = best_of(lambda: trajectories.grid(spec.surface_obj(), 200), repeats=5)
    t_parts = best_of(lambda: player.race_parts(spec, result, grid, image), repeats=5)
    parts = player.race_parts(spec, result, grid, image)
    t_pay = best_of(lambda: player.race_payload(parts, spec, Wire({})), repeats=5)
    t_extra = best_of(lambda: extras(spec, result), repeats=5)
    total = t_race + t_grid + t_parts + t_pay + t_extra
    t_bank, rows, bank_bytes = bank_cost(spec)
    print("default view: 4 runs x 300 steps on Rosenbrock")
    print(table([("race (simulate + smoothness)", f"{t_race * 1e3:.1f}"), ("surface grid", f"{t_grid * 1e3:.1f}"),
                 ("player's parts (still figure + series)", f"{t_parts * 1e3:.1f}"),
                 ("player's payload (wire)", f"{t_pay * 1e3:.1f}"),
                 ("summary table, (L0,L1) figure", f"{t_extra * 1e3:.1f}"),
                 ("default rerun, nothing cached", f"{total * 1e3:.1f}"),
                 (f"after the page: run 1's bank ({rows} rows)", f"{t_bank * 1e3:.1f}")], ("", "ms")))
    print(f"aim: < 150 ms -> {'met' if total < 0.150 else 'NOT met'}; the bank's payload: {bank_bytes / 1e3:.0f} kB\n")

    rows = []
    for steps in (500, 1000, 5000):
        sp = dataclasses.replace(spec, runs=tuple(ui.default_run(o) for o in EIGHT), steps=steps)
        t_sim = best_of(sp.race, repeats=1)
        res = sp.race()
        fig, _ = build(sp, res, grid)
        size = len(pio.to_json(fig, validate=False))
        first, again = payloads(sp, res, grid, image)
        _, _, bank_bytes = bank_cost(sp)
        rows.append((f"8 runs x {steps}", f"{t_sim * 1e3:.0f}", f"{size / 1e3:.0f}", f"{first / 1e3:.0f}",
                     f"{again / 1e3:.0f}", f"{bank_bytes / 1e3:.0f}"))
    print(table(rows, ("view", "simulate ms", "exported figure kB (JSON)", "player: first payload kB",
                       "player: one run changed kB", "a run's bank kB")))


if __name__ == "__main__":
    main()
