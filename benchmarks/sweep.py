"""Configuration-steps per second: batched sweeps vs the per-configuration loop of peer tools.

Rows of the table, all in one run (machines here are noisy: compare within a run):
- a 10 000-row sweep: Adam, norm clipping, Rosenbrock, 500 steps, lr log-spaced (trajectories.sweep)
- the same through simulate() with full histories (what the explorer's engine records)
- the 300 x 300 map: lr x beta1, 90 000 rows x 500 steps
- the loop peer visualizers use: one torch.optim.Adam per configuration on a 2-element tensor with
  clip_grad_norm_, timed on a subset and scaled
Usage: python benchmarks/sweep.py [--steps 500] [--loop-configs 20] [--skip-map]
"""
from __future__ import annotations

import argparse
import resource

import torch  # noqa: E402  (after _common puts the repo on sys.path)
from _common import best_of, table

import surfaces  # noqa: E402
import trajectories  # noqa: E402
from trajectories import Axis  # noqa: E402

CLIP = ("norm", 1.0)
START = (-1.5, 2.0)


def sweep_lr(rows: int, steps: int) -> None:
    trajectories.sweep("rosenbrock", "adam", START, steps, [Axis.span("lr", 1e-4, 1.0, rows, log=True)], clip=CLIP)


def simulate_lr(rows: int, steps: int) -> None:
    lrs = torch.logspace(-4, 0, rows, dtype=torch.float64)
    starts = torch.tensor(START, dtype=torch.float64).expand(rows, 2)
    trajectories.simulate("rosenbrock", "adam", starts, steps, hparams={"lr": lrs}, clip=CLIP, smoothness=False)


def map_300(steps: int) -> None:
    axes = [Axis.span("lr", 1e-4, 1.0, 300, log=True), Axis.span("betas.0", 0.0, 0.99, 300)]
    trajectories.sweep("rosenbrock", "adam", START, steps, axes, clip=CLIP)


def million(steps: int) -> None:
    """10^6 rows: a 250 x 250 map x 16 noise seeds."""
    axes = [Axis.span("lr", 1e-4, 1.0, 250, log=True), Axis.span("betas.0", 0.0, 0.99, 250)]
    trajectories.sweep("rosenbrock", "adam", START, steps, axes, clip=CLIP, noise=0.5, seeds=range(16))


def loop(configs: int, steps: int) -> None:
    f = surfaces.get("rosenbrock")
    for lr in torch.logspace(-4, 0, configs).tolist():
        x = torch.tensor(START, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([x], lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            f(x).backward()
            torch.nn.utils.clip_grad_norm_([x], CLIP[1])
            opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--loop-configs", type=int, default=20)
    ap.add_argument("--skip-map", action="store_true")
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, Adam + norm clip on Rosenbrock")
    t_loop = best_of(lambda: loop(a.loop_configs, a.steps), repeats=2)
    cps_loop = a.loop_configs * a.steps / t_loop
    rows = [("loop of torch.optim (peer tools)", a.loop_configs, t_loop)]
    rows.append(("sweep(), 10 000 lr values", 10_000, best_of(lambda: sweep_lr(10_000, a.steps))))
    rows.append(("simulate(), 10 000 rows, histories", 10_000, best_of(lambda: simulate_lr(10_000, a.steps))))
    if not a.skip_map:
        rows.append(("sweep(), 300 x 300 map lr x beta1", 90_000, best_of(lambda: map_300(a.steps), repeats=1)))
    if not a.skip_map:
        rows.append(("sweep(), 10^6 rows (250 x 250 x 16 seeds)", 1_000_000, best_of(lambda: million(50), repeats=1)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB: the whole process, all rows above
    out = []
    for name, n, t in rows:
        steps = 50 if n == 1_000_000 else a.steps
        cps = n * steps / t
        out.append((name, f"{n:,}", steps, f"{t:.3f}", f"{cps:,.0f}", f"{cps / cps_loop:,.0f}x"))
    print(table(out, ("", "configs", "steps", "seconds", "config-steps/s", "vs loop")))
    print(f"\naims: 10 000 x {a.steps} sweep < 1 s and >= 2000x the loop; 300 x 300 map < 5 s")
    if not a.skip_map:
        print(f"peak memory of this whole process, 10^6-row sweep included: {peak:.0f} MB "
              "(aim: < 2 GB; rows run in chunks of 2^17)")


if __name__ == "__main__":
    main()
