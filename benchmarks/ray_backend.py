"""The Ray backend against the local worker pool, side by side in one run: the cluster's startup, the
overhead per run (runs of one step: almost nothing but starting, reporting and ending), and a real
grid (digits-mlp), all through the same `python -m training compare` (training.cli.main, in-process).

    python benchmarks/ray_backend.py [--runs 8] [--parallel 2] [--steps 600]

The local pool starts a fresh interpreter per run (spawn + import torch); Ray starts its workers
once and reuses them, so its first grid pays the imports and the next ones do not. Both give each
run one thread at --parallel 2 on 2 cores (training.workers.cpu_threads; ray_backend.placement).
Ray runs its workers 15 niceness levels below the process that started it (RAY_worker_niceness):
on a machine busy with other work they yield to it; --ray-niceness 0 compares like with like.
Needs Ray (pip install -r requirements-ray.txt). Machines here are noisy: compare within one run.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time

from _common import table

from training import cli, ray_backend  # noqa: E402  (after _common puts the repo on sys.path)
from training.store import Store  # noqa: E402


def compare(args: list[str]) -> tuple[float, list[dict]]:
    """(wall seconds, the runs) of one `compare` into a fresh store."""
    db = os.path.join(tempfile.mkdtemp(), "runs.sqlite")
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["compare", *args, "--db", db, "-q"])  # the table it prints: not needed here
    wall = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"compare {' '.join(args)} failed ({code}): {err.getvalue()[-2000:]}")
    return wall, Store(db).list_runs(newest_first=False)


def grid(runs: int, steps: int) -> list[str]:
    """`runs` digits-mlp runs of `steps` steps (seeds 0..runs-1), one CPU thread each at --parallel 2."""
    return ["--task", "digits-mlp", "--optimizer", "adam", "--lr", "1e-3", "--steps", str(steps), "--device", "cpu",
            "--seed", ",".join(str(s) for s in range(runs)), "--eval-every", str(steps), "--smoothness-every", "0"]


def wall_of(result: tuple[float, list[dict]]) -> float:
    return result[0]


def start_latency(runs: list[dict]) -> float:
    """Median seconds from a run's creation (queued) to its first report (running)."""
    return statistics.median(r["started"] - r["created"] for r in runs)


def steps_per_s(runs: list[dict]) -> float:
    return statistics.mean((r["summary"] or {}).get("steps_per_s") or 0.0 for r in runs)


def ray_memory_mb() -> float:
    """Resident memory of this machine's Ray processes (GCS, raylet, workers, the writer actor), MB."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ")
            if b"ray::" not in cmd and b"/ray/core/src/ray/" not in cmd and b"ray/_private/" not in cmd:
                continue
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=8, help="runs per grid (default 8)")
    p.add_argument("--parallel", type=int, default=2, help="runs at once, both backends (default 2)")
    p.add_argument("--steps", type=int, default=600, help="steps of the real grid's runs (default 600)")
    p.add_argument("--alone-steps", type=int, default=3000, help="steps of the run timed alone (default 3000)")
    p.add_argument("--ray-niceness", type=int, default=None,
                   help="RAY_worker_niceness for the local cluster (default: Ray's own, 15 above this process; "
                        "0: the local pool's)")
    args = p.parse_args()
    if args.ray_niceness is not None:
        os.environ["RAY_worker_niceness"] = str(args.ray_niceness)  # read by the raylet ray.init starts
    reason = ray_backend.available()
    if reason:
        raise SystemExit(reason)
    par = ["--parallel", str(args.parallel)]
    tiny, real = grid(args.runs, 1), grid(max(2, args.runs // 2), args.steps)

    local_tiny, lt = compare([*tiny, *par])
    t0 = time.perf_counter()
    cluster = ray_backend.connect("local", num_cpus=args.parallel)
    t1 = time.perf_counter()
    ray_backend.writer()
    startup, actor = t1 - t0, time.perf_counter() - t1
    ray_cold, _ = compare([*tiny, *par, "--backend", "ray"])
    ray_warm, rw = compare([*tiny, *par, "--backend", "ray"])
    local, on_ray = [], []
    for _ in range(2):  # the real grid twice each, alternating: the load of a shared machine drifts
        local.append(compare([*real, *par]))
        on_ray.append(compare([*real, *par, "--backend", "ray"]))
    local_real, ray_real = min(map(wall_of, local)), min(map(wall_of, on_ray))
    alone, alone_ray = [], []
    for _ in range(2):  # one run by itself: the training's own speed, nothing running beside it
        alone.append(steps_per_s(compare(grid(1, args.alone_steps))[1]))
        alone_ray.append(steps_per_s(compare([*grid(1, args.alone_steps), "--backend", "ray"])[1]))
    memory = ray_memory_mb()
    ray_backend.shutdown()

    n, m = len(lt), len(local[0][1])
    rows = [
        ("startup: ray.init of a local cluster", "-", f"{startup:.2f} s", "-"),
        ("  then the writer actor", "-", f"{actor:.2f} s", "-"),
        (f"{n} runs x 1 step, wall", f"{local_tiny:.2f} s", f"{ray_cold:.2f} s", f"{ray_cold / local_tiny:.2f}x"),
        ("  per run (wall / runs)", f"{local_tiny / n:.2f} s", f"{ray_cold / n:.2f} s", ""),
        (f"the same {n} runs again (Ray's workers warm)", f"{local_tiny:.2f} s", f"{ray_warm:.2f} s",
         f"{ray_warm / local_tiny:.2f}x"),
        ("  per run", f"{local_tiny / n:.2f} s", f"{ray_warm / n:.2f} s", ""),
        ("  queued -> running, median", f"{start_latency(lt):.2f} s", f"{start_latency(rw):.2f} s", ""),
        (f"{m} runs x {args.steps} steps, wall (the faster of two)", f"{local_real:.2f} s", f"{ray_real:.2f} s",
         f"{ray_real / local_real:.2f}x"),
        (f"one run alone, {args.alone_steps} steps: training steps/s (the faster of two)", f"{max(alone):.0f}",
         f"{max(alone_ray):.0f}", f"{max(alone_ray) / max(alone):.2f}x"),
    ]
    nice = os.environ.get("RAY_worker_niceness", "Ray's default (15)")
    print(f"digits-mlp, --parallel {args.parallel}, {os.cpu_count()} cores, this process at niceness {os.nice(0)}; "
          f"Ray: {cluster.text()}, RAY_worker_niceness {nice}; Ray's processes afterwards: {memory:.0f} MB resident")
    print(table(rows, ("", "local pool", "Ray", "Ray / local")))


if __name__ == "__main__":
    main()
