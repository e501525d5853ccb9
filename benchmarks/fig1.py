"""Zhang, He, Sra, Jadbabaie 2020 ("Why gradient clipping accelerates training"), Figure 1, on this
project's char-LSTM: along the training trajectory, local smoothness grows with the gradient norm
(L0 + L1 ||g||, not a constant L), and the correlation of the two, on log scales, is strong.

    python benchmarks/fig1.py [--steps 400] [--every 2] [--out fig1.html]

Two runs of the char-lstm task (the task's default budget and batch), SGD lr 1.0 with and without
gradient-norm clipping at 0.25 (the paper's setting for its LSTM), each measuring the runner's
smoothness estimate (the gradient at the midpoint of the step just taken, on its minibatch, against
the pre-clip gradient at its start) every --every steps. Prints Pearson's r of log smoothness vs log
gradient norm over the whole run and over its second half (aim: r >= 0.7 over the second half with
clipping), and writes the scatter as one self-contained HTML file (plots.training.smoothness_figure).
Runs on the CPU, one after the other, with all cores' threads.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from _common import ROOT

import plots.training as pt  # noqa: E402  (after _common puts the repo on sys.path)
from optimizers import RunConfig  # noqa: E402
from training.job import Job  # noqa: E402
from training.runner import train  # noqa: E402

AIM = 0.7


class Evals:
    """A Sink that keeps the evaluation rows (where the smoothness estimates are)."""

    def __init__(self):
        self.rows = []

    def start(self, job, device, info):
        pass

    def steps(self, rows):
        pass

    def evals(self, rows):
        self.rows.extend(rows)

    def finish(self, status, summary):
        self.status = status

    def cancelled(self):
        return False


def pearson_log(g: np.ndarray, s: np.ndarray) -> float:
    ok = np.isfinite(g) & np.isfinite(s) & (g > 0) & (s > 0)
    if ok.sum() < 3:
        return float("nan")
    return float(np.corrcoef(np.log(g[ok]), np.log(s[ok]))[0, 1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=400, help="steps per run (default: char-lstm's budget, 400)")
    p.add_argument("--every", type=int, default=2, help="steps between smoothness estimates (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "artifacts" / "fig1.html"), help="the scatter, as HTML")
    args = p.parse_args()
    runs = []
    print(f"char-lstm, SGD lr 1.0, {args.steps} steps, smoothness every {args.every} steps (CPU)")
    print(f"{'run':<22} {'points':>6} {'r (all)':>8} {'r (2nd half)':>13} {'final loss':>11} {'seconds':>8}")
    for name, clip in (("no clipping", None), ("clip norm 0.25", ("norm", 0.25))):
        job = Job(task="char-lstm", run=RunConfig("sgd", {"lr": 1.0}, clip), steps=args.steps,
                  smoothness_every=args.every, seed=args.seed, device="cpu", label=name)
        sink = Evals()
        t0 = time.perf_counter()
        train(job, sink)
        secs = time.perf_counter() - t0
        rows = [e for e in sink.rows if e.smoothness is not None]
        step = np.array([e.step for e in rows])
        g = np.array([e.grad_norm for e in rows], dtype=float)
        s = np.array([e.smoothness for e in rows], dtype=float)
        late = step >= args.steps // 2
        r_all, r_late = pearson_log(g, s), pearson_log(g[late], s[late])
        final = [e.val_loss for e in sink.rows if not math.isnan(e.val_loss)]
        print(f"{name:<22} {len(rows):>6} {r_all:>8.2f} {r_late:>13.2f} {final[-1] if final else float('nan'):>11.3f}"
              f" {secs:>8.1f}")
        runs.append({"id": len(runs) + 1, "label": name, "evals": {
            "step": step, "grad_norm": g, "smoothness": s}, "r_late": r_late})
    clipped = runs[-1]["r_late"]
    print(f"aim: r >= {AIM} over the second half with clipping -> {'met' if clipped >= AIM else 'NOT met'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pt.smoothness_figure(runs).write_html(out, include_plotlyjs=True)
    print(f"scatter: {out}")


if __name__ == "__main__":
    main()
