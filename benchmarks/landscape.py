"""A loss-landscape grid point against one training step, per task, side by side in one run.

    python benchmarks/landscape.py [--tasks digits-mlp,char-lstm] [--device cpu] [--threads 1] [--points 20]

  training step   the runner's own update (training/runner.py: a minibatch of the task's default size,
                  forward, backward, Adam's rule on the flat buffer), median over --steps after warm-up
  point (val)     one grid point as training/landscape/probe.py evaluates it: w0 + a·d1 + b·d2 written into
                  the flat buffer, then the task's evaluate() on its validation set (loss and metric)
  point (train)   the same on the fixed training batch (TRAIN_BATCHES x the task's batch, loss only)
Each point time is the median over --points points of a real grid (Probe.grid); the last column is
what a 51 x 51 grid (2 601 points) costs on the validation set. Threads: --threads (default 1, what
a page's landscape worker gets next to a running job on 2 cores). Only the CPU can be measured
where no GPU is lent; --device cuda prints the same table on a machine with one.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import table  # puts the repository on sys.path for the imports below

from optimizers import RunConfig  # noqa: E402
from training import tasks  # noqa: E402
from training.job import Job  # noqa: E402
from training.landscape.directions import random_plane  # noqa: E402
from training.landscape.probe import Probe  # noqa: E402
from training.landscape.spec import DEFAULT_N  # noqa: E402
from training.runner import _Run, _sync  # noqa: E402


class _Null:
    def start(self, *a):
        pass

    def steps(self, rows):
        pass

    def evals(self, rows):
        pass

    def finish(self, *a):
        pass

    def cancelled(self):
        return False


def step_seconds(job: Job, steps: int) -> float:
    """Median seconds of one training update, exactly as the runner makes it."""
    run = _Run(job, _Null(), flush_every=1e9, buffer_steps=1 << 20)
    run.setup()
    run.start_log()
    times = []
    for i in range(steps + 5):
        _sync(run.dev)
        t0 = time.perf_counter()
        run.update(i, None)
        _sync(run.dev)
        if i >= 5:  # warm-up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def point_seconds(job: Job, data: str, points: int, device: str) -> float:
    """Median seconds of one grid point (Probe.grid) on `data`."""
    probe = Probe.of_run(job, data, device)
    w0 = probe.fp.flat.detach().clone()
    d1, d2 = random_plane(w0, probe.layout, seed=0)
    xs = [i / points - 0.5 for i in range(points)]
    list(probe.grid(w0, d1, d2, xs[:2], [0.0]))  # warm-up
    times = []
    t0 = time.perf_counter()
    for _, losses, _ in probe.grid(w0, d1, d2, xs, [0.1, -0.1]):
        t1 = time.perf_counter()
        times.append((t1 - t0) / len(losses))  # a row's points, each a write and an evaluation
        t0 = t1
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default=",".join(tasks.names()))
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--points", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.tasks.split(","):
        t = tasks.get(name)
        job = Job(task=name, run=RunConfig("adam", {"lr": t.default_lr}), device=args.device, steps=10**6)
        step = step_seconds(job, args.steps)
        val = point_seconds(job, "val", args.points, args.device)
        trn = point_seconds(job, "train", args.points, args.device)
        n = DEFAULT_N * DEFAULT_N
        rows.append((name, f"{Probe.of_run(job, 'val', args.device).fp.numel:,}", f"{step * 1e3:.2f} ms",
                     f"{val * 1e3:.2f} ms", f"{val / step:.1f}x", f"{trn * 1e3:.2f} ms", f"{trn / step:.1f}x",
                     f"{n * val:.0f} s"))
    print(f"device {args.device}, {args.threads} thread(s), torch {torch.__version__}")
    print(table(rows, ("task", "params", "training step", "point (val)", "/ step", "point (train)", "/ step",
                       "51x51 grid (val)")))


if __name__ == "__main__":
    main()
