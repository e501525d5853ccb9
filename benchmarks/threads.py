"""Threads that fit: training steps/s of 1 and 2 CPU jobs side by side, with torch's default thread count
(a thread per core in every worker) against this project's policy (training.workers.cpu_threads: the
cores shared among the CPU jobs running at once), on an idle machine and next to a busy core.

    python benchmarks/threads.py [--steps 600] [--task digits-mlp]

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--task", default="digits-mlp")
    args = p.parse_args()
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
