"""The explorer's view as frozen, hashable data: what the person chose, nothing computed.

A spec is plain data (strings, numbers, tuples of (name, value) pairs instead of dicts), so it
can be an `st.cache_data` key, a dict key, or a link (ui.links). Constructing one normalizes and
checks it: hyperparameters and schedule arguments are filled with their defaults in the
registry's order and coerced to their kind (float, int, bool, pair as a tuple), so two specs
that mean the same view compare equal. Anything invalid raises ValueError, so a spec that
exists is runnable, with one deliberate exception: a custom formula is kept as the person typed
it even when it does not parse (nothing they made is lost); `surface_obj()` then raises
surfaces.FormulaError with the parser's message for the page to show beside their text.

No streamlit here: the page turns widgets into a spec and a spec into a race.
"""
from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from typing import Any

import optimizers
import surfaces
import trajectories
from optimizers.clipping import check_clip
from optimizers.schedules import schedule_spec
from surfaces.grammar import MAX_LENGTH as MAX_FORMULA  # the formula parser's own cap, in characters
from trajectories.limits import MAX_EXPLORER_STEPS as MAX_STEPS  # the explorer view's step bound

MAX_RUNS = 8
NOISE_RANGE = (0.0, 100.0)  # standard deviation of the gradient noise, inclusive
SEED_RANGE = (0, 2**31 - 1)  # inclusive
CUSTOM = "custom"  # the surface name that means "the formula in `formula`"

Pairs = tuple[tuple[str, Any], ...]


# ---------------------------------------------------------------- coercion to a kind


def _as_float(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"{what} must be a number, got {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{what} must be finite, got {v!r}")
    return v


def _as_int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"{what} must be a whole number, got {v!r}")
    if isinstance(v, numbers.Integral):
        return int(v)
    if not (math.isfinite(v) and float(v).is_integer()):
        raise ValueError(f"{what} must be a whole number, got {v!r}")
    return int(v)


def _as_bool(v: Any, what: str) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"{what} must be True or False, got {v!r}")
    return v


def coerce(kind: str, v: Any, what: str, options: tuple = ()) -> Any:
    """v as a value of `kind` ("float", "int", "bool", "pair", "choice"); ValueError if it is not one."""
    if kind == "float":
        return _as_float(v, what)
    if kind == "int":
        return _as_int(v, what)
    if kind == "bool":
        return _as_bool(v, what)
    if kind == "pair":
        if not (isinstance(v, (tuple, list)) and len(v) == 2):
            raise ValueError(f"{what} must be a pair of numbers, got {v!r}")
        return (_as_float(v[0], what), _as_float(v[1], what))
    if kind == "choice":
        if v not in options:
            raise ValueError(f"{what} must be one of {', '.join(options)}, got {v!r}")
        return v
    raise ValueError(f"{what}: unknown kind {kind!r}")


def _pairs(items: Any, what: str) -> dict:
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
    hp = optimizers.spec(optimizer).hparam(name)
    v = coerce(hp.kind, value, f"{optimizer}: {name}")
    optimizers.resolve(optimizer, **{name: v})
    return v


def schedule_value(schedule: str, name: str, value: Any) -> Any:
    """One schedule argument coerced to its kind and checked by optimizers.schedule.

    None means derived (e.g. cosine's T_max = the run's steps), allowed where the default is None
    or the schedule itself accepts None.
    """
    p = schedule_spec(schedule).param(name)
    if value is None:
        if p.default is None or p.optional:
            return None
        raise ValueError(f"schedule {schedule}: {name} has no automatic value")
    v = coerce(p.kind, value, f"schedule {schedule}: {name}", p.options)
    optimizers.schedule(schedule, 1.0, 1, **{name: v})  # validates (one step: cheap)
    return v


@dataclass(frozen=True)
class RunSpec:
    """One contestant: an optimizer with ALL its hyperparameters, clipping and an lr schedule.

    hparams: ((name, value), ...) in the registry's order; left-out ones are filled with the
    defaults at construction, so `RunSpec("adam")` holds lr, betas, eps and weight_decay.
    clip: one of optimizers.clip_kinds(); clip_threshold is kept even for "none" (it is the
    slider's value, and a link reproduces the sliders).
    schedule: one of optimizers.schedule_names(); schedule_kw like hparams (None = derived).
    """

    optimizer: str
    hparams: Pairs = ()
    clip: str = "none"
    clip_threshold: float = 1.0
    schedule: str = "constant"
    schedule_kw: Pairs = ()

    def __post_init__(self) -> None:
        if self.optimizer not in optimizers.names():
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(optimizers.names())}")
        spec = optimizers.spec(self.optimizer)
        given = _pairs(self.hparams, f"{self.optimizer} hyperparameters")
        unknown = sorted(set(given) - {hp.name for hp in spec.hparams})
        if unknown:
            raise ValueError(f"{self.optimizer} has no hyperparameter {', '.join(unknown)}")
        hp = tuple(
            (h.name, coerce(h.kind, given.get(h.name, h.default), f"{self.optimizer}: {h.name}"))
            for h in spec.hparams
        )
        optimizers.resolve(self.optimizer, **dict(hp))  # the registry's own checks
        object.__setattr__(self, "hparams", hp)

        threshold = _as_float(self.clip_threshold, "clip threshold")
        check_clip(self.clip, threshold)  # kind known (threshold ignored for "none")
        if not threshold > 0:
            raise ValueError(f"clip threshold must be > 0, got {threshold!r}")
        object.__setattr__(self, "clip_threshold", threshold)

        if self.schedule not in optimizers.schedule_names():
            raise ValueError(
                f"unknown schedule {self.schedule!r}; choose one of: {', '.join(optimizers.schedule_names())}"
            )
        sspec = schedule_spec(self.schedule)
        kw = _pairs(self.schedule_kw, f"schedule {self.schedule} arguments")
        unknown = sorted(set(kw) - {p.name for p in sspec.params})
        if unknown:
            raise ValueError(f"schedule {self.schedule} has no argument {', '.join(unknown)}")
        full = tuple((p.name, _schedule_coerce(self.schedule, p, kw.get(p.name, p.default))) for p in sspec.params)
        optimizers.schedule(self.schedule, 1.0, 1, **dict(full))  # validates all together
        object.__setattr__(self, "schedule_kw", full)

    # -------------------------------------------------------------- views of it
    def hparam(self, name: str) -> Any:
        return dict(self.hparams)[name]

    def to_run(self) -> trajectories.Run:
        """The engine's Run (trajectories.race takes a list of them)."""
        clip = None if self.clip == "none" else (self.clip, self.clip_threshold)
        return trajectories.Run(self.optimizer, dict(self.hparams), clip, (self.schedule, dict(self.schedule_kw)))

    def label(self) -> str:
        """A short legend entry: "Adam lr=0.01 · clip norm 1 · cosine" (non-default settings only, lr always)."""
        spec = optimizers.spec(self.optimizer)
        defaults = spec.defaults()
        parts = [f"{spec.title} lr={_short(self.hparam('lr'))}" if "lr" in defaults else spec.title]
        parts[0] += "".join(
            f" {k}={_short(v)}" for k, v in self.hparams if k != "lr" and v != defaults.get(k)
        )
        if self.clip != "none":
            parts.append(f"clip {self.clip} {_short(self.clip_threshold)}")
        sdefaults = schedule_spec(self.schedule).defaults()
        if self.schedule != "constant" or dict(self.schedule_kw) != sdefaults:
            changed = [f"{k}={_short(v)}" for k, v in self.schedule_kw if v != sdefaults.get(k)]
            parts.append(" ".join([self.schedule, *changed]))
        return " · ".join(parts)


def _schedule_coerce(schedule: str, p, v: Any) -> Any:
    if v is None:
        if p.default is None or p.optional:
            return None
        raise ValueError(f"schedule {schedule}: {p.name} has no automatic value")
    return coerce(p.kind, v, f"schedule {schedule}: {p.name}", p.options)


def _short(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, tuple):
        return ",".join(_short(e) for e in v)
    return "auto" if v is None else str(v)


def default_run(optimizer: str, **hparams: Any) -> RunSpec:
    """A run of `optimizer` with its reference defaults (any hyperparameter may be overridden)."""
    return RunSpec(optimizer, tuple(hparams.items()))


# Four classics that end visibly apart on Rosenbrock within 300 steps from its default start,
# none diverging (tests/test_presets.py checks it): plain SGD crawls along the valley,
# momentum rolls further, Adam and RMSprop take sign-like steps and oscillate across it.
DEFAULT_RUNS: tuple[RunSpec, ...] = (
    default_run("sgd", lr=0.001),
    default_run("momentum", lr=0.001),
    default_run("adam", lr=0.05),
    default_run("rmsprop", lr=0.01),
)


# ---------------------------------------------------------------- the whole view


@functools.lru_cache(maxsize=64)
def _surface(name: str, params: Pairs, formula: str) -> surfaces.Surface:
    if name == CUSTOM:
        return surfaces.parse(formula)
    s = surfaces.get(name)
    return s.with_params(**dict(params)) if params else s


@dataclass(frozen=True)
class ExplorerSpec:
    """Everything the explorer shows: surface, start, runs, steps, noise and the view options.

    surface: a catalog name (surfaces.names()) or CUSTOM, which draws `formula`.
    surface_params: ((name, value), ...) for every parameter of the catalog surface, filled with
    the defaults at construction; () for a surface without parameters and for CUSTOM.
    formula: the custom formula's text; kept when another surface is shown, so switching back
    finds it. start: (x, y), or None for the surface's own start.
    """

    surface: str = "rosenbrock"
    surface_params: Pairs = ()
    formula: str = ""
    start: tuple[float, float] | None = None
    runs: tuple[RunSpec, ...] = DEFAULT_RUNS
    steps: int = 300
    noise: float = 0.0
    seed: int = 0
    view3d: bool = False
    arrows: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.formula, str) or len(self.formula) > MAX_FORMULA:
            raise ValueError(f"formula must be text of at most {MAX_FORMULA} characters")
        if self.surface == CUSTOM:
            if self.surface_params:
                raise ValueError("a custom formula takes no surface parameters")
        elif self.surface in surfaces.names():
            object.__setattr__(self, "surface_params", surface_params(self.surface, self.surface_params))
        else:
            raise ValueError(f"unknown surface {self.surface!r}; choose one of: {', '.join(surface_names())}")

        if self.start is not None:
            if not (isinstance(self.start, (tuple, list)) and len(self.start) == 2):
                raise ValueError(f"start must be (x, y) or None, got {self.start!r}")
            xy = (_as_float(self.start[0], "start x"), _as_float(self.start[1], "start y"))
            object.__setattr__(self, "start", xy)

        runs = tuple(self.runs)
        if not 1 <= len(runs) <= MAX_RUNS or not all(isinstance(r, RunSpec) for r in runs):
            raise ValueError(f"runs must be 1 to {MAX_RUNS} RunSpecs, got {len(runs)}")
        object.__setattr__(self, "runs", runs)

        steps = _as_int(self.steps, "steps")
        if not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be from 1 to {MAX_STEPS}, got {steps}")
        object.__setattr__(self, "steps", steps)
        noise = _as_float(self.noise, "noise")
        if not NOISE_RANGE[0] <= noise <= NOISE_RANGE[1]:
            raise ValueError(f"noise must lie in [{NOISE_RANGE[0]:g}, {NOISE_RANGE[1]:g}], got {noise}")
        object.__setattr__(self, "noise", noise)
        seed = _as_int(self.seed, "seed")
        if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
            raise ValueError(f"seed must be from {SEED_RANGE[0]} to {SEED_RANGE[1]}, got {seed}")
        object.__setattr__(self, "seed", seed)
        _as_bool(self.view3d, "view3d")
        _as_bool(self.arrows, "arrows")

    def surface_obj(self) -> surfaces.Surface:
        """The Surface to draw: the catalog entry with its parameters, or the parsed formula.

        Raises surfaces.FormulaError (a ValueError) where the custom formula does not parse.
        """
        return _surface(self.surface, self.surface_params, self.formula)

    def start_point(self) -> tuple[float, float]:
        """The start (x, y): the chosen one, or the surface's own."""
        if self.start is not None:
            return self.start
        x, y = self.surface_obj().start
        return (float(x), float(y))

    def race(self, **kw: Any) -> trajectories.Result:
        """trajectories.race for this view (kw: smoothness=, progress=); row i is runs[i]."""
        return trajectories.race(self.surface_obj(), [r.to_run() for r in self.runs], self.start_point(),
                                 self.steps, noise=self.noise, seed=self.seed, **kw)


def surface_names() -> list[str]:
    """The catalog's names, then CUSTOM."""
    return [*surfaces.names(), CUSTOM]


def surface_params(name: str, given: Any = ()) -> Pairs:
    """All parameters of catalog surface `name`, in its order, given values checked as with_params does."""
    s = surfaces.get(name)
    values = _pairs(given, f"{name} parameters")
    known = {p.name: p for p in s.params}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{name} has no parameter {', '.join(unknown)}; it has {sorted(known) or 'none'}")
    current = dict(s.values)
    out = []
    for p in s.params:
        v = _as_float(values.get(p.name, current.get(p.name, p.default)), f"{name}.{p.name}")
        if not p.low <= v <= p.high:
            raise ValueError(f"{name}.{p.name} must lie in [{p.low:g}, {p.high:g}], got {v!r}")
        out.append((p.name, v))
    return tuple(out)


def start_box(surface: surfaces.Surface) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where a start may lie: the surface's bounds widened as far as the engine lets a run go
    (trajectories.engine.BOX_SPANS spans on every side); a start outside diverges at once."""
    from trajectories.engine import BOX_SPANS

    (x0, x1), (y0, y1) = surface.bounds
    dx, dy = BOX_SPANS * (x1 - x0), BOX_SPANS * (y1 - y0)
    return ((x0 - dx, x1 + dx), (y0 - dy, y1 + dy))
