"""Views as data: a page's shareable state is a frozen spec plus a table of fields; one generic
reader and writer turns it into URL query parameters and back (ui/links.py: the explorer's table,
ui/sweep_links.py: the sweeps page's). docs/architecture.md: one run, one codec.

Writing: every field of the table in order, defaults included ("v=1" first), so changing a default
in the code never changes what an old link shows. Values in the link spelling of the run grammar
(optimizers/run_text.py).

Reading never raises: each field is read on its own; a bad or outdated field falls back to its
default with a warning that names it; a field the link leaves out takes its default silently (a
short hand-written link is normal: `?s=quartic` is a whole view); unknown keys are named and
ignored; a newer "v" is read as far as this version understands it. A view may finish
with its own cross-field checks (the sweeps page brings requests within the engine's caps).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import optimizers
import surfaces
from optimizers.chain import MAX_PHASES
from optimizers.run import RunConfig, hparam_value, schedule_value
from optimizers.run_text import (
    AT,
    AUTO,
    LINK,
    PAIR,
    format_items,
    format_value,
    parse_bool,
    parse_float,
    parse_int,
    phase_head,
    split_items,
    split_phase_head,
)
from optimizers.run_text import parse_value as parse_kind
from optimizers.schedules import schedule_spec

from .spec import CUSTOM, MAX_FORMULA, MAX_RUNS, ExplorerSpec, start_box, surface_names, surface_params

VERSION = 1
ITEM, KV = LINK.item, LINK.kv  # run items, name:value
RUN_ID_DIGITS = 18  # a stored run's id has at most this many digits (fits SQLite's 64-bit integers)
MAX_STEPS_IN_LINK = 10**9  # a phase's first step (a longer run than any page allows: the phase never runs)
RUN_KEY = re.compile(r"(r|c|sch)(0|[1-9][0-9]*)", re.ASCII)
# a later phase of run i's chained schedule: sch<i>.<k>, k = 1 .. MAX_PHASES - 1 (no v=1 link before
# chains holds one, so old links open as they did)
PHASE_KEY = re.compile(r"sch(0|[1-9][0-9]*)\.([1-9][0-9]{0,2})", re.ASCII)  # (longer: an unknown key)

fmt = format_value  # a value as link text


def _items(pairs: Iterable[tuple[str, Any]], head: str | None = None) -> str:
    """"head~a:1~b:2" (or "a:1~b:2" without a head)."""
    return format_items(pairs, head, LINK)


# ---------------------------------------------------------------- the table's entries


@dataclass(frozen=True)
class Field:
    """One link key <-> one attribute of the spec; `name` is how warnings call it."""

    key: str
    attr: str
    name: str

    keys = property(lambda self: (self.key,))

    def write(self, spec: Any) -> dict[str, str]:
        return {self.key: fmt(getattr(spec, self.attr))}


@dataclass(frozen=True)
class Number(Field):
    kind: str = "float"  # or "int"
    low: float = 0.0
    high: float = 0.0

    def read(self, r: Reader, fields: dict) -> None:
        parse, what = (parse_int, "a whole number") if self.kind == "int" else (parse_float, "a number")
        fields[self.attr] = r.number(self.key, parse, getattr(r.default, self.attr), self.low, self.high, what)


@dataclass(frozen=True)
class Flag(Field):
    def read(self, r: Reader, fields: dict) -> None:
        fields[self.attr] = r.flag(self.key, getattr(r.default, self.attr))


@dataclass(frozen=True)
class Choice(Field):
    options: tuple[str, ...] = ()

    def read(self, r: Reader, fields: dict) -> None:
        default = getattr(r.default, self.attr)
        text = r.get(self.key, default)
        if text is None:
            fields[self.attr] = default
        elif text not in self.options:
            r.warn(f"{r.name(self.key)}: {_show(text, 20)} is not one of {', '.join(self.options)}; used {default}")
            fields[self.attr] = default
        else:
            fields[self.attr] = text


def run_id(text: str, low: int = 1) -> int | None:
    """A run id: 1 to RUN_ID_DIGITS ASCII digits ("#" before them allowed), at least `low`; else None."""
    t = text.strip().lstrip("#")
    return int(t) if 0 < len(t) <= RUN_ID_DIGITS and t.isascii() and t.isdigit() and int(t) >= low else None


@dataclass(frozen=True)
class Ids(Field):
    """Run ids "3,4" (commas or spaces between them, a "#" before one allowed), distinct, in order: at
    most `most` (the rest left out, said); an id is 1 to RUN_ID_DIGITS ASCII digits and at least `low`
    (a bad one is named and left out). Linear in the text's length."""

    most: int = 8
    low: int = 1

    def write(self, spec: Any) -> dict[str, str]:
        return {self.key: PAIR.join(str(i) for i in getattr(spec, self.attr))}

    def read(self, r: Reader, fields: dict) -> None:
        text = r.get(self.key)
        if text is None:
            fields[self.attr] = getattr(r.default, self.attr)
            return
        ids: dict[int, None] = {}
        for tok in (t for t in text.replace(" ", PAIR).split(PAIR) if t.strip()):
            i = run_id(tok, self.low)
            if i is None:
                r.warn(f"{r.name(self.key)}: {_show(tok.strip(), 20)} is not a run id; left out")
            elif i not in ids and len(ids) == self.most:
                r.warn(f"{r.name(self.key)}: at most {self.most} runs; kept the first {self.most}")
                break
            else:
                ids[i] = None
        fields[self.attr] = tuple(ids)


@dataclass(frozen=True)
class Preset(Field):
    """The preset a view started from: written only where there is one; an unknown name is named and
    dropped (the runs, surface and the rest of the link still open)."""

    def write(self, spec: Any) -> dict[str, str]:
        name = getattr(spec, self.attr)
        return {self.key: name} if name else {}

    def read(self, r: Reader, fields: dict) -> None:
        from .presets import PRESETS  # presets are views themselves: imported when a link is read

        text = r.get(self.key)
        names = [p.name for p in PRESETS]
        if text is None or text == "":
            fields[self.attr] = ""
        elif text in names:
            fields[self.attr] = text
        else:
            r.warn(f"{r.name(self.key)}: there is no preset {_show(text, 30)}; opened the view without its story")
            fields[self.attr] = ""


class SurfaceFields:
    """surface (s), its parameters (sp), the custom formula (f) and the start (x0), read together:
    each depends on the one before."""

    keys = ("s", "sp", "f", "x0")
    names = {"s": "surface", "sp": "surface parameters", "f": "formula", "x0": "start"}

    def write(self, spec: Any) -> dict[str, str]:
        q = {"s": spec.surface}
        if spec.surface_params:
            q["sp"] = _items(spec.surface_params)
        if spec.formula:
            q["f"] = spec.formula
        q["x0"] = AUTO if spec.start is None else fmt(spec.start)
        return q

    def read(self, r: Reader, fields: dict) -> None:
        surface, fell_back = r._surface()
        formula, surface = r._formula(surface)
        fields |= dict(surface=surface, formula=formula)
        fields["surface_params"] = r._surface_params(surface, quiet=fell_back)
        fields["start"] = r._start(r._surface_obj(surface, fields["surface_params"], formula))


class Runs:
    """The runs: r<i> optimizer and ALL hyperparameters, c<i> clipping, sch<i> schedule, sch<i>.<k> the
    later phases of a chained schedule ("cosine@100~T_max:auto~eta_min:0": from step 100 on)."""

    keys: tuple[str, ...] = ()
    names: dict[str, str] = {}

    def write(self, spec: Any) -> dict[str, str]:
        q = {}
        for i, run in enumerate(spec.runs):
            q[f"r{i}"] = _items(run.hparams, run.optimizer)
            q[f"c{i}"] = f"{run.clip}{PAIR}{fmt(run.clip_threshold)}"
            q[f"sch{i}"] = _items(run.schedule_kw, run.schedule)
            for k, (m, name, kw) in enumerate(run.then, 1):
                q[f"sch{i}.{k}"] = _items(kw, phase_head(name, m))
        return q

    def read(self, r: Reader, fields: dict) -> None:
        fields["runs"] = r._runs()


def _entry_names(entry) -> dict[str, str]:
    return getattr(entry, "names", None) or {entry.key: entry.name}


@dataclass(frozen=True)
class View:
    """A page's link format: its spec, its table of entries (in link order) and its words."""

    spec: Callable[..., Any]  # the spec class; spec() is the default view
    entries: tuple
    link: str  # "an explorer link": what an unknown key is "not part of"
    fallback: str  # "view": what "showing the default ..." shows
    run_word: str  # "run" or "optimizer": how warnings name one run
    max_runs: int
    run_key_name: Callable[[int, str], str]  # (index, "optimizer"|"clipping"|"schedule") -> a key's name
    finish: Callable[[Reader, dict], Any] | None = None  # cross-field checks; default: spec(**fields)
    joined: tuple[str, ...] = ()  # keys whose repeated values are read as one list (?runs=1,2&runs=5: 1,2,5)
    max_value: int = 4000  # characters; a longer value is not read at all (a formula is capped lower)

    @property
    def top_keys(self) -> tuple[str, ...]:
        return ("v", *(k for e in self.entries for k in e.keys))

    @property
    def names(self) -> dict[str, str]:
        out = {"v": "link version"}
        for e in self.entries:
            if e.keys:
                out |= _entry_names(e)
        return out

    # -------------------------------------------------------------- writing and reading
    def to_query(self, spec: Any) -> dict[str, str]:
        """Every field of the spec as query parameters, "v" first, then the table's order."""
        q = {"v": str(VERSION)}
        for entry in self.entries:
            q |= entry.write(spec)
        return q

    def query_string(self, spec: Any) -> str:
        """to_query urlencoded (without the leading "?"); ~ : , stay readable, a space becomes %20."""
        return urlencode(self.to_query(spec), safe=ITEM + KV + PAIR + AT, quote_via=quote)

    def from_query(self, params: Mapping[str, str | list[str]], ignore: Iterable[str] = ()) -> tuple[Any, list[str]]:
        """The spec a link describes and a warning for every field not read as written. Never raises.

        params: st.query_params (or any mapping; a key given several times may come as a list, and its
        last value counts, but for the `joined` keys). ignore: keys that belong to something else on the
        page (no warning)."""
        try:
            return Reader(self, params, ignore).read()
        except Exception as e:  # the last resort: a link must never break the page
            return self.unreadable(e)

    def from_query_string(self, qs: str, ignore: Iterable[str] = ()) -> tuple[Any, list[str]]:
        """from_query on a raw query string (with or without the leading "?")."""
        try:
            params = parse_qs(str(qs).lstrip("?"), keep_blank_values=True)
        except Exception as e:  # a link must never break the page
            return self.unreadable(e)
        return self.from_query(params, ignore)

    def unreadable(self, e: Exception) -> tuple[Any, list[str]]:
        return self.spec(), [f"the link could not be read ({type(e).__name__}); showing the default {self.fallback}"]


# ---------------------------------------------------------------- the reader


def _show(text: str, n: int = 40) -> str:
    """A value quoted for a warning, cut short."""
    return repr(text if len(text) <= n else text[:n] + "…")


def _split_items(text: str) -> tuple[str, list[tuple[str, str]], list[str]]:
    """"head~a:1~b:2" -> ("head", [("a", "1"), ("b", "2")], [items without a colon])."""
    return split_items(text, LINK)


def _run_index(key: str) -> int | None:
    """The run a key like r3, c3, sch3 or sch3.1 belongs to (0 .. MAX_RUNS-1, the explorer's most), else None."""
    m = RUN_KEY.fullmatch(key)
    digits = m.group(2) if m else (PHASE_KEY.fullmatch(key) or [None, None])[1]
    if digits is None or len(digits) > 3 or int(digits) >= MAX_RUNS:
        return None
    return int(digits)


def _is_run_key(key: str) -> bool:
    return RUN_KEY.fullmatch(key) is not None or PHASE_KEY.fullmatch(key) is not None


def _domain(kind: str, low: float, high: float, open_high: bool = False, options: tuple = ()) -> str:
    """What a value of this kind must be, for a warning."""
    if kind == "bool":
        return "1 or 0"
    if kind == "choice":
        return f"one of {', '.join(options)}"
    what = {"int": "a whole number", "pair": "two numbers a,b each"}.get(kind, "a number")
    return f"{what} in [{fmt(low)}, {fmt(high)}{')' if open_high else ']'}"


class Reader:
    """One pass over a link's parameters for a view; collects the warnings as it goes."""

    def __init__(self, view: View, params: Any, ignore: Iterable[str]) -> None:
        self.view = view
        self.warnings: list[str] = []
        self._warned: set[str] = set()  # the same warnings as a set: dedup in linear time
        self.versioned = False  # the link carries v: it was written whole
        self.default = view.spec()
        self.values: dict[str, str | None] = {}  # key -> text, or None where unreadable
        self.ignore = {str(k) for k in ignore}
        self._names = view.names
        self._collect(params)

    def name(self, key: str) -> str:
        p = PHASE_KEY.fullmatch(key)
        if p:
            i = _run_index(key)
            if i is None or i >= self.view.max_runs:
                return _show(key, 10)
            return self.view.run_key_name(i, "schedule") + f" phase {int(p.group(2)) + 1} ({key})"
        m = RUN_KEY.fullmatch(key)
        if m:
            i = _run_index(key)
            if i is None or i >= self.view.max_runs:
                return _show(key, 10)
            return self.view.run_key_name(i, {"r": "optimizer", "c": "clipping", "sch": "schedule"}[m.group(1)]) + \
                f" ({key})"
        if key in self._names:
            return key if self._names[key] == key else f"{self._names[key]} ({key})"
        return _show(key, 30)

    def read(self) -> tuple[Any, list[str]]:
        keys = set(self.values)
        if not keys:
            return self.default, self.warnings
        self.versioned = "v" in keys
        self._version()
        v = self.view
        for key in sorted(keys - set(v.top_keys)):
            i = _run_index(key) if _is_run_key(key) else None
            if not _is_run_key(key) or v.max_runs == 0:  # a view without runs has no r0, c0, ...
                self.warn(f"{_show(key, 30)}: not part of {v.link}; ignored")
            elif i is None or i >= v.max_runs:
                self.warn(f"{_show(key, 10)}: at most {v.max_runs} {v.run_word}s (r0 to r{v.max_runs - 1}); ignored")
        fields: dict[str, Any] = {}
        for entry in v.entries:
            entry.read(self, fields)
        if v.finish is not None:
            return v.finish(self, fields)
        try:
            return v.spec(**fields), self.warnings
        except ValueError as e:  # a combination the fields' own checks let through
            self.warn(f"the link's {v.fallback} is invalid ({e}); showing the default {v.fallback}")
            return self.default, self.warnings

    def warn(self, text: str) -> None:
        if text not in self._warned:
            self._warned.add(text)
            self.warnings.append(text)

    # -------------------------------------------------------------- raw values
    def _collect(self, params: Any) -> None:
        if params is None:
            return
        try:
            items = list(params.items()) if hasattr(params, "items") else list(dict(params).items())
        except Exception:  # a mapping that cannot even be iterated
            self.warn("the link's parameters could not be read; showing the default view")
            return
        for key, value in items:
            key = key if isinstance(key, str) else str(key)
            if key in self.ignore:
                continue
            if isinstance(value, (list, tuple)):
                values = [v if isinstance(v, str) else str(v) for v in value]
                if not values:
                    continue
                if key in self.view.joined:
                    values = [PAIR.join(values)]
                if len(set(values)) > 1:
                    self.warn(f"{self.name(key)}: given {len(values)} times; used the last, {_show(values[-1])}")
                value = values[-1]
            elif not isinstance(value, str):
                value = str(value)
            if len(value) > self.view.max_value:
                self.warn(f"{self.name(key)}: {len(value)} characters is too long to read; ignored")
                self.values[key] = None
                continue
            self.values[key] = value

    def get(self, key: str, default: Any = "the default") -> str | None:
        """The field's text, or None where it is missing (it takes its default, silently) or unreadable."""
        return self.values.get(key)

    # -------------------------------------------------------------- the whole link
    def _version(self) -> None:
        if not self.versioned:
            return
        text = self.values["v"] or ""
        v = parse_int(text)
        if v is None or v < 1:
            self.warn(f"link version (v): {_show(text)} is not a version number; read as version {VERSION}")
        elif v > VERSION:
            self.warn(f"this link comes from a newer version of the app (v={v}, this one reads v={VERSION}): "
                      "settings this version does not know are left at their defaults")

    # -------------------------------------------------------------- surface, formula, start
    def _surface(self) -> tuple[str, bool]:
        default = self.default.surface
        text = self.get("s", default)
        if text is None:
            return default, "s" in self.values
        if text not in surface_names():
            self.warn(f"surface (s): unknown surface {_show(text)}; used {default}")
            return default, True
        return text, False

    def _formula(self, surface: str) -> tuple[str, str]:
        text = self.values.get("f") or ""
        if len(text) > MAX_FORMULA:
            self.warn(f"formula (f): {len(text)} characters, more than the {MAX_FORMULA} a formula may have; "
                      f"kept the first {MAX_FORMULA}")
            text = text[:MAX_FORMULA]
        if surface != CUSTOM:
            return text, surface
        if not text.strip():
            self.warn(f"formula (f): the custom surface has no formula; used {self.default.surface}")
            return text, self.default.surface
        try:
            surfaces.parse(text)
        except ValueError as e:  # FormulaError: the parser's own message
            self.warn(f"formula (f): {e}. Your text is kept so you can fix it")
        return text, surface

    def _surface_params(self, surface: str, quiet: bool) -> tuple:
        text = self.values.get("sp")
        if surface == CUSTOM or not surfaces.get(surface).params:
            if text and not quiet:
                self.warn(f"surface parameters (sp): {surface} has none; ignored {_show(text)}")
            return ()
        if text is None:
            return surface_params(surface)
        head, pairs, bad = _split_items(ITEM + text)
        chosen: dict[str, float] = {}
        s = surfaces.get(surface)
        known = {p.name: p for p in s.params}
        for item in bad:
            if not quiet:
                self.warn(f"surface parameters (sp): {_show(item)} is not name:value; ignored")
        for k, v in pairs:
            if quiet:
                continue
            if k not in known:
                self.warn(f"surface parameters (sp): {surface} has no parameter {_show(k, 20)}; ignored")
                continue
            p = known[k]
            x = parse_float(v)
            try:
                if x is None:
                    raise ValueError("not a number")
                s.with_params(**{k: x})
            except ValueError:
                self.warn(f"surface parameter {k} (sp): {_show(v)} is not a number in [{p.low:g}, {p.high:g}]; "
                          f"used {fmt(p.default)}")
                continue
            chosen[k] = x
        return surface_params(surface, chosen)

    def _surface_obj(self, surface: str, params: tuple, formula: str) -> surfaces.Surface | None:
        try:
            return ExplorerSpec(surface=surface, surface_params=params, formula=formula).surface_obj()
        except ValueError:
            return None

    def _start(self, s: surfaces.Surface | None) -> tuple[float, float] | None:
        text = self.get("x0", "the surface's start")
        if text is None or text == AUTO:
            return None
        parts = text.split(PAIR)
        xy = [parse_float(p) for p in parts] if len(parts) == 2 else [None]
        if None in xy:
            self.warn(f"start (x0): {_show(text)} is not two finite numbers x,y; used the surface's start")
            return None
        if s is not None:
            (x0, x1), (y0, y1) = start_box(s)
            if not (x0 <= xy[0] <= x1 and y0 <= xy[1] <= y1):
                self.warn(f"start (x0): {_show(text)} lies too far outside the surface "
                          f"(x in [{x0:g}, {x1:g}], y in [{y0:g}, {y1:g}]); used the surface's start")
                return None
        return (xy[0], xy[1])

    # -------------------------------------------------------------- plain fields
    def number(self, key: str, parse, default, low, high, what: str):
        text = self.get(key, default)
        if text is None:
            return default
        v = parse(text)
        if v is None or not low <= v <= high:
            self.warn(f"{self.name(key)}: {_show(text)} is not {what} from {fmt(low)} to {fmt(high)}; "
                      f"used {fmt(default)}")
            return default
        return v

    def flag(self, key: str, default: bool) -> bool:
        text = self.get(key, default)
        if text is None:
            return default
        v = parse_bool(text)
        if v is None:
            self.warn(f"{self.name(key)}: {_show(text)} is not 1 or 0; used {fmt(default)}")
            return default
        return v

    # -------------------------------------------------------------- runs
    def _runs(self) -> tuple[RunConfig, ...]:
        indices = sorted({i for k in self.values if (i := _run_index(k)) is not None and i < self.view.max_runs})
        runs = []
        for i in indices:
            if f"r{i}" not in self.values:
                self.warn(f"{self.view.run_word} {i + 1}: clipping or schedule given without an optimizer (r{i}); "
                          "ignored")
                continue
            runs.append(self._run(i))
        if not runs:
            return self.default.runs
        return tuple(runs)

    def _fallback(self, i: int) -> RunConfig:
        defaults = self.default.runs
        return defaults[i % len(defaults)]

    def _run(self, i: int) -> RunConfig:
        who = f"{self.view.run_word} {i + 1}"
        fallback = self._fallback(i)
        optimizer, hparams = self._optimizer(i, who, fallback)
        clip, threshold = self._clip(i, who)
        schedule, kw = self._schedule(i, who)
        then = self._phases(i, who)
        try:
            return RunConfig(optimizer, hparams, clip, threshold, schedule, kw, then)
        except ValueError as e:
            if then:  # the phases together may be what is invalid: keep the rest of the run
                try:
                    run = RunConfig(optimizer, hparams, clip, threshold, schedule, kw)
                except ValueError:
                    pass
                else:
                    self.warn(f"{who} schedule (sch{i}.1 ...): its later phases are invalid together ({e}); "
                              "used the first phase alone")
                    return run
            self.warn(f"{who}: invalid ({e}); used {fallback.label()}")
            return fallback

    def _optimizer(self, i: int, who: str, fallback: RunConfig) -> tuple[str, tuple]:
        text = self.values[f"r{i}"]
        if text is None:
            return fallback.optimizer, fallback.hparams
        name, pairs, bad = _split_items(text)
        if name not in optimizers.names():
            self.warn(f"{who} (r{i}): unknown optimizer {_show(name, 20)}; used {fallback.label()}")
            return fallback.optimizer, fallback.hparams
        spec = optimizers.spec(name)
        known = {hp.name: hp for hp in spec.hparams}
        for item in bad:
            self.warn(f"{who} (r{i}): {_show(item)} is not name:value; ignored")
        chosen: dict[str, Any] = {}
        for k, v in pairs:
            if k not in known:
                self.warn(f"{who} (r{i}): {name} has no hyperparameter {_show(k, 20)}; ignored")
                continue
            if k in chosen:
                self.warn(f"{who} (r{i}): {k} given twice; used the first")
                continue
            hp = known[k]
            x = parse_kind(hp.kind, v)
            try:
                if x is None:
                    raise ValueError(f"not a {hp.kind}")
                chosen[k] = hparam_value(name, k, x)
            except ValueError:
                domain = _domain(hp.kind, *hp.valid, hp.open_high)
                self.warn(f"{who} (r{i}): {k} {_show(v)} is not {domain}; used {fmt(hp.default)}")
        return name, tuple(chosen.items())

    def _clip(self, i: int, who: str) -> tuple[str, float]:
        text = self.get(f"c{i}", "none")
        if text is None:
            return "none", 1.0
        kind, _, rest = text.partition(PAIR)
        if kind not in optimizers.clip_kinds():
            self.warn(f"{who} clipping (c{i}): unknown kind {_show(kind, 20)}; used none "
                      f"(choose one of {', '.join(optimizers.clip_kinds())})")
            kind = "none"
        threshold = parse_float(rest)
        if threshold is None or threshold <= 0:
            self.warn(f"{who} clipping (c{i}): threshold {_show(rest)} is not a number > 0; used 1")
            threshold = 1.0
        return kind, threshold

    def _schedule(self, i: int, who: str) -> tuple[str, tuple]:
        text = self.get(f"sch{i}", "constant")
        if text is None:
            return "constant", ()
        name, pairs, bad = _split_items(text)
        if name not in optimizers.schedule_names():
            self.warn(f"{who} schedule (sch{i}): unknown schedule {_show(name, 20)}; used constant "
                      f"(choose one of {', '.join(optimizers.schedule_names())})")
            return "constant", ()
        return name, self._schedule_args(name, pairs, bad, f"{who} schedule (sch{i})")

    def _schedule_args(self, name: str, pairs: list, bad: list, where: str) -> tuple:
        """A schedule's name:value items, each checked on its own (a bad one takes its default)."""
        known = {p.name: p for p in schedule_spec(name).params}
        for item in bad:
            self.warn(f"{where}: {_show(item)} is not name:value; ignored")
        chosen: dict[str, Any] = {}
        for k, v in pairs:
            if k not in known:
                self.warn(f"{where}: {name} has no argument {_show(k, 20)}; ignored")
                continue
            if k in chosen:
                self.warn(f"{where}: {k} given twice; used the first")
                continue
            p = known[k]
            x = None if v == AUTO else parse_kind(p.kind, v, p.options)
            try:
                if x is None and v != AUTO:
                    raise ValueError(f"not a {p.kind}")
                chosen[k] = schedule_value(name, k, x)
            except ValueError as e:
                self.warn(f"{where}: {k} {_show(v)} is invalid ({e}); used {fmt(p.default)}")
        return tuple(chosen.items())

    def _phases(self, i: int, who: str) -> tuple:
        """The later phases sch<i>.1, sch<i>.2, ... in order; a phase that cannot be read, or does not start
        after the one before it, is left out with a warning (the phases before it are kept)."""
        found = sorted(int(m.group(2)) for key in self.values
                       if (m := PHASE_KEY.fullmatch(key)) and _run_index(key) == i)
        out: list[tuple[int, str, tuple]] = []
        previous = 0
        for k in found:
            key = f"sch{i}.{k}"
            where = f"{who} schedule phase {k + 1} ({key})"
            if k >= MAX_PHASES:
                self.warn(f"{where}: a schedule has at most {MAX_PHASES} phases (sch{i} to sch{i}.{MAX_PHASES - 1}); "
                          "ignored")
                continue
            text = self.values[key]
            if text is None:
                continue
            head, pairs, bad = _split_items(text)
            name, step = split_phase_head(head)
            if name not in optimizers.schedule_names():
                self.warn(f"{where}: unknown schedule {_show(name, 20)}; ignored this phase "
                          f"(choose one of {', '.join(optimizers.schedule_names())})")
                continue
            m = None if step is None else parse_int(step)
            if m is None or not previous < m <= MAX_STEPS_IN_LINK:
                self.warn(f"{where}: {_show(head, 30)} does not say the step it starts at as {name}{AT}STEP, a "
                          f"whole number after {previous} (the start of the phase before it); ignored this phase")
                continue
            out.append((m, name, self._schedule_args(name, pairs, bad, where)))
            previous = m
        return tuple(out)
