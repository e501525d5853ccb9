"""Filter-normalised random directions (Li, Xu, Taylor, Studer, Goldstein 2018, "Visualizing the loss
landscape of neural nets", Section 4; their net_plotter.py).

A direction d lives in the flat parameter buffer's space (P,) (training/flat.py): one Gaussian
tensor per parameter tensor, then
  - every tensor of 2+ dims is rescaled slice by slice along dim 0 (a conv output channel, a Linear
    row, an LSTM gate row, an embedding row): d_i <- d_i * ||w_i|| / (||d_i|| + 1e-10), so the
    direction moves each filter as far as that filter's own size (the paper's point: a network
    with scale-invariant filters would otherwise look sharp or flat at will);
  - every 1-D tensor (biases, norm layers' weights) is zeroed by default (the paper's
    ignore='biasbn'); keep_1d=True sets it to the weights themselves, as their code does then.
Buffers (batch-norm statistics) are not parameters: they stay as they are, and the model is
evaluated in eval mode (training/landscape/probe.py).

Seeded: the Gaussians come from a CPU torch.Generator, drawn tensor by tensor in the flat
buffer's order, d1 then d2, and only then moved to the weights' device, so a plane is the same on
every machine and a link (run, seed) reproduces it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..flat import FlatParams

EPS = 1e-10  # as in net_plotter.normalize_direction


@dataclass(frozen=True)
class ParamTensor:
    """One parameter tensor's place in the flat buffer."""

    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


Layout = Sequence[ParamTensor]


def layout(fp: FlatParams) -> list[ParamTensor]:
    """The parameter tensors of a flattened model, in buffer order."""
    return [ParamTensor(n, tuple(p.shape), off) for n, p, off in zip(fp.names, fp.params, fp.offsets, strict=True)]


def one_d_mask(tensors: Layout, n_params: int) -> torch.Tensor:
    """(P,) bool: True on the entries of 1-D tensors (biases, norm weights)."""
    mask = torch.zeros(n_params, dtype=torch.bool)
    for t in tensors:
        if len(t.shape) <= 1:
            mask[t.offset:t.offset + t.numel] = True
    return mask


def normalize_(d: torch.Tensor, w: torch.Tensor, keep_1d: bool = False) -> torch.Tensor:
    """Filter-normalise one tensor's direction d in place against its weights w (same shape)."""
    if d.dim() <= 1:
        return d.copy_(w) if keep_1d else d.zero_()
    rows_d = d.reshape(d.shape[0], -1)  # (filters, rest): a view of d
    rows_w = w.reshape(w.shape[0], -1)
    scale = torch.linalg.vector_norm(rows_w, dim=1) / (torch.linalg.vector_norm(rows_d, dim=1) + EPS)  # (filters,)
    rows_d.mul_(scale[:, None])
    return d


def filter_normalized(w: torch.Tensor, tensors: Layout, generator: torch.Generator,
                      keep_1d: bool = False) -> torch.Tensor:
    """One filter-normalised Gaussian direction (P,) for the weights w (P,), on w's device and dtype.
    generator: a CPU generator; the draw advances it by P normal numbers."""
    d = torch.empty(w.shape, dtype=torch.float32)
    for t in tensors:
        d[t.offset:t.offset + t.numel] = torch.randn(t.shape, generator=generator).reshape(-1)
    d = d.to(device=w.device, dtype=w.dtype)
    for t in tensors:
        sl = slice(t.offset, t.offset + t.numel)
        normalize_(d[sl].view(t.shape), w[sl].view(t.shape), keep_1d)
    return d


def random_plane(w: torch.Tensor, tensors: Layout, seed: int, keep_1d: bool = False) -> tuple[torch.Tensor,
                                                                                               torch.Tensor]:
    """(d1, d2): two filter-normalised directions from one seeded generator, d1 drawn first."""
    g = torch.Generator().manual_seed(int(seed))
    d1 = filter_normalized(w, tensors, g, keep_1d)
    d2 = filter_normalized(w, tensors, g, keep_1d)
    return d1, d2
