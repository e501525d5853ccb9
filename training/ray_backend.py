"""Training grids on a Ray cluster: the same Jobs, trainer and run store as the local worker pool.

    cluster = connect(address)                  # None: $RAY_ADDRESS, else a new local cluster
    place = placement(job, cluster.nodes, concurrent=len(jobs))   # one GPU per run, or CPU threads
    run_id = launch(job, db_path, place=place)  # queued in the store; a Ray task trains it
    # then as for local runs: poll the store (workers.wait), cancel through it (workers.cancel)

Ray is optional (requirements-ray.txt): nothing else in the project imports this module unasked,
and available() says why it cannot be used. Rows come back to the store of the launching machine
through one actor there (training/ray_sink.py: a retried task starts from scratch, its rows
replacing the earlier attempt's; cancel works as for local runs).

Placement (a pure function of the job and the cluster's nodes, so tests inject nodes):
- a run whose device is "cuda", or "auto" on a cluster with GPUs, asks Ray for one GPU (num_gpus=1:
  Ray sets CUDA_VISIBLE_DEVICES, so "cuda" in the task is that GPU) and one CPU;
- a CPU run ("cpu", or "auto" on a cluster without GPUs) asks for t CPUs and trains with t torch
  threads: the cluster's cores but one per node (training.workers.share_cores, the local policy)
  shared among the CPU runs in flight, at least 1, at most the largest node. Ray then never puts
  more threads on a node than it has CPUs.
"""
from __future__ import annotations

import atexit
import dataclasses
import importlib.util
import os
import threading
from dataclasses import dataclass

from .job import Job
from .store import Store
from .workers import DEFAULT_TARGET, GRACE, ROOT, share_cores

RETRIES = 3  # Ray's own default for tasks: restarts after a worker or node death
OBJECT_STORE_MB = 100  # a local cluster's shared memory: rows are small, and the machine is shared
INSTALL = "pip install -r requirements-ray.txt"
# what a cluster's nodes get of this checkout (Ray also leaves out what .gitignore names)
EXCLUDES = [".git", "runs.sqlite*", "artifacts", "__pycache__", ".venv", "*.sqlite", ".pytest_cache"]


def available() -> str | None:
    """None where Ray can be used here, else why not (one line, saying what to install)."""
    if importlib.util.find_spec("ray") is None:
        return f"Ray is not installed ({INSTALL})"
    return None


@dataclass(frozen=True)
class Node:
    """One alive node of the cluster: its logical CPUs and GPUs (Ray's resources) and its host name."""

    cpus: float
    gpus: float = 0.0
    host: str = ""


@dataclass(frozen=True)
class Placement:
    """What a run's task asks Ray for, and the torch threads it trains with."""

    num_cpus: int
    num_gpus: int
    threads: int

    def text(self) -> str:
        return "one GPU" if self.num_gpus else f"{self.threads} CPU thread{'s' * (self.threads != 1)}"


@dataclass(frozen=True)
class Cluster:
    """A connection's view of the cluster."""

    address: str  # what was asked for: "local" (started here), "auto", "HOST:PORT"
    nodes: tuple[Node, ...]
    started_here: bool

    def text(self) -> str:
        cpus = sum(n.cpus for n in self.nodes)
        gpus = sum(n.gpus for n in self.nodes)
        where = "a local Ray cluster" if self.started_here else f"the Ray cluster at {self.address}"
        return (f"{where}: {len(self.nodes)} node{'s' * (len(self.nodes) != 1)}, {cpus:g} CPUs, "
                f"{gpus:g} GPU{'s' * (gpus != 1)}")


# ---------------------------------------------------------------- placement (pure)


def wants_gpu(job: Job, nodes: tuple[Node, ...] | list[Node]) -> bool:
    return job.device == "cuda" or (job.device == "auto" and any(n.gpus >= 1 for n in nodes))


def check(job: Job, nodes: tuple[Node, ...] | list[Node]) -> None:
    """Raise ValueError (one line) unless the cluster can run `job` where it asks to run."""
    if job.device.startswith("cuda:"):
        raise ValueError(f"device {job.device!r}: on a Ray cluster each run gets one GPU of its node "
                         "(Ray sets CUDA_VISIBLE_DEVICES); use --device cuda or auto")
    if job.device == "cuda" and not any(n.gpus >= 1 for n in nodes):
        raise ValueError("device 'cuda' asked for, but the Ray cluster has no GPU; use auto or cpu")
    if not wants_gpu(job, nodes) and not any(n.cpus >= 1 for n in nodes):
        raise ValueError("the Ray cluster has no node with a CPU to spare")


def placement(job: Job, nodes: tuple[Node, ...] | list[Node], concurrent: int = 1) -> Placement:
    """The resources of `job`'s task where `concurrent` CPU runs are in flight together (see the
    module's docstring). On one node it is workers.cpu_threads's answer for an empty store."""
    check(job, nodes)
    if wants_gpu(job, nodes):
        return Placement(num_cpus=1, num_gpus=1, threads=1)
    cpu_nodes = [int(n.cpus) for n in nodes if n.cpus >= 1]
    spare = sum(share_cores(c, 1) for c in cpu_nodes)  # each node's cores but one
    t = max(1, min(max(cpu_nodes), share_cores(spare + 1, concurrent)))
    return Placement(num_cpus=t, num_gpus=0, threads=t)


def cpu_runs(jobs: list[Job], nodes: tuple[Node, ...] | list[Node]) -> int:
    return sum(not wants_gpu(j, nodes) for j in jobs)


# ---------------------------------------------------------------- connecting


_LOCK = threading.Lock()
_STATE: dict = {"cluster": None, "writer": None}  # this process's connection and its writer actor


def connect(address: str | None = None, *, num_cpus: int | None = None,
            object_store_mb: int = OBJECT_STORE_MB) -> Cluster:
    """Connect this process to a Ray cluster (once; later calls return the same connection).

    address: "auto" (the cluster `ray start --head` runs on this machine), "HOST:PORT" (a head
    node's), "local" (a new cluster in this process's lifetime: num_cpus, default all cores, and a
    small object store) or None ($RAY_ADDRESS where set, else "local"). A cluster this process did
    not start gets this checkout as the tasks' working directory (Ray ships it to every node).
    Where this process is already connected (ray.init was called), that connection is used as is.
    A later call returns the same connection with the nodes alive now.
    Raises RuntimeError (one line) where Ray is missing or the cluster cannot be reached."""
    with _LOCK:
        if _STATE["cluster"] is not None:  # connected: its nodes as they are now (nodes join and leave)
            _STATE["cluster"] = dataclasses.replace(_STATE["cluster"], nodes=nodes())
            return _STATE["cluster"]
        reason = available()
        if reason:
            raise RuntimeError(reason)
        import ray

        address = address or os.environ.get("RAY_ADDRESS") or "local"
        started = False
        if not ray.is_initialized():
            local = address == "local"
            kw = dict(num_cpus=num_cpus, object_store_memory=object_store_mb * 2**20) if local else {}
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         logging_level="ERROR", configure_logging=True,
                         runtime_env={"working_dir": str(ROOT), "excludes": EXCLUDES}, **kw)
            except Exception as e:  # ConnectionError, ValueError (a malformed address), RuntimeError
                raise RuntimeError(f"cannot reach the Ray cluster at {address}: {_first_line(e)}") from None
            started = local
            atexit.register(shutdown)
        _STATE["cluster"] = Cluster(address, nodes(), started)
        return _STATE["cluster"]


def nodes() -> tuple[Node, ...]:
    """The alive nodes of the connected cluster."""
    import ray

    return tuple(Node(float(n["Resources"].get("CPU", 0)), float(n["Resources"].get("GPU", 0)),
                      str(n.get("NodeManagerHostname", ""))) for n in ray.nodes() if n.get("Alive"))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def writer():
    """This process's StoreWriter actor (one for every store it launches into), on this machine's node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from .ray_sink import StoreWriter

    with _LOCK:
        if _STATE["writer"] is None:
            here = ray.get_runtime_context().get_node_id()
            handle = ray.remote(StoreWriter).options(
                num_cpus=0, max_concurrency=64, max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
            ).remote(grace=GRACE)
            ray.get(handle.where.remote())  # started before a task reports to it
            _STATE["writer"] = handle
        return _STATE["writer"]


def launch(job: Job, db_path: str | os.PathLike | None = None, *, place: Placement, retries: int = RETRIES,
           target: str = DEFAULT_TARGET, owner: str | None = None) -> int:
    """Create a run for `job` (queued, no local process: pid NULL) and submit its Ray task; returns
    the run id. The caller checked the job (workers.check_job(job, device_here=False), check()) and
    connected. retries: restarts after the task's worker or node died (from scratch)."""
    import ray

    store = Store(db_path)
    handle = writer()
    run_id = store.create_run(job, owner=owner)
    options = {"num_cpus": place.num_cpus, "num_gpus": place.num_gpus, "max_retries": int(retries),
               "retry_exceptions": False, "name": f"training-run-{run_id}"}
    try:
        ray.get(handle.submit.remote((str(store.path), run_id), job.to_json(), options, place.threads, str(target)))
    except Exception as e:
        store.set_status(run_id, "failed", error=f"could not submit it to the Ray cluster: {_first_line(e)}")
        raise
    return run_id


def shutdown() -> None:
    """Stop this process's writer (its runs still going are marked interrupted: the process that
    launched them is ending) and disconnect, stopping the cluster if it was started here."""
    with _LOCK:
        handle, _STATE["writer"] = _STATE["writer"], None
        cluster, _STATE["cluster"] = _STATE["cluster"], None
    if cluster is None:
        return
    import ray

    if handle is not None:
        try:
            ray.get(handle.close.remote("the process that launched it ended"), timeout=30)
            ray.kill(handle)
        except Exception:  # the cluster is gone already: nothing left to stop
            pass
    if cluster.started_here:
        ray.shutdown()
