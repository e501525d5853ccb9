"""The Ray backend's placement and flags, without Ray: nodes are injected, so these run everywhere
(the cluster itself is tests/test_ray_backend.py's). What only a GPU cluster can confirm: that Ray's
CUDA_VISIBLE_DEVICES makes "cuda" in each task its own GPU, and the recorded device and GPU ids."""
import numpy as np
import pytest

from training import cli, ray_backend, workers
from training.job import Job
from training.ray_backend import Node, Placement, placement
from training.store import Store

CPU_NODE = Node(cpus=16, host="a")
GPU_NODE = Node(cpus=8, gpus=4, host="g")


def job(device="auto", **kw) -> Job:
    return Job(task="digits-mlp", device=device, **kw)


def test_a_gpu_cluster_gives_each_run_one_gpu():
    for device in ("auto", "cuda"):
        assert placement(job(device), [CPU_NODE, GPU_NODE], concurrent=12) == Placement(1, 1, 1)
    assert placement(job("cpu"), [GPU_NODE], concurrent=1) == Placement(7, 0, 7)  # asked for the CPU: gets it


def test_cpu_runs_share_each_nodes_cores_but_one():
    nodes = [Node(16), Node(16)]
    assert placement(job(), nodes, concurrent=1) == Placement(16, 0, 16)  # at most the largest node
    assert placement(job(), nodes, concurrent=2).threads == 15
    assert placement(job(), nodes, concurrent=12).threads == 2  # 30 spare cores / 12 runs
    assert placement(job(), nodes, concurrent=40).threads == 1  # at least one
    assert placement(job(), [Node(2)], concurrent=2) == Placement(1, 0, 1)
    assert placement(job(), [Node(1)], concurrent=1).threads == 1
    assert placement(job(), [Node(0, gpus=0), Node(4)], concurrent=1).threads == 3  # a node without CPUs adds none


@pytest.mark.parametrize("cores", [1, 2, 3, 8, 9, 16])
@pytest.mark.parametrize("concurrent", [1, 2, 3, 8])
def test_one_node_gets_the_local_pools_thread_count(cores, concurrent, tmp_path):
    """On one node the cluster's policy is the local pool's (workers.cpu_threads, empty store)."""
    local = workers.cpu_threads(Store(tmp_path / "runs.sqlite"), concurrent, cores=cores)
    assert placement(job("cpu"), [Node(cores)], concurrent).threads == local


@pytest.mark.parametrize(("device", "nodes", "message"), [
    ("cuda:1", [GPU_NODE], "each run gets one GPU of its node"),
    ("cuda", [CPU_NODE], "has no GPU"),
    ("cpu", [Node(0, gpus=2)], "no node with a CPU"),
])
def test_devices_the_cluster_cannot_give_are_refused(device, nodes, message):
    with pytest.raises(ValueError, match=message):
        placement(job(device), nodes)


def test_cpu_runs_of_a_grid_are_counted_against_the_cluster():
    jobs = [job("cpu"), job("auto"), job("cuda")]
    assert ray_backend.cpu_runs(jobs, [CPU_NODE]) == 2 and ray_backend.cpu_runs(jobs, [GPU_NODE]) == 1


def test_placement_text_and_cluster_text():
    assert Placement(1, 1, 1).text() == "one GPU" and Placement(2, 0, 2).text() == "2 CPU threads"
    c = ray_backend.Cluster("auto", (CPU_NODE, GPU_NODE), started_here=False)
    assert c.text() == "the Ray cluster at auto: 2 nodes, 24 CPUs, 4 GPUs"


# ---------------------------------------------------------------- the command line's flags


@pytest.mark.parametrize(("argv", "message"), [
    (["--address", "auto"], "--address goes with --backend ray"),
    (["--retries", "2"], "--retries goes with --backend ray"),
    (["--backend", "ray", "--retries", "-1"], "--retries must be >= 0"),
    (["--backend", "ray", "--device", "cuda:1"], "unknown device|each run gets one GPU"),
    (["--backend", "spark"], "invalid choice"),
])
def test_bad_ray_flags_exit_2_with_one_line(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ray_backend, "connect", lambda *a, **k: ray_backend.Cluster("local", (CPU_NODE,), True))
    code = cli.main(["compare", "--task", "digits-mlp", "--steps", "5", "--db", str(tmp_path / "r.sqlite"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert __import__("re").search(message, err), err


def test_backend_ray_without_ray_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ray_backend, "available", lambda: "Ray is not installed (pip install -r requirements-ray.txt)")
    code = cli.main(["compare", "--task", "digits-mlp", "--steps", "5", "--backend", "ray",
                     "--db", str(tmp_path / "r.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and "requirements-ray.txt" in err and "Traceback" not in err
    assert not (tmp_path / "r.sqlite").exists() or Store(tmp_path / "r.sqlite").list_runs() == []


def test_a_gpu_run_on_a_cluster_is_checked_against_the_cluster_not_this_machine():
    """This machine has no GPU; a cluster that has one accepts a "cuda" run (check_job leaves the device
    to the cluster), and one that has none refuses it."""
    j = job("cuda", steps=10)
    with pytest.raises(ValueError, match="CUDA is not available"):
        workers.check_job(j)
    workers.check_job(j, device_here=False)
    ray_backend.check(j, [GPU_NODE])
    with pytest.raises(ValueError):
        ray_backend.check(j, [CPU_NODE])


# ---------------------------------------------------------------- the store's pieces a Ray run uses


def test_cpu_runs_on_another_machine_do_not_hold_this_machines_cores(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    elsewhere = store.create_run(job("cpu"))
    assert store.mark_running(elsewhere, "cpu", {}, pid=None, host="another-node")
    assert workers.cpu_threads(store, 1, cores=9) == 8
    store.create_run(job("cpu"))  # queued, no host yet: may start here
    assert workers.cpu_threads(store, 1, cores=9) == 4


def test_a_retry_clears_the_rows_and_a_late_start_never_revives_a_cancelled_run(tmp_path):
    from training.job import EvalRow, StepRow
    from training.store import RunSink

    store = Store(tmp_path / "runs.sqlite")
    run_id = store.create_run(job())
    sink = RunSink(store, run_id, heartbeat_every=0)
    sink.start(job(), "cpu", {})
    sink.steps([StepRow(i, 1.0, 0.1, 1.0, 1.0, 0.0) for i in range(5)])
    sink.evals([EvalRow(5, 1.0, 0.5, 1.0)])
    sink.snapshot(5, np.zeros(3))
    store.clear_rows(run_id)
    assert len(store.steps(run_id)["step"]) == 0 and len(store.evals(run_id)["step"]) == 0
    assert store.snapshot_counts() == {}
    assert store.status(run_id) == "running"
    store.set_status(run_id, "cancelled")
    assert not store.mark_running(run_id, "cpu", {"x": 1}, pid=None, host="n", only_if_active=True)
    assert store.status(run_id) == "cancelled" and store.run(run_id)["device_info"] == {}
