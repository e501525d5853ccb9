"""Streamlit widgets generated from the registries: a run editor (optimizer + hyperparameters +
clipping + schedule) shared by the explorer, the sweeps and the training pages.

Every widget has a key under a prefix; `seed_state` writes a spec's values into those keys (on
first load from a link, or when a preset is loaded) and the widgets then read their state, so
a rerun never resets what a person set. Values come back as plain Python numbers.
"""
from __future__ import annotations

import secrets
from typing import Any

import streamlit as st

import deploy
import optimizers
from optimizers.chain import MAX_PHASES
from optimizers.schedules import schedule_spec

from .spec import RunConfig
from .text import md
from .ticks import fmt, linear_range, log_options
from .train_spec import NO_PHASE, auto_start, may_control, phase_keys, phases_from_state, run_from_state

AUTO = None  # a schedule argument derived from the run (cosine's T_max = steps)


def session_owner() -> str:
    """A random id for this browser session (kept across its pages): the owner of the training runs
    it launches, so on a public server only this session may cancel or delete them."""
    return st.session_state.setdefault("owner_token", secrets.token_hex(16))


def may_change(run) -> bool:
    """Whether this browser session may cancel or delete the run (a store dict): anyone locally, on a
    public server only the session that started it (ui.train_spec.may_control)."""
    return may_control(run, session_owner(), deploy.settings().public)


def clear_state(prefix: str) -> None:
    for k in [k for k in st.session_state if isinstance(k, str) and k.startswith(prefix)]:
        del st.session_state[k]


def run_expander(prefix: str, n: int, prev: RunConfig, expanded: bool = False, lazy: bool = False):
    """The collapsible editor of run n (its widgets under `prefix`): titled from the widgets' newest
    values (the previous rerun's would lag one edit) and keyed, so a new title is the same expander
    and it stays open, with the keyboard focus, while it is edited.

    lazy: a closed editor renders nothing (opening it reruns the page; its `.open` says which): every
    rerun of a page of several runs would otherwise send and draw every run's widgets. While it is
    closed its widgets' state lapses, so `prev` is the run, and opening it seeds them from `prev`.
    A lazy editor is a widget whose identity includes its title, and a new title would be a new
    expander, closed and without the keyboard focus: so while it is open its title stays the one it
    had when it opened (the chart's legend follows the values), and it follows the run again once closed."""
    ss = st.session_state
    if lazy:
        is_open, was_open = bool(ss.get(prefix + "open")), bool(ss.get(prefix + "seeded"))
        if is_open and not was_open:
            seed_run_state(prefix, prev)  # the widgets appear with the run's values, not the registry's defaults
        ss[prefix + "seeded"] = is_open
        # the widgets' state is the run's while open, and in the rerun that closes it (a change made as it
        # closed counts); later their keys hold what was last seeded, not the run
        ss[prefix + "live"] = is_open or was_open
        title = f"Run {n + 1}: {kept_run(prefix, prev).label()}"
        if is_open and ss.get(prefix + "title"):
            title = ss[prefix + "title"]  # as it was when it opened
        ss[prefix + "title"] = title
    else:
        title = f"Run {n + 1}: {kept_run(prefix, prev).label()}"
    return st.expander(md(title), expanded=expanded, key=prefix + "open", on_change="rerun" if lazy else "ignore")


def kept_run(prefix: str, prev: RunConfig) -> RunConfig:
    """The run its editor's widgets hold (also in the rerun that closes a lazy editor: the change made as
    it closed is kept), else `prev`."""
    if f"{prefix}opt" not in st.session_state or not st.session_state.get(prefix + "live", True):
        return prev
    try:
        return run_from_state(prefix, st.session_state, prev)
    except (ValueError, TypeError):
        return prev


def seed_run_state(prefix: str, run: RunConfig) -> None:
    """Write a RunConfig into the editor's widget keys (overwriting)."""
    ss = st.session_state
    ss[f"{prefix}opt"] = run.optimizer
    for name, v in run.hparams:
        if isinstance(v, tuple):
            for i, e in enumerate(v):
                ss[f"{prefix}hp.{run.optimizer}.{name}.{i}"] = e
        else:
            ss[f"{prefix}hp.{run.optimizer}.{name}"] = v
    ss[f"{prefix}clip"] = run.clip
    ss[f"{prefix}clip_thr"] = run.clip_threshold
    ss[f"{prefix}sched"] = run.schedule
    for name, v in run.schedule_kw:
        ss[f"{prefix}skw.{run.schedule}.{name}"] = v
    name, kw, start = run.schedule, run.schedule_kw, 0
    for k in range(1, MAX_PHASES):  # the later phases of a chained schedule; the first missing one: none
        k_name, k_at, k_prefix = phase_keys(prefix, k)
        if k > len(run.then):
            ss[k_name] = NO_PHASE
            continue
        m, phase, phase_kw = run.then[k - 1]
        ss[k_name] = phase
        ss[k_at] = None if m == auto_start(name, kw, start) else m  # blank: follows the warm-up's length
        for arg, v in phase_kw:
            ss[f"{k_prefix}skw.{phase}.{arg}"] = v
        name, kw, start = phase, phase_kw, m


def number(label: str, key: str, default: float, low: float, high: float, log: bool, kind: str,
           help: str = "", **kw: Any):
    """A slider for one number: log sliders step through round values; ints get integer sliders."""
    value = st.session_state.setdefault(key, default)
    if kind == "bool":
        return st.checkbox(label, key=key, help=help, **kw)
    if kind == "int":
        lo, hi = int(min(low, value)), int(max(high, value, low + 1))
        return int(st.slider(label, lo, hi, key=key, help=help, **kw))
    if log and low > 0 and (value is None or value > 0):
        opts = log_options(low, high, value)
        return st.select_slider(label, opts, key=key, format_func=fmt, help=help, **kw)
    lo, hi, step = linear_range(low, high, value)
    return st.slider(label, lo, hi, key=key, step=step, format="%g", help=help, **kw)


def hparam_widgets(prefix: str, optimizer: str) -> dict:
    """One widget per hyperparameter of `optimizer` (pairs get two); returns {name: value}."""
    out = {}
    for hp in optimizers.spec(optimizer).hparams:
        key = f"{prefix}hp.{optimizer}.{hp.name}"
        if hp.kind == "pair":
            out[hp.name] = tuple(
                number(f"{hp.name}[{i}]", f"{key}.{i}", hp.default[i], hp.low, hp.high, hp.log, "float", hp.help)
                for i in range(2)
            )
        else:
            out[hp.name] = number(hp.name, key, hp.default, hp.low, hp.high, hp.log, hp.kind, hp.help)
    return out


def schedule_widgets(prefix: str, schedule: str) -> dict:
    """One widget per argument of `schedule`; returns {name: value}. Arguments marked advanced (the
    "constant" schedule's ConstantLR factor and total_iters) sit in a collapsed area whose label says
    their values and whose text says what they do: they are kept and sent as before, just not in the way."""
    spec = schedule_spec(schedule)
    out = {p.name: schedule_widget(prefix, schedule, p) for p in spec.params if not p.advanced}
    tucked = [p for p in spec.params if p.advanced]
    if tucked:
        # keyed: its title shows the values, and a new title must not close it while it is edited
        with st.expander(advanced_label(prefix, schedule, tucked), expanded=False, key=f"{prefix}adv.{schedule}"):
            st.caption(md(advanced_text(schedule)))
            out.update((p.name, schedule_widget(prefix, schedule, p)) for p in tucked)
    return {p.name: out[p.name] for p in spec.params}  # the spec's order, as before


def advanced_label(prefix: str, schedule: str, params) -> str:
    """advanced_title with the values the widgets hold now."""
    values = [(p.name, st.session_state.get(f"{prefix}skw.{schedule}.{p.name}", p.default)) for p in params]
    return advanced_title(schedule, values)


def advanced_title(schedule: str, values) -> str:
    """The collapsed area's label: 'ConstantLR settings (advanced): factor 1, total_iters 5'."""
    torch_class = schedule_spec(schedule).reference.rsplit(".", 1)[-1]
    return md(f"{torch_class} settings (advanced): " + ", ".join(f"{name} {value_text(v)}" for name, v in values))


def value_text(v) -> str:
    return "auto" if v is AUTO else (fmt(v) if isinstance(v, float) else str(v))


def advanced_text(schedule: str) -> str:
    """What the advanced arguments do, in words, and the torch class they are passed to."""
    spec = schedule_spec(schedule)
    return f"Passed to {spec.reference}. " + " ".join(f"{p.name}: {p.help}." for p in spec.params if p.advanced)


def schedule_widget(prefix: str, schedule: str, p):
    key = f"{prefix}skw.{schedule}.{p.name}"
    if p.kind == "choice":
        st.session_state.setdefault(key, p.default)
        return st.selectbox(p.name, p.options, key=key, help=p.help)
    if p.default is AUTO or st.session_state.get(key, p.default) is AUTO:
        # derived by default (from the steps or the lr): a blank box means "auto"
        st.session_state.setdefault(key, None)
        v = st.number_input(p.name, key=key, value=None, placeholder=f"auto: {p.derived}",
                            step=1 if p.kind == "int" else None, help=p.help)
        return None if v is None else (int(v) if p.kind == "int" else float(v))
    return number(p.name, key, p.default, p.low, p.high, p.log, p.kind, p.help)


def phase_widgets(prefix: str, first: str, first_kw: dict, fallback: RunConfig) -> None:
    """A chained schedule, read as a sentence: "then" another schedule "from step" N (blank: right after
    the warm-up before it), with its own arguments, "and then" ... up to MAX_PHASES phases (torch's
    SequentialLR; each phase counts its steps from its own start). The values stay in the keys that
    ui.train_spec.phases_from_state reads."""
    ss = st.session_state
    name, kw, start = first, first_kw, 0
    for k in range(1, MAX_PHASES):
        seeded = fallback.then[k - 1] if k <= len(fallback.then) else None
        k_name, k_at, k_prefix = phase_keys(prefix, k)
        ss.setdefault(k_name, seeded[1] if seeded else NO_PHASE)
        nxt = st.selectbox("then" if k == 1 else "and then", [NO_PHASE, *optimizers.schedule_names()], key=k_name,
                           format_func=lambda n: "nothing more (this schedule to the end)" if n == NO_PHASE
                           else f"{n}: {schedule_spec(n).title}",
                           help="chain another schedule after this one (torch's SequentialLR): it takes over from "
                                "the step you give, counting its own steps from there, and scales the same lr")
        if nxt == NO_PHASE:
            return
        auto = auto_start(name, kw, start)
        ss.setdefault(k_at, None if seeded is None or seeded[0] == auto else seeded[0])
        at = st.number_input("from step", min_value=1, step=1, value=None, key=k_at,
                             placeholder=f"blank: step {auto}, where the warm-up ends" if auto is not None
                             else "the step where it takes over",
                             help=f"the step where {nxt} takes over; its derived arguments (auto) come from "
                                  "its own length, up to the next phase or the end of the run")
        kw = schedule_widgets(k_prefix, nxt)
        name, start = nxt, int(at) if at is not None else (auto or start + 1)


def run_editor(prefix: str, fallback: RunConfig) -> RunConfig:
    """The editor for one run; returns the RunConfig it shows (or `fallback`, with a message, if invalid)."""
    names = optimizers.names()
    st.session_state.setdefault(f"{prefix}opt", fallback.optimizer)
    opt = st.selectbox("optimizer", names, key=f"{prefix}opt",
                       format_func=lambda n: f"{optimizers.spec(n).title} ({n})")
    spec = optimizers.spec(opt)
    st.caption(f"{spec.paper} · equals `{spec.reference}`")
    hp = hparam_widgets(prefix, opt)
    c1, c2 = st.columns(2)
    with c1:
        st.session_state.setdefault(f"{prefix}clip", fallback.clip)
        clip = st.selectbox("gradient clipping", optimizers.clip_kinds(), key=f"{prefix}clip")
    with c2:
        thr = number("clip threshold", f"{prefix}clip_thr", fallback.clip_threshold, 1e-3, 1e3, True, "float",
                     "max gradient norm (norm), gamma (smooth) or max |component| (value)",
                     disabled=clip == "none")
    st.session_state.setdefault(f"{prefix}sched", fallback.schedule)
    sched = st.selectbox("learning-rate schedule", optimizers.schedule_names(), key=f"{prefix}sched",
                         format_func=lambda n: f"{n}: {schedule_spec(n).title}")
    skw = schedule_widgets(prefix, sched)
    phase_widgets(prefix, sched, skw, fallback)
    try:
        then = phases_from_state(prefix, st.session_state, sched, tuple(skw.items()), fallback)
        return RunConfig(opt, tuple(hp.items()), clip, thr, sched, tuple(skw.items()), then)
    except ValueError as e:
        st.error(f"{md(e)}. The run keeps its previous settings until this is fixed.")
        return fallback


# ---------------------------------------------------------------- links: one calm message, a link to copy


def link_message(prefix: str, spec: Any) -> None:
    """One calm message for a link that could not be read whole: how many settings fell back to their
    defaults and why (in a collapsed list), dismissible, and gone once the view changes (the page keeps
    (the view the link gave, its warnings) in state[prefix + "link_read"])."""
    ss = st.session_state
    view, warnings = ss.get(prefix + "link_read") or (None, ())
    if not warnings or ss.get(prefix + "link_dismissed") or spec != view:
        return
    n = len(warnings)
    with st.container(border=True):
        st.warning(f"This link was opened in part: {n} of its settings could not be used as written, so "
                   f"{'it shows its default' if n == 1 else 'they show their defaults'}. Everything else is as "
                   "shared.")
        with st.expander("what fell back, and why"):
            for w in warnings:
                st.text(f"• {w}")
        st.button("dismiss", key=prefix + "link_dismiss", on_click=_dismiss, args=(prefix,))


def _dismiss(prefix: str) -> None:
    st.session_state[prefix + "link_dismissed"] = True


def share_box(query: str, what: str) -> None:
    """The full link of this page's current view, in a box with a copy button (st.code's)."""
    base = st.context.url or ""  # the page's address without its query (None outside a browser)
    st.caption(f"This {what} as a link: copy it with the button in the box's corner "
               "(the address bar holds it too).")
    st.code(f"{base}?{query}", language=None, wrap_lines=True)


def within_limits(label: str, value: Any, low: float | None, high: float | None) -> Any:
    """A typed number brought within [low, high], saying so beside the input: a value outside a limit is
    never replaced silently (the box keeps what the person typed; the page uses the limit)."""
    if value is None:
        return value
    if high is not None and value > high:
        st.warning(f"{label}: {fmt(value)} is more than {fmt(high)}, the most allowed here: using {fmt(high)}.")
        return type(value)(high)
    if low is not None and value < low:
        st.warning(f"{label}: {fmt(value)} is less than {fmt(low)}, the least allowed here: using {fmt(low)}.")
        return type(value)(low)
    return value
