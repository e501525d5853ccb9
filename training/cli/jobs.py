"""The Jobs of `run` and `compare`: their flags (parsed in training.cli.parse) -> training.job.Job (its run
checked when made), checked by workers.check_job."""
from __future__ import annotations

import itertools
from collections.abc import Callable

from ..job import Job, auto_smoothness_every
from .parse import UsageError, _numbers, parse_clip, parse_hp, parse_schedule, parse_then, split_list

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
                smoothness_every=_smoothness_every(args), sharpness=bool(args.sharpness), flooding=args.flooding,
                snapshots=getattr(args, "snapshots", 0), label=args.label or "")


def _smoothness_every(args) -> int:
    """--smoothness-every, or by default about 40 estimates over the run's steps (as the Train page)."""
    if args.smoothness_every is not None:
        return args.smoothness_every
    from .. import tasks

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
    then = parse_then(args.then, sched)
    return _job(dict(optimizer=args.optimizer, hparams=hps, clip=clip, schedule=sched, then=then, seed=args.seed,
                     **_common(args)))


def _job(values: dict) -> Job:
    """The Job of the values given (the stored format: the store keeps them alone), its run checked."""
    try:
        return Job.from_dict(values)
    except ValueError as e:
        raise UsageError(e.args[0]) from None


def jobs_from_grid(args, note: Callable[[str], None]) -> list[Job]:
    """The jobs of `python -m training compare ...`: the cartesian product of every list given.

    Lists: --optimizer, --lr, --momentum, --weight-decay, --clip, --seed (comma-separated),
    --schedule (comma-separated or repeated), --hp name=value (repeat a name for several values).
    --then (repeatable) appends the same later phases to every schedule of the grid.
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
    scheds = [(s, parse_then(args.then, s)) for s in scheds]
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
            for clip, (sched, then), seed in itertools.product(clips, scheds, seeds):
                jobs.append(_job(dict(optimizer=opt, hparams=hps, clip=clip, schedule=sched, then=then, seed=seed,
                                      **_common(args))))
    for name in sorted({n for n, _ in skipped}):
        which = ", ".join(o for n, o in sorted(skipped) if n == name)
        note(f"note: {which} has no hyperparameter {name}; left out of those runs")
    unique = list(dict.fromkeys(jobs))
    if len(unique) > args.max_runs:
        raise UsageError(f"the grid has {len(unique)} runs, more than --max-runs {args.max_runs}")
    return unique


def validate(job: Job, *, device_here: bool = True) -> None:
    """check_job, with its errors as UsageError (device_here=False: a run for a Ray cluster)."""
    from ..workers import check_job

    try:
        check_job(job, device_here=device_here)
    except (ValueError, KeyError) as e:
        raise UsageError(e.args[0] if e.args else str(e)) from None
