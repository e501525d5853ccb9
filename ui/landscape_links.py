"""The Landscape page's view as URL query parameters, and back (ui/codec.py's generic reader and writer).

Format, version 1 (every field written, defaults included):

    v=1
    run=3                 the centre: the plane's (0, 0) is this run's last snapshot (0: none chosen yet)
    paths=3,4             runs whose paths are drawn (and, for the PCA plane, span it); empty: the centre's
    plane=pca             pca (the paths' principal components) or random (filter-normalised, Li et al. 2018)
    seed=0  keep1d=0      the random directions' seed; 1-D tensors moved (1) or left fixed (0, the paper's)
    n=51                  points per side
    span=auto             or a0,a1,b0,b1: the grid's extent along d1 and d2
    data=val              val (the validation set) or train (a fixed training batch)
    color=loss            what colours the map: loss or metric
    line=none | line=3,4  the line between two runs' weights, A then B
    t=-0.5,1.5            the line's range of t (A at 0, B at 1)

Reading never raises: a bad field falls back to its default with a warning naming it; points per
side above this server's limit (deploy.settings().max_grid) are brought down to it, said.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import deploy
from training.landscape.spec import (
    DATA,
    DEFAULT_N,
    LINE_RANGE,
    MAX_PATHS,
    MAX_SPAN,
    PLANES,
    LineSpec,
    PlaneSpec,
)

from . import codec
from .codec import PAIR, RUN_ID_DIGITS, Choice, Flag, Ids, Number, _show, fmt, parse_float

LANDSCAPE_PATH = "landscape"  # the page's url_path (app.PAGES)
AUTO = "auto"
NONE = "none"
COLORS = ("loss", "metric")
MAX_ID = 10**RUN_ID_DIGITS - 1


@dataclass(frozen=True)
class LandscapeView:
    run: int = 0
    paths: tuple[int, ...] = ()
    plane: str = "pca"
    seed: int = 0
    keep_1d: bool = False
    n: int = DEFAULT_N
    span: tuple[float, float, float, float] | None = None
    data: str = "val"
    color: str = "loss"
    line: tuple[int, int] | None = None
    t: tuple[float, float] = LINE_RANGE

    def plane_spec(self) -> PlaneSpec:
        return PlaneSpec(run=self.run, paths=self.paths, plane=self.plane, seed=self.seed, keep_1d=self.keep_1d,
                         n=self.n, span=self.span, data=self.data)

    def line_spec(self) -> LineSpec | None:
        if self.line is None:
            return None
        return LineSpec(a=self.line[0], b=self.line[1], n=self.n, lo=self.t[0], hi=self.t[1], data=self.data)


# ---------------------------------------------------------------- fields of their own


@dataclass(frozen=True)
class Numbers(codec.Field):
    """A tuple of `count` increasing-by-pairs finite numbers ("a0,a1,b0,b1"; "lo,hi"), or `none_word`
    for None where allowed."""

    count: int = 2
    none_word: str | None = None

    def write(self, spec: Any) -> dict[str, str]:
        v = getattr(spec, self.attr)
        return {self.key: self.none_word if v is None else PAIR.join(fmt(x) for x in v)}

    def read(self, r: codec.Reader, fields: dict) -> None:
        default = getattr(r.default, self.attr)
        shown = self.none_word if default is None else PAIR.join(fmt(x) for x in default)
        text = r.get(self.key)
        if text is None:
            fields[self.attr] = default
            return
        if self.none_word is not None and text == self.none_word:
            fields[self.attr] = None
            return
        vals = [parse_float(p) for p in text.split(PAIR)]
        ok = len(vals) == self.count and None not in vals and all(abs(v) <= MAX_SPAN for v in vals) and all(
            vals[i] < vals[i + 1] for i in range(0, self.count, 2))
        if not ok:
            r.warn(f"{r.name(self.key)}: {_show(text)} is not {self.count} numbers within ±{MAX_SPAN:g}, each pair "
                   f"from low to high; used {shown}")
            fields[self.attr] = default
            return
        fields[self.attr] = tuple(vals)


@dataclass(frozen=True)
class RunPair(codec.Field):
    """Two different run ids "3,4", or none."""

    def write(self, spec: Any) -> dict[str, str]:
        v = getattr(spec, self.attr)
        return {self.key: NONE if v is None else f"{v[0]}{PAIR}{v[1]}"}

    def read(self, r: codec.Reader, fields: dict) -> None:
        text = r.get(self.key)
        if text is None or text == NONE:
            fields[self.attr] = None if text == NONE else getattr(r.default, self.attr)
            return
        parts = [codec.run_id(t) for t in text.split(PAIR)]
        if len(parts) != 2 or None in parts or parts[0] == parts[1]:
            r.warn(f"{r.name(self.key)}: {_show(text)} is not two different run ids A,B; no line shown")
            fields[self.attr] = None
            return
        fields[self.attr] = (parts[0], parts[1])


def _within_server(r: codec.Reader, fields: dict) -> tuple[LandscapeView, list[str]]:
    top = deploy.settings().max_grid
    if fields["n"] > top:
        r.warn(f"points per side (n): {fields['n']} is more than {top}, the most this server evaluates; used {top}")
        fields["n"] = top
    try:
        return LandscapeView(**fields), r.warnings
    except (TypeError, ValueError) as e:  # pragma: no cover (each field is checked on its own)
        r.warn(f"the link's view is invalid ({e}); showing the default view")
        return LandscapeView(), r.warnings


LANDSCAPE = codec.View(
    spec=LandscapeView,
    entries=(Number("run", "run", "centre run", "int", 0, MAX_ID), Ids("paths", "paths", "paths", most=MAX_PATHS),
             Choice("plane", "plane", "plane", PLANES), Number("seed", "seed", "seed", "int", 0, 2**63 - 1),
             Flag("keep1d", "keep_1d", "1-D tensors moved"),
             Number("n", "n", "points per side", "int", 3, deploy.LOCAL_MAX_GRID),
             Numbers("span", "span", "span", count=4, none_word=AUTO), Choice("data", "data", "data", DATA),
             Choice("color", "color", "colour", COLORS), RunPair("line", "line", "line"),
             Numbers("t", "t", "line range", count=2)),
    link="a landscape link", fallback="view", run_word="run", max_runs=0,
    run_key_name=lambda i, what: f"run {i + 1} {what}", finish=_within_server,
)


# the Landscape page's link, written and read (ui.codec.View: never raises; see the module docstring)
to_query, query_string = LANDSCAPE.to_query, LANDSCAPE.query_string
from_query, from_query_string = LANDSCAPE.from_query, LANDSCAPE.from_query_string


def landscape_url(run: int, paths: Iterable[int] = (), **fields: Any) -> str:
    """A relative URL that opens the Landscape page centred on `run` with these paths."""
    view = dataclasses.replace(LandscapeView(), run=int(run), paths=tuple(int(i) for i in paths), **fields)
    return f"{LANDSCAPE_PATH}?{query_string(view)}"
