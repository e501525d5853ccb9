"""Configuration-steps per second: one batched simulate() vs the per-configuration loop of peer tools.

The batched side runs 10 000 Adam configurations (log-spaced lr) with norm clipping on Rosenbrock
for 500 steps as rows of one tensor. The loop side is what peer visualizers do: one torch.optim.Adam
per configuration on a 2-element tensor with clip_grad_norm_, timed on a subset and scaled.
Usage: python benchmarks/sweep.py [--rows 10000] [--steps 500] [--loop-configs 20]
"""
from __future__ import annotations

import argparse

import torch  # noqa: E402  (after _common puts the repo on sys.path)
from _common import best_of, table

import surfaces  # noqa: E402
import trajectories  # noqa: E402

CLIP = 1.0
START = (-1.5, 2.0)


def batched(rows: int, steps: int) -> None:
    lrs = torch.logspace(-4, 0, rows, dtype=torch.float64)
    starts = torch.tensor(START, dtype=torch.float64).expand(rows, 2)
    trajectories.simulate("rosenbrock", "adam", starts, steps, hparams={"lr": lrs}, clip=("norm", CLIP),
                          smoothness=False)


def loop(configs: int, steps: int) -> None:
    f = surfaces.get("rosenbrock")
    for lr in torch.logspace(-4, 0, configs).tolist():
        x = torch.tensor(START, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([x], lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            f(x).backward()
            torch.nn.utils.clip_grad_norm_([x], CLIP)
            opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--loop-configs", type=int, default=20)
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    t_batch = best_of(lambda: batched(a.rows, a.steps))
    t_loop = best_of(lambda: loop(a.loop_configs, a.steps), repeats=2)
    cps_batch = a.rows * a.steps / t_batch
    cps_loop = a.loop_configs * a.steps / t_loop
    print(table([
        ("batched simulate()", a.rows, a.steps, f"{t_batch:.3f}", f"{cps_batch:,.0f}", f"{cps_batch / cps_loop:,.0f}x"),
        ("loop of torch.optim", a.loop_configs, a.steps, f"{t_loop:.3f}", f"{cps_loop:,.0f}", "1x"),
    ], ("Adam + norm clip, Rosenbrock", "configs", "steps", "seconds", "config-steps/s", "ratio")))
    print(f"\n{a.rows} x {a.steps} sweep: {t_batch:.3f} s (aim: < 1 s); "
          f"speed-up {cps_batch / cps_loop:,.0f}x (aim: >= 2000x)")


if __name__ == "__main__":
    main()
