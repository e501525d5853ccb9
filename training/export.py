"""Export runs from the store: CSV always, TensorBoard event files when tensorboard is installed.

    export_runs(store, run_ids, out_dir) -> {"runs": Path, "files": [Path, ...], "tensorboard": Path | None}

out_dir/runs.csv            one row per run: the job's settings, status, times, summary
out_dir/run-<id>-steps.csv  step, loss, lr, grad_norm, clip_coef, wall
out_dir/run-<id>-evals.csv  step, val_loss, metric, throughput, smoothness, grad_norm, wall, extra_json
out_dir/tensorboard/run-<id>-<optimizer>/   scalars train/*, val/* (optional)
Missing values are written as "nan" (float("nan") reads them back).
"""
from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from .store import EVAL_COLUMNS, STEP_COLUMNS, Store

RUN_COLUMNS = ("id", "label", "task", "optimizer", "hparams", "clip", "schedule", "steps", "batch_size", "seed",
               "device", "status", "created", "started", "finished", "elapsed", "last_step", "last_loss",
               "error", "job_json", "summary_json", "device_info_json")


def _iso(t: float | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


def _run_row(r: dict) -> dict:
    job = r["job"]
    clip = job.get("clip")
    sched = job.get("schedule")
    return {
        "id": r["id"], "label": r["label"], "task": r["task"], "optimizer": r["optimizer"],
        "hparams": json.dumps(dict(job.get("hparams") or ())),
        "clip": "none" if not clip else f"{clip[0]}:{clip[1]:g}",
        "schedule": " then ".join(
            ["none" if not sched else sched[0] + (":" + ",".join(f"{k}={v}" for k, v in sched[1]) if sched[1] else "")]
            + [f"{name}@{m}" + (":" + ",".join(f"{k}={v}" for k, v in kw) if kw else "")
               for m, name, kw in job.get("then") or ()]),
        "steps": job.get("steps"), "batch_size": job.get("batch_size"), "seed": job.get("seed"),
        "device": r["device"], "status": r["status"],
        "created": _iso(r["created"]), "started": _iso(r["started"]), "finished": _iso(r["finished"]),
        "elapsed": r["elapsed"], "last_step": r["last_step"], "last_loss": r["last_loss"],
        "error": (r["error"] or "").splitlines()[0] if r["error"] else "",
        "job_json": r["job_json"],
        "summary_json": json.dumps(r["summary"]) if r["summary"] is not None else "",
        "device_info_json": json.dumps(r["device_info"]) if r["device_info"] is not None else "",
    }


def _write_columns(path: Path, cols: dict[str, Any], names: Iterable[str]) -> None:
    names = list(names)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for row in zip(*(cols[n] for n in names), strict=True):
            w.writerow([x.item() if hasattr(x, "item") else x for x in row])


def _summary_writer() -> Callable[[str], Any] | None:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional
        return None
    return SummaryWriter


def _tensorboard(store: Store, r: dict, root: Path, writer_factory: Callable[[str], Any]) -> Path:
    name = f"run-{r['id']}-{r['optimizer']}" + (f"-{r['label']}" if r["label"] else "")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    path = root / slug.strip("-")
    start = r["started"] or r["created"]
    from . import tasks

    metric = re.sub(r"[^A-Za-z0-9_]+", "_", tasks.info(r)["metric_name"]).strip("_") or "metric"
    w = writer_factory(str(path))
    try:
        w.add_text("job", "```\n" + json.dumps(r["job"], indent=2) + "\n```", 0)
        s = store.steps(r["id"])
        for i, step in enumerate(s["step"].tolist()):
            wall = start + float(s["wall"][i]) if math.isfinite(s["wall"][i]) else None
            for col in ("loss", "lr", "grad_norm", "clip_coef"):
                v = float(s[col][i])
                if math.isfinite(v):
                    w.add_scalar(f"train/{col}", v, step, walltime=wall)
        e = store.evals(r["id"])
        tags = {"val_loss": "val/loss", "metric": f"val/{metric}", "throughput": "val/throughput",
                "smoothness": "val/smoothness", "grad_norm": "val/grad_norm"}
        for i, step in enumerate(e["step"].tolist()):
            wall = start + float(e["wall"][i]) if math.isfinite(e["wall"][i]) else None
            for col, tag in tags.items():
                v = float(e[col][i])
                if math.isfinite(v):
                    w.add_scalar(tag, v, step, walltime=wall)
    finally:
        w.close()
    return path


def export_runs(store: Store, run_ids: Iterable[int] | None, out_dir: str | Path, *, tensorboard: bool = True,
                writer_factory: Callable[[str], Any] | None = None) -> dict:
    """Write the runs (all of them where run_ids is None) to out_dir; see the module docstring.

    writer_factory(logdir) -> a torch.utils.tensorboard.SummaryWriter-like object; by default
    SummaryWriter where tensorboard is installed, else TensorBoard output is skipped.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids = None if run_ids is None else [int(i) for i in run_ids]
    runs = store.list_runs(ids=ids, newest_first=False)
    if ids is not None:
        missing = sorted(set(ids) - {r["id"] for r in runs})
        if missing:
            raise KeyError(f"no run {', '.join(map(str, missing))} in {store.path}")
    files = []
    runs_csv = out / "runs.csv"
    with open(runs_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=RUN_COLUMNS)
        w.writeheader()
        for r in runs:
            w.writerow(_run_row(r))
    files.append(runs_csv)
    for r in runs:
        p = out / f"run-{r['id']}-steps.csv"
        _write_columns(p, store.steps(r["id"]), STEP_COLUMNS)
        files.append(p)
        e = store.evals(r["id"])
        e["extra_json"] = [json.dumps(x) for x in e.pop("extra")]
        p = out / f"run-{r['id']}-evals.csv"
        _write_columns(p, e, (*EVAL_COLUMNS, "extra_json"))
        files.append(p)
    factory = writer_factory or (_summary_writer() if tensorboard else None)
    tb = None
    if factory is not None and runs:
        tb = out / "tensorboard"
        for r in runs:
            _tensorboard(store, r, tb, factory)
    return {"runs": runs_csv, "files": files, "tensorboard": tb, "count": len(runs)}
