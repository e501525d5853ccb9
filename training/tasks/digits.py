"""digits-mlp and digits-cnn: scikit-learn's bundled 8x8 handwritten digits (1797 images, no download).

A fixed stratified split (20 % validation, random_state=0, the same for every run and seed);
pixels 0..16 scaled to [0, 1]. The seed sets the model's initialisation and the minibatch order.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import Task, evaluating, scaled

Tensor = torch.Tensor


@functools.lru_cache(maxsize=1)
def _split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)  # (1797, 64) in [0, 1]
    return tuple(train_test_split(x, d.target.astype(np.int64), test_size=0.2, stratify=d.target,
                                  random_state=0))


@dataclass
class Digits:
    x_train: Tensor  # (1437, 64) or (1437, 1, 8, 8)
    y_train: Tensor  # (1437,)
    x_val: Tensor
    y_val: Tensor


def _data(device: torch.device, image: bool) -> Digits:
    x_tr, x_va, y_tr, y_va = (torch.from_numpy(a) for a in _split())
    if image:
        x_tr, x_va = x_tr.view(-1, 1, 8, 8), x_va.view(-1, 1, 8, 8)
    return Digits(x_tr.to(device), y_tr.to(device), x_va.to(device), y_va.to(device))


def batch(data: Digits, step: int, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """batch_size training examples drawn uniformly (with replacement) from the generator."""
    idx = torch.randint(0, len(data.y_train), (batch_size,), generator=generator, device=data.y_train.device)
    return data.x_train[idx], data.y_train[idx]


def full_batch(data: Digits) -> tuple[Tensor, Tensor]:
    """The whole training split, every example once, in its fixed order: full-batch gradient descent."""
    return data.x_train, data.y_train


TRAIN_SIZE = 1437  # the 80 % of 1797 images the stratified split trains on (tests/test_full_batch.py checks it)


def loss(model: nn.Module, batch) -> Tensor:
    inputs, targets = batch
    return F.cross_entropy(model(inputs).float(), targets)


@torch.no_grad()
def evaluate(model: nn.Module, data: Digits) -> tuple[float, float]:
    """(cross-entropy, accuracy) on the 360 validation images."""
    with evaluating(model):
        logits = model(data.x_val).float()
        val_loss = F.cross_entropy(logits, data.y_val)
        acc = (logits.argmax(-1) == data.y_val).float().mean()
        val_loss, acc = torch.stack([val_loss, acc]).tolist()  # one host sync
    return val_loss, acc


def make_mlp(size: float, seed: int, device: torch.device):
    width = scaled(128, size, 8)
    torch.manual_seed(seed)  # initialise on the CPU: the same weights whatever the device
    model = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10))
    return model.to(device), _data(device, image=False)


def make_cnn(size: float, seed: int, device: torch.device):
    c = scaled(16, size, 2)
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, c, 3, padding=1), nn.ReLU(),  # (B, c, 8, 8)
        nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(),  # (B, 2c, 8, 8)
        nn.MaxPool2d(2),  # (B, 2c, 4, 4)
        nn.Flatten(), nn.Linear(2 * c * 16, 4 * c * 2), nn.ReLU(), nn.Linear(4 * c * 2, 10),
    )
    return model.to(device), _data(device, image=True)


MLP = Task(
    "digits-mlp", "Digits, MLP",
    "Scikit-learn's 8x8 handwritten digits classified by a two-hidden-layer ReLU MLP (width 128 x size).",
    "accuracy", True, steps=2000, batch_size=64, eval_every=100,
    make=make_mlp, batch=batch, loss=loss, evaluate=evaluate, target=0.95,
    full_batch=full_batch, train_size=TRAIN_SIZE,
)
CNN = Task(
    "digits-cnn", "Digits, CNN",
    "Scikit-learn's 8x8 handwritten digits classified by a small two-layer convnet (16 x size channels).",
    "accuracy", True, steps=1000, batch_size=64, eval_every=100,
    make=make_cnn, batch=batch, loss=loss, evaluate=evaluate, target=0.97,
    full_batch=full_batch, train_size=TRAIN_SIZE,
)
