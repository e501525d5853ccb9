"""adding-rnn: the adding problem (Hochreiter & Schmidhuber 1997) for a plain tanh RNN.

Each sequence has T steps of two channels: a value drawn uniformly from [0, 1] and a marker that is
1 at exactly two steps (one in each half of the sequence) and 0 elsewhere. The target is the sum
of the two marked values. Predicting the mean, 1, scores mse 1/6 = 0.167 (the variance of the sum
of two uniforms); anything below that has learned to carry information over ~T/2 steps, the classic
test of exploding and vanishing gradients (Pascanu et al. 2013, Le et al. 2015, Arjovsky et al. 2016).
T = 100 x size; the training data are generated afresh each step; the validation set is fixed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import Task, evaluating, scaled

Tensor = torch.Tensor
HIDDEN = 128
N_VAL = 1000
VAL_SEED = 1234  # the validation set is the same for every run, whatever its seed


def sequences(n: int, T: int, generator: torch.Generator, device) -> tuple[Tensor, Tensor]:
    """n adding-problem sequences: inputs (n, T, 2) = (value, marker), targets (n,)."""
    values = torch.rand(n, T, generator=generator, device=device)  # (n, T)
    half = T // 2
    first = torch.randint(0, half, (n, 1), generator=generator, device=device)  # in the first half
    second = torch.randint(half, T, (n, 1), generator=generator, device=device)  # in the second half
    markers = torch.zeros(n, T, device=device)
    markers.scatter_(1, first, 1.0).scatter_(1, second, 1.0)
    targets = (values * markers).sum(1)  # (n,)
    return torch.stack([values, markers], dim=-1), targets


@dataclass
class Adding:
    T: int
    x_val: Tensor  # (N_VAL, T, 2)
    y_val: Tensor  # (N_VAL,)


class AddingRNN(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.rnn = nn.RNN(2, hidden, nonlinearity="tanh", batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, 2) -> (B,)
        h, _ = self.rnn(x)  # (B, T, H)
        return self.head(h[:, -1]).squeeze(-1)


def make(size: float, seed: int, device: torch.device):
    T = scaled(100, size, 4)
    g = torch.Generator().manual_seed(VAL_SEED)
    x_val, y_val = sequences(N_VAL, T, g, "cpu")
    torch.manual_seed(seed)  # initialise on the CPU: the same weights whatever the device
    model = AddingRNN(HIDDEN)
    return model.to(device), Adding(T, x_val.to(device), y_val.to(device))


def batch(data: Adding, step: int, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    return sequences(batch_size, data.T, generator, data.x_val.device)


def loss(model: nn.Module, batch) -> Tensor:
    inputs, targets = batch
    return F.mse_loss(model(inputs).float(), targets)


@torch.no_grad()
def evaluate(model: nn.Module, data: Adding) -> tuple[float, float]:
    """(mse, mse) on the fixed validation sequences: the loss is the metric."""
    with evaluating(model):
        mse = float(loss(model, (data.x_val, data.y_val)))
    return mse, mse


TASK = Task(
    "adding-rnn", "Adding problem, tanh RNN",
    "The adding problem for a plain tanh RNN (T = 100 x size steps): sum the two marked values; "
    "mse 0.167 is the baseline of always answering 1.",
    "mse", False, steps=1000, batch_size=64, eval_every=100,
    make=make, batch=batch, loss=loss, evaluate=evaluate, target=0.01, unit="examples",
    no_full_batch="adding-rnn draws fresh random sequences every step: it has no fixed training set to take "
                  "whole, so every batch is a new sample whatever its size",
)
