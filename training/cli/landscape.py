"""`python -m training landscape RUN_ID ...`: a run's loss landscape, evaluated here, written as files.

    python -m training landscape 3 --paths 3,4 --grid 51 --out landscape/     # the path plane of runs 3 and 4
    python -m training landscape 3 --plane random --seed 0 --span -1,1,-1,1    # Li et al.'s random plane
    python -m training landscape 3 --line 4                                  # and the line from 3 to 4

Evaluates in the foreground with a progress bar on stderr (Ctrl-C stops it, keeping the rows done;
asking again resumes), through the run store's cache the Landscape page reads (a grid evaluated
once is not evaluated again), then writes into --out: the grid (.npz: xs, ys, loss, metric and each
path's steps, coordinates and both losses; .csv: one line a point) and the figures (.html: the
contour map, the 3D surface and the line, self-contained; plots/landscape.py, imported only here).
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..store import Store
from .commands import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, _run_ids, _store
from .format import fmt, fmt_duration
from .parse import UsageError, _numbers


def add_parser(sub, parents) -> None:
    from ..landscape.spec import DATA, DEFAULT_N, LINE_RANGE, PLANES

    p = sub.add_parser("landscape", parents=parents, help="a run's loss landscape with its path: grid and figures",
                       description="Evaluate the loss on a plane around a run's final weights (Li et al. 2018), with "
                                   "the paths of runs that kept snapshots (--snapshots N when training), and write the "
                                   "grid and its figures.")
    p.add_argument("run", help="the centre: this run's last snapshot is the plane's (0, 0)")
    p.add_argument("--paths", help="runs whose paths to draw (and, for the PCA plane, that span it); default: RUN")
    p.add_argument("--plane", choices=PLANES, default="pca",
                   help="pca: the paths' first two principal components (default); random: filter-normalised "
                        "Gaussian directions")
    p.add_argument("--seed", type=int, default=0, help="the random directions' seed (default 0)")
    p.add_argument("--keep-1d", action="store_true",
                   help="move 1-D tensors (biases, norm weights) too; by default they stay fixed, as in the paper")
    p.add_argument("--grid", type=int, default=DEFAULT_N, help=f"points per side (default {DEFAULT_N})")
    p.add_argument("--span", default="auto",
                   help="a0,a1,b0,b1 in units of the directions; auto: around the paths (pca) or -1,1,-1,1 (random)")
    p.add_argument("--data", choices=DATA, default="val",
                   help="val: the task's validation set (loss and metric, default); train: a fixed training batch")
    p.add_argument("--line", metavar="OTHER_ID", help="also the loss on the line from RUN's weights to OTHER_ID's")
    p.add_argument("--line-range", default=f"{LINE_RANGE[0]:g},{LINE_RANGE[1]:g}",
                   help=f"t from,to on that line (default {LINE_RANGE[0]:g},{LINE_RANGE[1]:g}; A at 0, B at 1)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N, mps (default: the run's own setting)")
    p.add_argument("--out", default="landscape", help="output directory (default ./landscape)")
    p.add_argument("--no-html", action="store_true", help="the grid only, no figure")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(fn=cmd_landscape)


def _floats(text: str, n: int, flag: str) -> tuple[float, ...]:
    vals = tuple(float(v) for v in _numbers(text, "float", flag))
    if len(vals) != n:
        raise UsageError(f"{flag} takes {n} comma-separated numbers, got {text!r}")
    return vals


def specs_from_args(args, store: Store) -> list:
    """The plane (and line) the flags ask for, checked (UsageError)."""
    from ..landscape.spec import LineSpec, PlaneSpec

    (run,) = _run_ids(store, str(args.run))
    paths = tuple(_run_ids(store, args.paths)) if args.paths else ()
    span = None if args.span.strip() == "auto" else _floats(args.span, 4, "--span")
    specs = [PlaneSpec(run=run, paths=paths, plane=args.plane, seed=args.seed, keep_1d=args.keep_1d, n=args.grid,
                       span=span, data=args.data)]
    if args.line:
        (other,) = _run_ids(store, str(args.line))
        lo, hi = _floats(args.line_range, 2, "--line-range")
        specs.append(LineSpec(a=run, b=other, n=args.grid, lo=lo, hi=hi, data=args.data))
    for s in specs:
        try:
            s.check()
        except ValueError as e:
            raise UsageError(e.args[0]) from None
    return specs


class _Bar:
    """`label  41%  [########............]  1 066/2 601 points  ETA 12s` on stderr, at most 10 times a second."""

    def __init__(self, label: str, enabled: bool):
        self.label, self.enabled = label, enabled
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.drawn < (0.1 if self.tty else 5.0) and done < total):
            return
        self.drawn = now
        frac = done / max(total, 1)
        rate = done / max(now - self.t0, 1e-9)
        eta = f"  ETA {fmt_duration((total - done) / rate)}" if 0 < done < total and now - self.t0 > 2 else ""
        bar = "#" * int(frac * 20)
        text = f"{self.label}  {frac:4.0%} [{bar:.<20}]  {done:,}/{total:,} points{eta}"
        sys.stderr.write(("\r" + text.ljust(90)) if self.tty else text + "\n")
        sys.stderr.flush()

    def end(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def _evaluate(store: Store, spec, args) -> tuple[int, str]:
    """(id, status): the stored request, evaluated here where it is not complete yet."""
    from ..landscape import cache
    from ..landscape.compute import evaluate
    from ..store import pid_alive

    cache.reap(store)
    row = cache.find(store, spec)
    if row is not None and row["status"] == "done":
        if not args.quiet:
            sys.stderr.write(f"landscape {row['id']}: {spec.kind} already evaluated ({row['done']} rows, cached)\n")
        return row["id"], "done"
    if row is not None and row["status"] in cache.ACTIVE and pid_alive(row["pid"]):
        raise UsageError(f"landscape {row['id']} is being evaluated by process {row['pid']}: wait for it to finish")
    lid = cache.request(store, spec)
    bar = _Bar(f"{spec.kind} #{spec.run}", not args.quiet)
    stop = {"asked": False}

    def cancelled() -> bool:
        return stop["asked"]

    try:
        status = evaluate(store, lid, device=args.device, progress=bar, cancelled=cancelled)
    except KeyboardInterrupt:
        stop["asked"] = True
        cache.set_status(store, lid, "cancelled", error="interrupted (Ctrl-C); the rows done are kept",
                         only_if_active=True)
        status = "cancelled"
    bar.end()
    return lid, status


def _names(store: Store, result: dict) -> dict[int, str]:
    from ..job import label_of

    out = {}
    ids = {p["run"] for p in result.get("paths") or []} | {e["run"] for e in result.get("ends") or []}
    for i in ids | {(result.get("centre") or {}).get("run")} - {None}:
        try:
            r = store.run(i)
        except KeyError:
            continue
        out[i] = f"#{i} {label_of({'optimizer': r['optimizer'], **r['job']})}"
    return out


def write_outputs(store: Store, lids: list[int], out: Path, html: bool) -> list[Path]:
    """The grid (.npz, .csv) of each request and one HTML page with their figures; returns the files."""
    from ..landscape import cache

    out.mkdir(parents=True, exist_ok=True)
    files, figures, title = [], [], "loss landscape"
    for lid in lids:
        row = cache.get(store, lid)
        spec, result = row["spec"], row["result"] or {}
        loss, metric = cache.values(store, lid, spec.rows, spec.cols)
        stem = f"landscape-{spec.run}-{spec.kind}-{hashlib.sha1(spec.key().encode()).hexdigest()[:8]}"
        arrays = {"loss": loss, "metric": metric}
        if spec.kind == "line":
            arrays["t"] = np.asarray(result.get("ts", []))
        else:
            arrays["xs"], arrays["ys"] = np.asarray(result.get("xs", [])), np.asarray(result.get("ys", []))
            for p in result.get("paths") or []:
                for k in ("steps", "a", "b", "off", "loss", "plane_loss", "metric", "plane_metric"):
                    arrays[f"path{p['run']}_{k}"] = np.asarray(p[k], dtype=np.float64)
        arrays["spec_json"] = np.asarray(spec.key())
        arrays["result_json"] = np.asarray(json.dumps({k: v for k, v in result.items() if k != "paths"}))
        np.savez_compressed(out / f"{stem}.npz", **arrays)
        files.append(out / f"{stem}.npz")
        from plots import landscape as pl  # the figures' functions; the grid above needs none of them

        (out / f"{stem}.csv").write_text(pl.grid_csv(result, loss, metric))
        files.append(out / f"{stem}.csv")
        if html and result:
            labels = _names(store, result)
            if spec.kind == "line":
                figures.append(pl.line_figure(result, loss, metric, labels=labels))
            else:
                figures += [pl.plane_figure(result, loss, metric, labels=labels),
                            pl.surface_figure(result, loss, labels=labels)]
                title = pl.plane_title(result, labels)
    if figures:
        from plots import landscape as pl

        path = out / f"landscape-{cache.get(store, lids[0])['spec'].run}.html"
        path.write_text(pl.figures_html(figures, title))
        files.append(path)
    return files


def _summary(store: Store, lid: int) -> str:
    from ..landscape import cache

    row = cache.get(store, lid)
    spec, result = row["spec"], row["result"] or {}
    loss, _ = cache.values(store, lid, spec.rows, spec.cols)
    ok = np.isfinite(loss)
    parts = [f"landscape {lid}: {spec.kind} {row['status']}", f"{int(ok.sum()):,} points"]
    if ok.any():
        parts.append(f"loss {fmt(float(loss[ok].min()))} to {fmt(float(loss[ok].max()))}")
    ex = (result.get("plane") or {}).get("explained")
    if ex:
        parts.append(f"PCA explains {ex[0]:.1%} + {ex[1]:.1%} of the paths' variance")
    if result.get("data"):
        parts.append(f"on {result['data']}")
    if row["error"] and row["status"] != "done":
        parts.append(row["error"].splitlines()[0])
    return ", ".join(parts)


def cmd_landscape(args) -> int:
    store = _store(args)
    specs = specs_from_args(args, store)
    lids, statuses = [], []
    for spec in specs:
        lid, status = _evaluate(store, spec, args)
        lids.append(lid)
        statuses.append(status)
        print(_summary(store, lid))
        if status == "cancelled":
            break
    files = write_outputs(store, lids, Path(args.out), html=not args.no_html)
    print("wrote " + ", ".join(str(f) for f in files))
    if "cancelled" in statuses:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(s == "done" for s in statuses) else EXIT_FAILED
