"""The race figure alone: JSON bytes and build time for 8 runs at 500, 1000 and 5000 steps.

plots only, on made-up trajectories (numpy spirals into Rosenbrock's minimum), so the numbers
do not move when the simulator does; --real races eight optimizers with trajectories.race instead.
benchmarks/explorer.py times the whole page (simulate + figures); this isolates the figure.
Usage: python benchmarks/explorer_payload.py [--real] [--max-frames 200] [--html /tmp/race.html]
"""
from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np
import plotly.io as pio
from _common import best_of, table

import plots  # noqa: E402  (after _common puts the repo on sys.path)

RUNS = 8
BOUNDS = ((-2.0, 2.0), (-1.0, 3.0))
START = (-1.5, 2.0)
EIGHT = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad", "lion", "radam")


def rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def grid(n: int = 200):
    xs, ys = np.linspace(*BOUNDS[0], n), np.linspace(*BOUNDS[1], n)
    xx, yy = np.meshgrid(xs, ys)
    return xs, ys, rosenbrock(xx, yy)


def made_up(steps: int, runs: int = RUNS, seed: int = 0):
    """A Result-like: each run spirals from the start to (1, 1) at its own rate; the last one diverges."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps + 1)[:, None]  # (T, 1)
    decay = np.exp(-np.geomspace(1e-3, 3e-2, runs)[None, :] * t)  # (T, R)
    turn = np.linspace(0.002, 0.02, runs)[None, :] * t
    xy = np.stack([1 + (START[0] - 1) * decay * np.cos(turn), 1 + (START[1] - 1) * decay * np.cos(0.7 * turn)], -1)
    diverged_at = np.full(runs, -1)
    k = steps // 3
    diverged_at[-1] = k
    xy[k:, -1] = xy[k - 1, -1]
    loss = rosenbrock(xy[..., 0], xy[..., 1])  # (T, R)
    grad = rng.normal(size=(steps, runs, 2)) * decay[:-1, :, None]
    grad_norm = np.linalg.norm(grad, axis=-1)
    return SimpleNamespace(xy=xy, loss=loss, grad=grad, grad_norm=grad_norm, lr=np.full((steps, runs), 1e-3),
                           clip_coef=np.minimum(1.0, 1.0 / (grad_norm + 1e-6)),
                           smoothness=np.abs(rng.normal(size=(steps, runs))) * 50, diverged_at=diverged_at)


def real(steps: int):
    import trajectories

    return trajectories.race("rosenbrock", [trajectories.Run(o) for o in EIGHT], START, steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", action="store_true", help="race eight optimizers with trajectories.race")
    ap.add_argument("--max-frames", type=int, default=200)
    ap.add_argument("--html", default="", help="also write the 1000-step figure (with arrows) as HTML here")
    a = ap.parse_args()
    g = grid()
    rows = []
    for steps in (500, 1000, 5000):
        race = plots.as_race(real(steps) if a.real else made_up(steps), [f"run {i + 1}" for i in range(RUNS)])
        for arrows in (False, True):
            def build(race=race, arrows=arrows):
                return plots.race_figure(g, race, minima=[(1.0, 1.0)], start=START, bounds=BOUNDS, min_value=0.0,
                                         max_frames=a.max_frames, arrows=arrows)

            fig = build()
            t_build = best_of(build, repeats=3)
            t0 = time.perf_counter()
            size = len(pio.to_json(fig, validate=False))
            t_json = time.perf_counter() - t0
            rows.append((f"{RUNS} x {steps}", "yes" if arrows else "no", len(fig["frames"]),
                         f"{size:,}", f"{t_build * 1e3:.0f}", f"{t_json * 1e3:.0f}"))
            if a.html and steps == 1000 and arrows:
                with open(a.html, "w") as f:
                    f.write(plots.figure_html(fig))
    print(f"race figure, {'trajectories.race' if a.real else 'made-up trajectories'}, "
          f"max_frames={a.max_frames}, 200x200 surface image")
    print(table(rows, ("runs x steps", "arrows", "frames", "JSON bytes", "build ms", "to_json ms")))
    print("aim: < 2,000,000 bytes at 8 x 1000; 5000 steps well under 5x the bytes of 1000 (frames are capped)")
    if a.html:
        print(f"wrote {a.html}")


if __name__ == "__main__":
    main()
