"""The sweeps page's request as frozen, hashable data: what the person chose, nothing computed.

A SweepSpec is plain data like ui.spec.ExplorerSpec (which it reuses for the surface, the start
and the runs), so it is an `st.cache_data` key and a link (ui.sweep_links). Constructing one
normalizes and checks it, the engine's caps included (trajectories.limits): a spec that exists is
runnable, except, as in the explorer, a custom formula that does not parse (kept as typed;
`surface_obj()` raises surfaces.FormulaError).

Three modes share the fields; each uses what it needs and keeps the rest (the widgets' values):
    map         every optimizer over the x (and y) axis grid, times `seeds`
    robustness  every optimizer over a log-spaced lr range (x must be lr, log)
    basins      every optimizer from a basins_n x basins_n grid of starts over the surface

`to_sweep_calls()` says what to call on trajectories, one call per optimizer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import optimizers
import surfaces
import trajectories
from optimizers.run import (
    Pairs,
    RunConfig,
    as_bool,
    as_int,
    as_real,
    bounded,
    default_run,
    hparam_value,
    schedule_value,
)
from optimizers.schedules import schedule_spec
from trajectories.limits import MAX_BASIN_CELLS, MAX_CELLS, MAX_SEEDS, MAX_SWEEP_STEPS, check_work
from trajectories.sweep import Target

from .spec import ExplorerSpec

MODES = ("map", "robustness", "basins")
COLORS = ("final_loss", "hit_at", "diverged")
MAX_OPTIMIZERS = 4
MAX_AXIS = 300  # cells along one axis of a map
MAX_BASINS_N = 400  # start points along one side of a basins map
TOL_RANGE = (1e-12, 1e6)  # inclusive
SEEDS_RANGE = (1, MAX_SEEDS)
STEPS_RANGE = (1, MAX_SWEEP_STEPS)
CLIP_RANGE = (0.01, 100.0)  # slider range of a clip-threshold axis (any threshold > 0 is valid)


# ---------------------------------------------------------------- what an axis may sweep


def axis_targets(run: RunConfig) -> list[str]:
    """What an axis may sweep for this run: its float hyperparameters ("lr", "momentum", ...),
    each element of a pair ("betas.0", "betas.1"), "clip" (the threshold) where it clips, and
    "schedule.<kw>" for the schedule's float arguments and "schedule.<k>.<kw>" for those of a chained
    schedule's later phase k (the grammar of trajectories.sweep.Target)."""
    out = []
    for hp in optimizers.spec(run.optimizer).hparams:
        if hp.kind == "float":
            out.append(Target("hparam", hp.name))
        elif hp.kind == "pair":
            out += [Target("pair", hp.name, 0), Target("pair", hp.name, 1)]
    if run.clip != "none":
        out.append(Target("clip", "clip"))
    out += [Target("schedule", p.name) for p in schedule_spec(run.schedule).params if p.kind == "float"]
    for k, (_, name, _) in enumerate(run.then, 1):
        out += [Target("schedule", p.name, k) for p in schedule_spec(name).params if p.kind == "float"]
    return [str(t) for t in out]


def phase(run: RunConfig, k: int | None) -> tuple[str, tuple]:
    """(schedule name, arguments) of the run's phase k (None or 0: the first)."""
    return (run.schedule, run.schedule_kw) if not k else run.then[k - 1][1:]


def common_targets(runs) -> list[str]:
    """Targets every run can sweep, in the first run's order."""
    runs = list(runs)
    if not runs:
        return []
    shared = set.intersection(*(set(axis_targets(r)) for r in runs))
    return [t for t in axis_targets(runs[0]) if t in shared]


def target_range(run: RunConfig, target: str) -> tuple[float, float, bool]:
    """(low, high, log): the registry's slider range for a target (a sensible default axis)."""
    t = Target.parse(target)
    if t.kind == "clip":
        return (*CLIP_RANGE, True)
    if t.kind == "schedule":
        p = schedule_spec(phase(run, t.index)[0]).param(t.name)
        return float(p.low), float(p.high), bool(p.log)
    hp = optimizers.spec(run.optimizer).hparam(t.name)  # a pair's range is its elements'
    return float(hp.low), float(hp.high), bool(hp.log)


def with_value(run: RunConfig, target: str, value: float) -> RunConfig:
    """The run with one target set to value (ValueError where the value is out of its domain)."""
    if target not in axis_targets(run):
        raise ValueError(f"{run.optimizer} cannot sweep {target!r}; it can sweep {', '.join(axis_targets(run))}")
    value = as_real(value, target)
    t = Target.parse(target)
    if t.kind == "clip":
        return replace(run, clip_threshold=value)
    if t.kind == "schedule":
        name, kw = phase(run, t.index)
        v = schedule_value(name, t.name, value)
        kw = tuple((k, v if k == t.name else old) for k, old in kw)
        if not t.index:
            return replace(run, schedule_kw=kw)
        return replace(run, then=tuple((m, n, kw if i == t.index else old)
                                       for i, (m, n, old) in enumerate(run.then, 1)))
    if t.kind == "pair":
        pair = list(run.hparam(t.name))
        pair[t.index] = value
        v = hparam_value(run.optimizer, t.name, tuple(pair))
    else:
        v = hparam_value(run.optimizer, t.name, value)
    return replace(run, hparams=tuple((k, v if k == t.name else old) for k, old in run.hparams))


# ---------------------------------------------------------------- one axis


@dataclass(frozen=True)
class AxisSpec:
    """One axis of a map: `n` values from low to high, log-spaced or linear (trajectories.Axis.span)."""

    target: str = "lr"
    low: float = 1e-4
    high: float = 1.0
    n: int = 60
    log: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.target, str) and 0 < len(self.target) <= 64):
            raise ValueError(f"axis target must be a name, got {self.target!r}")
        low, high = as_real(self.low, f"axis {self.target}: low"), as_real(self.high, f"axis {self.target}: high")
        n = as_int(self.n, f"axis {self.target}: n")
        as_bool(self.log, f"axis {self.target}: log")
        if not 1 <= n <= MAX_AXIS:
            raise ValueError(f"axis {self.target}: n must be from 1 to {MAX_AXIS}, got {n}")
        if not low < high:
            raise ValueError(f"axis {self.target}: low must be below high, got {low:g} .. {high:g}")
        if self.log and low <= 0:
            raise ValueError(f"axis {self.target}: a log axis needs low > 0, got {low:g}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "n", n)

    def axis(self) -> trajectories.Axis:
        return trajectories.Axis.span(self.target, self.low, self.high, self.n, log=self.log)

    def values(self) -> tuple[float, ...]:
        return self.axis().values

    def check(self, run: RunConfig, who: str = "") -> None:
        """ValueError unless the run can sweep this axis over its whole range."""
        who = who or run.optimizer
        if self.target not in axis_targets(run):
            raise ValueError(f"{who} cannot sweep {self.target!r}; it can sweep {', '.join(axis_targets(run))}")
        for v in (self.low, self.high):  # every domain is an interval: the ends decide
            try:
                with_value(run, self.target, v)
            except ValueError as e:
                raise ValueError(f"axis {self.target} of {who}: {v:g} is out of range ({e})") from None


# ---------------------------------------------------------------- what to call


@dataclass(frozen=True)
class SweepCall:
    """One call into trajectories: kind "sweep" or "basins", a title for the plots, its arguments."""

    kind: str
    title: str
    kwargs: dict = field(hash=False, compare=False)

    def __call__(self, progress=None, deadline=None):
        fn = trajectories.sweep if self.kind == "sweep" else trajectories.basins
        return fn(**self.kwargs, progress=progress, deadline=deadline)


def run_one(spec: SweepSpec, k: int, progress=None, deadline=None):
    """Optimizer k's sweep (or basins) for this spec: what the Sweeps page runs in a worker process
    (ui.slots.compute; a spec pickles, a SweepCall's compiled surface may not)."""
    return spec.to_sweep_calls()[k](progress=progress, deadline=deadline)


# ---------------------------------------------------------------- the whole request

DEFAULT_SWEEP_RUNS: tuple[RunConfig, ...] = (default_run("momentum"), default_run("nesterov"))
DEFAULT_X = AxisSpec("lr", 1e-5, 1e-2, 60, True)
DEFAULT_Y: AxisSpec | None = AxisSpec("momentum", 0.0, 0.99, 40, False)


@dataclass(frozen=True)
class SweepSpec:
    """A sweep request: surface, start, optimizers (RunConfigs: each with its fixed hyperparameters,
    clipping and schedule), axes, colour metric, tolerance, noise and seeds, basins grid size.

    y None: a 1-D map. seeds: how many noise seeds (0 .. seeds-1; the median is shown).
    tol: a run converged when its loss came within tol of the surface's known minimum value.
    """

    mode: str = "map"
    surface: str = "rosenbrock"
    surface_params: Pairs = ()
    formula: str = ""
    start: tuple[float, float] | None = None
    steps: int = 300
    runs: tuple[RunConfig, ...] = DEFAULT_SWEEP_RUNS
    x: AxisSpec = DEFAULT_X
    y: AxisSpec | None = DEFAULT_Y
    color: str = "final_loss"
    tol: float = 1e-3
    noise: float = 0.0
    seeds: int = 1
    basins_n: int = 100

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        runs = tuple(self.runs)
        if not 1 <= len(runs) <= MAX_OPTIMIZERS or not all(isinstance(r, RunConfig) for r in runs):
            raise ValueError(f"give 1 to {MAX_OPTIMIZERS} optimizers, got {len(runs)}")
        object.__setattr__(self, "runs", runs)
        # the surface, start, steps and noise are checked (and normalized) exactly as the explorer's
        view = ExplorerSpec(surface=self.surface, surface_params=self.surface_params, formula=self.formula,
                            start=self.start, runs=runs, steps=self.steps, noise=self.noise)
        for name in ("surface_params", "start", "steps", "noise"):
            object.__setattr__(self, name, getattr(view, name))
        if not isinstance(self.x, AxisSpec) or not (self.y is None or isinstance(self.y, AxisSpec)):
            raise ValueError("x must be an AxisSpec and y an AxisSpec or None")
        if self.color not in COLORS:
            raise ValueError(f"color must be one of {', '.join(COLORS)}, got {self.color!r}")
        object.__setattr__(self, "tol", bounded(self.tol, "float", *TOL_RANGE, "tol"))
        object.__setattr__(self, "seeds", bounded(self.seeds, "int", *SEEDS_RANGE, "seeds"))
        bn = as_int(self.basins_n, "basins grid")
        if not 2 <= bn <= MAX_BASINS_N:
            raise ValueError(f"the basins grid must be from 2 to {MAX_BASINS_N} points a side, got {bn}")
        object.__setattr__(self, "basins_n", bn)
        self._check_axes()
        self._check_caps()

    def _check_axes(self) -> None:
        if self.mode == "map":
            if self.y is not None and self.y.target == self.x.target:
                raise ValueError(f"x and y sweep the same thing ({self.x.target}); choose two different ones")
            for i, r in enumerate(self.runs):
                for ax in self.axes:
                    ax.check(r, f"optimizer {i + 1} ({r.optimizer})")
        elif self.mode == "robustness" and (self.x.target != "lr" or not self.x.log):
            raise ValueError("a robustness curve sweeps lr on a log axis")

    def _check_caps(self) -> None:
        """The engine's own caps (trajectories.limits): cells and runs per call (one call per optimizer),
        run-steps for the whole request (all optimizers and seeds together)."""
        if self.mode == "basins":
            cells = self.basins_n**2
            check_work(cells, self.steps, cells, MAX_BASIN_CELLS, "this basins request", self.work())
        else:
            cells = math.prod(a.n for a in self.axes)
            check_work(cells * self.seeds, self.steps, cells, MAX_CELLS, "this map request", self.work())

    # -------------------------------------------------------------- views of it
    @property
    def axes(self) -> tuple[AxisSpec, ...]:
        """The axes this mode sweeps: (x, y) or (x,) for a map, (lr,) for robustness, () for basins."""
        if self.mode == "map":
            return (self.x,) if self.y is None else (self.x, self.y)
        if self.mode == "robustness":
            return (self.x,)
        return ()

    def view(self, run: RunConfig | None = None) -> ExplorerSpec:
        """The explorer's view of one run (by default the first) on this surface, from this start."""
        return ExplorerSpec(surface=self.surface, surface_params=self.surface_params, formula=self.formula,
                            start=self.start, runs=(run or self.runs[0],), steps=self.steps, noise=self.noise)

    def surface_obj(self) -> surfaces.Surface:
        """The Surface (raises surfaces.FormulaError where a custom formula does not parse)."""
        return self.view().surface_obj()

    def start_point(self) -> tuple[float, float]:
        return self.view().start_point()

    def titles(self) -> list[str]:
        """One short, distinct title per optimizer (what stays fixed in it; the swept targets left out)."""
        swept = {a.target for a in self.axes}
        out = [run_title(r, swept) for r in self.runs]
        return [t if out.count(t) == 1 else f"{t} ({i + 1})" for i, t in enumerate(out)]

    def seed_values(self) -> tuple[int, ...]:
        return tuple(range(self.seeds))

    def to_sweep_calls(self) -> tuple[SweepCall, ...]:
        """What to call on trajectories: one SweepCall per optimizer (call it, or read kind/kwargs)."""
        s = self.surface_obj()
        calls = []
        for title, r in zip(self.titles(), self.runs, strict=True):
            clip = None if r.clip == "none" else (r.clip, r.clip_threshold)
            common: dict[str, Any] = dict(surface=s, optimizer=r.optimizer, hparams=dict(r.hparams), clip=clip,
                                          schedule=r.sequential, noise=self.noise,
                                          total_work=self.work())
            if self.mode == "basins":
                calls.append(SweepCall("basins", title, dict(common, steps=self.steps, n=self.basins_n, seed=0)))
            else:
                axes = [a.axis() for a in self.axes]
                calls.append(SweepCall("sweep", title, dict(common, start=self.start_point(), steps=self.steps,
                                                            axes=axes, seeds=self.seed_values(), tol=self.tol)))
        return tuple(calls)

    def cell_run(self, k: int, values) -> RunConfig:
        """Optimizer k's run at one cell: values are the cell's axis values, in axis order."""
        axes = self.axes
        values = tuple(values)
        if len(values) != len(axes):
            raise ValueError(f"give {len(axes)} axis values, got {len(values)}")
        run = self.runs[k]
        for ax, v in zip(axes, values, strict=True):
            run = with_value(run, ax.target, v)
        return run

    def work(self) -> int:
        """Run-steps of the whole request (all optimizers): what the progress bar counts."""
        rows = self.basins_n**2 if self.mode == "basins" else math.prod(a.n for a in self.axes) * self.seeds
        return rows * self.steps * len(self.runs)


def run_title(run: RunConfig, swept=frozenset()) -> str:
    """The run's one label (RunConfig.label), leaving out what an axis sweeps: a swept pair element
    hides the pair, a swept clip threshold the threshold, a swept schedule argument that argument."""
    omit = set()
    for t in map(Target.parse, swept):
        omit.add("clip" if t.kind == "clip" else str(t) if t.kind == "schedule" else t.name)
    return run.label(omit=frozenset(omit))


# ---------------------------------------------------------------- results as a CSV file

CSV_MAX_ROWS = 500_000  # beyond this, one row per cell (median over seeds) instead of one per run


def results_csv(spec: SweepSpec, results) -> str:
    """The results as CSV text, one row per run (per cell, seeds summarised, for very large maps).

    results: one SweepResult (map, robustness) or BasinsResult (basins) per optimizer, in order.
    Basins' outcome: the index of the minimum reached (0-based), -1 not converged, -2 diverged.
    """
    import io

    import numpy as np

    titles = spec.titles()
    out = io.StringIO()
    if spec.mode == "basins":
        out.write("optimizer,start_x,start_y,outcome,final_x,final_y,final_loss\n")
        for title, b in zip(titles, results, strict=True):
            yy, xx = np.meshgrid(b.ys, b.xs, indexing="ij")  # (ny, nx) as b.label
            block = np.column_stack([xx.ravel(), yy.ravel(), b.label.ravel(), b.final_xy.reshape(-1, 2),
                                     b.final_loss.ravel()])
            _write_block(out, title, block, ["%.17g", "%.17g", "%d", "%.17g", "%.17g", "%.17g"])
        return out.getvalue()
    names = [a.target for a in spec.axes]
    per_run = sum(int(np.asarray(r.final_loss).size) for r in results) <= CSV_MAX_ROWS
    if per_run:
        out.write(",".join(["optimizer", *names, "seed", "final_loss", "hit_at", "diverged_at", "final_x",
                            "final_y"]) + "\n")
    else:
        out.write(",".join(["optimizer", *names, "seeds", "median_final_loss", "median_hit_at",
                            "diverged_fraction"]) + "\n")
    for title, r in zip(titles, results, strict=True):
        grids = np.meshgrid(*[np.asarray(a.values) for a in r.axes], indexing="ij")  # each (*shape)
        shape = grids[0].shape
        if per_run:
            seeds = len(r.seeds)
            cols = [np.broadcast_to(g, (seeds, *shape)).ravel() for g in grids]
            seed = np.broadcast_to(np.asarray(r.seeds).reshape(-1, *[1] * len(shape)), (seeds, *shape)).ravel()
            block = np.column_stack([*cols, seed, r.final_loss.ravel(), r.hit_at.ravel(), r.diverged_at.ravel(),
                                     r.final_xy.reshape(-1, 2)])
            fmts = ["%.17g"] * len(cols) + ["%d", "%.17g", "%d", "%d", "%.17g", "%.17g"]
        else:
            diverged = r.diverged_at >= 0
            loss = np.median(np.where(diverged, np.inf, r.final_loss), axis=0)
            hit = np.median(np.where((r.hit_at >= 0) & ~diverged, r.hit_at, np.inf), axis=0)
            block = np.column_stack([*(g.ravel() for g in grids), np.full(grids[0].size, len(r.seeds)),
                                     loss.ravel(), hit.ravel(), diverged.mean(axis=0).ravel()])
            fmts = ["%.17g"] * len(grids) + ["%d", "%.17g", "%.17g", "%.17g"]
        _write_block(out, title, block, fmts)
    return out.getvalue()


def _write_block(out, title: str, block, fmts: list[str]) -> None:
    import io

    import numpy as np

    buf = io.StringIO()
    np.savetxt(buf, block, fmt=fmts, delimiter=",")
    quoted = '"' + title.replace('"', '""') + '",'
    lines = buf.getvalue().splitlines()
    out.write("".join(quoted + line + "\n" for line in lines))
