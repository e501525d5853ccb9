"""The continuous knobs of an explorer run, each with the values its scrub stops at (pure, testable).

A knob is a number the chart's tune strip lets a person drag while the browser switches between
precomputed trajectories (trajectories.bank): every float or int hyperparameter (each element of a
pair such as betas), the clip threshold where the run clips, each numeric schedule argument that has
a value (an "auto" one is derived from the steps and has none to drag), and the gradient noise.
Its stops lie within the run editor's own slider (ui.ticks: a log slider's own round values; round
steps of 1, 2 or 5 x 10^k across a linear one), at most MAX_STOPS of them, always including the
current value; so a value let go of in the strip is one the editor shows as it is, and the page can
check it is one of the stops.

    knobs(run) -> [Knob("lr", "lr", (1e-05, ..., 1.0), index=12, key="hp.adam.lr", log=True), ...]
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

import optimizers
from optimizers.run import RunConfig
from optimizers.schedules import schedule_spec
from plots.ticks import nice_step

from .spec import NOISE_RANGE
from .ticks import fmt, linear_range, log_options

MAX_STOPS = 25  # values per knob: enough to follow a drag, few enough to precompute every one
CLIP_RANGE = (1e-3, 1e3)  # the run editor's clip threshold slider (log)
NOISE_KEY = "noise"  # the explorer's own (not a run's) widget key for the noise, under its prefix
NOISE_STOPS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0)


@dataclass(frozen=True)
class Knob:
    target: str  # what the bank varies (trajectories.sweep.Target's grammar, or "noise")
    label: str  # what the strip calls it
    values: tuple[float, ...]  # the stops, ascending
    index: int  # the stop that holds the current value
    key: str  # the run editor's widget key under the run's prefix ("hp.adam.lr"); NOISE_KEY for the noise
    log: bool = False
    integer: bool = False

    @property
    def value(self) -> float:
        return self.values[self.index]

    def texts(self) -> list[str]:
        return [str(int(v)) if self.integer else fmt(v) for v in self.values]


def _thin(values: list[float], current: float, most: int = MAX_STOPS) -> list[float]:
    """At most `most` of the sorted values, evenly spread, both ends and `current` kept."""
    if len(values) > most:
        keep = {int(round(i)) for i in np.linspace(0, len(values) - 1, most - 1)}
        values = [v for i, v in enumerate(values) if i in keep or v == current]
    return values


def _index(values: list[float], current: float) -> int:
    return min(range(len(values)), key=lambda i: abs(values[i] - current))


def stops(low: float, high: float, current: float, log: bool, integer: bool) -> list[float]:
    """The values a knob stops at, within the editor slider's range (ui.widgets.number), `current` kept."""
    if integer:
        lo, hi, cur = int(min(low, current)), int(max(high, current, low + 1)), int(current)
        if log and lo > 0:
            vals = sorted({int(round(v)) for v in np.geomspace(lo, hi, MAX_STOPS)} | {cur})
        else:
            vals = sorted(set(np.linspace(lo, hi, min(MAX_STOPS, hi - lo + 1)).round().astype(int).tolist()) | {cur})
        return [float(v) for v in _thin(vals, cur)]
    if log and low > 0 and current > 0:
        return _thin(log_options(low, high, current), current)
    lo, hi, _ = linear_range(low, high, current)
    step = nice_step(hi - lo, MAX_STOPS - 3)  # round stops (0, 0.05, 0.1, ...), room for both ends and `current`
    k0, k1 = lo / step, hi / step
    if not (math.isfinite(k0) and math.isfinite(k1) and 0 <= k1 - k0 <= 10 * MAX_STOPS and abs(k0) < 2**52):
        grid = set(np.linspace(lo, hi, MAX_STOPS - 1).tolist())  # a range no round step fits (a link's 1e308)
    else:
        grid = {float(f"{v:.12g}") for v in np.arange(math.ceil(k0), math.floor(k1) + 1) * step}
    grid = sorted({v for v in grid if lo <= v <= hi and math.isfinite(v)} | {lo, hi, float(current)})
    return _thin(grid, float(current))


def knobs(run: RunConfig) -> list[Knob]:
    """Every continuous knob of the run, in the editor's order: hyperparameters, clip threshold, schedule."""
    out = []
    spec = optimizers.spec(run.optimizer)
    values = dict(run.hparams)
    for hp in spec.hparams:
        if hp.kind == "pair":
            for i in range(2):
                out.append(_knob(f"{hp.name}.{i}", f"{hp.name}[{i}]", values[hp.name][i], hp.low, hp.high, hp.log,
                                 False, f"hp.{run.optimizer}.{hp.name}.{i}"))
        elif hp.kind in ("float", "int"):
            out.append(_knob(hp.name, hp.name, values[hp.name], hp.low, hp.high, hp.log, hp.kind == "int",
                             f"hp.{run.optimizer}.{hp.name}"))
    if run.clip != "none":
        out.append(_knob("clip", "clip threshold", run.clip_threshold, *CLIP_RANGE, True, False, "clip_thr"))
    kw = dict(run.schedule_kw)
    for p in schedule_spec(run.schedule).params:
        v = kw.get(p.name)
        if p.kind in ("float", "int") and v is not None and not p.advanced:  # advanced: tucked away in the editor
            out.append(_knob(f"schedule.{p.name}", f"{p.name} (schedule)", v, p.low, p.high, p.log,
                             p.kind == "int", f"skw.{run.schedule}.{p.name}"))
    return [k for k in out if k is not None]


def _knob(target, label, value, low, high, log, integer, key) -> Knob | None:
    """The knob, or None where it has nothing to drag (a value no stops can hold: a link's 1e308)."""
    v = float(value)
    if not math.isfinite(v) or abs(v) > 1e15:
        return None
    try:
        vals = stops(float(low), float(high), v, log, integer)
    except (ValueError, OverflowError, ArithmeticError):
        return None
    if len(vals) < 2:
        return None
    return Knob(target, label, tuple(vals), _index(vals, v), key, log=log, integer=integer)


def noise_knob(noise: float) -> Knob:
    """The race's gradient noise (every run meets it): round stops from 0 to 10, the current value kept."""
    vals = sorted({v for v in NOISE_STOPS if NOISE_RANGE[0] <= v <= NOISE_RANGE[1]} | {float(noise)})
    return Knob("noise", "gradient noise (all runs)", tuple(vals), _index(vals, float(noise)), NOISE_KEY)


def stop_of(knob: Knob, value) -> int | None:
    """The stop that `value` (from the browser) names, or None: only the knob's own values are taken."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    i = _index(list(knob.values), float(value))
    v = knob.values[i]
    return i if abs(v - value) <= 1e-9 * max(1.0, abs(v)) else None


def committed(options: list[Knob], target, value) -> tuple[str, float] | None:
    """(editor key, value) for a knob let go in the browser: `target` must name one of `options` and
    `value` be one of its stops (ints for an integer knob); anything else is None (nothing changes)."""
    if not isinstance(target, str):
        return None
    k = next((k for k in options if k.target == target), None)
    j = None if k is None else stop_of(k, value)
    if j is None:
        return None
    v = k.values[j]
    return k.key, int(v) if k.integer else float(v)


def with_value(run: RunConfig, target: str, value: float) -> RunConfig:
    """The run with one knob (a Knob.target of it) set to `value`: what a let-go knob makes of the run
    (checked again by RunConfig)."""
    if target == "clip":
        return dataclasses.replace(run, clip_threshold=float(value))
    if target.startswith("schedule."):
        arg = target.split(".", 1)[1]
        kw = tuple((k, value if k == arg else v) for k, v in run.schedule_kw)
        return dataclasses.replace(run, schedule_kw=kw)
    name, _, i = target.partition(".")
    h = []
    for k, v in run.hparams:
        if k == name:
            v = tuple(value if j == int(i) else e for j, e in enumerate(v)) if i else value
        h.append((k, v))
    return dataclasses.replace(run, hparams=tuple(h))
