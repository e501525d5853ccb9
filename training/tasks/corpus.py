"""A text corpus that every Python installation has: the standard library's own source.

The top-level .py files of sysconfig.get_paths()['stdlib'], sorted by name, concatenated until
MAX_CHARS, encoded as ASCII (anything else becomes '?'). The last VAL_FRACTION is held out.
Deterministic for a given Python version; the text (and so the numbers) differ slightly between
Python versions, which info() records (file count, size, sha1) so a run says what it saw.
Nothing is downloaded.
"""
from __future__ import annotations

import functools
import hashlib
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .base import evaluating

Tensor = torch.Tensor
MAX_CHARS = 2_000_000
VAL_FRACTION = 0.1
EVAL_WINDOWS = 32  # validation windows scored by evaluate(): EVAL_WINDOWS * seq_len characters


@functools.lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray, dict]:
    """(ids uint8 (N,), vocab uint8 (V,), info): read once per process."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parts, total, files = [], 0, []
    for path in sorted(root.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(f"# file: {path.name}\n{text}\n")
        files.append(path.name)
        total += len(parts[-1])
        if total >= MAX_CHARS:
            break
    raw = "".join(parts)[:MAX_CHARS].encode("ascii", errors="replace")
    codes = np.frombuffer(raw, dtype=np.uint8)
    vocab = np.unique(codes)
    ids = np.searchsorted(vocab, codes).astype(np.uint8)
    info = {"corpus": f"python {sysconfig.get_python_version()} stdlib, {len(files)} files",
            "chars": int(len(ids)), "vocab": int(len(vocab)), "sha1": hashlib.sha1(raw).hexdigest()[:12]}
    return ids, vocab, info


def info() -> dict:
    return dict(_load()[2])


@dataclass
class Text:
    """Character ids on the device, split into train and validation, and the window length."""

    train: Tensor  # (N_train,) int64
    val: Tensor  # (N_val,) int64
    vocab: int
    seq_len: int
    info: dict


def load(seq_len: int, device: torch.device) -> Text:
    ids, vocab, meta = _load()
    ids_t = torch.from_numpy(ids.astype(np.int64))
    n_val = int(len(ids_t) * VAL_FRACTION)
    return Text(ids_t[:-n_val].to(device), ids_t[-n_val:].to(device), len(vocab), seq_len, meta)


def batch(data: Text, step: int, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """batch_size random windows of seq_len + 1 characters: inputs (B, T), next-char targets (B, T).

    Each window starts from a zero state: truncated backpropagation through time over seq_len steps.
    """
    T = data.seq_len
    starts = torch.randint(0, len(data.train) - T - 1, (batch_size,), generator=generator,
                           device=data.train.device)  # (B,)
    idx = starts[:, None] + torch.arange(T + 1, device=data.train.device)  # (B, T+1)
    chunk = data.train[idx]
    return chunk[:, :-1], chunk[:, 1:]


def no_full_batch(task: str, seq_len: int) -> str:
    """Why a language-model task refuses batch_size "full": what it would be, and that it is not a step here."""
    windows = int(MAX_CHARS * (1 - VAL_FRACTION)) // seq_len
    return (f"{task} trains on random {seq_len}-character windows of a {MAX_CHARS * (1 - VAL_FRACTION) / 1e6:.1f}-"
            f"million-character text: a full batch would be all ~{windows:,} windows, more text in every step than "
            "the task's whole default budget trains on; give a number (full batch is for the digits tasks)")


def val_windows(data: Text) -> tuple[Tensor, Tensor]:
    """The fixed validation windows: EVAL_WINDOWS evenly spaced windows of the held-out text."""
    T = data.seq_len
    n = min(EVAL_WINDOWS, (len(data.val) - 1) // T)
    starts = torch.linspace(0, len(data.val) - T - 1, n, device=data.val.device).long()
    chunk = data.val[starts[:, None] + torch.arange(T + 1, device=data.val.device)]  # (n, T+1)
    return chunk[:, :-1], chunk[:, 1:]


def lm_loss(model, batch) -> Tensor:
    inputs, targets = batch
    logits = model(inputs)  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


@torch.no_grad()
def lm_evaluate(model, data: Text) -> tuple[float, float]:
    """(cross-entropy in nats per char, bits per char) on the validation windows."""
    with evaluating(model):
        nats = float(lm_loss(model, val_windows(data)))
    return nats, nats / float(np.log(2))
