"""tiny-transformer: a small causal transformer language model on the same corpus as char-lstm.

Post-LN blocks, x = LN(x + sublayer(x)), as in the original Transformer (Vaswani et al. 2017):
the variant whose gradients near the output are large at initialisation, so Adam without
learning-rate warm-up tends to stall or blow up while the same lr with warm-up trains
(Xiong et al. 2020, On Layer Normalization in the Transformer Architecture; Liu et al. 2020,
On the Variance of the Adaptive Learning Rate and Beyond). Pre-LN (norm_first=True) is kept as an
option of the model for comparison.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import corpus
from .base import Task, scaled

SEQ_LEN = 128


class Block(nn.Module):
    def __init__(self, d: int, heads: int, norm_first: bool):
        super().__init__()
        self.heads, self.norm_first = heads, norm_first
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)

    def attn(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (B, h, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, h, T, hs)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_first:  # pre-LN: x + sublayer(LN(x))
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))
        x = self.ln1(x + self.attn(x))  # post-LN: LN(x + sublayer(x))
        return self.ln2(x + self.mlp(x))


class TinyTransformer(nn.Module):
    def __init__(self, vocab: int, d: int, layers: int, heads: int, seq_len: int, norm_first: bool = False):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(seq_len, d)
        self.blocks = nn.ModuleList(Block(d, heads, norm_first) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d) if norm_first else nn.Identity()  # post-LN blocks end normalised
        self.head = nn.Linear(d, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, V)
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))  # (B, T, d)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def make(size: float, seed: int, device: torch.device):
    data = corpus.load(SEQ_LEN, device)
    torch.manual_seed(seed)  # initialise on the CPU: the same weights whatever the device
    d = 32 * scaled(3, size, 1)  # width 96 at size 1, always a multiple of the 4 heads
    layers = scaled(4, size ** 0.5, 1)
    model = TinyTransformer(data.vocab, d, layers, heads=4, seq_len=SEQ_LEN)
    return model.to(device), data


TASK = Task(
    "tiny-transformer", "Tiny transformer",
    "A small post-LN causal transformer language model (4 layers, width 96 at size 1) on Python's "
    "standard library source, 128-character context: Adam needs learning-rate warm-up here.",
    "bits/char", False, steps=300, batch_size=16, eval_every=50,
    make=make, batch=corpus.batch, loss=corpus.lm_loss, evaluate=corpus.lm_evaluate,
    target=None, unit="tokens", no_full_batch=corpus.no_full_batch("tiny-transformer", SEQ_LEN),
)
