"""Where the Train page's runs go: this machine's worker processes (the default) or a Ray cluster
(training.ray_backend), offered where Ray is installed and the server is not public (a visitor
never reaches a cluster). No streamlit here: the page calls these.

    ray_offered(public) -> bool
    connect() -> (Cluster | None, error)      # $RAY_ADDRESS (auto, HOST:PORT), else a local cluster
    check(job, cluster)                       # workers.check_job + the cluster can place it
    launch(jobs, cluster, db_path, owner) -> (run ids, errors, note)
"""
from __future__ import annotations

import os

from training import ray_backend, workers
from training.job import Job

LOCAL, RAY = "local", "ray"
TEXT = {LOCAL: "this machine (worker processes)", RAY: "a Ray cluster"}


def ray_offered(public: bool) -> bool:
    return not public and ray_backend.available() is None


def where() -> str:
    """Where a Ray run of this server goes, before connecting."""
    address = os.environ.get("RAY_ADDRESS")
    if address:
        return f"the Ray cluster at {address} ($RAY_ADDRESS)"
    return "a local Ray cluster this server starts (set RAY_ADDRESS=auto to join one `ray start --head` runs here)"


def connect() -> tuple[ray_backend.Cluster | None, str | None]:
    """(the cluster, None), or (None, why it cannot be reached)."""
    try:
        return ray_backend.connect(), None
    except RuntimeError as e:
        return None, str(e)


def device_choices(cluster: ray_backend.Cluster) -> list[str]:
    """auto (one GPU per run where the cluster has GPUs, else CPU threads), cpu, and cuda with GPUs."""
    return ["auto", "cpu"] + ["cuda"] * any(n.gpus >= 1 for n in cluster.nodes)


def check(job: Job, cluster: ray_backend.Cluster) -> None:
    """ValueError (one line) unless the job is valid (workers.check_job) and the cluster can place it."""
    workers.check_job(job, device_here=False)
    ray_backend.check(job, cluster.nodes)


def launch(jobs: list[Job], cluster: ray_backend.Cluster, db_path: str,
           owner: str | None) -> tuple[list[int], list[str], str]:
    """Submit every job (CPU runs share the cluster's cores: ray_backend.placement); (run ids, a line
    per run that could not start, a note saying where they went and with what)."""
    concurrent = max(1, ray_backend.cpu_runs(jobs, cluster.nodes))
    launched, failed, kinds = [], [], set()
    for n, job in enumerate(jobs):
        try:
            place = ray_backend.placement(job, cluster.nodes, concurrent)
            launched.append(ray_backend.launch(job, db_path, place=place, owner=owner))
            kinds.add(place.text())
        except Exception as e:  # never a traceback: say which run could not start
            failed.append(f"Run {n + 1} could not start: {type(e).__name__}: {e}")
    note = f"{len(launched)} run(s) sent to {cluster.text()}; each {' or '.join(sorted(kinds))}." if launched else ""
    return launched, failed, note
