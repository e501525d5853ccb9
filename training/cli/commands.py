"""The commands that read or change the store, and what this machine has: list, show, cancel, delete,
export, tasks, devices; the exit statuses, and opening the store (every command but tasks and devices)."""
from __future__ import annotations

import os
import sqlite3
import time

from ..job import label_of
from ..store import ACTIVE, ENV_VAR, Store
from .format import _result_line, fmt, fmt_duration, table
from .parse import UsageError, split_list

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _store(args) -> Store:
    try:
        store = Store(args.db)
        store.reap()
    except (sqlite3.DatabaseError, OSError, RuntimeError) as e:
        raise UsageError(f"cannot open the run store {args.db or os.environ.get(ENV_VAR) or 'runs.sqlite'}: {e}") \
            from None
    return store


def cmd_list(args) -> int:
    from .. import tasks

    store = _store(args)
    runs = store.list_runs(status=args.status, task=args.task, limit=None if args.all else args.limit)
    if not runs:
        print(f"no runs in {store.path}")
        return EXIT_OK
    rows = []
    for r in runs:
        total = r["total_steps"] or tasks.budget(r["task"])
        done = 0 if r["last_step"] is None else r["last_step"] + 1
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"]))
        rows.append([r["id"], created, r["status"], r["task"], label_of(r["job"]), f"{done}/{total or '?'}",
                     r["last_loss"], fmt_duration(r["elapsed"]), r["device"] or "-", r["label"]])
    print(table(["id", "created", "status", "task", "run", "steps", "loss", "time", "device", "label"], rows))
    return EXIT_OK


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

    from ..device import device_text  # training.device imports torch: not on import

    store = _store(args)
    (run_id,) = _run_ids(store, str(args.id))
    r = store.run(run_id)
    print(_result_line(store, run_id).split("\n")[0])
    print(f"task {r['task']}, {label_of(r['job'])}, label {r['label']!r}")
    print(f"device {r['device']}" + (f" ({device_text(r['device_info'])})" if device_text(r["device_info"]) else ""))
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created"]))
    ray = (r["device_info"] or {}).get("ray")
    if isinstance(ray, dict):  # a run on a Ray cluster: no local pid; where its task ran
        print(f"created {created}, on Ray node {str(ray.get('node_id', ''))[:12]} ({ray.get('host')}), pid "
              f"{ray.get('pid')}, attempt {ray.get('attempt')} of {ray.get('max_attempts')}, {ray.get('threads')} "
              f"thread(s), GPUs {','.join(ray.get('gpu_ids') or []) or 'none'}")
    else:
        print(f"created {created}, pid {r['pid']} on {r['host']}")
    print("job " + json.dumps(r["job"], sort_keys=True))
    if r["summary"]:
        print("summary " + json.dumps(r["summary"], sort_keys=True))
    if r["error"]:
        print("error:\n" + r["error"])
    return EXIT_OK


def cmd_cancel(args) -> int:
    from .. import workers

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
    from ..export import export_runs

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
    from .. import tasks

    rows = []
    for name in tasks.names():
        t = tasks.get(name)
        rows.append([name, t.title, t.metric_name + (" (higher better)" if t.higher_is_better else " (lower better)"),
                     t.steps, t.batch_size, t.train_size or "-", t.eval_every, fmt(t.default_lr)])
    print(table(["task", "title", "metric", "steps", "batch", "full batch", "eval every", "adam lr"], rows))
    if args.verbose:
        for name in tasks.names():
            print(f"\n{name}: {tasks.get(name).about}")
    return EXIT_OK


def cmd_devices(args) -> int:
    import torch

    from ..device import describe, pick

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
