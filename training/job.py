"""A training job: everything that defines one run, as a frozen, hashable, JSON-able spec.

The runner (training/runner.py) executes a Job and reports to a Sink; the store
(training/store.py) is the Sink that persists runs in SQLite; the command line and the
pages build Jobs and hand them to worker processes (training/workers.py).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # importing the optimizers loads torch: the command line's --help does without
    from optimizers.run import RunConfig

FULL_BATCH = "full"  # a Job's batch_size for full-batch gradient descent: the whole training set every step
SMOOTHNESS_POINTS = 40  # (L0, L1) points a run measures by default: one extra backward each


def auto_smoothness_every(steps: int) -> int:
    """The default smoothness interval for a run of `steps` updates: about SMOOTHNESS_POINTS estimates
    (the Train page and the command line both use it, so every run has an (L0, L1) picture)."""
    return max(1, int(steps) // SMOOTHNESS_POINTS)


@dataclass(frozen=True)
class Job:
    """One training run: a run configuration (optimizer, hyperparameters, clipping, schedule; see
    `run` and `Job.of`) on a task, with the training settings. Stored as JSON in these flat fields
    (the store's format since version 1): hparams holds the values given (left-out ones take the
    defaults), clip None means none, schedule None the plain constant lr (or, with `then`, a constant
    first phase); `then` the later phases of a chained schedule (absent in runs stored before chains)."""

    task: str  # a name from training.tasks.names(): "digits-mlp", "char-lstm", ...
    optimizer: str = "adam"  # a name from optimizers.names()
    hparams: tuple[tuple[str, Any], ...] = ()  # (name, value) pairs; left-out ones take defaults
    clip: tuple[str, float] | None = None  # (kind, threshold), kind from optimizers.clip_kinds()
    schedule: tuple[str, tuple[tuple[str, Any], ...]] | None = None  # (name, kw pairs)
    # a chained schedule's later phases: ((milestone, name, kw pairs), ...), as RunConfig.then
    then: tuple[tuple[int, str, tuple[tuple[str, Any], ...]], ...] = ()
    steps: int = 0  # 0: the task's default budget
    batch_size: int | str = 0  # 0: the task's default; FULL_BATCH: the whole training set, without replacement
    seed: int = 0
    device: str = "auto"  # "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:1", "mps"
    amp: bool = False  # autocast: bfloat16 (float16 with loss scaling on GPUs without bf16), any device
    compile: bool = False  # torch.compile the model and the optimizer step, any device
    size: float = 1.0  # scales the task's model/data up for real GPU comparisons
    eval_every: int = 0  # 0: the task's default
    smoothness_every: int = 0  # 0: never; else estimate local smoothness every N steps
    sharpness: bool = False  # measure the top Hessian eigenvalue at every evaluation (training/sharpness.py)
    flooding: float | None = None  # Ishida et al. 2020: train on |loss - b| + b
    snapshots: int = 0  # weight snapshots to keep, evenly spaced from step 0 to the last (the landscape's path)
    label: str = ""  # a person's name for the run

    @classmethod
    def of(cls, task: str, run: RunConfig, **settings: Any) -> Job:
        """The job that trains `run` on `task` (every hyperparameter written out) + the settings
        (steps, batch_size, seed, device, amp, compile, size, eval_every, smoothness_every, sharpness, flooding,
        snapshots, label)."""
        sched = run.schedule_pair
        return cls(task=task, optimizer=run.optimizer, hparams=tuple(run.hparams), clip=run.clip_pair,
                   schedule=None if sched is None else (sched[0], tuple(sched[1].items())), then=run.then,
                   **settings)

    @property
    def run(self) -> RunConfig:
        """The job's run configuration, checked (ValueError, one readable line, where it is invalid)."""
        from optimizers.run import RunConfig

        return RunConfig(self.optimizer, self.hparams_dict(), self.clip, schedule=self.schedule_tuple(),
                         then=self.then)

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
        d["then"] = _phases_of(d.get("then"))
        return Job(**d)


def job_dict(job: Job | Mapping) -> dict:
    """A Job, or the JSON dict of one as the store keeps it, as a plain dict."""
    return json.loads(job.to_json()) if isinstance(job, Job) else dict(job)


def run_of(job: Job | Mapping) -> RunConfig | None:
    """The run configuration of a stored job (a Job or its JSON dict), never raising: None for an
    optimizer this version does not have; otherwise the job's run, with any hyperparameter,
    threshold or schedule argument this version would refuse (a run stored by an older version)
    dropped to its default, so its label and its explorer link still show what can be shown."""
    import optimizers
    from optimizers.run import RunConfig, default_run, hparam_value, schedule_value

    d = job_dict(job)
    opt = d.get("optimizer")
    if opt not in optimizers.names():
        return None
    try:
        return Job(task="", optimizer=opt, hparams=tuple((k, tuple(v) if isinstance(v, list) else v)
                                                          for k, v in d.get("hparams") or ()),
                   clip=_clip_of(d.get("clip")), schedule=d.get("schedule"), then=_phases_of(d.get("then"))).run
    except (ValueError, TypeError, KeyError):
        pass
    known = {h.name for h in optimizers.spec(opt).hparams}
    hp = []
    for item in d.get("hparams") or ():
        try:
            k, v = item
            if k in known:
                hp.append((k, hparam_value(opt, k, tuple(v) if isinstance(v, list) else v)))
        except (ValueError, TypeError, KeyError):
            continue
    clip = _clip_of(d.get("clip"))
    sched, skw = "constant", []
    try:
        name, kw = d.get("schedule") or ("constant", ())
        if name in optimizers.schedule_names():
            sched = name
            for k, v in kw or ():
                try:
                    skw.append((k, schedule_value(name, k, v)))
                except (ValueError, TypeError, KeyError):
                    pass
    except (ValueError, TypeError):
        pass
    then = _phases_of(d.get("then"))
    for h, kw, ph in ((hp, skw, then), (hp, skw, ()), (hp, [], ()), ([], [], ())):  # drop what breaks
        try:
            return RunConfig(opt, tuple(h), clip, schedule=(sched, tuple(kw)), then=ph)
        except ValueError:
            continue
    try:
        return default_run(opt)
    except ValueError:
        return None


def _phases_of(then: Any) -> tuple:
    """Stored phases (JSON lists) as the tuples Job holds: ((milestone, name, ((k, v), ...)), ...)."""
    try:
        return tuple((m, name, tuple((k, v) for k, v in kw)) for m, name, kw in then or ())
    except (TypeError, ValueError):
        return ()  # malformed: Job.run or run_of say what is wrong with the rest


def _clip_of(clip: Any) -> tuple[str, float] | None:
    """A stored (kind, threshold) as a valid one, or None (an unknown kind, a threshold <= 0 -> 1)."""
    import optimizers

    try:
        kind, t = clip
        t = float(t)
    except (ValueError, TypeError):
        return None
    if kind not in optimizers.clip_kinds():
        return None
    return (kind, t if math.isfinite(t) and t > 0 else 1.0)


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
    # optional: snapshot(step, params) keeps the weights (a float32 numpy array (P,)) after `step`
    # updates, where the job asks for snapshots; a sink without it keeps none (the run's notes say so)
