"""The commands that train: `run` (here, with a progress bar) and `compare` (a grid of runs, one by one
here or in worker processes)."""
from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable

from ..job import Job, label_of
from ..store import ACTIVE, Store
from .commands import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, _store
from .format import _compare_table, _result_line
from .jobs import job_from_args, jobs_from_grid, validate
from .progress import Progress, _Interrupts


def _total_steps(job: Job) -> int | None:
    from .. import tasks

    return job.steps or tasks.budget(job.task)


def _foreground(store: Store, job: Job, args, prefix: str, interrupts: _Interrupts) -> tuple[int, str]:
    """Create a run for job and train it here; returns (run_id, final status)."""
    from ..workers import execute

    run_id = store.create_run(job, pid=os.getpid())
    err = sys.stderr
    err.write(f"{prefix}run {run_id}: {job.task} {label_of(job)} -> {store.path}\n")
    err.flush()

    def wrap(sink):
        p = Progress(sink, _total_steps(job), prefix=prefix, stream=err, enabled=not args.quiet)
        interrupts.progress = p
        if interrupts.stopping:
            p.stop()
        return p

    status = execute(run_id, store, target=args.target, wrap=wrap)
    if interrupts.progress is not None:
        interrupts.progress.end()
    interrupts.progress = None
    return run_id, status


def cmd_run(args) -> int:
    job = job_from_args(args)
    validate(job)
    store = _store(args)
    with _Interrupts(sys.stderr) as interrupts:
        try:
            run_id, status = _foreground(store, job, args, "", interrupts)
        except KeyboardInterrupt:  # between runs' bookkeeping: nothing half-written
            return EXIT_INTERRUPTED
    print(_result_line(store, run_id))
    return {"done": EXIT_OK, "diverged": EXIT_OK, "failed": EXIT_FAILED}.get(status, EXIT_INTERRUPTED)


def cmd_compare(args) -> int:
    from . import cluster as ray_cli

    err = sys.stderr

    def note(msg):
        err.write(msg + "\n")

    ray_cli.check_flags(args)
    jobs = jobs_from_grid(args, note)
    on_ray = args.backend == "ray"
    for job in jobs:
        validate(job, device_here=not on_ray)  # a Ray run's device is checked against the cluster
    cluster = ray_cli.connect(args, jobs) if on_ray else None
    store = _store(args)
    parallel = args.parallel or (len(jobs) if on_ray else 1)
    if on_ray:
        start, where = ray_cli.starter(cluster, jobs, args, parallel, store.path)
    else:
        start, where = _local_starter(store, args), (f"{parallel} at a time" if parallel > 1 else "")
    err.write(f"{len(jobs)} runs of {args.task}" + (f", {where}" if where else "") + f" -> {store.path}\n")
    err.flush()
    if on_ray or parallel > 1:
        run_ids, stopped = _compare_parallel(store, jobs, args, parallel, start)
    else:
        run_ids, stopped = _compare_here(store, jobs, args)
    if stopped:
        err.write(f"stopped: {len(run_ids)} of {len(jobs)} runs started\n")
    if run_ids:
        print(_compare_table(store, run_ids))
    statuses = {r["status"] for r in store.list_runs(ids=run_ids)}
    if stopped:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if "failed" in statuses or "interrupted" in statuses else EXIT_OK


def _compare_here(store: Store, jobs: list[Job], args) -> tuple[list[int], bool]:
    """Train the jobs one after another in this process; returns (run ids, stopped by Ctrl-C)."""
    err = sys.stderr
    run_ids, stopped = [], False
    with _Interrupts(err) as interrupts:
        for i, job in enumerate(jobs):
            try:
                run_id, status = _foreground(store, job, args, f"[{i + 1}/{len(jobs)}] ", interrupts)
            except KeyboardInterrupt:
                stopped = True
                break
            run_ids.append(run_id)
            if not args.quiet:
                err.write(f"[{i + 1}/{len(jobs)}] " + _result_line(store, run_id) + "\n")
            if interrupts.stopping or status == "interrupted":
                stopped = True
                break
    return run_ids, stopped


def _local_starter(store: Store, args) -> Callable[[Job, int], int]:
    """start(job, concurrent) -> run id: a local worker process (CPU threads shared with `concurrent`)."""
    from .. import workers

    def start(job: Job, concurrent: int) -> int:
        return workers.launch(job, store.path, target=args.target, validate=False, concurrent=concurrent)

    return start


def _compare_parallel(store: Store, jobs: list[Job], args, parallel: int,
                      start: Callable[[Job, int], int]) -> tuple[list[int], bool]:
    """Run the jobs, up to `parallel` at once, each started by start(job, concurrent) (a worker process
    or a Ray task) and followed through the store; returns (run ids, stopped by Ctrl-C)."""
    from .. import workers

    err = sys.stderr
    tty = err.isatty()
    pending = list(jobs)
    run_ids: list[int] = []
    active: list[int] = []
    totals: dict[int, int | None] = {}
    last_draw = 0.0
    old_handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where the shell started us ignoring it
    signal.signal(signal.SIGTERM, workers._raise_terminated)
    try:
        while pending or active:
            while pending and len(active) < parallel:
                job = pending.pop(0)
                # a CPU job shares the cores with the CPU runs active in the store and the others of this grid
                rid = start(job, min(parallel, len(pending) + 1))
                totals[rid] = _total_steps(job)
                run_ids.append(rid)
                active.append(rid)
                err.write(f"{'' if not tty else chr(13) + ' ' * 100 + chr(13)}run {rid} started: "
                          f"{label_of(job)}\n")
            time.sleep(0.2)
            store.reap()
            runs = {r["id"]: r for r in store.list_runs(ids=active)}
            for rid in list(active):
                if runs[rid]["status"] not in ACTIVE:
                    active.remove(rid)
                    if tty:
                        err.write("\r" + " " * 100 + "\r")
                    if not args.quiet:
                        err.write(_result_line(store, rid) + "\n")
            now = time.monotonic()
            if not args.quiet and active and now - last_draw >= (0.5 if tty else 10.0):
                last_draw = now
                done = len(run_ids) - len(active)
                parts = []
                for rid in active:
                    r = runs[rid]
                    step = 0 if r["last_step"] is None else r["last_step"] + 1
                    parts.append(f"#{rid} {step}/{totals[rid] or '?'}")
                text = f"{done}/{len(jobs)} done; running " + ", ".join(parts)
                err.write(("\r" + text[:99].ljust(99)) if tty else text + "\n")
            err.flush()
    except (KeyboardInterrupt, workers.Terminated):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the workers be cancelled in peace
        err.write("\nstopping: cancelling the running workers...\n")
        for rid in active:
            store.request_cancel(rid)
        for rid in active:
            workers.cancel(rid, store.path, grace=workers.GRACE)
        return run_ids, True
    finally:
        signal.signal(signal.SIGINT, old_handlers[0])
        signal.signal(signal.SIGTERM, old_handlers[1])
    if tty:
        err.write("\r" + " " * 100 + "\r")
    return run_ids, False
