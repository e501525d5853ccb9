"""`compare --backend ray`: connect to the cluster its flags name, check the grid against it, and
submit each run (training.ray_backend); the grid is then followed through the store like local workers."""
from __future__ import annotations

from collections.abc import Callable

from ..job import Job
from .parse import UsageError


def check_flags(args) -> None:
    """--address and --retries belong to --backend ray."""
    if args.backend != "ray":
        for flag, value in (("--address", args.address), ("--retries", args.retries)):
            if value is not None:
                raise UsageError(f"{flag} goes with --backend ray")
    elif args.retries is not None and args.retries < 0:
        raise UsageError(f"--retries must be >= 0, got {args.retries}")


def connect(args, jobs: list[Job]):
    """Connect to the cluster and check every job against it; the Cluster. UsageError where Ray is
    missing, the cluster cannot be reached, or it cannot run a job (a GPU run without GPUs)."""
    from .. import ray_backend

    reason = ray_backend.available()
    if reason:
        raise UsageError(f"--backend ray: {reason}")
    try:
        cluster = ray_backend.connect(args.address)
    except RuntimeError as e:
        raise UsageError(f"--backend ray: {e}") from None
    for job in jobs:
        try:
            ray_backend.check(job, cluster.nodes)
        except ValueError as e:
            raise UsageError(e.args[0]) from None
    return cluster


def starter(cluster, jobs: list[Job], args, parallel: int, db_path) -> tuple[Callable[[Job, int], int], str]:
    """(start(job, concurrent) -> run id, a line saying where the runs go and with what)."""
    from .. import ray_backend

    concurrent = min(parallel, max(1, ray_backend.cpu_runs(jobs, cluster.nodes)))
    places = {job: ray_backend.placement(job, cluster.nodes, concurrent) for job in jobs}
    retries = ray_backend.RETRIES if args.retries is None else args.retries

    def start(job: Job, _concurrent: int) -> int:
        return ray_backend.launch(job, db_path, place=places[job], retries=retries, target=args.target)

    kinds = sorted({p.text() for p in places.values()})
    return start, f"on {cluster.text()}; each run {' or '.join(kinds)}, up to {retries} retries"
