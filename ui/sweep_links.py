"""The sweeps page's whole request as URL query parameters, and back; and a cell's link to the explorer.

Format, version 1, in the explorer's style (ui.links): every field is written, defaults included;
the surface, start and runs are written exactly as the explorer writes them:

    v=1                                   the link format's version
    m=map                                 mode: map, robustness or basins
    s=rosenbrock  sp=...  f=...  x0=auto  surface, its parameters, the custom formula, start (as ui.links)
    n=300                                 steps
    r0=adam~lr:0.001~betas:0.9,0.999~eps:1e-8~weight_decay:0      optimizer 1 and ALL its hyperparameters
    c0=none,1   sch0=constant~factor:1~total_iters:5              its clipping and schedule
    r1=... c1=... sch1=...                up to r3 (four optimizers)
    ax=lr~0.00001~0.01~60~log             x axis: target~low~high~cells~log|lin
    ay=momentum~0~0.99~40~lin | ay=none   y axis (none: a 1-D map)
    color=final_loss                      final_loss, hit_at or diverged
    tol=0.001  noise=0  seeds=1  bn=100   tolerance, gradient noise, noise seeds, basins grid side

Reading (`from_query`) never raises: a bad, missing or outdated field falls back to its default
with a warning naming it, the other fields kept; axes that do not fit the optimizers, and
requests over the engine's caps, are brought back within them field by field, with a warning each.

`cell_link(spec, k, values)` is the explorer's query string (ui.links.query_string) for optimizer
k at one cell of the map: that exact run, one click away.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import codec, links
from .codec import ITEM, Choice, Number, Runs, SurfaceFields, _show, fmt, parse_bool, parse_float, parse_int
from .spec import NOISE_RANGE, ExplorerSpec, RunConfig
from .sweep_spec import (
    COLORS,
    MAX_AXIS,
    MAX_BASINS_N,
    MAX_OPTIMIZERS,
    MODES,
    SEEDS_RANGE,
    STEPS_RANGE,
    TOL_RANGE,
    AxisSpec,
    SweepSpec,
    axis_targets,
    target_range,
)

EXPLORER_PATH = "./"  # the explorer is the app's default page ("/"); relative, so a base path still works
NONE = "none"
LOG, LIN = "log", "lin"


# ---------------------------------------------------------------- the axes, and the table


def axis_text(a: AxisSpec | None) -> str:
    """"lr~1e-5~0.01~60~log" (or "none")."""
    if a is None:
        return NONE
    return ITEM.join([a.target, fmt(a.low), fmt(a.high), str(a.n), LOG if a.log else LIN])


def read_axis(r: codec.Reader, key: str, default: AxisSpec | None, allow_none: bool = False) -> AxisSpec | None:
    """One axis, part by part: a bad part takes the default axis's value, with a warning."""
    what = r.name(key)
    shown = "none" if default is None else axis_text(default)
    text = r.get(key, shown)
    if text is None:
        return default
    if text == NONE:
        if allow_none:
            return None
        r.warn(f"{what}: the x axis cannot be none; used {shown}")
        return default
    parts = text.split(ITEM)
    if len(parts) != 5:
        r.warn(f"{what}: {_show(text)} is not target~low~high~cells~log|lin; used {shown}")
        return default
    base = default or AxisSpec()
    target, lo, hi, n, scale = parts
    if not (0 < len(target) <= 64):
        r.warn(f"{what}: {_show(target, 20)} is not a target; used {base.target}")
        target = base.target
    low, high = parse_float(lo), parse_float(hi)
    if low is None:
        r.warn(f"{what}: low {_show(lo)} is not a number; used {fmt(base.low)}")
        low = base.low
    if high is None:
        r.warn(f"{what}: high {_show(hi)} is not a number; used {fmt(base.high)}")
        high = base.high
    cells = parse_int(n)
    if cells is None or not 1 <= cells <= MAX_AXIS:
        r.warn(f"{what}: cells {_show(n)} is not a whole number from 1 to {MAX_AXIS}; used {base.n}")
        cells = base.n
    log = {LOG: True, LIN: False}.get(scale, parse_bool(scale))
    if log is None:
        r.warn(f"{what}: scale {_show(scale, 10)} is not log or lin; used {LOG if base.log else LIN}")
        log = base.log
    try:
        return AxisSpec(target, low, high, cells, log)
    except ValueError as e:
        r.warn(f"{what}: {e}; used {shown}")
        return default



@dataclass(frozen=True)
class Axis(codec.Field):
    """An axis field: "lr~1e-5~0.01~60~log", or "none" where allowed (the y axis)."""

    allow_none: bool = False

    def write(self, spec: Any) -> dict[str, str]:
        return {self.key: axis_text(getattr(spec, self.attr))}

    def read(self, r: codec.Reader, fields: dict) -> None:
        default = getattr(r.default, self.attr)
        axis = read_axis(r, self.key, default, self.allow_none)
        fields[self.attr] = axis if axis is not None or self.allow_none else default


def fit_axes(r: codec.Reader, fields: dict) -> None:
    """Axes the optimizers cannot sweep (only where the mode sweeps them) fall back, with a warning."""
    d = r.default
    runs = fields["runs"]
    if fields["mode"] == "robustness":
        x = fields["x"]
        if x.target != "lr" or not x.log:
            lr = d.x if d.x.target == "lr" else AxisSpec()
            r.warn(f"x axis (ax): a robustness curve sweeps lr on a log axis; used {axis_text(lr)}")
            fields["x"] = lr
        return
    if fields["mode"] != "map":
        return
    for key, name, fallback in (("ax", "x", d.x), ("ay", "y", d.y)):
        axis = fields[name]
        if axis is None:
            continue
        problem = axis_problem(axis, runs)
        if problem is None and name == "y" and axis.target == fields["x"].target:
            problem = f"the same as the x axis ({axis.target})"
        if problem is None:
            continue
        if fallback is not None and axis_problem(fallback, runs) is None and (
                name == "x" or fallback.target != fields["x"].target):
            use, shown = fallback, axis_text(fallback)
        elif name == "x":
            use = AxisSpec()  # lr: every optimizer has one
            use, shown = use, axis_text(use)
        else:
            use, shown = None, NONE
        r.warn(f"{r.name(key)}: {problem}; used {shown}")
        fields[name] = use

def axis_problem(axis: AxisSpec, runs: tuple[RunConfig, ...]) -> str | None:
    for i, r in enumerate(runs):
        try:
            axis.check(r, f"optimizer {i + 1} ({r.optimizer})")
        except ValueError as e:
            return str(e)
    return None

def within_caps(r: codec.Reader, fields: dict) -> tuple[SweepSpec, list[str]]:
    """Build the spec; a request over the engine's caps is reduced field by field, with a warning each."""
    d = r.default
    reductions = [("seeds", "seeds", d.seeds), ("n", "steps", d.steps), ("bn", "basins_n", d.basins_n),
                  ("ay", "y", None), ("ax", "x", d.x)]
    try:
        SweepSpec(**dict(fields, **{name: value for _, name, value in reductions}))
    except ValueError as e:  # not a matter of size: nothing to reduce
        r.warn(f"the link's sweep is invalid ({e}); showing the default sweep")
        return d, r.warnings
    error: Exception | None = None
    for key, name, value in [(None, None, None), *reductions]:
        if key is not None:
            if fields[name] == value:
                continue
            shown = fmt(value) if not isinstance(value, AxisSpec) else axis_text(value)
            r.warn(f"{r.name(key)}: reduced to {shown if value is not None else NONE} "
                      f"to stay within the limits ({error})")
            fields[name] = value
        try:
            return SweepSpec(**fields), r.warnings
        except ValueError as e:
            error = e
    r.warn(f"the link's sweep is invalid ({error}); showing the default sweep")
    return d, r.warnings


def _finish(r: codec.Reader, fields: dict) -> tuple[SweepSpec, list[str]]:
    fit_axes(r, fields)
    return within_caps(r, fields)


SWEEP = codec.View(
    spec=SweepSpec,
    entries=(Choice("m", "mode", "mode", MODES), SurfaceFields(), Number("n", "steps", "steps", "int", *STEPS_RANGE),
             Runs(), Axis("ax", "x", "x axis"), Axis("ay", "y", "y axis", allow_none=True),
             Choice("color", "color", "colour", COLORS), Number("tol", "tol", "tolerance", "float", *TOL_RANGE),
             Number("noise", "noise", "noise", "float", *NOISE_RANGE),
             Number("seeds", "seeds", "seeds", "int", *SEEDS_RANGE),
             Number("bn", "basins_n", "basins grid", "int", 2, MAX_BASINS_N)),
    link="a sweep link", fallback="sweep", run_word="optimizer", max_runs=MAX_OPTIMIZERS,
    run_key_name=lambda i, what: f"optimizer {i + 1}" + ("" if what == "optimizer" else f" {what}"),
    finish=_finish,
)
TOP_KEYS = SWEEP.top_keys
NAMES = SWEEP.names


# the sweeps page's link, written and read (ui.codec.View: never raises; see the module docstring for the format)
to_query, query_string = SWEEP.to_query, SWEEP.query_string
from_query, from_query_string = SWEEP.from_query, SWEEP.from_query_string


def cell_spec(spec: SweepSpec, k: int, values: Iterable[float]) -> ExplorerSpec:
    """The explorer's view of optimizer k at the cell whose axis values are `values` (in axis order)."""
    return spec.view(spec.cell_run(k, values))


def cell_link(spec: SweepSpec, k: int, values: Iterable[float]) -> str:
    """The explorer's query string (no "?") for optimizer k at one cell: prefix EXPLORER_PATH + "?"."""
    return links.query_string(cell_spec(spec, k, values))


def cell_url(spec: SweepSpec, k: int, values: Iterable[float]) -> str:
    """A relative URL that opens the cell's run in the explorer."""
    return f"{EXPLORER_PATH}?{cell_link(spec, k, values)}"


# ---------------------------------------------------------------- reading

EXPLORER_ONLY = {"seed", "3d", "arrows"}  # keys only an explorer link has
SWEEP_ONLY = {"m", "ax", "ay", "color", "tol", "seeds", "bn"}  # keys only a sweep link has


def is_explorer_query(params: Mapping) -> bool:
    """True for the explorer's own link (what the address bar may still hold when a person moves
    from the explorer to the sweeps page)."""
    try:
        keys = {str(k) for k in params}
    except Exception:
        return False
    return bool(keys & EXPLORER_ONLY) and not keys & SWEEP_ONLY


def from_explorer_query(params: Mapping) -> SweepSpec:
    """A sweep of what the explorer showed: its surface, start, steps, noise and first four runs,
    over lr (the registry's range for the first run) and, where they all have it, the default y axis."""
    try:
        view, _ = links.from_query(params)
        runs = view.runs[:MAX_OPTIMIZERS]
        d = SweepSpec()
        low, high, _log = target_range(runs[0], "lr")
        x = AxisSpec("lr", low, high, d.x.n, True)
        y = d.y if d.y is not None and all(d.y.target in axis_targets(r) for r in runs) else None
        fields = dict(surface=view.surface, surface_params=view.surface_params, formula=view.formula,
                      start=view.start, runs=runs, noise=view.noise, x=x, y=y)
        for steps in (view.steps, d.steps):
            try:
                return SweepSpec(**fields, steps=steps)
            except ValueError:
                continue
    except Exception:  # never breaks the page
        pass
    return SweepSpec()
