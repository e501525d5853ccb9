"""Sweeps: hyperparameter maps, robustness over the lr range, basins of attraction.

Thin: widgets -> ui.SweepSpec -> cached trajectories calls -> trajectories.stats summaries and
plots.sweeps figures. The URL always holds the sweep that is shown (ui.sweep_links); a shared link
opens it, bad fields warn.
"""
from __future__ import annotations

import dataclasses
import functools
import time

import streamlit as st

import deploy
import optimizers
import surfaces
from optimizers.chain import MAX_PHASES
from optimizers.schedules import schedule_spec
from plots.numbers import number_text
from plots.sweeps import basins_figure, cell_from_point, map_figure, robustness_figure
from trajectories.limits import TimeLimit, seconds_text
from trajectories.stats import best_cell, cell_stats, robustness
from ui import slots
from ui.spec import CUSTOM, RunConfig, surface_names, surface_title
from ui.sweep_links import cell_url, from_explorer_query, from_query, is_explorer_query, query_string, to_query
from ui.sweep_spec import (
    COLORS,
    MAX_AXIS,
    MAX_BASINS_N,
    MAX_OPTIMIZERS,
    MODES,
    SEEDS_RANGE,
    STEPS_RANGE,
    AxisSpec,
    SweepSpec,
    common_targets,
    results_csv,
    run_one,
    target_range,
)
from ui.text import md
from ui.train_spec import NO_PHASE, auto_start
from ui.widgets import advanced_text, advanced_title, link_message, share_box, within_limits

MODE_TITLES = {"map": "Hyperparameter map", "robustness": "Robustness over the lr range",
               "basins": "Basins of attraction"}
COLOR_TITLES = {"final_loss": "final loss", "hit_at": "steps to reach tol", "diverged": "when it diverged"}
W = "sw_w_"  # prefix of every widget key on this page (cleared when a new link is opened)
PROGRESS_WORK = 2_000_000  # run-steps: roughly a second of simulation; bigger requests show a progress bar


# ---------------------------------------------------------------- state: the link and the last sweep run


def load_link() -> None:
    """Read the URL into the submitted spec at the start of a session, or when a new link is opened."""
    current = st.query_params.to_dict()
    if "sw_submitted" in st.session_state and (not current or current == st.session_state.get("sw_written")):
        return
    if is_explorer_query(current):  # arrived from the explorer: sweep what it showed
        spec, warnings = from_explorer_query(current), []
    else:
        spec, warnings = from_query(current)
    for key in [k for k in st.session_state if str(k).startswith(W)]:
        del st.session_state[key]  # the widgets start from the link
    st.session_state["sw_submitted"] = spec
    st.session_state["sw_link_read"] = (spec, tuple(warnings))  # one calm message (ui.widgets.link_message)
    st.session_state.pop("sw_link_dismissed", None)


def write_link(spec: SweepSpec) -> None:
    q = to_query(spec)
    if st.query_params.to_dict() != q:
        st.query_params.from_dict(q)
    st.session_state["sw_written"] = q


def init(key: str, value, options=None) -> str:
    """A widget key, with its first value (from the submitted spec) put in place once; a choice no
    longer among `options` (the optimizers changed what the axes can sweep) goes back to `value`."""
    if key not in st.session_state or (options is not None and st.session_state[key] not in options):
        st.session_state[key] = value
    return key


# ---------------------------------------------------------------- the engine, cached


@st.cache_data(show_spinner=False, max_entries=24)
def run_call(spec: SweepSpec, k: int, _computed=None):
    """Optimizer k's sweep (or basins) for this spec, cached by the spec: numpy-only, picklable results.

    _computed: the result, computed outside (in a worker process, with a progress bar), to be stored.
    Without it a cache miss raises NotCached (an exception is not cached): the engine never runs in
    the server's own thread, whatever the cache evicted.
    """
    if _computed is None:
        raise slots.NotCached((spec, k))
    return _computed


def cached(spec: SweepSpec, k: int):
    """Optimizer k's cached result, or None."""
    try:
        return run_call(spec, k)
    except slots.NotCached:
        return None


def compute(spec: SweepSpec) -> tuple[list, str | None]:
    """Every optimizer's results, each computed in a worker process holding a server-wide slot
    (ui.slots), all of them within one compute limit (deploy.settings().deadline_s).

    Returns (results, stopped): a result per optimizer in order, None for those the compute limit
    stopped (stopped then says why); what finished before it is kept, and cached. A request that
    takes more than a second shows a progress bar; one that waits for a slot says so.
    Raises ValueError (slots.Busy after too long a wait).
    """
    n = len(spec.runs)
    titles = spec.titles()
    results: list = [cached(spec, k) for k in range(n)]
    todo = [k for k in range(n) if results[k] is None]
    note = st.empty()
    bar = st.progress(0.0, text="simulating…") if todo and spec.work() * len(todo) / n > PROGRESS_WORK else None
    budget = deploy.settings().deadline_s  # seconds for the whole request, all optimizers together
    spent = 0.0
    stopped = None
    limit = (f"This server gives each request {seconds_text()} of computation: use fewer cells, steps, seeds or "
             "optimizers to see all of it")

    try:
        for k in todo:
            left = None if budget is None else budget - spent
            if stopped is not None or (left is not None and left <= 0):
                stopped = stopped or f"{titles[k]}: not started, the request's compute time is used up. {limit}"
                continue

            def report(frac: float, k: int = k) -> None:
                done = (todo.index(k) + frac) / len(todo)
                if bar is not None:
                    bar.progress(min(done, 1.0), text=f"simulating {md(titles[k])}… {done:.0%}")

            t0 = time.monotonic()
            try:
                out = slots.compute(run_one, spec, k, on_wait=slots.waiting_note(note, "sweep"), progress=report,
                                    seconds=left)
            except TimeLimit as e:  # keep what finished; the rest is not cached, so it can run later
                stopped = f"{titles[k]}: {e}. {limit}"
                continue
            finally:
                note.empty()
            spent += time.monotonic() - t0
            results[k] = run_call(spec, k, _computed=out)
    finally:
        if bar is not None:
            bar.empty()
    return results, stopped


# ---------------------------------------------------------------- widgets


def number(label: str, key: str, value, min_value=None, max_value=None, **kw):
    """A number input whose limits are checked here, not in the browser: a value outside them is kept in
    the box and reported, and the limit is used (the browser would keep the old value without a word)."""
    init(key, value)
    return within_limits(label, st.number_input(label, key=key, **kw), min_value, max_value)


def float_input(label: str, key: str, value: float, help: str | None = None) -> float:
    return number(label, key, float(value), format="%g", step=None, help=help)


def hparam_widgets(k: int, run: RunConfig, swept: set[str]) -> dict:
    """The fixed hyperparameters of optimizer k (those no axis sweeps), as number inputs."""
    values = dict(run.hparams)
    for hp in optimizers.spec(run.optimizer).hparams:
        key = f"{W}hp{k}_{run.optimizer}_{hp.name}"
        v = values[hp.name]
        if hp.kind == "pair":
            pair = list(v)
            for e in (0, 1):
                if f"{hp.name}.{e}" not in swept:
                    pair[e] = float_input(f"{hp.name}[{e}]", f"{key}.{e}", v[e], hp.help or None)
            values[hp.name] = tuple(pair)
        elif hp.name in swept:
            continue
        elif hp.kind == "bool":
            values[hp.name] = st.checkbox(hp.name, key=init(key, bool(v)), help=hp.help or None)
        elif hp.kind == "int":
            values[hp.name] = int(number(hp.name, key, int(v), step=1, help=hp.help or None))
        else:
            values[hp.name] = float_input(hp.name, key, v, hp.help or None)
    return values


def schedule_widgets(k: int, name: str, kw, swept: set[str], phase: int = 0) -> dict:
    """The arguments of optimizer k's schedule (phase > 0: a later phase of its chain) that no axis sweeps;
    the advanced ones (the constant schedule's ConstantLR factor and total_iters) in a collapsed area that
    says their values and what they do."""
    kw = dict(kw)
    target = "schedule." if not phase else f"schedule.{phase}."
    tag = f"{k}" if not phase else f"{k}.{phase}"  # phase 0 keeps the keys it always had
    params = [p for p in schedule_spec(name).params if f"{target}{p.name}" not in swept]
    for p in params:
        if not p.advanced:
            kw[p.name] = schedule_widget(tag, name, p, kw[p.name], phase)
    tucked = [p for p in params if p.advanced]
    if tucked:
        values = [(p.name, st.session_state.get(f"{W}sch{tag}_{name}_{p.name}", kw[p.name])) for p in tucked]
        with st.expander(advanced_title(name, values), expanded=False, key=f"{W}adv{tag}_{name}"):
            st.caption(md(advanced_text(name)))
            for p in tucked:
                kw[p.name] = schedule_widget(tag, name, p, kw[p.name], phase)
    return kw


def schedule_widget(tag: str, name: str, p, v, phase: int = 0):
    key = f"{W}sch{tag}_{name}_{p.name}"
    label = f"{name}: {p.name}" if not phase else f"phase {phase + 1}, {name}: {p.name}"
    if p.kind == "choice":
        return st.selectbox(label, p.options, key=init(key, v))
    if p.kind == "bool":
        return st.checkbox(label, key=init(key, bool(v)))
    if p.kind == "int":
        got = number(label + (" (empty: auto)" if p.default is None or p.optional else ""), key,
                     None if v is None else int(v), step=1, help=p.help or None)
        return None if got is None else int(got)
    got = number(label + (" (empty: auto)" if p.default is None else ""), key,
                 None if v is None else float(v), format="%g", step=None, help=p.help or None)
    return None if got is None else float(got)


def then_widgets(k: int, base: RunConfig, first: str, steps: int) -> tuple:
    """Optimizer k's chained schedule: a "then" box per later phase (outside the form: what the form holds
    depends on it). Returns the phases, keeping the base run's where the same schedule stays in its place;
    a new phase starts where the warm-up before it ends, else halfway through what is left of the run."""
    out, prev = [], (first, base.schedule_kw if base.schedule == first else (), 0)
    for j in range(1, MAX_PHASES):
        now = base.then[j - 1] if j <= len(base.then) else None
        pick = st.sidebar.selectbox(f"then (phase {j + 1})", [NO_PHASE, *optimizers.schedule_names()],
                                    key=init(f"{W}then{k}.{j}", now[1] if now else NO_PHASE),
                                    format_func=lambda n: "nothing more" if n == NO_PHASE else n)
        if pick == NO_PHASE:
            break
        if now is not None and now[1] == pick and now[0] > prev[2]:
            phase = now
        else:
            start = auto_start(*prev) or prev[2] + max(1, (steps - prev[2]) // 2)
            phase = (start, pick, ())
        out.append(phase)
        prev = (phase[1], phase[2], phase[0])
    return tuple(out)


def phase_widgets(k: int, run: RunConfig, swept: set[str]) -> tuple:
    """Inside the form: each later phase's first step and its arguments no axis sweeps."""
    out = []
    for j, (m, name, kw) in enumerate(run.then, 1):
        start = int(number(f"phase {j + 1} ({name}) from step", f"{W}at{k}.{j}_{name}", int(m), min_value=1,
                           step=1, help="the step where this phase takes over, counting its own steps from there"))
        out.append((start, name, tuple(schedule_widgets(k, name, kw, swept, j).items())))
    return tuple(out)


def axis_widgets(which: str, target: str, current: AxisSpec | None, run: RunConfig, log_only: bool = False) -> AxisSpec:
    """Range, cells and scale of one axis; starts from the link's axis, or the registry's range for the target."""
    if current is not None and current.target == target:
        low, high, n, log = current.low, current.high, current.n, current.log
    else:
        low, high, log = target_range(run, target)
        n = 60 if which == "x" else 40
    key = f"{W}{which}_{target}"
    c1, c2 = st.columns(2)
    with c1:
        low = float_input(f"{which}: from", key + "_lo", low)
    with c2:
        high = float_input(f"{which}: to", key + "_hi", high)
    c3, c4 = st.columns(2)
    with c3:
        n = int(number(f"{which}: cells", key + "_n", int(n), min_value=1, max_value=MAX_AXIS, step=1))
    with c4:
        log = True if log_only else st.checkbox(f"{which}: log scale", key=init(key + "_log", bool(log)))
    return AxisSpec(target, low, high, n, log)


def sidebar(spec: SweepSpec) -> SweepSpec | None:
    """All the widgets; returns the new spec when Run is pressed (None otherwise, or where invalid)."""
    sb = st.sidebar
    # what the form holds depends on these, so they rerun the page at once (nothing is simulated until Run)
    mode = sb.radio("Show", MODES, format_func=MODE_TITLES.get, key=init(f"{W}mode", spec.mode))
    surface = sb.selectbox("Surface", surface_names(), key=init(f"{W}surface", spec.surface),
                           format_func=surface_title)
    with sb:
        count = int(number("Optimizers", f"{W}count", len(spec.runs), min_value=1, max_value=MAX_OPTIMIZERS, step=1))
    runs = []
    for k in range(count):
        base = spec.runs[k] if k < len(spec.runs) else spec.runs[0]
        name = sb.selectbox(f"Optimizer {k + 1}", optimizers.names(), key=init(f"{W}opt{k}", base.optimizer),
                            format_func=lambda n: optimizers.spec(n).title)
        c2, c3 = sb.columns(2)  # the sidebar is narrow: two per row keep the chosen values readable
        clip = c2.selectbox("clipping", optimizers.clip_kinds(), key=init(f"{W}clip{k}", base.clip))
        sched = c3.selectbox("schedule", optimizers.schedule_names(), key=init(f"{W}sched{k}", base.schedule))
        then = then_widgets(k, base, sched, spec.steps)
        same = base.optimizer == name
        runs.append(RunConfig(name, base.hparams if same else (), clip, base.clip_threshold, sched,
                              base.schedule_kw if base.schedule == sched else (), then))
    x_target, y_target = "lr", None
    if mode == "map":
        targets = common_targets(runs)
        x_now = spec.x.target if spec.x.target in targets else "lr"
        x_target = sb.selectbox("x axis sweeps", targets, key=init(f"{W}xt", x_now, targets))
        y_options = ["(none: a 1-D map)"] + [t for t in targets if t != x_target]
        y_now = spec.y.target if spec.y is not None and spec.y.target in y_options else y_options[
            1 if len(y_options) > 1 else 0]
        y_pick = sb.selectbox("y axis sweeps", y_options, key=init(f"{W}yt", y_now, y_options))
        y_target = None if y_pick == y_options[0] else y_pick
        if y_target == x_target:
            y_target = None

    with sb.form("sw_form"):
        fields: dict = {"mode": mode, "surface": surface}
        if surface == CUSTOM:
            fields["formula"] = st.text_input("f(x, y) =", key=init(f"{W}formula", spec.formula or "x**2 + 3*y**2"))
        else:
            fields["formula"] = spec.formula
            s = surfaces.get(surface)
            params = dict(spec.surface_params) if surface == spec.surface else {}
            fields["surface_params"] = tuple(
                (p.name, float_input(f"{surface}: {p.name}", f"{W}sp_{surface}_{p.name}",
                                     params.get(p.name, p.default)))
                for p in s.params)
        if mode != "basins":
            own = st.checkbox("start at the surface's own start", key=init(f"{W}own_start", spec.start is None))
            c1, c2 = st.columns(2)
            own_xy = surfaces.get(surface).start if surface != CUSTOM else (0.0, 0.0)
            sx, sy = spec.start if spec.start is not None and surface == spec.surface else own_xy
            with c1:
                sx = float_input("start x", f"{W}sx_{surface}", sx)
            with c2:
                sy = float_input("start y", f"{W}sy_{surface}", sy)
            fields["start"] = None if own else (sx, sy)
        else:
            fields["start"] = spec.start
        fields["steps"] = int(number("steps", f"{W}steps", spec.steps, min_value=STEPS_RANGE[0],
                                     max_value=STEPS_RANGE[1], step=50))

        swept = {x_target, *([y_target] if y_target else [])} if mode != "basins" else set()
        final_runs = []
        for k, r in enumerate(runs):
            st.markdown(f"**{k + 1}. {optimizers.spec(r.optimizer).title}**")
            hp = hparam_widgets(k, r, swept)
            threshold = r.clip_threshold
            if r.clip != "none" and "clip" not in swept:
                threshold = float_input("clip threshold", f"{W}thr{k}", r.clip_threshold)
            kw = schedule_widgets(k, r.schedule, r.schedule_kw, swept)
            then = phase_widgets(k, r, swept)
            final_runs.append((r.optimizer, tuple(hp.items()), r.clip, threshold, r.schedule, tuple(kw.items()),
                               then))

        st.markdown("**Axes**" if mode == "map" else "**Grid**")
        first = runs[0]
        if mode == "map":
            fields["x"] = axis_widgets("x", x_target, spec.x, first)
            fields["y"] = None if y_target is None else axis_widgets("y", y_target, spec.y, first)
            fields["color"] = st.selectbox("colour", COLORS, format_func=COLOR_TITLES.get,
                                           key=init(f"{W}color", spec.color))
        elif mode == "robustness":
            fields["x"] = axis_widgets("lr", "lr", spec.x, first, log_only=True)
        else:
            fields["basins_n"] = int(number("grid points per side", f"{W}bn", spec.basins_n, min_value=2,
                                            max_value=MAX_BASINS_N, step=10))
        fields["tol"] = float_input("tolerance (loss above the minimum that counts as converged)", f"{W}tol", spec.tol)
        c1, c2 = st.columns(2)
        with c1:
            fields["noise"] = float_input("gradient noise σ", f"{W}noise", spec.noise)
        with c2:
            fields["seeds"] = int(number("seeds", f"{W}seeds", spec.seeds, min_value=SEEDS_RANGE[0],
                                         max_value=SEEDS_RANGE[1], step=1))
        pressed = st.form_submit_button("Run", type="primary")
    if not pressed:
        return None
    try:
        built = [RunConfig(*r) for r in final_runs]
        # fields this mode's form does not show keep their last values (a link keeps every slider)
        carried = dict(x=spec.x, y=spec.y, color=spec.color, basins_n=spec.basins_n, surface_params=())
        return SweepSpec(**{**carried, **fields, "runs": tuple(built)})
    except ValueError as e:
        st.session_state["sw_error"] = str(e)
        return None


# ---------------------------------------------------------------- results


def show_map(spec: SweepSpec, results: list) -> None:
    s = spec.surface_obj()
    titles = spec.titles()
    fig = map_figure(list(zip(titles, results, strict=True)), color=spec.color, min_value=s.min_value,
                     log=tuple(a.log for a in spec.axes))
    event = st.plotly_chart(fig, key="sw_map_chart", on_select="rerun", selection_mode="points")
    names = [a.target for a in spec.axes]
    points = (event.get("selection") or {}).get("points", []) if hasattr(event, "get") else []
    for point in points[:4]:
        cell = cell_from_point(point)
        if cell is None or cell[0] >= len(spec.runs):
            continue
        k, i, j = cell
        values = cell_values(spec, i, j)
        if values is None:
            continue
        where = ", ".join(f"{n} = {number_text(v)}" for n, v in zip(names, values, strict=True))
        st.link_button(f"Open {titles[k]} at {where} in the explorer", cell_url(spec, k, values))
    if not points:
        st.caption("Click a cell to get a link to that exact run in the explorer. Hover for the numbers."
                   + (" With several seeds the colour is the median; the explorer replays seed 0." if spec.seeds > 1
                      else ""))

    rows = {"optimizer": [], **{n: [] for n in names}, "final loss": [], "steps to tol": [], "explorer": []}
    for k, (title, r) in enumerate(zip(titles, results, strict=True)):
        stats = cell_stats(r)
        b = best_cell(stats, spec.color)
        if b is None:
            continue
        i, j = b
        values = cell_values(spec, i, j)
        rows["optimizer"].append(title)
        for n, v in zip(names, values, strict=True):
            rows[n].append(number_text(v))
        rows["final loss"].append(number_text(float(stats.loss[i, j])))
        hit = stats.hit_at[i, j]
        rows["steps to tol"].append(number_text(int(hit) if hit < float("inf") else None))
        rows["explorer"].append(cell_url(spec, k, values))
    if rows["optimizer"]:
        st.markdown("**Each optimizer's best cell**" + (" (median over seeds)" if spec.seeds > 1 else ""))
        st.dataframe(rows, hide_index=True, column_config={
            "explorer": st.column_config.LinkColumn("explorer", display_text="open in explorer"),
        })


def cell_values(spec: SweepSpec, i: int, j: int) -> tuple[float, ...] | None:
    values = [a.values() for a in spec.axes]
    if i >= len(values[0]) or (len(values) > 1 and j >= len(values[1])):
        return None
    return (values[0][i],) if len(values) == 1 else (values[0][i], values[1][j])


def show_robustness(spec: SweepSpec, results: list) -> None:
    titles = spec.titles()
    st.plotly_chart(robustness_figure(list(zip(titles, results, strict=True))), key="sw_robust_chart")
    rows = {"optimizer": [], "share of the lr range": [], "longest interval": [], "width (decades)": []}
    for title, r in zip(titles, results, strict=True):
        rb = robustness(r)
        rows["optimizer"].append(title)
        rows["share of the lr range"].append(number_text(rb.fraction, percent=True))
        lo_hi = "none" if rb.interval is None else f"{number_text(rb.interval[0])} … {number_text(rb.interval[1])}"
        rows["longest interval"].append(lo_hi)
        rows["width (decades)"].append(number_text(rb.decades, 3))
    st.dataframe(rows, hide_index=True)


def show_basins(spec: SweepSpec, results: list) -> None:
    s = spec.surface_obj()
    fig = basins_figure(list(zip(spec.titles(), results, strict=True)), minima=s.minima, bounds=s.bounds)
    st.plotly_chart(fig, key="sw_basins_chart")
    if not s.minima:
        st.caption("This surface has no known minimum: every run that stays finite counts as not converged.")


def main() -> None:
    st.title("Sweeps")
    st.caption("Every configuration is one row of one batched simulation: whole maps of hyperparameters, "
               "not one tuned point per optimizer.")
    load_link()
    note = st.empty()
    spec: SweepSpec = st.session_state["sw_submitted"]
    new = sidebar(spec)
    error = st.session_state.pop("sw_error", None)
    if error:
        st.error(f"Not run: {md(error)}")
    if new is not None:
        spec = st.session_state["sw_submitted"] = new
    write_link(spec)
    with note:
        link_message("sw_", spec)

    if spec.surface == CUSTOM:
        try:
            spec.surface_obj()
        except ValueError as e:  # FormulaError: the parser's message, beside the person's text
            st.sidebar.error(f"Formula: {md(e)}")
            st.error(f"The formula does not parse: {md(e)}")
            return
    axes = " × ".join(f"{a.target} ({a.n})" for a in spec.axes)
    c1, c2 = st.columns([4, 1])
    c1.subheader(MODE_TITLES[spec.mode] + (f": {md(axes)}" if spec.mode == "map" else ""))
    with c2.popover("Share", width="stretch"):
        share_box(query_string(spec), "sweep")
    t0 = time.perf_counter()
    try:
        results, stopped = compute(spec)
    except ValueError as e:  # the engine's caps, a bad setting, a busy server: say what, keep the page
        st.error(md(e))
        return
    except Exception as e:  # never a traceback on the page
        st.error(f"The sweep failed: {md(type(e).__name__)}: {md(e)}")
        return
    elapsed = time.perf_counter() - t0
    if stopped is not None:
        finished = [k for k, r in enumerate(results) if r is not None]
        if not finished:
            st.error(f"Stopped: {md(stopped)}.")
            return
        st.warning(f"Stopped: {md(stopped)}. Showing the optimizers that finished.")
        spec = dataclasses.replace(spec, runs=tuple(spec.runs[k] for k in finished))
        results = [results[k] for k in finished]
    runs = spec.work() // spec.steps
    st.caption(f"{runs:,} runs × {spec.steps:,} steps in {elapsed:.2f} s"
               + (" (cached)" if elapsed < 0.05 else ""))

    if spec.mode == "map":
        show_map(spec, results)
    elif spec.mode == "robustness":
        show_robustness(spec, results)
    else:
        show_basins(spec, results)
    st.download_button("Download the results (CSV)", functools.partial(results_csv, spec, tuple(results)),
                       file_name=f"sweep_{spec.mode}_{spec.surface}.csv", mime="text/csv", key="sw_csv")
    st.caption("The address bar holds this whole sweep: copy it to share exactly this view.")


main()
