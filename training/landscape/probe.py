"""Score a model at given weights by writing them into its flat parameter buffer (training/flat.py).

    probe = Probe.of_run(job, data="val", device="auto")   # the run's model, rebuilt as the runner builds it
    loss, metric = probe.at(w)                             # w: (P,) on probe.device
    for j, losses, metrics in probe.grid(w0, d1, d2, xs, ys):   # row j: w0 + xs[i]·d1 + ys[j]·d2
        ...

Per point one in-place write of (P,) into fp.flat (a row's base w0 + b·d2 is computed once) and one
forward pass in eval mode under no_grad: normalisation buffers stay as they are, the same device
logic as training (training.device.pick: CUDA, then MPS, then CPU), float32, no autocast (a
landscape's contours are differences of nearby losses). Points are evaluated one by one, the
baseline on every device: torch.func.vmap has no batching rule for nn.LSTM / nn.RNN, and on these
CPU-sized models a point costs about one forward pass already (benchmarks/landscape.py).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from .. import device as devices
from .. import tasks
from ..flat import FlatParams, flatten_
from ..job import FULL_BATCH, Job, job_dict
from ..tasks.base import evaluating
from .directions import layout
from .spec import TRAIN_BATCHES, TRAIN_SEED

NAN = float("nan")
Score = Callable[[], tuple[float, float]]  # (loss, metric) of the model as its parameters are now


class Probe:
    def __init__(self, fp: FlatParams, score: Score, model: torch.nn.Module | None = None, about: str = ""):
        self.fp, self.score, self.model, self.about = fp, score, model, about
        if model is not None:
            model.eval()  # dropout off, normalisation statistics fixed

    @property
    def device(self) -> torch.device:
        return self.fp.flat.device

    @property
    def layout(self):
        return layout(self.fp)

    @classmethod
    def of_run(cls, job: Job | dict, data: str = "val", device: str | None = None) -> Probe:
        """The run's task model (its task, size and seed, so the same layout), on `device` (default: the
        run's own device setting), scoring `data`: "val" (the task's evaluate) or "train" (a fixed batch)."""
        d = job_dict(job)  # the settings alone: a run this version could not train still has its model
        task = tasks.get(d["task"])
        dev = devices.pick(device or d.get("device", "auto"))
        model, task_data = task.make(d.get("size", 1.0), d.get("seed", 0), dev)
        batch_size = d.get("batch_size", 0)
        fp = flatten_(model)
        if data == "val":
            def score() -> tuple[float, float]:
                return task.evaluate(model, task_data)

            about = f"the validation set, scored by the task ({task.metric_name})"
        elif data == "train" and batch_size == FULL_BATCH and task.full_batch is not None:
            batch = task.full_batch(task_data)  # the very surface full-batch gradient descent descended

            def score() -> tuple[float, float]:
                with evaluating(model):
                    return float(task.loss(model, batch)), NAN

            about = f"the whole training set ({len(batch[1]):,} examples), the batch of every step of this run"
        elif data == "train":
            n = TRAIN_BATCHES * (batch_size if isinstance(batch_size, int) and batch_size > 0
                                 else task.batch_size)
            g = torch.Generator(device=dev).manual_seed(TRAIN_SEED)
            batch = task.batch(task_data, 0, n, g)

            def score() -> tuple[float, float]:
                with evaluating(model):
                    return float(task.loss(model, batch)), NAN

            about = f"a fixed training batch of {n} {'windows' if task.unit == 'tokens' else 'examples'}"
        else:
            raise ValueError(f"data must be val or train, got {data!r}")
        return cls(fp, score, model, about)

    # ------------------------------------------------------------ scoring
    @torch.no_grad()
    def at(self, w: torch.Tensor) -> tuple[float, float]:
        self.fp.flat.copy_(w)
        return self._score()

    def _score(self) -> tuple[float, float]:
        with torch.no_grad():
            loss, metric = self.score()
        return float(loss), float(metric)

    @torch.no_grad()
    def grid(self, w0: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor, xs: Sequence[float], ys: Sequence[float],
             rows: Sequence[int] | None = None) -> Iterator[tuple[int, list[float], list[float]]]:
        """(j, losses (len(xs),), metrics) for each row j (all, or those given), at w0 + xs[i]·d1 + ys[j]·d2."""
        flat = self.fp.flat.data
        base = torch.empty_like(w0)
        for j in (range(len(ys)) if rows is None else rows):
            torch.add(w0, d2, alpha=float(ys[j]), out=base)  # the row's base, once
            losses, metrics = [], []
            for a in xs:
                torch.add(base, d1, alpha=float(a), out=flat)  # one write of (P,) per point
                loss, metric = self._score()
                losses.append(loss)
                metrics.append(metric)
            yield j, losses, metrics

    @torch.no_grad()
    def line(self, wa: torch.Tensor, wb: torch.Tensor, ts: Sequence[float],
             points: Sequence[int] | None = None) -> Iterator[tuple[int, float, float]]:
        """(i, loss, metric) at (1 - t) wa + t wb for each ts[i] (all, or the indices given)."""
        step = wb - wa
        flat = self.fp.flat.data
        for i in (range(len(ts)) if points is None else points):
            torch.add(wa, step, alpha=float(ts[i]), out=flat)
            yield (i, *self._score())
