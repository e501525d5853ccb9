"""Evaluate a stored landscape request (training/landscape/cache.py) here, in this process.

    status = evaluate(store, landscape_id, progress=..., cancelled=..., deadline=...)

A plane (PlaneSpec):
  1. w0 = the centre run's last snapshot; each path run's snapshots as deltas theta_i - w0 (k, P);
  2. the directions: "pca", the deltas' first two principal components (path.pca_plane; where
     they span one dimension only, the second is a seeded filter-normalised direction made
     orthogonal to the first); "random", two filter-normalised directions (directions.py);
  3. each snapshot's coordinates on the plane (path.project), its real loss (at theta_i) and the
     plane's (at w0 + a·d1 + b·d2), the span (given, or fitted around the paths, or +-1);
  4. the grid, row by row: w0 + xs[i]·d1 + ys[j]·d2 written into the flat buffer (probe.py), each
     row stored as it is done.
A line (LineSpec): (1 - t)·w_a + t·w_b, point by point.
Steps 1 to 3 run once per request (their result is stored); a resumed request evaluates only the
rows it lacks. progress(done, total) counts points; cancelled() is polled between points of a path
and between rows; past `deadline` (time.monotonic()) it stops with status "stopped".
"""
from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable

import numpy as np
import torch

from .. import tasks
from ..store import ACTIVE as RUN_ACTIVE
from ..store import Store
from . import cache
from .directions import filter_normalized, one_d_mask, random_plane
from .path import fitting_span, pca_plane, project
from .probe import Probe
from .spec import LineSpec

Progress = Callable[[int, int], None]


class Stop(Exception):
    """Raised between points: the evaluation was cancelled (or ran out of time)."""

    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


def evaluate(store: Store, landscape_id: int, *, device: str | None = None, progress: Progress | None = None,
             cancelled: Callable[[], bool] | None = None, deadline: float | None = None) -> str:
    """Evaluate the request here and return its final status (done, cancelled, stopped, failed).
    device: default the centre run's own setting (auto: CUDA, then MPS, then CPU)."""
    cache.claim(store, landscape_id)
    cache.set_status(store, landscape_id, "running")

    def check() -> None:
        if cancelled is not None and cancelled():
            raise Stop("cancelled")
        if deadline is not None and time.monotonic() > deadline:
            raise Stop("stopped")

    try:
        with cache.beating(store, landscape_id):
            _Evaluation(store, landscape_id, device, progress or (lambda done, total: None), check).run()
    except Stop as s:
        why = ("cancelled; the rows done are kept" if s.status == "cancelled" else
               "stopped at this server's time limit for one landscape; ask again to go on from the rows done")
        cache.set_status(store, landscape_id, s.status, error=why)
    except (ValueError, KeyError) as e:  # a request that cannot be evaluated: said in one line
        cache.set_status(store, landscape_id, "failed", error=str(e.args[0] if e.args else e))
    except Exception as e:
        cache.set_status(store, landscape_id, "failed",
                         error=f"{type(e).__name__}: {e}\n\n{traceback.format_exc()}")
    else:
        cache.set_status(store, landscape_id, "done")
    return cache.get(store, landscape_id)["status"]


def final_weights(store: Store, run_id: int) -> tuple[int, np.ndarray]:
    """(step, weights (P,) float32) of the run's last snapshot; ValueError where it kept none."""
    info = store.snapshot_info(run_id)
    if not len(info["step"]):
        raise ValueError(f"run #{run_id} kept no weights: train it with snapshots (the Train page's "
                         "'keep weight snapshots', or --snapshots N on the command line) to see its landscape")
    step = int(info["step"][-1])
    return step, store.snapshots(run_id, [step])[1][0]


class _Evaluation:
    def __init__(self, store: Store, lid: int, device: str | None, progress: Progress, check: Callable[[], None]):
        self.store, self.lid, self.progress, self.check = store, lid, progress, check
        row = cache.get(store, lid)
        self.spec, self.result = row["spec"], row["result"]
        self.runs = {i: self._run(i) for i in self.spec.runs()}
        centre = self.runs[self.spec.run]
        self.probe = Probe.of_run(centre["job"], self.spec.data, device)
        self.dev = self.probe.device
        self.done = cache.rows_done(store, lid)

    def _run(self, run_id: int) -> dict:
        r = self.store.run(run_id)  # KeyError for a deleted run
        if r["status"] in RUN_ACTIVE:
            raise ValueError(f"run #{run_id} is still {r['status']}: its landscape waits until it ends")
        return r

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.dev)

    def _same_model(self, run_id: int, n: int) -> None:
        centre, other = self.runs[self.spec.run], self.runs[run_id]
        same = (other["task"], other["job"].get("size", 1.0)) == (centre["task"], centre["job"].get("size", 1.0))
        if n != self.probe.fp.numel or not same:
            raise ValueError(f"run #{run_id}'s weights ({n:,} parameters) do not fit run #{self.spec.run}'s model "
                             f"({centre['task']}, {self.probe.fp.numel:,} parameters): a plane holds runs of one "
                             "task and size")

    def run(self) -> None:
        if isinstance(self.spec, LineSpec):
            self.line()
        else:
            self.plane()

    # ------------------------------------------------------------ a line between two runs
    def line(self) -> None:
        spec = self.spec
        ends = {}
        for r in (spec.a, spec.b):
            step, w = final_weights(self.store, r)
            self._same_model(r, w.size)
            ends[r] = (step, self._tensor(w))
        ts = spec.ts()
        if self.result is None:
            self.result = {"kind": "line", "ts": ts, "data": self.probe.about, **self._task_facts(),
                           "ends": [{"run": r, "step": ends[r][0]} for r in (spec.a, spec.b)],
                           "distance": float(torch.linalg.vector_norm(ends[spec.b][1] - ends[spec.a][1]))}
            cache.set_result(self.store, self.lid, self.result)
        todo = [i for i in range(len(ts)) if i not in self.done]
        total, done = len(ts), len(ts) - len(todo)
        for i, loss, metric in self.probe.line(ends[spec.a][1], ends[spec.b][1], ts, todo):
            cache.add_row(self.store, self.lid, i, [loss], [metric])
            done += 1
            self.progress(done, total)
            self.check()

    # ------------------------------------------------------------ a plane with paths
    def plane(self) -> None:
        spec = self.spec
        step0, w0 = final_weights(self.store, spec.run)
        self._same_model(spec.run, w0.size)
        paths = []  # (run id, steps (k,), snapshots (k, P))
        for r in spec.path_runs:
            steps, ws = self.store.snapshots(r)
            if not len(steps):
                final_weights(self.store, r)  # raises: say which run kept none
            self._same_model(r, ws.shape[1])
            paths.append((r, steps, ws))
        w0_t = self._tensor(w0)
        d1, d2, plane = self.directions(w0_t, [ws - w0 for _, _, ws in paths])
        d1_t, d2_t = self._tensor(d1), self._tensor(d2)
        n_path = sum(len(s) for _, s, _ in paths)
        total = n_path * 2 + spec.n * spec.n
        if self.result is None:
            self.result = self.describe(step0, w0, paths, (d1, d2), (w0_t, d1_t, d2_t), plane, total)
            cache.set_result(self.store, self.lid, self.result)
        xs, ys = self.result["xs"], self.result["ys"]
        todo = [j for j in range(spec.n) if j not in self.done]
        done = total - len(todo) * spec.n
        for j, losses, metrics in self.probe.grid(w0_t, d1_t, d2_t, xs, ys, todo):
            cache.add_row(self.store, self.lid, j, losses, metrics)
            done += spec.n
            self.progress(done, total)
            self.check()

    def directions(self, w0: torch.Tensor, deltas: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict]:
        """(d1, d2 (P,) float64, what the plane is)."""
        spec = self.spec
        tensors = self.probe.layout
        if spec.plane == "random":
            d1, d2 = (d.double().cpu().numpy() for d in random_plane(w0, tensors, spec.seed, spec.keep_1d))
            return d1, d2, {"kind": "random", "explained": None,
                            "about": f"two filter-normalised Gaussian directions, seed {spec.seed} (Li et al. 2018)"}
        stacked = np.concatenate(deltas)
        stacked = stacked[(stacked != 0).any(1)]  # the centre itself (a zero row) is not part of M, as in the paper
        if stacked.shape[0] < 2:
            raise ValueError("a path plane needs two snapshots or more: keep snapshots while training, or use "
                             "the random plane")
        mask = None if spec.keep_1d else one_d_mask(tensors, w0.numel()).numpy()
        comps, ratio = pca_plane(stacked, mask)
        if ratio[0] == 0:
            raise ValueError("the snapshots do not move (the weights never changed): there is no path plane")
        d1, d2 = comps
        about = "the first two principal components of the paths' snapshots minus the centre (Li et al. 2018)"
        if ratio[1] == 0:  # a straight path: any second direction will do; a seeded filter-normalised one
            g = torch.Generator().manual_seed(int(spec.seed))
            r = filter_normalized(w0, tensors, g, spec.keep_1d).double().cpu().numpy()
            r -= (r @ d1) * d1
            d2 = r / max(float(np.linalg.norm(r)), 1e-300)
            about += "; the snapshots lie on one line, so the second direction is a seeded random one orthogonal to it"
        first = stacked[0].astype(np.float64)  # the first path's start: at a >= 0 and b >= 0
        d1 = d1 if first @ d1 >= 0 else -d1
        d2 = d2 if first @ d2 >= 0 else -d2
        return d1, d2, {"kind": "pca", "explained": [float(ratio[0]), float(ratio[1])], "about": about}

    def describe(self, step0: int, w0: np.ndarray, paths, dirs, on_device, plane: dict, total: int) -> dict:
        """Everything but the grid's values: the plane, the axes, each path's points with both losses.
        dirs: (d1, d2) float64 numpy; on_device: (w0, d1, d2) as the probe's tensors."""
        spec = self.spec
        d1, d2 = dirs
        w0_t, d1_t, d2_t = on_device
        done = [0]

        def score(w: torch.Tensor) -> tuple[float, float]:
            out = self.probe.at(w)
            done[0] += 1
            self.progress(done[0], total)
            self.check()
            return out

        out_paths, all_coords = [], []
        for run_id, steps, ws in paths:
            coords, off = project(ws - w0, d1, d2)
            all_coords.append(coords)
            real = [score(self._tensor(w)) for w in ws]
            on_plane = [score(w0_t + float(a) * d1_t + float(b) * d2_t) for a, b in coords]
            out_paths.append({"run": run_id, "steps": steps.tolist(), "a": coords[:, 0].tolist(),
                              "b": coords[:, 1].tolist(), "off": off.tolist(),
                              "loss": [x[0] for x in real], "metric": [x[1] for x in real],
                              "plane_loss": [x[0] for x in on_plane], "plane_metric": [x[1] for x in on_plane]})
        if spec.span is not None:
            span = spec.span
        elif spec.plane == "pca":
            span = fitting_span(np.concatenate(all_coords))
        else:
            span = (-1.0, 1.0, -1.0, 1.0)  # Li et al.'s default for filter-normalised directions
        xs = np.linspace(span[0], span[1], spec.n).tolist()
        ys = np.linspace(span[2], span[3], spec.n).tolist()
        n1, n2 = float(np.linalg.norm(d1)), float(np.linalg.norm(d2))
        plane = {**plane, "norms": [n1, n2], "cos": float(d1 @ d2 / (n1 * n2)) if n1 and n2 else math.nan,
                 "w0_norm": float(np.linalg.norm(w0.astype(np.float64)))}
        return {"kind": "plane", "xs": xs, "ys": ys, "span": list(span), "plane": plane,
                "centre": {"run": spec.run, "step": step0}, "paths": out_paths, "data": self.probe.about,
                "n_params": int(w0.size), "device": str(self.dev), **self._task_facts()}

    def _task_facts(self) -> dict:
        centre = self.runs[self.spec.run]
        try:
            t = tasks.get(centre["task"])
            return {"task": t.name, "metric_name": t.metric_name if self.spec.data == "val" else None,
                    "higher_is_better": t.higher_is_better}
        except KeyError:
            return {"task": centre["task"], "metric_name": None, "higher_is_better": None}
