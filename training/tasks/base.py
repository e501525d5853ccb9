"""What a training task is: data + model + loss + metric + a default budget, as plain functions.

A task is data, not code paths in the runner (STYLE.md): the runner calls
    model, data = task.make(size, seed, device)      # model already on device, deterministic in seed
    inputs, targets = task.batch(data, step, batch_size, generator)   # generator: a torch.Generator on device
    inputs, targets = task.full_batch(data)          # the whole training set, each example once (where it has one)
    loss = task.loss(model, (inputs, targets))       # a 0-d tensor, differentiable
    val_loss, metric = task.evaluate(model, data)    # Python floats, on the fixed validation set
and reads the rest (metric name, direction, target, budget) from the fields.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

Tensor = torch.Tensor
Batch = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class Task:
    name: str  # registry key: "digits-mlp", "char-lstm", ...
    title: str  # display name
    about: str  # one sentence: the data, the model, why it is here
    metric_name: str  # "accuracy", "bits/char", "mse"
    higher_is_better: bool
    steps: int  # default budget: about a minute on 2 CPU cores at size 1
    batch_size: int
    eval_every: int
    make: Callable[[float, int, torch.device], tuple[nn.Module, Any]]
    batch: Callable[[Any, int, int, torch.Generator], Batch]
    loss: Callable[[nn.Module, Batch], Tensor]
    evaluate: Callable[[nn.Module, Any], tuple[float, float]]
    target: float | None = None  # metric value that counts as "reached" (time to target)
    unit: str = "examples"  # what throughput counts: targets.numel() of a batch ("examples" or "tokens")
    default_lr: float = 1e-3  # a sensible Adam lr, for the pages' first suggestion
    # full-batch gradient descent: the whole training set as one batch, in order, without replacement (a
    # Job's batch_size "full"); None where the task has no such set, and no_full_batch says why
    full_batch: Callable[[Any], Batch] | None = None
    train_size: int | None = None  # examples in that batch (what the server's batch limit is held against)
    no_full_batch: str = ""


def scaled(base: int, size: float, lo: int = 1) -> int:
    """An integer dimension scaled by size (width, depth or length), at least lo."""
    return max(lo, int(round(base * size)))


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """model.eval() inside, and back to whatever mode it was in after (even on an error)."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
