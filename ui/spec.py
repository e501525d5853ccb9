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

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any

import surfaces
import trajectories
from optimizers.run import Pairs, RunConfig, as_bool, as_real, bounded, default_run, pairs_dict
from surfaces.grammar import MAX_LENGTH as MAX_FORMULA  # the formula parser's own cap, in characters
from trajectories.limits import MAX_EXPLORER_STEPS as MAX_STEPS  # the explorer view's step bound

MAX_RUNS = 8
NOISE_RANGE = (0.0, 100.0)  # standard deviation of the gradient noise, inclusive
SEED_RANGE = (0, 2**31 - 1)  # inclusive
CUSTOM = "custom"  # the surface name that means "the formula in `formula`"


# Four classics that end visibly apart on Rosenbrock within 300 steps from its default start,
# none diverging (tests/test_presets.py checks it): plain SGD crawls along the valley,
# momentum rolls further, Adam and RMSprop take sign-like steps and oscillate across it.
DEFAULT_RUNS: tuple[RunConfig, ...] = (
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
    runs: tuple[RunConfig, ...] = DEFAULT_RUNS
    steps: int = 300
    noise: float = 0.0
    seed: int = 0
    view3d: bool = False
    arrows: bool = False
    preset: str = ""  # the preset this view started from ("": none); ui.presets, the story box

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
            xy = (as_real(self.start[0], "start x"), as_real(self.start[1], "start y"))
            object.__setattr__(self, "start", xy)

        runs = tuple(self.runs)
        if not 1 <= len(runs) <= MAX_RUNS or not all(isinstance(r, RunConfig) for r in runs):
            raise ValueError(f"runs must be 1 to {MAX_RUNS} RunConfigs, got {len(runs)}")
        object.__setattr__(self, "runs", runs)

        object.__setattr__(self, "steps", bounded(self.steps, "int", 1, MAX_STEPS, "steps"))
        object.__setattr__(self, "noise", bounded(self.noise, "float", *NOISE_RANGE, "noise"))
        object.__setattr__(self, "seed", bounded(self.seed, "int", *SEED_RANGE, "seed"))
        as_bool(self.view3d, "view3d")
        as_bool(self.arrows, "arrows")
        if not (isinstance(self.preset, str) and len(self.preset) <= 64 and
                all(c.isascii() and (c.isalnum() or c == "_") for c in self.preset)):
            raise ValueError(f"preset must be a preset's name, got {self.preset!r}")

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

    def without_preset(self) -> ExplorerSpec:
        """The same view with no preset: what a preset's own view is compared with, and the cache key
        of the race (the preset changes the story box, not the computation)."""
        return dataclasses.replace(self, preset="") if self.preset else self

    def race(self, **kw: Any) -> trajectories.Result:
        """trajectories.race for this view (kw: smoothness=, progress=); row i is runs[i]."""
        return trajectories.race(self.surface_obj(), list(self.runs), self.start_point(),
                                 self.steps, noise=self.noise, seed=self.seed, **kw)


def surface_names() -> list[str]:
    """The catalog's names, then CUSTOM."""
    return [*surfaces.names(), CUSTOM]


def surface_title(name: str) -> str:
    """What a surface picker shows for `name`: the catalog's title ("Rosenbrock"), "custom formula" for CUSTOM."""
    return "custom formula" if name == CUSTOM else surfaces.get(name).title


def surface_params(name: str, given: Any = ()) -> Pairs:
    """All parameters of catalog surface `name`, in its order, given values checked as with_params does."""
    s = surfaces.get(name)
    values = pairs_dict(given, f"{name} parameters")
    known = {p.name: p for p in s.params}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{name} has no parameter {', '.join(unknown)}; it has {sorted(known) or 'none'}")
    current = dict(s.values)
    out = []
    for p in s.params:
        v = as_real(values.get(p.name, current.get(p.name, p.default)), f"{name}.{p.name}")
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


def clicked_start(point, surface: surfaces.Surface) -> tuple[float, float] | None:
    """A click on the map ({"x": ..., "y": ...} from the browser) as a start: finite numbers inside
    start_box, rounded to a 200th of the map's span (a click is no finer than that; links read well);
    None for anything else."""
    if not isinstance(point, dict):
        return None
    x, y = point.get("x"), point.get("y")
    if not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in (x, y)):
        return None
    (bx0, bx1), (by0, by1) = surface.bounds
    step = 10.0 ** math.floor(math.log10(max(bx1 - bx0, by1 - by0) / 200))
    x, y = (float(f"{round(c / step) * step:.12g}") for c in (x, y))
    (x0, x1), (y0, y1) = start_box(surface)
    return (x, y) if x0 <= x <= x1 and y0 <= y <= y1 else None
