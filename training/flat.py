"""A model's parameters in ONE contiguous buffer (P,), the module's parameters views into it.

docs/architecture.md: in training a model is one row. After flatten_(model) the optimizer gets a single
tensor, `fp.flat` (P,), whose .grad is a single buffer (P,) too, so
  - optimizers.clip_with_coef_(fp.flat.grad, kind, threshold) clips by the whole-model norm
    (a 1-D tensor is one row), exactly torch.nn.utils.clip_grad_norm_(model.parameters(), ...);
  - optimizers.build("adam", [fp.flat]) updates the model in a handful of large tensor ops.

How (the approach of ContiguousParams / apex's flat buffers): each parameter keeps its identity
(the same nn.Parameter object, so modules, hooks and state dicts still see it) but its .data
becomes a view of fp.flat and its .grad a view of fp.grad. Autograd accumulates into an existing
.grad in place, so backward fills fp.grad with no copy. Hence the rules of use:
  - zero gradients with fp.zero_grad() (one fill), never model.zero_grad() / optimizer.zero_grad(),
    whose default set_to_none=True would detach the views (fp.check() tells);
  - flatten after moving the model to its device and do not move it afterwards (.to() replaces
    .data);
  - all trainable parameters must share one dtype and device (train in float32; AMP autocasts
    activations, the parameters and gradients stay float32, so AMP works unchanged);
  - torch.compile: compile after flattening; the parameters are ordinary leaves to it.
  - nn.LSTM / nn.RNN on CUDA: cuDNN wants its weights in one buffer of its own layout starting
    at the storage's offset 0 (RNNBase.flatten_parameters). flatten_ puts the first RNN module's
    weights first, in its _flat_weights order, so the first RNN can be used in place where
    cuDNN's layout is the plain concatenation; otherwise cuDNN copies the weights into a
    temporary buffer each call (correct, with a one-time "not part of single contiguous chunk"
    warning and a little time). Never call flatten_parameters() after flatten_: it would move
    the weights out of fp.flat.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

Tensor = torch.Tensor


@dataclass
class FlatParams:
    flat: nn.Parameter  # (P,): every trainable parameter of the model, one after another
    names: list[str]  # parameter names, in buffer order
    params: list[nn.Parameter]  # the module's parameter objects, views into flat
    offsets: list[int]  # where each starts in flat

    @property
    def grad(self) -> Tensor:  # (P,)
        return self.flat.grad

    @property
    def numel(self) -> int:
        return self.flat.numel()

    def zero_grad(self) -> None:
        self.flat.grad.zero_()

    def check(self) -> None:
        """Raise RuntimeError if some parameter or gradient is no longer a view of the buffers."""
        base, gbase, size = self.flat.data_ptr(), self.flat.grad.data_ptr(), self.flat.element_size()
        for name, p, off in zip(self.names, self.params, self.offsets, strict=True):
            if p.data_ptr() != base + off * size:
                raise RuntimeError(f"parameter {name} no longer lives in the flat buffer (moved by .to()?)")
            if p.grad is None or p.grad.data_ptr() != gbase + off * size:
                raise RuntimeError(f"the gradient of {name} is no longer a view of the flat gradient "
                                   "(zero_grad(set_to_none=True)?); use FlatParams.zero_grad()")


def _ordered(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Trainable parameters, deduplicated; the first RNN module's weights first (cuDNN, see above)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    for mod_name, mod in model.named_modules():
        if isinstance(mod, nn.RNNBase):
            first = [f"{mod_name}.{w}" if mod_name else w for w in mod._flat_weights_names]
            ids = {id(p) for n, p in named if n in first}
            head = sorted((np for np in named if id(np[1]) in ids), key=lambda np: first.index(np[0]))
            return head + [np for np in named if id(np[1]) not in ids]
    return named


@torch.no_grad()
def flatten_(model: nn.Module) -> FlatParams:
    """Move model's trainable parameters into one buffer (and their grads into another), in place."""
    named = _ordered(model)
    if not named:
        raise ValueError("the model has no trainable parameters")
    dtypes = {p.dtype for _, p in named}
    devices = {p.device for _, p in named}
    if len(dtypes) > 1 or len(devices) > 1:
        raise ValueError(f"flatten_ needs one dtype and one device, got {sorted(map(str, dtypes))} on "
                         f"{sorted(map(str, devices))}")
    sizes = [p.numel() for _, p in named]
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    total = sum(sizes)
    flat = torch.empty(total, dtype=dtypes.pop(), device=devices.pop())
    grad = torch.zeros_like(flat)
    for (_, p), off, n in zip(named, offsets, sizes, strict=True):
        flat[off:off + n].copy_(p.reshape(-1))
        if p.grad is not None:
            grad[off:off + n].copy_(p.grad.reshape(-1))
    flat = nn.Parameter(flat)
    flat.grad = grad
    for (_, p), off, n in zip(named, offsets, sizes, strict=True):
        p.data = flat.data[off:off + n].view(p.shape)
        p.grad = grad[off:off + n].view(p.shape)
    return FlatParams(flat, [n for n, _ in named], [p for _, p in named], offsets)
