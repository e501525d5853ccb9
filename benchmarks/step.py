"""One optimizer step on a ~10 M-parameter model: our Adam rule, eager and compiled, vs torch.optim.Adam.

Side by side in one run, on the same model and the same gradients:
  ours, eager       optimizers.build("adam", [fp.flat]): the training runner's setup (training/flat.py)
  ours, compiled    optimizers.build("adam", [fp.flat], compiled=True): the same rule via torch.compile
  torch foreach     torch.optim.Adam(model.parameters(), foreach=True): the usual way
  torch fused       torch.optim.Adam(model.parameters(), fused=True): CUDA (and CPU where torch has it)
Each is warmed up (the compiled one compiles in its first step: the "first step" column), then
timed over --steps steps (synchronising the device around each); the table gives the median and
the ratio to torch fused (below 1.0: ours is faster), and how many steps the compiled step needs
to earn its compile time back against the eager one. Threads: --threads (default: the cores but
one, as a training worker gets them, training.workers.cpu_threads).
Usage: python benchmarks/step.py [--device auto|cpu|cuda] [--params 10e6] [--steps 50] [--threads N]
"""
from __future__ import annotations

import argparse
import os
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


def timed_steps(opt, dev: torch.device, steps: int, warmup: int = 5) -> tuple[float, float]:
    """(first step's seconds, with any compile; median of `steps` steps after warm-up)."""
    sync(dev)
    t0 = time.perf_counter()
    opt.step()
    sync(dev)
    first = time.perf_counter() - t0
    for _ in range(warmup - 1):
        opt.step()
    times = []
    for _ in range(steps):
        sync(dev)
        t0 = time.perf_counter()
        opt.step()
        sync(dev)
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def with_grads(n_params: float, dev: torch.device) -> nn.Module:
    m = model_of(n_params, dev)
    for p in m.parameters():
        p.grad = torch.zeros_like(p)
    fill_grads(m)
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--params", type=float, default=10e6)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) - 1))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = devices.pick(args.device)

    def ours(compiled: bool):
        def make():
            fp = flatten_(with_grads(args.params, dev))
            return optimizers.build("adam", [fp.flat], compiled=compiled), fp.numel
        return make

    def torch_adam(**kw):
        def make():
            m = with_grads(args.params, dev)
            return torch.optim.Adam(m.parameters(), **kw), sum(p.numel() for p in m.parameters())
        return make

    setups = [("ours, eager: optimizers.build('adam', [flat])", ours(False)),
              ("ours, compiled: build(..., compiled=True)", ours(True)),
              ("torch.optim.Adam(foreach=True)", torch_adam(foreach=True)),
              ("torch.optim.Adam(fused=True)", torch_adam(fused=True))]
    results = {}  # label -> (n, first, median) or the reason it could not run
    for label, make in setups:
        opt = None
        try:
            opt, n = make()
            results[label] = (n, *timed_steps(opt, dev, args.steps))
            if getattr(opt, "compiled_note", "eager") not in ("eager", "compiled"):
                results[label] = opt.compiled_note[:70]
        except (RuntimeError, ValueError) as e:  # fused is not on every device
            results[label] = str(e).splitlines()[0][:60]
        del opt
    ref = results[setups[3][0]]
    ref_t = ref[2] if isinstance(ref, tuple) else results[setups[2][0]][2]
    ref_name = "torch fused" if isinstance(ref, tuple) else "torch foreach"
    rows = []
    for label, r in results.items():
        if isinstance(r, str):
            rows.append((label, "-", "-", "-", f"n/a ({r})"))
        else:
            n, first, t = r
            rows.append((label, f"{n / 1e6:.1f} M", f"{first * 1e3:.0f}", f"{t * 1e3:.2f}", f"{t / ref_t:.2f}x"))
    print(f"device: {devices.describe(dev)['text']}; {args.threads} torch thread(s); "
          f"median of {args.steps} steps after warm-up")
    print(table(rows, ("optimizer step", "params", "first step ms", "ms / step", f"vs {ref_name}")))
    eager, comp = results[setups[0][0]], results[setups[1][0]]
    if isinstance(eager, tuple) and isinstance(comp, tuple):
        saved = eager[2] - comp[2]
        if saved > 0:
            print(f"compiled step: {comp[1]:.1f} s to compile, {saved * 1e3:.2f} ms saved per step: "
                  f"pays after {comp[1] / saved:.0f} steps at this size")
        else:
            print("compiled step: no faster than eager at this size")


if __name__ == "__main__":
    main()
