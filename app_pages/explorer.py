"""The explorer: several optimizer runs race on a 2D loss surface, with the diagnostics that explain
the difference. Widgets -> a frozen ExplorerSpec <-> the URL -> cached race -> the player. No math here.

The race is drawn by the page's own player (ui/race_view.js): it gets each run's numbers once as
typed arrays (ui/wire.py), animates in the browser, and lets the tune strip under the chart drag any
knob of a run while the browser switches between trajectories the engine computed for every value
the knob stops at (trajectories.bank, computed after the rest of the page and brought by a second,
empty mount at its end). Letting go writes the value into the run's editor (the sidebar) and the URL.
"""
from __future__ import annotations

import dataclasses
import functools
import time

import streamlit as st

import deploy
import plots
import surfaces
import trajectories
import ui
from trajectories.limits import deadline, seconds_text
from ui import player, race_rows, slots
from ui.knobs import committed, knobs, noise_knob, with_value
from ui.latex import fit as fit_latex
from ui.race_view import mount, race_view
from ui.scene import scene_payload
from ui.spec import CUSTOM, clicked_start, surface_names, surface_title
from ui.text import md
from ui.widgets import (
    clear_state,
    kept_run,
    link_message,
    number,
    run_editor,
    run_expander,
    seed_run_state,
    share_box,
    within_limits,
)
from ui.wire import Wire, forget

P = "ex_"  # every widget key of this page starts with it
WIRE = "player_sent"  # the arrays this browser session has received (ui/wire.py): outside P, as a preset or a
# link clears the view's state (clear_state(P)), not what the browser holds
GRID = player.GRID  # contour image resolution
TOL = 1e-6  # "reached the minimum" for the summary
HEAVY = 4000  # run-steps above which a race shows a progress bar and takes a server-wide slot (ui.slots)
SUMMARY_NOTE = ("steps: the updates taken; evaluations: what they cost, in loss values (f: zeroth-order methods) "
                "and gradients (∇f: two per step for SAM); sharpness: the largest eigenvalue of the Hessian at the "
                "run's final point (power iteration on Hessian-vector products).")
HEAVY_BANK = 3 * 10**5  # bank rows x steps above which the tune strip's bank is computed in a slot
GRID_3D = 80  # the 3D view's surface resolution (80 x 80 reads as smooth: 6 241 cells, 51 kB as float32 z + colour)


# ---------------------------------------------------------------- state <-> spec
def load_spec(spec: ui.ExplorerSpec, preset: str = "") -> None:
    """Write a whole spec into the widgets' state (first load from a link, or a preset)."""
    clear_state(P)
    ss = st.session_state
    ss[P + "loaded"] = True
    ss[P + "preset"] = preset or spec.preset
    ss[P + "surface"] = spec.surface
    for name, v in spec.surface_params:
        ss[f"{P}sp.{spec.surface}.{name}"] = v
    ss[P + "formula"] = spec.formula
    ss[P + "start_auto"] = spec.start is None
    if spec.start is not None:
        ss[P + "x0"], ss[P + "y0"] = spec.start
    ss[P + "steps"], ss[P + "noise"], ss[P + "seed"] = spec.steps, spec.noise, spec.seed
    ss[P + "view3d"], ss[P + "arrows"] = spec.view3d, spec.arrows
    ss[P + "run_ids"] = list(range(len(spec.runs)))
    for i, run in enumerate(spec.runs):
        seed_run_state(f"{P}r{i}_", run)
    ss[P + "runs_fallback"] = {i: r for i, r in enumerate(spec.runs)}


def add_run() -> None:
    ids = st.session_state[P + "run_ids"]
    if len(ids) < ui.MAX_RUNS:
        new = max(ids, default=-1) + 1
        last = st.session_state[P + "runs_fallback"].get(ids[-1]) if ids else None
        run = last or ui.default_run("adam")
        seed_run_state(f"{P}r{new}_", run)
        st.session_state[P + "runs_fallback"][new] = run
        ids.append(new)


def remove_run(i: int) -> None:
    ids = st.session_state[P + "run_ids"]
    if len(ids) > 1 and i in ids:
        ids.remove(i)


def _trigger(name: str):
    """The player's trigger `name` in this rerun (None if absent): anything at all may arrive from the page."""
    state = st.session_state.get(P + "race")
    try:
        return state.get(name) if state is not None else None
    except (AttributeError, TypeError):
        return None


def _run_now(i: int) -> ui.RunConfig:
    """Run slot i as it is now: its editor's widgets where it is open (a callback runs before they
    render), else the run it keeps."""
    return kept_run(f"{P}r{i}_", st.session_state[P + "runs_fallback"].get(i) or ui.default_run("adam"))


def commit_knob() -> None:
    """A knob let go in the tune strip: {run, target, value} -> that run's editor (and so the URL), if it is
    one of the knob's own stops (ui.knobs.committed); anything else is ignored."""
    v = _trigger("commit")
    if not isinstance(v, dict):
        return
    ss = st.session_state
    if v.get("target") == "noise":
        got = committed([noise_knob(float(ss.get(P + "noise") or 0.0))], "noise", v.get("value"))
        if got is not None:
            ss[P + got[0]] = got[1]
        return
    ids, run = ss.get(P + "run_ids", []), v.get("run")
    if isinstance(run, bool) or not isinstance(run, int) or not 0 <= run < len(ids):
        return
    i, now = ids[run], _run_now(ids[run])
    got = committed(knobs(now), v.get("target"), v.get("value"))
    if got is None:
        return
    try:
        new = with_value(now, v["target"], got[1])
    except ValueError:
        return
    ss[P + "runs_fallback"][i] = new  # the run as a closed editor keeps it
    seed_run_state(f"{P}r{i}_", new)  # ... and as an open one shows it


def start_from_click() -> None:
    """A click on the map: {x, y} -> the start (ui.spec.clicked_start checks and rounds it)."""
    ss = st.session_state
    try:
        s = ui.ExplorerSpec(surface=ss[P + "surface"], formula=ss.get(P + "formula", ""), runs=ui.DEFAULT_RUNS)
        xy = clicked_start(_trigger("start"), s.surface_obj())
    except (ValueError, KeyError):
        return
    if xy is not None:
        ss[P + "x0"], ss[P + "y0"] = xy
        ss[P + "start_auto"] = False


def resend(mount_key: str):
    """on_missing of a mount: the browser lacks some arrays it named (it dropped them, or a message never
    arrived): they are sent again."""
    return functools.partial(_resend, mount_key)


def _resend(mount_key: str) -> None:
    state = st.session_state.get(P + mount_key)
    try:
        keys = state.get("missing") if state is not None else None
    except (AttributeError, TypeError):
        keys = None
    forget(st.session_state.setdefault(WIRE, {}), keys)


def _noop() -> None:
    """The tune strip's selected run is read where the page renders; nothing to do before."""


# ---------------------------------------------------------------- cached computations
def heavy(spec: ui.ExplorerSpec) -> bool:
    """Whether computing this view takes a server-wide slot and a worker process (ui.slots): a long
    race, or a custom formula (whose cost per step can be 100x a catalog surface's)."""
    return len(spec.runs) * spec.steps > HEAVY or spec.surface == CUSTOM


@st.cache_data(max_entries=64, show_spinner=False)
def race(spec: ui.ExplorerSpec, _computed=None) -> trajectories.Result:
    """The race, cached by the spec: a light view computed here, in the session's thread, within the
    server's compute limit; a heavy one only stored here (_computed), a miss raising NotCached (an
    exception is not cached). Cut short by the compute limit a result is cached as it is
    (result.stopped_at): an expensive view costs the server once, not on every rerun."""
    if _computed is not None:
        return _computed
    if heavy(spec):  # a worker's job, unless every run was raced before (by any view, in any order)
        known = race_rows.known(spec)
        if known is None:
            raise slots.NotCached(spec)
        return known
    return race_rows.race(spec, deadline=deadline())  # a run the server has raced before costs nothing


def simulate(spec: ui.ExplorerSpec) -> trajectories.Result:
    """The race: from the cache, or computed (a heavy view in a worker process holding a slot, with a
    progress bar and a visible wait for the slot), within the server's compute limit. Raises
    ValueError (slots.Busy included) with a message."""
    try:
        return race(spec)
    except slots.NotCached:
        pass
    note = st.empty()
    bar = st.progress(0.0, text="simulating")
    try:
        result = slots.compute(spec.race, on_wait=slots.waiting_note(note, "view"),
                               seconds=deploy.settings().deadline_s,
                               progress=lambda f: bar.progress(min(1.0, f), text="simulating"))
    finally:
        note.empty()
        bar.empty()
    race_rows.keep(spec, spec.runs, result)  # its rows serve later views as a light race's do
    return race(spec, _computed=result)


@st.cache_data(max_entries=32, show_spinner=False)
def surface_grid(surface: str, params: tuple, formula: str):
    s = dataclasses.replace(ui.ExplorerSpec(), surface=surface, surface_params=params, formula=formula,
                            runs=ui.DEFAULT_RUNS).surface_obj()
    return trajectories.grid(s, GRID)


@st.cache_data(max_entries=32, show_spinner=False)
def surface_picture(surface: str, params: tuple, formula: str) -> dict:
    """The map's background as a layout image (a PNG: made once a surface, not once a race)."""
    return plots.surface_layout_image(surface_grid(surface, params, formula))


@st.cache_data(max_entries=32, show_spinner=False)
def figures(spec: ui.ExplorerSpec, _result: trajectories.Result) -> dict:
    s = spec.surface_obj()
    grid = surface_grid(spec.surface, spec.surface_params, spec.formula)
    parts = player.race_parts(spec, _result, grid, surface_picture(spec.surface, spec.surface_params, spec.formula))
    race_ = plots.as_race(_result, parts["labels"])
    out = {"parts": parts, "smooth": plots.smoothness_figure(race_), "race_input": race_,
           "summary": plots.summary_rows(race_, minima=s.minima, min_value=s.min_value, tol=TOL)}
    return out


@st.cache_data(max_entries=16, show_spinner=False)
def scene3d(spec: ui.ExplorerSpec, _result: trajectories.Result) -> dict:
    """The 3D view's numbers (plots.scene_data), computed when its tab is open."""
    s = spec.surface_obj()
    race_ = plots.as_race(_result, [f"{i + 1}. {r.label()}" for i, r in enumerate(spec.runs)])
    return plots.scene_data(trajectories.grid(s, GRID_3D), race_, minima=s.minima)


def export_html(spec: ui.ExplorerSpec, race_) -> str:
    """The animation as one self-contained HTML file (built when the button is clicked: ~5 MB of plotly.js)."""
    s = spec.surface_obj()
    grid = surface_grid(spec.surface, spec.surface_params, spec.formula)
    fig = plots.race_figure(grid, race_, min_value=s.min_value, arrows=spec.arrows, minima=s.minima,
                            start=spec.start_point(), bounds=s.bounds)
    return plots.figure_html(plots.prebuilt(fig))


def throttled(show, after: float = 0.4, every: float = 0.25):
    """progress(f) that shows nothing for the first `after` seconds (a short computation sends no message
    the browser would have to draw while it draws the chart), then at most every `every` seconds (each
    shown update also lets Streamlit stop this for a newer rerun)."""
    t0, last = time.monotonic(), [0.0]

    def report(f: float) -> None:
        now = time.monotonic()
        if now - t0 >= after and now - last[0] >= every:
            last[0] = now
            show(f)

    return report


def bank_for(spec: ui.ExplorerSpec, run: int) -> list[player.Group] | None:
    """The tune strip's bank of run `run`: its groups from the server-wide cache, the missing ones computed
    in one engine call (here when light, in a slot when heavy) with a progress bar, whose updates also let
    Streamlit stop this for a newer rerun. None where it cannot be made (the server's limits, a busy
    server): the strip then works on release only."""
    missing = player.missing_groups(spec, run)
    if missing:
        bar = st.empty()
        report = throttled(lambda f: bar.progress(min(1.0, f), text="preparing the tune strip's preview"))
        try:
            if player.rows_of(missing) * spec.steps > HEAVY_BANK or spec.surface == CUSTOM:
                groups = slots.compute(player.compute_groups, spec, missing, seconds=deploy.settings().deadline_s,
                                       progress=report)
            else:
                groups = player.compute_groups(spec, missing, progress=report, deadline=deadline())
        except (ValueError, ArithmeticError):
            return None
        finally:
            bar.empty()
        player.store_groups(spec, missing, groups)
    return player.bank_groups(spec, run)


def tune_run(n: int) -> int:
    """The run whose knobs the strip shows (the player's state; anything odd means the first)."""
    state = st.session_state.get(P + "race")
    try:
        r = state.get("tune_run") if state is not None else 0
    except (AttributeError, TypeError):
        r = 0
    return r if isinstance(r, int) and not isinstance(r, bool) and 0 <= r < n else 0


# ---------------------------------------------------------------- widgets -> spec
def sidebar() -> tuple[str, tuple, str, tuple | None, tuple, int, float, int, bool, bool]:
    """Everything but the chart, in the sidebar (which scrolls on its own: an open run editor never pushes
    the chart out of view)."""
    ss = st.session_state
    with st.sidebar:
        st.header("Surface")
        names = surface_names()
        surface = st.selectbox("loss surface", names, key=P + "surface",
                               format_func=surface_title)
        params: tuple = ()
        formula = st.text_input("formula in x and y", key=P + "formula", max_chars=ui.MAX_FORMULA,
                                placeholder="e.g. x**4 + 10*sin(y)**2", disabled=surface != CUSTOM,
                                help="numbers, + - * / ** (or ^), parentheses, pi, e, and "
                                     "sin cos tan exp log sqrt abs tanh sinh cosh; t is the step (1, 2, ...): "
                                     "a formula in t changes as the runs go (the map shows t = 1)")
        if surface != CUSTOM:
            s = surfaces.get(surface)
            st.latex(fit_latex(s.formula))  # broken into lines that fit the sidebar (KaTeX never wraps)
            if s.about:
                st.caption(s.about)
            params = tuple((p.name, number(p.name, f"{P}sp.{surface}.{p.name}", p.default, p.low, p.high, p.log,
                                           "float", p.help)) for p in s.params)
        st.header("Runs")
        runs = runs_editor()
        st.header("Start")
        auto = st.checkbox("the surface's own start", key=P + "start_auto",
                           help="or click anywhere on the map to start there")
        start = None
        if not auto:
            c1, c2 = st.columns(2)
            ss.setdefault(P + "x0", 0.0)
            ss.setdefault(P + "y0", 0.0)
            x0 = c1.number_input("x", key=P + "x0", format="%.4g", step=0.1)
            y0 = c2.number_input("y", key=P + "y0", format="%.4g", step=0.1)
            start = (float(x0), float(y0))
        st.header("Run length and noise")
        steps = int(number("steps", P + "steps", 300, 10, ui.MAX_STEPS, False, "int"))
        noise = number("gradient noise (std)", P + "noise", 0.0, 0.0, 10.0, False, "float",
                       "Gaussian noise added to every gradient component: minibatch noise. "
                       "Every run sees the same noise sequence (a fair race).")
        ss.setdefault(P + "seed", 0)
        seed = int(within_limits("noise seed", st.number_input("noise seed", step=1, key=P + "seed"),
                                 *ui.SEED_RANGE))
        st.header("View")
        view3d = st.checkbox("3D surface view", key=P + "view3d")
        arrows = st.checkbox("gradient and update arrows", key=P + "arrows")
        st.header("Presets")
        for p in ui.PRESETS:
            st.button(p.title, key=f"{P}preset_{p.name}", on_click=load_spec, args=(p.view(),),
                      help=p.about, width="stretch")
    return surface, params, formula, start, runs, steps, noise, seed, view3d, arrows


def runs_editor() -> tuple[ui.RunConfig, ...]:
    ss = st.session_state
    ids = ss[P + "run_ids"]
    fallback = ss[P + "runs_fallback"]
    runs = []
    for n, i in enumerate(ids):
        prev = fallback.get(i) or ui.default_run("adam")
        editor = run_expander(f"{P}r{i}_", n, prev, lazy=True)  # a closed editor costs the rerun nothing
        run = kept_run(f"{P}r{i}_", prev)
        if editor.open:
            with editor:
                run = run_editor(f"{P}r{i}_", prev)
                st.button("remove this run", key=f"{P}rm{i}", on_click=remove_run, args=(i,),
                          disabled=len(ids) == 1)
        fallback[i] = run
        runs.append(run)
    st.button("add a run", on_click=add_run, disabled=len(ids) >= ui.MAX_RUNS,
              help=f"up to {ui.MAX_RUNS} runs; a new run starts as a copy of the last one")
    return tuple(runs)


# ---------------------------------------------------------------- the page
def restore_preset(name: str) -> None:
    preset = next((p for p in ui.PRESETS if p.name == name), None)
    if preset is not None:
        load_spec(preset.view())


def story(spec: ui.ExplorerSpec) -> None:
    """The preset's story box: what to look at; once the view departs from the preset, it says so."""
    preset = next((p for p in ui.PRESETS if p.name == spec.preset), None)
    if preset is None:
        return
    if preset.shows(spec):
        st.info(f"**{md(preset.title)}.** {md(preset.about)} ({md(preset.source)})")
        return
    # compact once the person edits: one line and a button, the preset's story folded away (the chart and
    # the knob being edited stay on one screen)
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    c1.markdown(f"**Changed from the preset “{md(preset.title)}”**: what it describes may no longer show "
                "with your changes.")
    c2.button("restore the preset", key=P + "restore", on_click=restore_preset, args=(preset.name,))
    with st.expander("what the preset showed"):
        st.markdown(md(preset.about))


def main() -> None:
    ss = st.session_state
    if not ss.get(P + "loaded"):
        spec, warnings = ui.from_query(st.query_params.to_dict())
        load_spec(spec)
        ss[P + "link_read"] = (spec, tuple(warnings))  # the view the link gave, and what fell back
    wire = Wire(ss.setdefault(WIRE, {}))
    mount(player.prefetch_payload(wire), key=P + "prefetch", on_missing=resend("prefetch"))
    st.title("Optimizer explorer")
    st.caption("Optimizers race on a loss surface: drag a knob under the chart and watch why they differ; "
               "change runs in the sidebar. The address bar holds this whole view.")
    note = st.empty()  # the link's one message, filled once the view is known
    story_box = st.container()

    surface, params, formula, start, runs, steps, noise, seed, view3d, arrows = sidebar()
    try:
        spec = ui.ExplorerSpec(surface, params, formula, start, runs, steps, noise, seed, view3d, arrows,
                               preset=ss.get(P + "preset") or "")
    except ValueError as e:
        st.error(f"{md(e)}. Showing the default view instead.")
        spec = ui.ExplorerSpec()
    st.query_params.from_dict(ui.to_query(spec))
    with note:
        link_message(P, spec)
    with story_box:
        story(spec)
    # the computation and its caches depend neither on the story nor on which tab opens first
    spec_shared, spec = spec, dataclasses.replace(spec.without_preset(), view3d=False)

    try:
        spec.surface_obj()  # parses a custom formula
    except ValueError as e:  # FormulaError: the person's text stays in the box
        st.error(f"The formula can't be drawn: {md(e)}")
        st.info("Fix the formula in the sidebar (your text is kept), or pick a surface from the catalog.")
        return

    try:
        result = simulate(spec)
    except ValueError as e:  # the engine's checks, the server's limits, a busy server: say what
        st.error(f"This view can't be simulated: {md(e)}")
        return
    except ArithmeticError as e:  # never a traceback from a link: an overflow a check let through
        st.error(f"This view can't be simulated: the numbers overflowed ({md(e)}). Try smaller hyperparameters.")
        return
    figs = figures(spec, result)
    selected = tune_run(len(spec.runs))
    race_view(player.race_payload(figs["parts"], spec, wire, tune_run=selected), key=P + "race",
              on_commit=commit_knob, on_start=start_from_click, on_missing=resend("race"), on_tune_run=_noop)

    c1, c2 = st.columns([4, 1])
    c1.caption("Press Play or drag the step slider; drag a knob of the tune strip to see every value at once "
               "(let go to keep it). Click any point on the map to start there.")
    with c2.popover("Share", width="stretch"):
        share_box(ui.query_string(spec_shared), "view")
    if result.stopped_at is not None:
        st.warning(f"Stopped after {result.stopped_at:,} of {spec.steps:,} steps: this server gives each view "
                   f"{seconds_text()} of computation. Showing the steps done; use fewer steps or runs, "
                   "or a cheaper formula, to see the whole race.")
    for i, k in enumerate(result.diverged_at):
        if k > 0:
            st.warning(f"Run {i + 1} ({md(spec.runs[i].label())}) diverged at step {k}: try a lower lr or clipping.")
        elif k == 0:
            st.warning(f"Run {i + 1}: the start point itself is not finite on this surface.")

    # lazy tabs: only the open one is built and sent (the 3D view and the (L0, L1) chart cost nothing unseen)
    tabs = st.tabs(["Summary", "(L0, L1) smoothness", "3D view", "Export"], key=P + "tab", on_change="rerun",
                   default="3D view" if spec_shared.view3d else "Summary")
    if tabs[0].open:
        with tabs[0]:
            # a plain table of text drawn by the player's module: no grid's 1.2 MB of scripts, and none of
            # st.table's Markdown rendering of every cell on every rerun
            rows = plots.table_text(figs["summary"], percent=("clipped fraction",))
            mount(player.table_payload(rows, wire), key=P + "summary", on_missing=resend("summary"))
            st.caption(SUMMARY_NOTE)
    if tabs[1].open:
        with tabs[1]:
            mount(player.figure_payload(figs["smooth"], wire), key=P + "smooth", on_missing=resend("smooth"))
            st.caption("Local smoothness (how fast the gradient changes along each step) against the gradient "
                       "norm. On an L-smooth function the points stay under a flat line; on x⁴ (the `quartic` "
                       "surface) they climb with the gradient norm: L0 + L1‖∇f‖ (Zhang et al. 2020, Fig. 1). A "
                       "fixed lr that is safe where the gradient is small overshoots where it is large: clipping "
                       "(lr × clip coefficient) shrinks the step exactly there.")
    if tabs[2].open:
        with tabs[2]:
            mount(scene_payload(scene3d(spec, result), wire), key=P + "scene", on_missing=resend("scene"))
            st.caption("Drag to turn the surface, scroll to zoom, double-click to reset; hover reads the loss. "
                       "Tick '3D surface view' in the sidebar to open this tab with a shared link.")
    if tabs[3].open:
        with tabs[3]:
            c1, c2 = st.columns(2)
            # built only when clicked: the HTML inlines plotly.js (~5 MB)
            c1.download_button("trajectories (CSV)", lambda: plots.trajectories_csv(figs["race_input"]),
                               file_name="trajectories.csv", mime="text/csv")
            c2.download_button("animation (HTML)", lambda: export_html(spec, figs["race_input"]),
                               file_name="race.html", mime="text/html")
            st.caption("To share this view, use Share under the chart: its link reproduces it exactly.")

    # last: the tune strip's bank, once everything above is on its way to the browser
    groups = bank_for(spec, selected)
    mount(player.bank_payload(spec, selected, groups, wire) if groups else player.empty_payload(wire),
          key=P + "bank", on_missing=resend("bank"))


main()
