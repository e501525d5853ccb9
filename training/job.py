"""A training job: everything that defines one run, as a frozen, hashable, JSON-able spec.

The runner (training/runner.py) executes a Job and reports to a Sink; the store
(training/store.py) is the Sink that persists runs in SQLite; the command line and the
pages build Jobs and hand them to worker processes (training/workers.py).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

SMOOTHNESS_POINTS = 40  # (L0, L1) points a run measures by default: one extra backward each


def auto_smoothness_every(steps: int) -> int:
    """The default smoothness interval for a run of `steps` updates: about SMOOTHNESS_POINTS estimates
    (the Train page and the command line both use it, so every run has an (L0, L1) picture)."""
    return max(1, int(steps) // SMOOTHNESS_POINTS)


@dataclass(frozen=True)
class Job:
    task: str  # a name from training.tasks.names(): "digits-mlp", "char-lstm", ...
    optimizer: str = "adam"  # a name from optimizers.names()
    hparams: tuple[tuple[str, Any], ...] = ()  # (name, value) pairs; left-out ones take defaults
    clip: tuple[str, float] | None = None  # (kind, threshold), kind from optimizers.clip_kinds()
    schedule: tuple[str, tuple[tuple[str, Any], ...]] | None = None  # (name, kw pairs)
    steps: int = 0  # 0: the task's default budget
    batch_size: int = 0  # 0: the task's default
    seed: int = 0
    device: str = "auto"  # "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:1", "mps"
    amp: bool = False  # autocast: bfloat16 (float16 with loss scaling on GPUs without bf16), any device
    compile: bool = False  # torch.compile the model and the optimizer step, any device
    size: float = 1.0  # scales the task's model/data up for real GPU comparisons
    eval_every: int = 0  # 0: the task's default
    smoothness_every: int = 0  # 0: never; else estimate local smoothness every N steps
    flooding: float | None = None  # Ishida et al. 2020: train on |loss - b| + b
    label: str = ""  # a person's name for the run

    def hparams_dict(self) -> dict:
        return {k: tuple(v) if isinstance(v, list) else v for k, v in self.hparams}

    def schedule_tuple(self) -> tuple[str, dict] | None:
        return None if self.schedule is None else (self.schedule[0], dict(self.schedule[1]))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> Job:
        d = json.loads(text)
        d["hparams"] = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in d.get("hparams", ()))
        if d.get("clip") is not None:
            d["clip"] = (d["clip"][0], float(d["clip"][1]))
        if d.get("schedule") is not None:
            d["schedule"] = (d["schedule"][0], tuple((k, v) for k, v in d["schedule"][1]))
        return Job(**d)


@dataclass
class StepRow:
    """What the runner logs per optimizer step."""

    step: int
    loss: float
    lr: float
    grad_norm: float  # before clipping, over the whole model
    clip_coef: float
    wall: float  # seconds since the run started


@dataclass
class EvalRow:
    """What the runner logs every eval_every steps (and at the end)."""

    step: int
    val_loss: float
    metric: float  # the task's metric (accuracy, bits per char, ...), named by the task
    throughput: float  # training examples (or tokens) per second since the previous eval
    smoothness: float | None = None  # local smoothness estimate at this step, if measured
    grad_norm: float | None = None  # gradient norm at the point where smoothness was measured
    wall: float = 0.0
    extra: dict = field(default_factory=dict)


class Sink(Protocol):
    """Where a running job reports. The store implements it; tests use a list-backed one."""

    def start(self, job: Job, device: str, info: dict) -> None: ...
    def steps(self, rows: list[StepRow]) -> None: ...  # batched: called every flush
    def evals(self, rows: list[EvalRow]) -> None: ...
    # status: "done", "diverged" (non-finite training loss), "cancelled", "failed" ({"error": ...});
    # the store adds "interrupted" for a process killed mid-run
    def finish(self, status: str, summary: dict) -> None: ...
    def cancelled(self) -> bool: ...  # polled by the runner between flushes
