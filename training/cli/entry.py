"""The argument parser of `python -m training` and main(), which runs a command and turns a bad
argument, Ctrl-C or a closed pipe into an exit status."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..store import ENV_VAR, STATUSES
from .commands import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    cmd_cancel,
    cmd_delete,
    cmd_devices,
    cmd_export,
    cmd_list,
    cmd_show,
    cmd_tasks,
)
from .landscape import add_parser as add_landscape
from .parse import UsageError
from .train import cmd_compare, cmd_run


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + message and exits; we want one line
        raise UsageError(f"{message} (see: {self.prog} --help)")


def batch_size(text: str) -> int | str:
    """--batch-size: a whole number >= 0 (0: the task's default) or "full"."""
    from ..job import FULL_BATCH

    if text.strip().lower() == FULL_BATCH:
        return FULL_BATCH
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or {FULL_BATCH}, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0 or {FULL_BATCH}, got {text!r}")
    return v


THEN_HELP = ("a later phase of a chained schedule (torch's SequentialLR), repeatable: from step STEP on, "
             "with its own step counter; STEP may be left out after a warm-up (it starts after total_iters), "
             "e.g. --schedule warmup:start_factor=0.01,total_iters=100 --then cosine")


def build_parser() -> argparse.ArgumentParser:
    from ..workers import DEFAULT_TARGET

    p = _Parser(prog="python -m training", description="Train real models with the playground's optimizers.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    db = _Parser(add_help=False)
    db.add_argument("--db", help=f"the run store (default: ${ENV_VAR}, else ./runs.sqlite)")

    job = _Parser(add_help=False)
    job.add_argument("--task", required=True, help="a task name (python -m training tasks)")
    job.add_argument("--steps", type=int, default=0, help="optimizer steps (default: the task's budget)")
    job.add_argument("--batch-size", type=batch_size, default=0,
                     help="examples per step (default: the task's), or full: the whole training set every step, "
                          "without replacement (full-batch gradient descent; the digits tasks)")
    job.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    job.add_argument("--amp", action="store_true", help="autocast: bfloat16 (float16 on GPUs without it), any device")
    job.add_argument("--compile", action="store_true",
                     help="torch.compile the model and the optimizer step, any device (CPU: a C compiler)")
    job.add_argument("--size", type=float, default=1.0, help="scale the task's model/data (default 1)")
    job.add_argument("--eval-every", type=int, default=0, help="steps between evaluations (default: the task's)")
    job.add_argument("--smoothness-every", type=int, default=None,
                     help="estimate local smoothness every N steps, 0: never (default: about 40 times a run)")
    job.add_argument("--sharpness", action="store_true",
                     help="measure the top Hessian eigenvalue at every evaluation (power iteration, up to 40 "
                          "Hessian-vector products each; off by default)")
    job.add_argument("--flooding", type=float, default=None, help="flooding level b (Ishida et al. 2020)")
    job.add_argument("--snapshots", type=int, default=0,
                     help="keep the weights at N steps, evenly spaced from the first to the last (the loss "
                          "landscape's path; python -m training landscape); default 0: none")
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
    r.add_argument("--then", action="append", metavar="NAME[@STEP][:k=v,...]", help=THEN_HELP)
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
    c.add_argument("--then", action="append", metavar="NAME[@STEP][:k=v,...]",
                   help=THEN_HELP + "; the same phases follow every --schedule of the grid")
    c.add_argument("--seed", help="seeds, e.g. 0,1,2 (default 0)")
    c.add_argument("--parallel", type=int, default=None,
                   help="runs at once (default: 1, one by one here; with --backend ray, as many as the cluster fits)")
    c.add_argument("--max-runs", type=int, default=200, help="refuse a larger grid (default 200)")
    c.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: this machine's worker processes (default); ray: a Ray cluster (requirements-ray.txt)")
    c.add_argument("--address", help="with --backend ray: auto (the cluster `ray start --head` runs here), "
                                     "HOST:PORT, or local (default: $RAY_ADDRESS, else a new local cluster)")
    c.add_argument("--retries", type=int, default=None,
                   help="with --backend ray: restarts of a run whose worker or node died, from scratch (default 3)")
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

    add_landscape(sub, [db])

    t = sub.add_parser("tasks", help="list the training tasks")
    t.add_argument("--verbose", "-v", action="store_true", help="with a sentence about each")
    t.set_defaults(fn=cmd_tasks)
    d = sub.add_parser("devices", help="show the devices torch finds")
    d.set_defaults(fn=cmd_devices)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "parallel", None) is not None and args.parallel < 1:
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
