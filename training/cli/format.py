"""Text for the terminal: numbers, durations, aligned tables, a run's result line
and the table that `compare` prints."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..store import Store


def fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
            return f"{x:.{digits - 1}e}"
        return f"{x:.{digits}g}"
    return str(x)


def fmt_duration(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    s = int(round(s))
    h, m, sec = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_looks_numeric(r[i]) for r in cells[1:]) and len(cells) > 1 for i in range(len(headers))]
    lines = []
    for j, r in enumerate(cells):
        parts = [c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _looks_numeric(s: str) -> bool:
    if s in ("-", "nan", "inf", "-inf"):
        return True
    try:
        float(s.rstrip("%"))
        return True
    except ValueError:
        return False


def _fmt_hp(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(_fmt_hp(x) for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def _result_line(store: Store, run_id: int) -> str:
    r = store.run(run_id)
    s = _run_stats(store, r)
    parts = [f"run {run_id} {r['status']}"]
    if r["last_step"] is not None:
        parts.append(f"step {r['last_step'] + 1}" + (f" ({s['evaluations']})" if s["evaluations"] else ""))
    parts.append(f"loss {fmt(s['loss'])}")
    if s["metric"] is not None:
        parts.append(f"val {s['metric_name']} {fmt(s['metric'])} (best {fmt(s['best'])})")
    if s["rate"]:
        parts.append(f"{s['rate']:.1f} steps/s")
    parts.append(fmt_duration(r["elapsed"]))
    line = ", ".join(parts)
    if r["status"] in ("failed", "interrupted") and r["error"]:
        line += f"\n  {r['error'].splitlines()[0]}"
        if r["status"] == "failed":
            line += f"\n  (full traceback: python -m training show {run_id})"
    return line


def _run_stats(store: Store, r: dict) -> dict:
    """Last train loss, last/best validation metric, steps/s and time to target for one run."""
    import numpy as np

    from .. import tasks

    info = tasks.info(r)
    metric_name, higher, target = info["metric_name"], info["higher_is_better"], info["target"]
    ev = store.evals(r["id"])
    m = ev["metric"]
    ok = np.isfinite(m)
    best = None
    reached = None
    if ok.any():
        best = float(np.max(m[ok]) if higher else np.min(m[ok]))
        if target is not None:
            hit = np.flatnonzero(ok & ((m >= target) if higher else (m <= target)))
            if hit.size:
                reached = float(ev["wall"][hit[0]])
    last_wall = None
    if r["last_step"] is not None:
        st = store.steps(r["id"], since=r["last_step"] - 1)
        last_wall = float(st["wall"][-1]) if len(st["wall"]) else None
    rate = (r["last_step"] + 1) / last_wall if last_wall and r["last_step"] is not None else None
    out = {"loss": r["last_loss"], "val_loss": float(ev["val_loss"][ok][-1]) if ok.any() else None,
           "metric": float(m[ok][-1]) if ok.any() else None, "best": best, "metric_name": metric_name,
           "rate": rate, "time_to_target": reached, "target": target}
    # the runner's own summary where it has one (its steps/s leaves evaluation time out)
    summ = r["summary"] or {}
    out["evaluations"] = evaluations_text(summ)
    out["sharpness"] = summ.get("final_sharpness")
    for key, theirs in (("val_loss", "final_val_loss"), ("metric", "final_metric"), ("best", "best_metric"),
                        ("rate", "steps_per_s"), ("time_to_target", "time_to_target")):
        if summ.get(theirs) is not None:
            out[key] = summ[theirs]
    return out


def evaluations_text(summary: dict) -> str | None:
    """What a run's updates cost, from its summary: "1500 f" (loss values), "1000 ∇f" (gradients), None unknown."""
    f, g = summary.get("loss_evaluations"), summary.get("gradient_evaluations")
    if f is None and g is None:
        return None
    parts = [f"{f} f"] * bool(f) + [f"{g} ∇f"] * bool(g)
    return " + ".join(parts) or "0"


def _compare_table(store: Store, run_ids: list[int]) -> str:
    runs = store.list_runs(ids=run_ids, newest_first=False)
    jobs = [r["job"] for r in runs]
    varied = []  # hyperparameters whose value differs between runs (the others are noise)
    all_names = list(dict.fromkeys(k for j in jobs for k, _ in (j.get("hparams") or ())))
    for k in all_names:
        vals = {repr(dict(j.get("hparams") or ()).get(k)) for j in jobs}
        if len(vals) > 1 or len(runs) == 1:
            varied.append(k)
    show_clip = len({repr(j.get("clip")) for j in jobs}) > 1 or any(j.get("clip") for j in jobs)
    show_sched = (len({repr((j.get("schedule"), j.get("then"))) for j in jobs}) > 1
                  or any(j.get("schedule") or j.get("then") for j in jobs))
    show_seed = len({j.get("seed") for j in jobs}) > 1
    headers = ["run", "optimizer", *varied]
    headers += ["clip"] * show_clip + ["schedule"] * show_sched + ["seed"] * show_seed
    stats = [_run_stats(store, r) for r in runs]
    mname = stats[0]["metric_name"] if stats else "metric"
    target = stats[0]["target"] if stats else None
    show_sharp = any(s["sharpness"] is not None for s in stats)
    headers += ["status", "steps", "evaluations", "loss", "val_loss", f"val {mname}", f"best {mname}"]
    headers += ["sharpness"] * show_sharp
    headers += [f"time to {fmt(target)}"] * (target is not None) + ["steps/s", "time"]
    rows = []
    for r, j, s in zip(runs, jobs, stats, strict=True):
        hps = dict(j.get("hparams") or ())
        row: list[Any] = [r["id"], j["optimizer"], *[_fmt_hp(hps[k]) if k in hps else "-" for k in varied]]
        if show_clip:
            row.append(f"{j['clip'][0]}:{j['clip'][1]:g}" if j.get("clip") else "none")
        if show_sched:
            first = j["schedule"][0] if j.get("schedule") else "none" if not j.get("then") else "constant"
            row.append("→".join([first, *(f"{name}@{m}" for m, name, _ in j.get("then") or ())]))
        if show_seed:
            row.append(j.get("seed"))
        row += [r["status"], (r["last_step"] + 1) if r["last_step"] is not None else 0, s["evaluations"] or "-",
                s["loss"], s["val_loss"], s["metric"], s["best"]]
        row += [s["sharpness"]] * show_sharp
        if target is not None:
            row.append(fmt_duration(s["time_to_target"]) if s["time_to_target"] is not None else "-")
        row += [s["rate"], fmt_duration(r["elapsed"])]
        rows.append(row)
    return table(headers, rows)
