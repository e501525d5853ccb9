"""One optimizer run: optimizer + every hyperparameter + gradient clipping + lr schedule, as frozen data.

RunConfig is the one shape of that concept across the project (docs/architecture.md): the
explorer's contestants and links (ui), the 2D engine's races (trajectories.Run is this class),
sweeps (a base run whose fields the axes vary) and training jobs (training.Job.run) all hold it.
Constructing one normalizes and checks it, so a RunConfig that exists is runnable:
  - hparams: ((name, value), ...) of ALL the optimizer's hyperparameters in the registry's order,
    defaults filled in, each coerced to its kind (float, int, bool, pair as a tuple) and checked
    by optimizers.resolve; a dict is accepted and normalized the same way;
  - clip: a kind from optimizers.clip_kinds(), clip_threshold > 0 kept even for "none" (it is the
    slider's value and a link reproduces the sliders); None or a (kind, threshold) pair is accepted;
  - schedule: a name from optimizers.schedule_names() with ALL its arguments (None = derived, e.g.
    cosine's T_max = the run's steps); None or a (name, kwargs) pair is accepted;
  - then: the phases that follow it, ((milestone, name, ALL its arguments), ...): a chained schedule,
    torch's SequentialLR (optimizers/chain.py): `schedule` runs from step 0, each later phase from its
    milestone (strictly increasing, >= 1) with its own step counter; () for one schedule (every run
    stored or linked before chains existed).
Two configurations that mean the same run compare equal and hash alike (cache keys, links).
Anything invalid raises ValueError. Text forms (links, CLI flags): optimizers/run_text.py.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .chain import MAX_PHASES, Sequential
from .clipping import check_clip
from .registry import names, resolve, spec
from .schedules import schedule as lr_schedule
from .schedules import schedule_names, schedule_spec

Pairs = tuple[tuple[str, Any], ...]
Phases = tuple[tuple[int, str, Pairs], ...]  # (milestone, schedule name, arguments) after the first


# ---------------------------------------------------------------- coercion to a kind


def as_real(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"{what} must be a number, got {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{what} must be finite, got {v!r}")
    return v


def as_int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"{what} must be a whole number, got {v!r}")
    if isinstance(v, numbers.Integral):
        return int(v)
    if not (math.isfinite(v) and float(v).is_integer()):
        raise ValueError(f"{what} must be a whole number, got {v!r}")
    return int(v)


def as_bool(v: Any, what: str) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"{what} must be True or False, got {v!r}")
    return v


def bounded(v: Any, kind: str, low: float, high: float, what: str) -> int | float:
    """v as a number of `kind` ("int" or "float") within [low, high]; ValueError saying the range."""
    x = as_int(v, what) if kind == "int" else as_real(v, what)
    if not low <= x <= high:
        raise ValueError(f"{what} must be from {low} to {high}, got {x}" if kind == "int" else
                         f"{what} must lie in [{low:g}, {high:g}], got {x}")
    return x


def coerce(kind: str, v: Any, what: str, options: tuple = ()) -> Any:
    """v as a value of `kind` ("float", "int", "bool", "pair", "choice"); ValueError if it is not one."""
    if kind == "float":
        return as_real(v, what)
    if kind == "int":
        return as_int(v, what)
    if kind == "bool":
        return as_bool(v, what)
    if kind == "pair":
        if not (isinstance(v, (tuple, list)) and len(v) == 2):
            raise ValueError(f"{what} must be a pair of numbers, got {v!r}")
        return (as_real(v[0], what), as_real(v[1], what))
    if kind == "choice":
        if v not in options:
            raise ValueError(f"{what} must be one of {', '.join(options)}, got {v!r}")
        return v
    raise ValueError(f"{what}: unknown kind {kind!r}")


def pairs_dict(items: Any, what: str) -> dict:
    """A tuple of (name, value) pairs (or a dict) as a dict; duplicate names raise."""
    if isinstance(items, dict):
        return dict(items)
    out: dict = {}
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"{what} must be (name, value) pairs, got {item!r}")
        if item[0] in out:
            raise ValueError(f"{what}: {item[0]} given twice")
        out[item[0]] = item[1]
    return out


# ---------------------------------------------------------------- one run


def hparam_value(optimizer: str, name: str, value: Any) -> Any:
    """One hyperparameter coerced to its kind and checked by the registry (optimizers.resolve)."""
    hp = spec(optimizer).hparam(name)
    v = coerce(hp.kind, value, f"{optimizer}: {name}")
    resolve(optimizer, **{name: v})
    return v


def schedule_value(schedule: str, name: str, value: Any) -> Any:
    """One schedule argument coerced to its kind and checked by optimizers.schedule.

    None means derived (e.g. cosine's T_max = the run's steps), allowed where the default is None
    or the schedule itself accepts None.
    """
    v = _schedule_coerce(schedule, schedule_spec(schedule).param(name), value)
    if v is not None:
        lr_schedule(schedule, 1.0, 1, **{name: v})  # validates (one step: cheap)
    return v


@dataclass(frozen=True)
class RunConfig:
    """One run: an optimizer with ALL its hyperparameters, clipping and an lr schedule (see the module doc).

    RunConfig("adam") holds lr, betas, eps and weight_decay at their defaults, no clipping, a
    constant lr. The engine's spellings are accepted too: RunConfig("adam", {"lr": 0.1},
    clip=("norm", 1.0), schedule=("cosine", {})) equals RunConfig("adam", (("lr", 0.1),), "norm",
    1.0, "cosine").
    """

    optimizer: str
    hparams: Pairs = ()
    clip: str = "none"
    clip_threshold: float = 1.0
    schedule: str = "constant"
    schedule_kw: Pairs = ()
    then: Phases = ()

    def __post_init__(self) -> None:
        self._normalize_forms()
        if self.optimizer not in names():
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(names())}")
        ospec = spec(self.optimizer)
        given = pairs_dict(self.hparams, f"{self.optimizer} hyperparameters")
        unknown = sorted(set(given) - {hp.name for hp in ospec.hparams})
        if unknown:
            raise ValueError(f"{self.optimizer} has no hyperparameter {', '.join(unknown)}")
        hp = tuple(
            (h.name, coerce(h.kind, given.get(h.name, h.default), f"{self.optimizer}: {h.name}"))
            for h in ospec.hparams
        )
        resolve(self.optimizer, **dict(hp))  # the registry's own checks
        object.__setattr__(self, "hparams", hp)

        threshold = as_real(self.clip_threshold, "clip threshold")
        check_clip(self.clip, threshold)  # kind known (threshold ignored for "none")
        if not threshold > 0:
            raise ValueError(f"clip threshold must be > 0, got {threshold!r}")
        object.__setattr__(self, "clip_threshold", threshold)

        object.__setattr__(self, "schedule_kw", schedule_args(self.schedule, self.schedule_kw))
        object.__setattr__(self, "then", phases_of(self.then))
        self.sequential.checked(1.0, 1)  # every phase's arguments, all together (the phases' own lengths)

    def _normalize_forms(self) -> None:
        """The engine's spellings -> the canonical fields: clip None / (kind, threshold), schedule
        None / (name, kwargs), hparams and schedule_kw as dicts."""
        self._split("clip", "clip_threshold", "none", "a kind or (kind, threshold)", None)
        self._split("schedule", "schedule_kw", "constant", "a name or (name, arguments)", ())
        for name in ("hparams", "schedule_kw"):
            v = getattr(self, name)
            if isinstance(v, Mapping):
                object.__setattr__(self, name, tuple(v.items()))
        if self.then is None:
            object.__setattr__(self, "then", ())

    def _split(self, name: str, second: str, none: str, forms: str, empty: Any) -> None:
        """Field `name` given as None (-> `none`), a string, or a pair (-> `name`, `second`; None -> `empty`)."""
        v = getattr(self, name)
        if v is None:
            object.__setattr__(self, name, none)
        elif isinstance(v, (tuple, list)):
            if len(v) != 2 or not isinstance(v[0], str):
                raise ValueError(f"{name} must be {forms}, got {v!r}")
            object.__setattr__(self, name, v[0])
            object.__setattr__(self, second, empty if v[1] is None else v[1])
        elif not isinstance(v, str):
            raise ValueError(f"{name} must be {forms}, got {v!r}")

    # -------------------------------------------------------------- views of it
    def hparam(self, name: str) -> Any:
        return dict(self.hparams)[name]

    @property
    def clip_pair(self) -> tuple[str, float] | None:
        """(kind, threshold), or None without clipping: what the engine and the runner take."""
        return None if self.clip == "none" else (self.clip, self.clip_threshold)

    @property
    def schedule_pair(self) -> tuple[str, dict] | None:
        """The first phase's (name, kwargs), or None for the plain constant lr (every argument at its
        default). The phases after it: `then`; the whole schedule: `sequential`."""
        if self.schedule == "constant" and dict(self.schedule_kw) == schedule_spec("constant").defaults():
            return None
        return (self.schedule, dict(self.schedule_kw))

    @property
    def sequential(self) -> Sequential:
        """The whole lr schedule, every phase (one for an unchained run): what the engine and the runner run."""
        return Sequential(((self.schedule, dict(self.schedule_kw)), *((name, dict(kw)) for _, name, kw in self.then)),
                          tuple(m for m, _, _ in self.then))

    @property
    def lr_schedule(self) -> Sequential | None:
        """`sequential`, or None where the lr is the plain constant (no phases, every argument at its default)."""
        return None if self.schedule_pair is None and not self.then else self.sequential

    def label(self, omit: frozenset[str] = frozenset()) -> str:
        """The one legend entry of a run: "Adam lr=0.01 · clip norm 1 · cosine T_max=50" (the lr, then
        every setting that differs from its default). The explorer, sweeps, training pages and the
        command line all show it. omit: what not to show because something else says it (a sweep's
        axes): hyperparameter names, "clip" (the threshold) and "schedule.<argument>"."""
        ospec = spec(self.optimizer)
        defaults = ospec.defaults()
        shown = [f"{k}={short(v)}" for k, v in self.hparams
                 if k not in omit and (k == "lr" or v != defaults.get(k))]
        parts = [" ".join([ospec.title, *shown])]
        if self.clip != "none":
            parts.append(f"clip {self.clip}" + ("" if "clip" in omit else f" {short(self.clip_threshold)}"))
        if self.then or self.schedule_pair is not None:
            phases = [phase_label(self.schedule, self.schedule_kw, omit, "schedule.")]
            phases += [phase_label(name, kw, omit, f"schedule.{i}.") + f" from {m}"
                       for i, (m, name, kw) in enumerate(self.then, 1)]
            parts.append(" → ".join(phases))
        return " · ".join(parts)


def phase_label(schedule: str, kw: Pairs, omit: frozenset[str], swept: str) -> str:
    """"cosine T_max=50": a phase's name and the arguments that differ from their defaults (those a
    sweep's axes say, `swept` + name in omit, left out)."""
    defaults = schedule_spec(schedule).defaults()
    return " ".join([schedule, *(f"{k}={short(v)}" for k, v in kw if v != defaults.get(k) and swept + k not in omit)])


def schedule_args(schedule: str, kw: Any) -> Pairs:
    """ALL the schedule's arguments, in its order, defaults filled in, each coerced to its kind."""
    if schedule not in schedule_names():
        raise ValueError(f"unknown schedule {schedule!r}; choose one of: {', '.join(schedule_names())}")
    sspec = schedule_spec(schedule)
    given = pairs_dict(kw, f"schedule {schedule} arguments")
    unknown = sorted(set(given) - {p.name for p in sspec.params})
    if unknown:
        raise ValueError(f"schedule {schedule} has no argument {', '.join(unknown)}")
    return tuple((p.name, _schedule_coerce(schedule, p, given.get(p.name, p.default))) for p in sspec.params)


def phases_of(then: Any) -> Phases:
    """The phases after the first as ((milestone, name, ALL arguments), ...), checked: at most
    MAX_PHASES - 1 of them, milestones whole numbers, each after the one before (the first >= 1)."""
    if isinstance(then, (str, bytes)) or not isinstance(then, (tuple, list)):
        raise ValueError(f"then must be a list of (milestone, schedule, arguments), got {then!r}")
    if len(then) > MAX_PHASES - 1:
        raise ValueError(f"a schedule has at most {MAX_PHASES} phases, got {len(then) + 1}")
    out, previous = [], 0
    for item in then:
        if not (isinstance(item, (tuple, list)) and len(item) in (2, 3) and isinstance(item[1], str)):
            raise ValueError(f"a phase is (milestone, schedule, arguments), got {item!r}")
        m = as_int(item[0], f"the milestone of phase {len(out) + 2} ({item[1]})")
        if not m > previous:
            raise ValueError(f"phase {len(out) + 2} ({item[1]}) starts at step {m}: milestones must be >= 1 and "
                             f"each after the one before ({previous})")
        out.append((m, item[1], schedule_args(item[1], item[2] if len(item) == 3 else ())))
        previous = m
    return tuple(out)


def _schedule_coerce(schedule: str, p, v: Any) -> Any:
    if v is None:
        if p.default is None or p.optional:
            return None
        raise ValueError(f"schedule {schedule}: {p.name} has no automatic value")
    return coerce(p.kind, v, f"schedule {schedule}: {p.name}", p.options)


def short(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, tuple):
        return ",".join(short(e) for e in v)
    return "auto" if v is None else str(v)


def default_run(optimizer: str, **hparams: Any) -> RunConfig:
    """A run of `optimizer` with its reference defaults (any hyperparameter may be overridden)."""
    return RunConfig(optimizer, tuple(hparams.items()))


