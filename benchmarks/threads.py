"""Threads that fit: training steps/s of 1 and 2 CPU jobs side by side, with torch's default thread count
(a thread per core in every worker) against this project's policy (training.workers.cpu_threads: the
cores shared among the CPU jobs running at once), on an idle machine and next to a busy core; and the
server's own computations: a 300 x 300 hyperparameter map (what the Sweeps page runs in a slot worker,
ui.slots) with one torch thread (deploy.settings().torch_threads, the server's choice) against torch's
default, idle and next to a busy core, each in a fresh process.

    python benchmarks/threads.py [--steps 600] [--task digits-mlp] [--map-steps 100] [--only train|map]

Each configuration launches its jobs through training.workers.launch (worker processes, a fresh
store) and reports the mean training steps/s the runs record (evaluation time excluded). Machines
here are noisy: compare within one run.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time

from _common import table

from training import workers  # noqa: E402  (after _common puts the repo on sys.path)
from training.job import Job  # noqa: E402
from training.store import Store  # noqa: E402


def burn(stop) -> None:
    """A busy core: what another process on a shared machine looks like."""
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def measure(task: str, steps: int, jobs: int, policy: bool) -> float:
    """Mean steps/s of `jobs` runs started together (threads=None: the policy; 0: torch's default)."""
    db = os.path.join(tempfile.mkdtemp(), "runs.sqlite")
    job = Job(task=task, steps=steps, eval_every=steps, smoothness_every=0, device="cpu")
    ids = [workers.launch(job, db, threads=None if policy else 0, concurrent=jobs) for _ in range(jobs)]
    workers.wait(ids, db)
    runs = Store(db).list_runs(ids=ids)
    return sum((r["summary"] or {}).get("steps_per_s") or 0.0 for r in runs) / len(runs)


def map_seconds(threads: int, steps: int) -> float:
    """Wall seconds of a 300 x 300 map (Adam, lr x beta1 on Rosenbrock) in a fresh process with `threads`
    torch threads (0: torch's default, a thread per core)."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_map_in_process, (threads, steps))


def _map_in_process(threads: int, steps: int) -> float:
    import torch

    import trajectories

    if threads:
        torch.set_num_threads(threads)
    axes = [trajectories.Axis.span("lr", 1e-4, 1e-1, 300, log=True), trajectories.Axis.span("betas.0", 0.0, 0.99, 300)]
    trajectories.sweep("rosenbrock", "adam", (-1.5, 2.0), 5, axes)  # warm: imports, first kernels
    t0 = time.perf_counter()
    trajectories.sweep("rosenbrock", "adam", (-1.5, 2.0), steps, axes)
    return time.perf_counter() - t0


def busy_core(busy: bool):
    stop = multiprocessing.Event()
    burner = multiprocessing.Process(target=burn, args=(stop,), daemon=True) if busy else None
    if burner:
        burner.start()
        time.sleep(0.5)
    return stop, burner


def map_table(steps: int) -> None:
    import torch

    rows = []
    for busy in (False, True):
        stop, burner = busy_core(busy)
        try:
            default, one = map_seconds(0, steps), map_seconds(1, steps)
        finally:
            if burner:
                stop.set()
                burner.join(5)
        rows.append(("next to a busy core" if busy else "idle", f"{default:.2f}", f"{one:.2f}",
                     f"{default / one:.1f}x"))
    print(f"300 x 300 map (Adam on Rosenbrock, lr x beta1), {steps} steps, {os.cpu_count()} cores: seconds")
    print(table(rows, ("machine", f"torch default ({torch.get_num_threads()} threads)", "1 thread (the server's)",
                       "default / 1 thread")))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--task", default="digits-mlp")
    p.add_argument("--map-steps", type=int, default=100)
    p.add_argument("--only", choices=("train", "map"), default=None)
    args = p.parse_args()
    if args.only != "train":
        map_table(args.map_steps)
    if args.only == "map":
        return
    rows = []
    for busy in (False, True):
        stop = multiprocessing.Event()
        burner = multiprocessing.Process(target=burn, args=(stop,), daemon=True) if busy else None
        if burner:
            burner.start()
            time.sleep(0.5)
        try:
            for jobs in (1, 2):
                default = measure(args.task, args.steps, jobs, policy=False)
                policy = measure(args.task, args.steps, jobs, policy=True)
                rows.append(("next to a busy core" if busy else "idle", jobs, f"{default:.0f}", f"{policy:.0f}",
                             f"{policy / default:.1f}x" if default else "-"))
        finally:
            if burner:
                stop.set()
                burner.join(5)
    print(f"{args.task}, {args.steps} steps per job, {os.cpu_count()} cores: mean training steps/s per job")
    print(table(rows, ("machine", "jobs at once", "torch default", "policy (cores shared)", "policy / default")))


if __name__ == "__main__":
    main()
