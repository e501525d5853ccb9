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
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from . import links
from .links import ITEM, KV, PAIR, VERSION, _items, _run_index, _show, fmt, parse_bool, parse_float, parse_int
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
SWEEPS_PATH = "sweeps"  # the sweeps page's url_path
NONE = "none"
LOG, LIN = "log", "lin"
TOP_KEYS = ("v", "m", "s", "sp", "f", "x0", "n", "ax", "ay", "color", "tol", "noise", "seeds", "bn")
NAMES = {**links.NAMES, "m": "mode", "ax": "x axis", "ay": "y axis", "color": "colour", "tol": "tolerance",
         "seeds": "seeds", "bn": "basins grid", "n": "steps"}


# ---------------------------------------------------------------- writing


def axis_text(a: AxisSpec | None) -> str:
    """"lr~1e-5~0.01~60~log" (or "none")."""
    if a is None:
        return NONE
    return ITEM.join([a.target, fmt(a.low), fmt(a.high), str(a.n), LOG if a.log else LIN])


def to_query(spec: SweepSpec) -> dict[str, str]:
    """Every field of the request as query parameters (see the module docstring for the format)."""
    q = {"v": str(VERSION), "m": spec.mode, "s": spec.surface}
    if spec.surface_params:
        q["sp"] = _items(spec.surface_params)
    if spec.formula:
        q["f"] = spec.formula
    q["x0"] = links.AUTO if spec.start is None else fmt(spec.start)
    q["n"] = str(spec.steps)
    for i, r in enumerate(spec.runs):
        q[f"r{i}"] = _items(r.hparams, r.optimizer)
        q[f"c{i}"] = f"{r.clip}{PAIR}{fmt(r.clip_threshold)}"
        q[f"sch{i}"] = _items(r.schedule_kw, r.schedule)
    q |= {"ax": axis_text(spec.x), "ay": axis_text(spec.y), "color": spec.color, "tol": fmt(spec.tol),
          "noise": fmt(spec.noise), "seeds": str(spec.seeds), "bn": str(spec.basins_n)}
    return q


def query_string(spec: SweepSpec) -> str:
    """to_query urlencoded (without the leading "?"); ~ : , stay readable."""
    return urlencode(to_query(spec), safe=ITEM + KV + PAIR, quote_via=quote)


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


def from_query_string(qs: str, **kw: Any) -> tuple[SweepSpec, list[str]]:
    """from_query on a raw query string ("v=1&m=map..." with or without the leading "?")."""
    try:
        params = parse_qs(str(qs).lstrip("?"), keep_blank_values=True)
    except Exception as e:  # a link must never break the page
        return SweepSpec(), [f"the link could not be read ({type(e).__name__}); showing the default sweep"]
    return from_query(params, **kw)


def from_query(params: Mapping[str, str | list[str]], *, ignore: Iterable[str] = ()) -> tuple[SweepSpec, list[str]]:
    """The request a link describes, and a warning for every field that could not be read as written.

    Never raises: bad fields fall back to their defaults, one by one (see the module docstring).
    """
    try:
        return _SweepReader(params, ignore).read()
    except Exception as e:  # the last resort: a link must never break the page
        return SweepSpec(), [f"the link could not be read ({type(e).__name__}); showing the default sweep"]


class _SweepReader(links._Reader):
    """The explorer's reader (surface, formula, start, runs read the same way) over the sweep's fields."""

    max_runs = MAX_OPTIMIZERS  # the explorer's run reader, its warnings naming optimizers

    def __init__(self, params: Any, ignore: Iterable[str]) -> None:
        super().__init__(params, ignore)
        self.default = SweepSpec()

    def _name(self, key: str) -> str:
        m = links.RUN_KEY.fullmatch(key)
        if m:
            i = _run_index(key)
            if i is None or i >= MAX_OPTIMIZERS:
                return _show(key, 10)
            return f"optimizer {i + 1}" + {"r": "", "c": " clipping", "sch": " schedule"}[m.group(1)] + f" ({key})"
        if key in NAMES:
            return key if NAMES[key] == key else f"{NAMES[key]} ({key})"
        return _show(key, 30)

    def read(self) -> tuple[SweepSpec, list[str]]:
        keys = set(self.values)
        if not keys:
            return self.default, self.warnings
        self.versioned = "v" in keys
        self._version()
        for key in sorted(keys - set(TOP_KEYS)):
            i = _run_index(key) if links.RUN_KEY.fullmatch(key) else None
            if links.RUN_KEY.fullmatch(key) is None:
                self.warn(f"{_show(key, 30)}: not part of a sweep link; ignored")
            elif i is None or i >= MAX_OPTIMIZERS:
                self.warn(f"{_show(key, 10)}: at most {MAX_OPTIMIZERS} optimizers (r0 to r{MAX_OPTIMIZERS - 1}); "
                          "ignored")

        d = self.default
        fields: dict[str, Any] = {}
        fields["mode"] = self._choice("m", MODES, d.mode)
        surface, fell_back = self._surface()
        formula, surface = self._formula(surface)
        fields |= dict(surface=surface, formula=formula)
        fields["surface_params"] = self._surface_params(surface, quiet=fell_back)
        fields["start"] = self._start(self._surface_obj(surface, fields["surface_params"], formula))
        fields["steps"] = self._number("n", parse_int, d.steps, *STEPS_RANGE, "a whole number")
        fields["runs"] = self._runs()
        fields["x"] = self._axis("ax", d.x) or d.x
        fields["y"] = self._axis("ay", d.y, allow_none=True)
        fields["color"] = self._choice("color", COLORS, d.color)
        fields["tol"] = self._number("tol", parse_float, d.tol, *TOL_RANGE, "a number")
        fields["noise"] = self._number("noise", parse_float, d.noise, *NOISE_RANGE, "a number")
        fields["seeds"] = self._number("seeds", parse_int, d.seeds, *SEEDS_RANGE, "a whole number")
        fields["basins_n"] = self._number("bn", parse_int, d.basins_n, 2, MAX_BASINS_N, "a whole number")
        self._fit_axes(fields)
        return self._within_caps(fields)

    # -------------------------------------------------------------- sweep fields
    def _choice(self, key: str, options: tuple, default: str) -> str:
        text = self.get(key, default)
        if text is None:
            return default
        if text not in options:
            self.warn(f"{self._name(key)}: {_show(text, 20)} is not one of {', '.join(options)}; used {default}")
            return default
        return text

    def _axis(self, key: str, default: AxisSpec | None, allow_none: bool = False) -> AxisSpec | None:
        """One axis, part by part: a bad part takes the default axis's value, with a warning."""
        what = self._name(key)
        shown = "none" if default is None else axis_text(default)
        text = self.get(key, shown)
        if text is None:
            return default
        if text == NONE:
            if allow_none:
                return None
            self.warn(f"{what}: the x axis cannot be none; used {shown}")
            return default
        parts = text.split(ITEM)
        if len(parts) != 5:
            self.warn(f"{what}: {_show(text)} is not target~low~high~cells~log|lin; used {shown}")
            return default
        base = default or AxisSpec()
        target, lo, hi, n, scale = parts
        if not (0 < len(target) <= 64):
            self.warn(f"{what}: {_show(target, 20)} is not a target; used {base.target}")
            target = base.target
        low, high = parse_float(lo), parse_float(hi)
        if low is None:
            self.warn(f"{what}: low {_show(lo)} is not a number; used {fmt(base.low)}")
            low = base.low
        if high is None:
            self.warn(f"{what}: high {_show(hi)} is not a number; used {fmt(base.high)}")
            high = base.high
        cells = parse_int(n)
        if cells is None or not 1 <= cells <= MAX_AXIS:
            self.warn(f"{what}: cells {_show(n)} is not a whole number from 1 to {MAX_AXIS}; used {base.n}")
            cells = base.n
        log = {LOG: True, LIN: False}.get(scale, parse_bool(scale))
        if log is None:
            self.warn(f"{what}: scale {_show(scale, 10)} is not log or lin; used {LOG if base.log else LIN}")
            log = base.log
        try:
            return AxisSpec(target, low, high, cells, log)
        except ValueError as e:
            self.warn(f"{what}: {e}; used {shown}")
            return default

    def _fit_axes(self, fields: dict) -> None:
        """Axes the optimizers cannot sweep (only where the mode sweeps them) fall back, with a warning."""
        d = self.default
        runs = fields["runs"]
        if fields["mode"] == "robustness":
            x = fields["x"]
            if x.target != "lr" or not x.log:
                lr = d.x if d.x.target == "lr" else AxisSpec()
                self.warn(f"x axis (ax): a robustness curve sweeps lr on a log axis; used {axis_text(lr)}")
                fields["x"] = lr
            return
        if fields["mode"] != "map":
            return
        for key, name, fallback in (("ax", "x", d.x), ("ay", "y", d.y)):
            axis = fields[name]
            if axis is None:
                continue
            problem = self._axis_problem(axis, runs)
            if problem is None and name == "y" and axis.target == fields["x"].target:
                problem = f"the same as the x axis ({axis.target})"
            if problem is None:
                continue
            if fallback is not None and self._axis_problem(fallback, runs) is None and (
                    name == "x" or fallback.target != fields["x"].target):
                use, shown = fallback, axis_text(fallback)
            elif name == "x":
                use = AxisSpec()  # lr: every optimizer has one
                use, shown = use, axis_text(use)
            else:
                use, shown = None, NONE
            self.warn(f"{self._name(key)}: {problem}; used {shown}")
            fields[name] = use

    @staticmethod
    def _axis_problem(axis: AxisSpec, runs: tuple[RunConfig, ...]) -> str | None:
        for i, r in enumerate(runs):
            try:
                axis.check(r, f"optimizer {i + 1} ({r.optimizer})")
            except ValueError as e:
                return str(e)
        return None

    def _within_caps(self, fields: dict) -> tuple[SweepSpec, list[str]]:
        """Build the spec; a request over the engine's caps is reduced field by field, with a warning each."""
        d = self.default
        reductions = [("seeds", "seeds", d.seeds), ("n", "steps", d.steps), ("bn", "basins_n", d.basins_n),
                      ("ay", "y", None), ("ax", "x", d.x)]
        try:
            SweepSpec(**dict(fields, **{name: value for _, name, value in reductions}))
        except ValueError as e:  # not a matter of size: nothing to reduce
            self.warn(f"the link's sweep is invalid ({e}); showing the default sweep")
            return d, self.warnings
        error: Exception | None = None
        for key, name, value in [(None, None, None), *reductions]:
            if key is not None:
                if fields[name] == value:
                    continue
                shown = fmt(value) if not isinstance(value, AxisSpec) else axis_text(value)
                self.warn(f"{self._name(key)}: reduced to {shown if value is not None else NONE} "
                          f"to stay within the limits ({error})")
                fields[name] = value
            try:
                return SweepSpec(**fields), self.warnings
            except ValueError as e:
                error = e
        self.warn(f"the link's sweep is invalid ({error}); showing the default sweep")
        return d, self.warnings

    def warn(self, text: str) -> None:
        for was, now in (("run ", "optimizer "), ("runs: the link has none; used the default runs",
                                                  "optimizers: the link has none; used the default optimizers")):
            text = now + text[len(was):] if text.startswith(was) else text
        super().warn(text)

