"""One optimizer step on a ~10 M-parameter model: optimizers.build("adam", [flat]) vs torch.optim.Adam.

Side by side in one run, on the same model and the same gradients:
  ours, flat        optimizers.build("adam", [fp.flat]): the training runner's setup (training/flat.py)
  torch foreach     torch.optim.Adam(model.parameters(), foreach=True): the usual way
  torch fused       torch.optim.Adam(model.parameters(), fused=True): CUDA (and CPU where torch has it)
Each is warmed up, then timed over --steps steps (synchronising the device around each); the table
gives the median and the ratio to torch foreach (below 1.0: ours is faster).
Usage: python benchmarks/step.py [--device auto|cpu|cuda] [--params 10e6] [--steps 50]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import table  # puts the repository on sys.path for the imports below
from torch import nn

import optimizers  # noqa: E402
from training import device as devices  # noqa: E402
from training.flat import flatten_  # noqa: E402


def model_of(n_params: float, dev: torch.device) -> nn.Module:
    """An MLP of 4 square Linear layers with about n_params parameters."""
    width = int((n_params / 4) ** 0.5)
    torch.manual_seed(0)
    return nn.Sequential(*(nn.Linear(width, width) for _ in range(4))).to(dev)


def fill_grads(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for p in model.parameters():
        p.grad.copy_(torch.randn(p.shape, generator=g) * 1e-3)


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


def median_step(opt, dev: torch.device, steps: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        opt.step()
    times = []
    for _ in range(steps):
        sync(dev)
        t0 = time.perf_counter()
        opt.step()
        sync(dev)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--params", type=float, default=10e6)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    dev = devices.pick(args.device)

    setups = []  # (label, make optimizer)

    def ours():
        m = model_of(args.params, dev)
        for p in m.parameters():
            p.grad = torch.zeros_like(p)
        fill_grads(m)
        fp = flatten_(m)
        return optimizers.build("adam", [fp.flat]), fp.numel

    def torch_adam(**kw):
        def make():
            m = model_of(args.params, dev)
            for p in m.parameters():
                p.grad = torch.zeros_like(p)
            fill_grads(m)
            return torch.optim.Adam(m.parameters(), **kw), sum(p.numel() for p in m.parameters())
        return make

    setups.append(("ours: optimizers.build('adam', [flat])", ours))
    setups.append(("torch.optim.Adam(foreach=True)", torch_adam(foreach=True)))
    setups.append(("torch.optim.Adam(fused=True)", torch_adam(fused=True)))

    results = []
    for label, make in setups:
        try:
            opt, n = make()
            results.append((label, n, median_step(opt, dev, args.steps)))
        except (RuntimeError, ValueError) as e:  # fused is not on every device
            results.append((label, 0, None, str(e).splitlines()[0][:60]))
        del opt
    ref = results[1][2]
    rows = []
    for r in results:
        label, n, t = r[:3]
        if t is None:
            rows.append((label, "-", "-", f"n/a ({r[3]})"))
        else:
            rows.append((label, f"{n / 1e6:.1f} M", f"{t * 1e3:.2f}", f"{t / ref:.2f}x"))
    print(f"device: {devices.describe(dev)['text']}; median of {args.steps} steps after warm-up")
    print(table(rows, ("optimizer step", "params", "ms / step", "vs torch foreach")))


if __name__ == "__main__":
    main()
