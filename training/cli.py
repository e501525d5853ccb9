"""The command line: train, compare, list and export runs on a headless box.

    python -m training run --task char-lstm --optimizer adam --lr 1e-3 --clip norm:0.25 \\
                           --schedule one_cycle --steps 2000 --device auto
    python -m training compare --task digits-mlp --optimizer adam,sgd,momentum --lr 1e-3,1e-2 \\
                           --clip none,norm:1 --steps 500 [--parallel 2]
    python -m training list | show ID | cancel ID | delete ID | export --all --out DIR
    python -m training tasks | devices

Runs land in the same store the pages read (--db, else $OPT_PLAYGROUND_DB, else ./runs.sqlite),
so a run started here shows up on the Compare page. `run` trains in this process with a progress
bar on stderr; Ctrl-C once stops it cleanly (status cancelled), twice aborts (interrupted).
Bad arguments print one line and exit with status 2.
"""
from __future__ import annotations

import argparse
import itertools
import math
import os
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from .job import Job, auto_smoothness_every
from .store import ACTIVE, ENV_VAR, STATUSES, Store

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A bad argument: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + message and exits; we want one line
        raise UsageError(f"{message} (see: {self.prog} --help)")


# ---------------------------------------------------------------- parsing values


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _number(text: str, kind: str = "float") -> int | float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if kind == "int":
        if not v.is_integer():
            raise ValueError(f"expected an integer, got {text!r}")
        return int(v)
    return v


def _guess(text: str) -> Any:
    """A value whose type nobody declared: bool, number, pair of numbers, else the string."""
    for parse in (_bool, _number):
        try:
            return parse(text)
        except ValueError:
            pass
    if "," in text:
        try:
            return tuple(_number(t) for t in text.split(","))
        except ValueError:
            pass
    return text


def parse_hp(optimizer: str, name: str, text: str) -> Any:
    """A hyperparameter value typed by the optimizer's spec (float, int, bool, pair "0.9,0.999")."""
    import optimizers

    try:
        hp = optimizers.spec(optimizer).hparam(name)
    except KeyError:
        return _guess(text)  # unknown optimizer or name: optimizers.resolve says which, later
    try:
        if hp.kind == "bool":
            return _bool(text)
        if hp.kind == "pair":
            parts = text.split(",")
            if len(parts) != 2:
                raise ValueError(f"expected two numbers like 0.9,0.999, got {text!r}")
            return tuple(_number(p) for p in parts)
        return _number(text, "int" if hp.kind == "int" else "float")
    except ValueError as e:
        raise UsageError(f"{optimizer}: {name}: {e}") from None


def parse_clip(text: str) -> tuple[str, float] | None:
    """"none" -> None; "norm:0.25" -> ("norm", 0.25)."""
    from optimizers.clipping import check_clip, clip_kinds

    text = text.strip()
    kind, _, threshold = text.partition(":")
    if kind not in clip_kinds():
        raise UsageError(f"unknown clipping {kind!r} in --clip {text}; use none or KIND:THRESHOLD with KIND one of "
                         f"{', '.join(k for k in clip_kinds() if k != 'none')}")
    if kind == "none":
        if threshold:
            raise UsageError(f"--clip none takes no threshold, got {text!r}")
        return None
    if not threshold:
        raise UsageError(f"--clip {kind} needs a threshold, e.g. {kind}:1.0")
    try:
        t = _number(threshold)
        check_clip(kind, t)
    except ValueError as e:
        raise UsageError(f"--clip {text}: {e}") from None
    return (kind, float(t))


def parse_schedule(text: str) -> tuple[str, tuple[tuple[str, Any], ...]] | None:
    """"none" -> None; "one_cycle" or "one_cycle:pct_start=0.3,div_factor=25" -> (name, kw pairs)."""
    from optimizers.schedules import schedule_spec

    text = text.strip()
    name, _, rest = text.partition(":")
    if name in ("none", ""):
        if rest:
            raise UsageError(f"--schedule none takes no arguments, got {text!r}")
        return None
    try:
        spec = schedule_spec(name)
    except (KeyError, ValueError) as e:
        raise UsageError(e.args[0]) from None
    kw = []
    for item in filter(None, (s.strip() for s in rest.split(","))):
        k, eq, v = item.partition("=")
        if not eq:
            raise UsageError(f"--schedule {text}: expected name=value, got {item!r}")
        k = k.strip()
        try:
            p = spec.param(k)
        except KeyError:
            kw.append((k, _guess(v)))  # optimizers.schedule names the valid ones
            continue
        try:
            if p.optional and v.strip().lower() == "none":
                val: Any = None
            elif p.kind == "int":
                val = _number(v, "int")
            elif p.kind == "float":
                val = _number(v)
            elif p.kind == "bool":
                val = _bool(v)
            else:
                val = v.strip()
        except ValueError as e:
            raise UsageError(f"--schedule {text}: {k}: {e}") from None
        kw.append((k, val))
    return (name, tuple(kw))


def split_list(text: str) -> list[str]:
    """Comma-separated values, where "name:k=v,k=v" stays one value (a schedule with arguments)."""
    out: list[str] = []
    for tok in (t.strip() for t in text.split(",")):
        if not tok:
            continue
        if "=" in tok and ":" not in tok and out:
            out[-1] += "," + tok
        else:
            out.append(tok)
    return out


def _numbers(text: str | None, kind: str, flag: str) -> list:
    if text is None:
        return [None]
    try:
        vals = [_number(t, kind) for t in split_list(text)]
    except ValueError as e:
        raise UsageError(f"{flag}: {e}") from None
    if not vals:
        raise UsageError(f"{flag}: no value given")
    return vals


# ---------------------------------------------------------------- building jobs


SHORTCUTS = {"lr": "lr", "momentum": "momentum", "weight_decay": "weight_decay"}  # args attr -> hp name


def _hp_items(args) -> list[tuple[str, str]]:
    """(name, text) for every --hp name=value, in order given."""
    items = []
    for item in args.hp or []:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"--hp expects name=value, got {item!r}")
        items.append((name.strip(), value.strip()))
    return items


def _common(args) -> dict:
    return dict(task=args.task, steps=args.steps, batch_size=args.batch_size, device=args.device, amp=args.amp,
                compile=args.compile, size=args.size, eval_every=args.eval_every,
                smoothness_every=_smoothness_every(args), flooding=args.flooding, label=args.label or "")


def _smoothness_every(args) -> int:
    """--smoothness-every, or by default about 40 estimates over the run's steps (as the Train page)."""
    if args.smoothness_every is not None:
        return args.smoothness_every
    from . import tasks

    try:
        steps = args.steps or tasks.get(args.task).steps
    except KeyError:  # an unknown task: check_job says so
        return 0
    return auto_smoothness_every(steps)


def job_from_args(args) -> Job:
    """The job of `python -m training run ...` (strict: every hyperparameter must apply)."""
    texts: dict[str, str] = {}
    for attr, name in SHORTCUTS.items():
        v = getattr(args, attr)
        if v is not None:
            texts[name] = v
    for name, value in _hp_items(args):
        if name in texts:
            raise UsageError(f"hyperparameter {name} given twice")
        texts[name] = value
    hps = tuple(sorted((n, parse_hp(args.optimizer, n, t)) for n, t in texts.items()))
    clip = parse_clip(args.clip)
    sched = parse_schedule(args.schedule)
    return Job(optimizer=args.optimizer, hparams=hps, clip=clip, schedule=sched, seed=args.seed, **_common(args))


def jobs_from_grid(args, note: Callable[[str], None]) -> list[Job]:
    """The jobs of `python -m training compare ...`: the cartesian product of every list given.

    Lists: --optimizer, --lr, --momentum, --weight-decay, --clip, --seed (comma-separated),
    --schedule (comma-separated or repeated), --hp name=value (repeat a name for several values).
    A hyperparameter an optimizer does not have is left out of its runs (with a note).
    """
    import optimizers

    opts = split_list(args.optimizer)
    if not opts:
        raise UsageError("--optimizer: no value given")
    for o in opts:
        try:
            optimizers.spec(o)
        except KeyError as e:
            raise UsageError(e.args[0]) from None
    axes: dict[str, list[str]] = {}  # hp name -> value texts
    for attr, name in SHORTCUTS.items():
        v = getattr(args, attr)
        if v is not None:
            axes[name] = split_list(v)
    seen_hp = set()
    for name, value in _hp_items(args):
        if name in axes and name not in seen_hp:
            raise UsageError(f"hyperparameter {name} given twice (as a shortcut and as --hp)")
        seen_hp.add(name)
        axes.setdefault(name, []).append(value)
    clips = [parse_clip(c) for c in split_list(args.clip)] or [None]
    scheds = [parse_schedule(s) for text in (args.schedule or ["none"]) for s in split_list(text)] or [None]
    seeds = _numbers(args.seed, "int", "--seed")
    seeds = [0 if s is None else s for s in seeds]
    jobs, skipped = [], set()
    for opt in opts:
        have = {hp.name for hp in optimizers.spec(opt).hparams}
        names = [n for n in axes if n in have]
        skipped |= {(n, opt) for n in axes if n not in have}
        value_lists = [[parse_hp(opt, n, t) for t in axes[n]] for n in names]
        for values in itertools.product(*value_lists):
            hps = tuple(sorted(zip(names, values, strict=True)))
            for clip, sched, seed in itertools.product(clips, scheds, seeds):
                jobs.append(Job(optimizer=opt, hparams=hps, clip=clip, schedule=sched, seed=seed, **_common(args)))
    for name in sorted({n for n, _ in skipped}):
        which = ", ".join(o for n, o in sorted(skipped) if n == name)
        note(f"note: {which} has no hyperparameter {name}; left out of those runs")
    unique = list(dict.fromkeys(jobs))
    if len(unique) > args.max_runs:
        raise UsageError(f"the grid has {len(unique)} runs, more than --max-runs {args.max_runs}")
    return unique


def validate(job: Job) -> None:
    """check_job, with its errors as UsageError."""
    from .workers import check_job

    try:
        check_job(job)
    except (ValueError, KeyError) as e:
        raise UsageError(e.args[0] if e.args else str(e)) from None


# ---------------------------------------------------------------- formatting


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


def device_text(info: Any) -> str | None:
    """'NVIDIA H100, 79 GiB' from a run's device info (the runner nests training.device.describe)."""
    if not isinstance(info, dict):
        return None
    d = info.get("device")
    return (d.get("text") if isinstance(d, dict) else None) or info.get("text")


def describe_job(job: dict | Job, keys: Sequence[str] | None = None) -> str:
    """'adam lr=0.001 clip=norm:1 one_cycle' (keys: only these hyperparameters)."""
    d = job if isinstance(job, dict) else _job_dict(job)
    hps = dict(d.get("hparams") or ())
    parts = [d["optimizer"]]
    parts += [f"{k}={_fmt_hp(v)}" for k, v in hps.items() if keys is None or k in keys]
    if d.get("clip"):
        parts.append(f"clip={d['clip'][0]}:{d['clip'][1]:g}")
    if d.get("schedule"):
        parts.append(d["schedule"][0])
    return " ".join(parts)


def _job_dict(job: Job) -> dict:
    import json

    return json.loads(job.to_json())


def _fmt_hp(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(_fmt_hp(x) for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


# ---------------------------------------------------------------- the progress bar


class Progress:
    """A Sink wrapper that draws `step/steps loss steps/s ETA` on stderr as rows are flushed.

    On a terminal it redraws one line with \\r (at most 10 times a second); elsewhere (a log
    file) it prints a line every few seconds instead.
    """

    def __init__(self, sink, total: int | None, *, prefix: str = "", stream=None, enabled: bool = True):
        self.sink = sink
        self.total = total or None
        self.prefix = prefix
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = 0.1 if self.tty else 5.0
        self.last = None  # the latest StepRow
        self.metric = None  # the latest EvalRow
        self.metric_name = "metric"
        self._drawn = 0.0
        self._width = 0
        self._last_text = ""

    def stop(self) -> None:
        """Ask the run to stop at its next poll (first Ctrl-C)."""
        self.sink.cancel()

    # ---- Sink protocol, forwarded
    def start(self, job, device, info):
        self.sink.start(job, device, info)
        if isinstance(info, dict):
            self.metric_name = str(info.get("metric_name") or self.metric_name)
            self.total = self.total or info.get("steps")
        self._say(f"{self.prefix}training on {device_text(info) or device}")

    def steps(self, rows):
        self.sink.steps(rows)
        if rows:
            self.last = rows[-1]
            self.draw()

    def evals(self, rows):
        self.sink.evals(rows)
        if rows:
            self.metric = rows[-1]
            self.draw(force=not self.tty)

    def finish(self, status, summary):
        self.sink.finish(status, summary)
        self.draw(force=True)
        self.end()

    def cancelled(self) -> bool:
        return self.sink.cancelled()

    # ---- drawing
    def line(self) -> str:
        r = self.last
        if r is None:
            return f"{self.prefix}starting..."
        step = r.step + 1  # steps done
        parts = [f"{self.prefix}step {step}" + (f"/{self.total}" if self.total else "")]
        if self.total:
            frac = min(1.0, step / self.total)
            bar = int(frac * 20)
            parts.append(f"{frac:4.0%} [{'#' * bar}{'.' * (20 - bar)}]")
        parts.append(f"loss {fmt(float(r.loss))}")
        if self.metric is not None:
            parts.append(f"val {self.metric_name} {fmt(float(self.metric.metric))}")
        rate = step / r.wall if r.wall and r.wall > 0 else None
        if rate:
            parts.append(f"{rate:.1f} steps/s")
            if self.total and step < self.total:
                parts.append(f"ETA {fmt_duration((self.total - step) / rate)}")
            else:
                parts.append(fmt_duration(r.wall))
        return "  ".join(parts)

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < self.every:
            return
        self._drawn = now
        text = self.line()
        cols = shutil.get_terminal_size((120, 20)).columns - 1 if self.tty else 10_000
        text = text[:cols]
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        elif text != self._last_text:
            self.stream.write(text + "\n")
        self._last_text = text
        self.stream.flush()

    def end(self) -> None:
        if self.enabled and self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def _say(self, text: str) -> None:
        if self.enabled:
            self.end()
            self.stream.write(text + "\n")
            self.stream.flush()


# ---------------------------------------------------------------- commands


def _store(args) -> Store:
    try:
        store = Store(args.db)
        store.reap()
    except (sqlite3.DatabaseError, OSError, RuntimeError) as e:
        raise UsageError(f"cannot open the run store {args.db or os.environ.get(ENV_VAR) or 'runs.sqlite'}: {e}") \
            from None
    return store


def _total_steps(job: Job) -> int | None:
    return job.steps or _task_steps(job.task)


class _Interrupts:
    """SIGINT/SIGTERM while training in the foreground: first Ctrl-C asks the run to stop at its
    next flush (cancelled), a second one raises KeyboardInterrupt (interrupted); SIGTERM raises
    workers.Terminated. Restores the previous handlers on exit."""

    def __init__(self, err):
        self.err = err
        self.progress: Progress | None = None
        self.stopping = False

    def _sigint(self, signum, frame):
        if self.stopping or self.progress is None:
            raise KeyboardInterrupt
        self.stopping = True
        self.progress.stop()
        self.progress.end()
        self.err.write("stopping after the current step (Ctrl-C again to abort)\n")
        self.err.flush()

    def __enter__(self):
        from .workers import _raise_terminated

        self._old = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
        signal.signal(signal.SIGINT, self._sigint)
        signal.signal(signal.SIGTERM, _raise_terminated)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._old[0])
        signal.signal(signal.SIGTERM, self._old[1])


def _foreground(store: Store, job: Job, args, prefix: str, interrupts: _Interrupts) -> tuple[int, str]:
    """Create a run for job and train it here; returns (run_id, final status)."""
    from .workers import execute

    run_id = store.create_run(job, pid=os.getpid())
    err = sys.stderr
    err.write(f"{prefix}run {run_id}: {job.task} {describe_job(job)} -> {store.path}\n")
    err.flush()

    def wrap(sink):
        p = Progress(sink, _total_steps(job), prefix=prefix, stream=err, enabled=not args.quiet)
        interrupts.progress = p
        if interrupts.stopping:
            p.stop()
        return p

    status = execute(run_id, store, target=args.target, wrap=wrap)
    if interrupts.progress is not None:
        interrupts.progress.end()
    interrupts.progress = None
    return run_id, status


def _result_line(store: Store, run_id: int) -> str:
    r = store.run(run_id)
    s = _run_stats(store, r)
    parts = [f"run {run_id} {r['status']}"]
    if r["last_step"] is not None:
        parts.append(f"step {r['last_step'] + 1}")
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

    metric_name, higher, target = "metric", True, None
    try:
        from . import tasks

        t = tasks.get(r["task"])
        metric_name, higher, target = t.metric_name, t.higher_is_better, t.target
    except Exception:
        pass
    metric_name = (r["summary"] or {}).get("metric_name", metric_name)
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
    for key, theirs in (("val_loss", "final_val_loss"), ("metric", "final_metric"), ("best", "best_metric"),
                        ("rate", "steps_per_s"), ("time_to_target", "time_to_target")):
        if summ.get(theirs) is not None:
            out[key] = summ[theirs]
    return out


def cmd_run(args) -> int:
    job = job_from_args(args)
    validate(job)
    store = _store(args)
    with _Interrupts(sys.stderr) as interrupts:
        try:
            run_id, status = _foreground(store, job, args, "", interrupts)
        except KeyboardInterrupt:  # between runs' bookkeeping: nothing half-written
            return EXIT_INTERRUPTED
    print(_result_line(store, run_id))
    return {"done": EXIT_OK, "diverged": EXIT_OK, "failed": EXIT_FAILED}.get(status, EXIT_INTERRUPTED)


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
    show_sched = len({repr(j.get("schedule")) for j in jobs}) > 1 or any(j.get("schedule") for j in jobs)
    show_seed = len({j.get("seed") for j in jobs}) > 1
    headers = ["run", "optimizer", *varied]
    headers += ["clip"] * show_clip + ["schedule"] * show_sched + ["seed"] * show_seed
    stats = [_run_stats(store, r) for r in runs]
    mname = stats[0]["metric_name"] if stats else "metric"
    target = stats[0]["target"] if stats else None
    headers += ["status", "steps", "loss", "val_loss", f"val {mname}", f"best {mname}"]
    headers += [f"time to {fmt(target)}"] * (target is not None) + ["steps/s", "time"]
    rows = []
    for r, j, s in zip(runs, jobs, stats, strict=True):
        hps = dict(j.get("hparams") or ())
        row: list[Any] = [r["id"], j["optimizer"], *[_fmt_hp(hps[k]) if k in hps else "-" for k in varied]]
        if show_clip:
            row.append(f"{j['clip'][0]}:{j['clip'][1]:g}" if j.get("clip") else "none")
        if show_sched:
            row.append(j["schedule"][0] if j.get("schedule") else "none")
        if show_seed:
            row.append(j.get("seed"))
        row += [r["status"], (r["last_step"] + 1) if r["last_step"] is not None else 0, s["loss"], s["val_loss"],
                s["metric"], s["best"]]
        if target is not None:
            row.append(fmt_duration(s["time_to_target"]) if s["time_to_target"] is not None else "-")
        row += [s["rate"], fmt_duration(r["elapsed"])]
        rows.append(row)
    return table(headers, rows)


def cmd_compare(args) -> int:
    err = sys.stderr

    def note(msg):
        err.write(msg + "\n")

    jobs = jobs_from_grid(args, note)
    for job in jobs:
        validate(job)
    store = _store(args)
    err.write(f"{len(jobs)} runs of {args.task}" + (f", {args.parallel} at a time" if args.parallel > 1 else "")
              + f" -> {store.path}\n")
    err.flush()
    if args.parallel > 1:
        run_ids, stopped = _compare_parallel(store, jobs, args)
    else:
        run_ids, stopped = [], False
        with _Interrupts(err) as interrupts:
            for i, job in enumerate(jobs):
                try:
                    run_id, status = _foreground(store, job, args, f"[{i + 1}/{len(jobs)}] ", interrupts)
                except KeyboardInterrupt:
                    stopped = True
                    break
                run_ids.append(run_id)
                if not args.quiet:
                    err.write(f"[{i + 1}/{len(jobs)}] " + _result_line(store, run_id) + "\n")
                if interrupts.stopping or status == "interrupted":
                    stopped = True
                    break
    if stopped:
        err.write(f"stopped: {len(run_ids)} of {len(jobs)} runs started\n")
    if run_ids:
        print(_compare_table(store, run_ids))
    statuses = {r["status"] for r in store.list_runs(ids=run_ids)}
    if stopped:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if "failed" in statuses or "interrupted" in statuses else EXIT_OK


def _compare_parallel(store: Store, jobs: list[Job], args) -> tuple[list[int], bool]:
    """Run the jobs in up to args.parallel worker processes; returns (run ids, stopped by Ctrl-C)."""
    from . import workers

    err = sys.stderr
    tty = err.isatty()
    pending = list(jobs)
    run_ids: list[int] = []
    active: list[int] = []
    totals: dict[int, int | None] = {}
    last_draw = 0.0
    old_handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where the shell started us ignoring it
    signal.signal(signal.SIGTERM, workers._raise_terminated)
    try:
        while pending or active:
            while pending and len(active) < args.parallel:
                job = pending.pop(0)
                # a CPU job shares the cores with the CPU runs active in the store and the others of this grid
                rid = workers.launch(job, store.path, target=args.target, validate=False,
                                     concurrent=min(args.parallel, len(pending) + 1))
                totals[rid] = _total_steps(job)
                run_ids.append(rid)
                active.append(rid)
                err.write(f"{'' if not tty else chr(13) + ' ' * 100 + chr(13)}run {rid} started: "
                          f"{describe_job(job)}\n")
            time.sleep(0.2)
            store.reap()
            runs = {r["id"]: r for r in store.list_runs(ids=active)}
            for rid in list(active):
                if runs[rid]["status"] not in ACTIVE:
                    active.remove(rid)
                    if tty:
                        err.write("\r" + " " * 100 + "\r")
                    if not args.quiet:
                        err.write(_result_line(store, rid) + "\n")
            now = time.monotonic()
            if not args.quiet and active and now - last_draw >= (0.5 if tty else 10.0):
                last_draw = now
                done = len(run_ids) - len(active)
                parts = []
                for rid in active:
                    r = runs[rid]
                    step = 0 if r["last_step"] is None else r["last_step"] + 1
                    parts.append(f"#{rid} {step}/{totals[rid] or '?'}")
                text = f"{done}/{len(jobs)} done; running " + ", ".join(parts)
                err.write(("\r" + text[:99].ljust(99)) if tty else text + "\n")
            err.flush()
    except (KeyboardInterrupt, workers.Terminated):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the workers be cancelled in peace
        err.write("\nstopping: cancelling the running workers...\n")
        for rid in active:
            store.request_cancel(rid)
        for rid in active:
            workers.cancel(rid, store.path, grace=workers.GRACE)
        return run_ids, True
    finally:
        signal.signal(signal.SIGINT, old_handlers[0])
        signal.signal(signal.SIGTERM, old_handlers[1])
    if tty:
        err.write("\r" + " " * 100 + "\r")
    return run_ids, False


def cmd_list(args) -> int:
    store = _store(args)
    runs = store.list_runs(status=args.status, task=args.task, limit=None if args.all else args.limit)
    if not runs:
        print(f"no runs in {store.path}")
        return EXIT_OK
    rows = []
    for r in runs:
        total = r["total_steps"] or _task_steps(r["task"])
        done = 0 if r["last_step"] is None else r["last_step"] + 1
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"]))
        rows.append([r["id"], created, r["status"], r["task"], describe_job(r["job"]), f"{done}/{total or '?'}",
                     r["last_loss"], fmt_duration(r["elapsed"]), r["device"] or "-", r["label"]])
    print(table(["id", "created", "status", "task", "run", "steps", "loss", "time", "device", "label"], rows))
    return EXIT_OK


def _task_steps(task: str) -> int | None:
    try:
        from . import tasks

        return tasks.get(task).steps
    except Exception:
        return None


def _run_ids(store: Store, text: str) -> list[int]:
    ids = []
    for t in split_list(text):
        try:
            ids.append(int(t))
        except ValueError:
            raise UsageError(f"a run id is a number, got {t!r}") from None
    for i in ids:
        try:
            store.run(i)
        except KeyError as e:
            raise UsageError(e.args[0]) from None
    return ids


def cmd_show(args) -> int:
    import json

    store = _store(args)
    (run_id,) = _run_ids(store, str(args.id))
    r = store.run(run_id)
    print(_result_line(store, run_id).split("\n")[0])
    print(f"task {r['task']}, {describe_job(r['job'])}, label {r['label']!r}")
    print(f"device {r['device']}" + (f" ({device_text(r['device_info'])})" if device_text(r["device_info"]) else ""))
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created"]))
    print(f"created {created}, pid {r['pid']} on {r['host']}")
    print("job " + json.dumps(r["job"], sort_keys=True))
    if r["summary"]:
        print("summary " + json.dumps(r["summary"], sort_keys=True))
    if r["error"]:
        print("error:\n" + r["error"])
    return EXIT_OK


def cmd_cancel(args) -> int:
    from . import workers

    store = _store(args)
    for run_id in _run_ids(store, args.id):
        if store.status(run_id) not in ACTIVE:
            print(f"run {run_id} is already {store.status(run_id)}")
            continue
        print(f"run {run_id} {workers.cancel(run_id, store.path, grace=args.grace)}")
    return EXIT_OK


def cmd_delete(args) -> int:
    store = _store(args)
    for run_id in _run_ids(store, args.id):
        try:
            store.delete_run(run_id, force=args.force)
        except ValueError as e:
            raise UsageError(e.args[0]) from None
        print(f"deleted run {run_id}")
    return EXIT_OK


def cmd_export(args) -> int:
    from .export import export_runs

    if not args.all and not args.run:
        raise UsageError("export needs --run ID (repeatable, or comma-separated) or --all")
    store = _store(args)
    ids = None if args.all else [i for text in args.run for i in _run_ids(store, text)]
    res = export_runs(store, ids, args.out, tensorboard=not args.no_tensorboard)
    print(f"wrote {res['count']} run(s) to {args.out}: runs.csv and {len(res['files']) - 1} CSV file(s)")
    if res["tensorboard"] is not None:
        print(f"TensorBoard event files in {res['tensorboard']} (tensorboard --logdir {res['tensorboard']})")
    elif not args.no_tensorboard:
        print("(tensorboard is not installed: CSV only)")
    return EXIT_OK


def cmd_tasks(args) -> int:
    from . import tasks

    rows = []
    for name in tasks.names():
        t = tasks.get(name)
        rows.append([name, t.title, t.metric_name + (" (higher better)" if t.higher_is_better else " (lower better)"),
                     t.steps, t.batch_size, t.eval_every, fmt(t.default_lr)])
    print(table(["task", "title", "metric", "steps", "batch", "eval every", "adam lr"], rows))
    if args.verbose:
        for name in tasks.names():
            print(f"\n{name}: {tasks.get(name).about}")
    return EXIT_OK


def cmd_devices(args) -> int:
    import torch

    from .device import describe, pick

    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} threads")
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n:
        for i in range(n):
            print(f"cuda:{i}  {describe(torch.device('cuda', i))['text']}")
    else:
        print(f"CUDA: not available (torch built with CUDA {torch.version.cuda or 'none'})")
    mps = getattr(torch.backends, "mps", None)
    print(f"MPS: {'available' if mps is not None and mps.is_available() else 'not available'}")
    auto = pick("auto")
    print(f"--device auto -> {auto} ({describe(auto)['text']})"
          + (f"; with {n} GPUs, parallel jobs go to the least busy cuda:i" if n > 1 else ""))
    return EXIT_OK


# ---------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    from .workers import DEFAULT_TARGET

    p = _Parser(prog="python -m training", description="Train real models with the playground's optimizers.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    db = _Parser(add_help=False)
    db.add_argument("--db", help=f"the run store (default: ${ENV_VAR}, else ./runs.sqlite)")

    job = _Parser(add_help=False)
    job.add_argument("--task", required=True, help="a task name (python -m training tasks)")
    job.add_argument("--steps", type=int, default=0, help="optimizer steps (default: the task's budget)")
    job.add_argument("--batch-size", type=int, default=0, help="default: the task's")
    job.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    job.add_argument("--amp", action="store_true", help="autocast: bfloat16 (float16 on GPUs without it), any device")
    job.add_argument("--compile", action="store_true",
                     help="torch.compile the model and the optimizer step, any device (CPU: a C compiler)")
    job.add_argument("--size", type=float, default=1.0, help="scale the task's model/data (default 1)")
    job.add_argument("--eval-every", type=int, default=0, help="steps between evaluations (default: the task's)")
    job.add_argument("--smoothness-every", type=int, default=None,
                     help="estimate local smoothness every N steps, 0: never (default: about 40 times a run)")
    job.add_argument("--flooding", type=float, default=None, help="flooding level b (Ishida et al. 2020)")
    job.add_argument("--label", default="", help="a name for the run(s)")
    job.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    job.add_argument("--target", default=DEFAULT_TARGET, help=argparse.SUPPRESS)  # tests inject a fake trainer

    r = sub.add_parser("run", parents=[job, db], help="train one run in the foreground",
                       description="Train one run here, with a progress bar; Ctrl-C stops it cleanly.")
    r.add_argument("--optimizer", default="adam", help="an optimizer name (default adam)")
    r.add_argument("--lr", help="learning rate (a schedule's peak)")
    r.add_argument("--momentum")
    r.add_argument("--weight-decay")
    r.add_argument("--hp", action="append", metavar="NAME=VALUE", help="any hyperparameter; repeatable")
    r.add_argument("--clip", default="none", help="none, norm:T, smooth:T, value:T")
    r.add_argument("--schedule", default="none", help="none or NAME[:k=v,k=v], e.g. one_cycle:pct_start=0.3")
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(fn=cmd_run)

    c = sub.add_parser("compare", parents=[job, db], help="train a grid of runs and print a table",
                       description="Train the cartesian product of the lists given (comma-separated).")
    c.add_argument("--optimizer", default="adam", help="optimizers, e.g. adam,sgd,momentum")
    c.add_argument("--lr", help="learning rates, e.g. 1e-3,1e-2")
    c.add_argument("--momentum")
    c.add_argument("--weight-decay")
    c.add_argument("--hp", action="append", metavar="NAME=VALUE",
                   help="any hyperparameter; repeat a name for several values")
    c.add_argument("--clip", default="none", help="clippings, e.g. none,norm:1,smooth:1")
    c.add_argument("--schedule", action="append", help="schedules, e.g. none,cosine,one_cycle:pct_start=0.3")
    c.add_argument("--seed", help="seeds, e.g. 0,1,2 (default 0)")
    c.add_argument("--parallel", type=int, default=1, help="worker processes at once (default 1: one by one here)")
    c.add_argument("--max-runs", type=int, default=200, help="refuse a larger grid (default 200)")
    c.set_defaults(fn=cmd_compare)

    li = sub.add_parser("list", parents=[db], help="list runs in the store")
    li.add_argument("--status", action="append", choices=STATUSES, help="only runs with this status (repeatable)")
    li.add_argument("--task")
    li.add_argument("--limit", type=int, default=20, help="newest N runs (default 20)")
    li.add_argument("--all", action="store_true", help="every run")
    li.set_defaults(fn=cmd_list)

    sh = sub.add_parser("show", parents=[db], help="one run in detail (job, summary, error)")
    sh.add_argument("id")
    sh.set_defaults(fn=cmd_show)

    ca = sub.add_parser("cancel", parents=[db], help="stop queued/running runs")
    ca.add_argument("id", help="run id(s), comma-separated")
    ca.add_argument("--grace", type=float, default=10.0, help="seconds before the process is terminated")
    ca.set_defaults(fn=cmd_cancel)

    de = sub.add_parser("delete", parents=[db], help="delete runs and their rows")
    de.add_argument("id", help="run id(s), comma-separated")
    de.add_argument("--force", action="store_true", help="even a queued/running one")
    de.set_defaults(fn=cmd_delete)

    ex = sub.add_parser("export", parents=[db], help="write runs as CSV (and TensorBoard event files)")
    ex.add_argument("--run", action="append", help="run id(s); repeatable or comma-separated")
    ex.add_argument("--all", action="store_true", help="every run in the store")
    ex.add_argument("--out", required=True, help="output directory")
    ex.add_argument("--no-tensorboard", action="store_true", help="CSV only")
    ex.set_defaults(fn=cmd_export)

    t = sub.add_parser("tasks", help="list the training tasks")
    t.add_argument("--verbose", "-v", action="store_true", help="with a sentence about each")
    t.set_defaults(fn=cmd_tasks)
    d = sub.add_parser("devices", help="show the devices torch finds")
    d.set_defaults(fn=cmd_devices)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "parallel", 1) < 1:
            raise UsageError("--parallel must be >= 1")
        return args.fn(args)
    except UsageError as e:
        sys.stderr.write(f"error: {e}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `python -m training list | head`
        return EXIT_OK
