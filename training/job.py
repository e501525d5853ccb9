"""A training job: a run configuration on a task plus the training settings, as a frozen, hashable spec.

The runner (training/runner.py) executes a Job and reports to a Sink; the store
(training/store.py) is the Sink that persists runs in SQLite; the command line and the
pages build Jobs and hand them to worker processes (training/workers.py).

The store keeps a Job as JSON in the flat format of its version 1, which this module alone reads
and writes (`Job.to_json`, `Job.from_json`, `run_of` for runs stored by older versions):
    {"task", "optimizer", "hparams": [[name, value], ...], "clip": [kind, threshold] | null,
     "schedule": [name, [[arg, value], ...]] | null, "then": [[milestone, name, [[arg, value], ...]], ...],
     "steps", "batch_size", "seed", ...}
hparams and the schedule's arguments hold the values the job was given (the command line's
`--lr 0.01` stores lr alone, left-out ones take the defaults; a page's run stores every value),
clip null means none, schedule null the plain constant lr (or, with then, a constant first phase).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # importing the optimizers loads torch: the command line's --help does without
    from optimizers.run import RunConfig

FULL_BATCH = "full"  # a Job's batch_size for full-batch gradient descent: the whole training set every step
SMOOTHNESS_POINTS = 40  # (L0, L1) points a run measures by default: one extra backward each
RUN_KEYS = ("optimizer", "hparams", "clip", "schedule", "then")  # the stored JSON's run fields


def auto_smoothness_every(steps: int) -> int:
    """The default smoothness interval for a run of `steps` updates: about SMOOTHNESS_POINTS estimates
    (the Train page and the command line both use it, so every run has an (L0, L1) picture)."""
    return max(1, int(steps) // SMOOTHNESS_POINTS)


@dataclass(frozen=True)
class Job:
    """One training run: `run` (optimizer, hyperparameters, clipping, schedule: an optimizers.RunConfig,
    checked when it was made; default Adam at its defaults) on `task`, with the training settings.
    `given`: the run's values the job was given, in order ("lr", "schedule", "schedule.T_max",
    "schedule.1.eta_min" for phase 1's), which the stored JSON writes alone; None: every value."""

    task: str  # a name from training.tasks.names(): "digits-mlp", "char-lstm", ...
    run: RunConfig = None  # type: ignore[assignment]  # None: RunConfig("adam")
    given: tuple[str, ...] | None = None
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

    def __post_init__(self) -> None:
        if self.run is None:
            from optimizers.run import RunConfig

            object.__setattr__(self, "run", RunConfig("adam"))
        if self.given is not None:
            given = tuple(self.given)
            _stored_run(self.run, given)  # KeyError for a name the run does not have
            object.__setattr__(self, "given", None if given == _given_of(_stored_run(self.run, None)) else given)

    def to_json(self) -> str:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("run", "given")}
        return json.dumps(d | _stored_run(self.run, self.given), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> Job:
        return Job.from_dict(json.loads(text))

    @staticmethod
    def from_dict(d: Mapping) -> Job:
        """The Job of a dict in the stored format (the store's JSON; the command line's flags, which give
        some values and leave the rest to their defaults); ValueError, one line, where its run is not one
        this version can run (run_of still reads a stored one)."""
        settings = {k: v for k, v in d.items() if k not in RUN_KEYS}
        return Job(run=_run_of_dict(d), given=_given_of(d), **settings)


def _stored_run(run: RunConfig, given: tuple[str, ...] | None) -> dict:
    """The run's fields as the store writes them: every value (given None) or the given ones alone."""
    if given is None:
        sched = run.schedule_pair
        return {"optimizer": run.optimizer, "hparams": run.hparams, "clip": run.clip_pair,
                "schedule": None if sched is None else (sched[0], tuple(sched[1].items())), "then": run.then}

    def args(kw, prefix: str) -> tuple:
        kw = dict(kw)
        return tuple((k[len(prefix):], kw[k[len(prefix):]]) for k in given
                     if k.startswith(prefix) and "." not in k[len(prefix):])

    hp = dict(run.hparams)
    return {"optimizer": run.optimizer, "hparams": tuple((k, hp[k]) for k in given if "." not in k and k != "schedule"),
            "clip": run.clip_pair,
            "schedule": (run.schedule, args(run.schedule_kw, "schedule.")) if "schedule" in given else None,
            "then": tuple((m, name, args(kw, f"schedule.{i}.")) for i, (m, name, kw) in enumerate(run.then, 1))}


def _given_of(d: Mapping) -> tuple[str, ...]:
    """The names of the values a stored run (or _stored_run's dict) holds, in its order."""
    out = [k for k, _ in d.get("hparams") or ()]
    if d.get("schedule") is not None:
        out += ["schedule", *(f"schedule.{k}" for k, _ in d["schedule"][1] or ())]
    for i, (_, _, kw) in enumerate(d.get("then") or (), 1):
        out += [f"schedule.{i}.{k}" for k, _ in kw or ()]
    return tuple(out)


def _run_of_dict(d: Mapping) -> RunConfig:
    """The run configuration of a stored job's dict, strictly (ValueError, one line, where it is invalid)."""
    from optimizers.run import RunConfig

    try:
        return RunConfig(d.get("optimizer", "adam"), _hparams_of(d.get("hparams")), d.get("clip"),
                         schedule=d.get("schedule"), then=_phases_of(d.get("then")))
    except (TypeError, KeyError) as e:  # a field of the wrong shape (a hand-written job)
        raise ValueError(f"the job's run configuration is malformed: {e}") from None


def _hparams_of(items: Any) -> tuple:
    """Stored hyperparameters (JSON lists) as (name, value) pairs, a pair's value as a tuple."""
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in items or ())


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

    if isinstance(job, Job):
        return job.run
    d = dict(job)
    opt = d.get("optimizer")
    if opt not in optimizers.names():
        return None
    try:
        return _run_of_dict({**d, "clip": _clip_of(d.get("clip"))})
    except ValueError:
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


def label_of(job: Job | Mapping) -> str:
    """The run's one label (RunConfig.label) of a Job or a stored one, 'Adam lr=0.001 · clip norm 1 · cosine';
    the bare optimizer name where this version does not know it."""
    config = run_of(job)
    return config.label() if config is not None else str(job_dict(job).get("optimizer", ""))


def _phases_of(then: Any) -> tuple:
    """Stored phases (JSON lists) as the tuples Job holds: ((milestone, name, ((k, v), ...)), ...)."""
    try:
        return tuple((m, name, tuple((k, v) for k, v in kw)) for m, name, kw in then or ())
    except (TypeError, ValueError):
        return ()  # malformed: RunConfig or run_of say what is wrong with the rest


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
