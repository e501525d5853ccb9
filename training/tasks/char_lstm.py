"""char-lstm: a character-level LSTM language model on the standard library's source (corpus.py).

Windows of 256 characters, each from a zero state (truncated BPTT over 256 steps): long enough
that the gradient norm swings over orders of magnitude and spikes now and then, the setting in
which Pascanu et al. 2013 (On the difficulty of training recurrent neural networks) and Zhang et
al. 2020 (Why gradient clipping accelerates training) study clipping; the runner's smoothness
estimate gives the (L0, L1) scatter of Zhang et al.'s Fig. 1 for it.
"""
from __future__ import annotations

import torch
from torch import nn

from . import corpus
from .base import Task, scaled

SEQ_LEN = 256


class CharLSTM(nn.Module):
    def __init__(self, vocab: int, embed: int, hidden: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, V)
        h, _ = self.lstm(self.embed(ids))  # (B, T, H), from a zero state
        return self.head(h)


def make(size: float, seed: int, device: torch.device):
    data = corpus.load(SEQ_LEN, device)
    torch.manual_seed(seed)  # initialise on the CPU: the same weights whatever the device
    model = CharLSTM(data.vocab, 64, scaled(128, size, 8), layers=1 if size <= 1 else 2)
    return model.to(device), data


TASK = Task(
    "char-lstm", "Character LSTM",
    "A character-level LSTM language model (hidden 128 x size) on Python's own standard library source, "
    "256-character windows: gradients spike without clipping (Pascanu et al. 2013, Zhang et al. 2020).",
    "bits/char", False, steps=400, batch_size=16, eval_every=50,
    make=make, batch=corpus.batch, loss=corpus.lm_loss, evaluate=corpus.lm_evaluate,
    target=None, unit="tokens", default_lr=3e-3, no_full_batch=corpus.no_full_batch("char-lstm", SEQ_LEN),
)
