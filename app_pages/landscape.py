"""Landscape: a trained network's own loss around its final weights, with its optimizers' paths (Li et al. 2018).

Reads runs and their snapshots from the run store; the grid is evaluated by a worker process
(training.landscape.worker) launched only by the Evaluate button's callback, and the page polls its
rows (a fragment) with a progress bar and Cancel. Every grid lands in the run store: evaluated once,
shown to everyone after, resumed where a cancelled one stopped. The address bar holds the whole
view (ui.landscape_links). No tensor math here.
"""
from __future__ import annotations

import dataclasses
import functools

import streamlit as st

import deploy
from plots import landscape as pl
from plots.numbers import table_text
from training.landscape import DATA, PLANES, cache, worker
from training.landscape.spec import MAX_PATHS
from training.store import Store
from ui.landscape_links import LandscapeView, from_query, query_string, to_query
from ui.landscape_runs import companions, drawable, estimate_text, scored_evals
from ui.text import md
from ui.train_spec import may_control, run_label, short_label
from ui.widgets import link_message, session_owner, share_box

P = "ls_"  # every key of this page starts with it
W = "ls_w_"  # the widgets' keys (cleared when a new link is opened)
POLL_S = 1.5
LIST_LIMIT = 1000
PLANE_TITLES = {"pca": "path plane: PCA of the snapshots", "random": "random filter-normalised directions"}
DATA_TITLES = {"val": "validation set (loss and metric)", "train": "a fixed training batch (loss)"}


# ---------------------------------------------------------------- the link


def load_link() -> None:
    """Read the URL into the view at the start of a session, or when a new link is opened."""
    ss = st.session_state
    current = st.query_params.to_dict()
    if P + "view" in ss and (not current or current == ss.get(P + "written")):
        return
    view, warnings = from_query(current)
    for k in [k for k in ss if str(k).startswith(W)]:
        del ss[k]  # the widgets start from the link
    ss[P + "view"] = view
    ss[P + "link_read"] = (view, tuple(warnings))
    ss.pop(P + "link_dismissed", None)


def write_link(view: LandscapeView) -> None:
    q = to_query(view)
    if st.query_params.to_dict() != q:
        st.query_params.from_dict(q)
    st.session_state[P + "written"] = q


def init(key: str, value) -> str:
    st.session_state.setdefault(key, value)
    return key


# ---------------------------------------------------------------- widgets -> view


def pick_runs(view: LandscapeView, runs: list[dict]) -> tuple[dict, list[dict]]:
    """(the centre run, the runs whose paths are drawn) as the person picks them."""
    by_id = {r["id"]: r for r in runs}
    ss = st.session_state
    if ss.get(W + "run") not in by_id:
        ss[W + "run"] = view.run if view.run in by_id else runs[0]["id"]
    c1, c2 = st.columns([1, 2])
    centre = by_id[c1.selectbox("Centre: the final weights of", list(by_id), key=W + "run",
                                format_func=lambda i: run_label(by_id[i]),
                                help="the plane's (0, 0) is this run's last snapshot")]
    group = companions(runs, centre)
    ids = [r["id"] for r in group]
    if W + "paths" not in ss:
        ss[W + "paths"] = [i for i in (view.paths or (centre["id"],)) if i in ids][:MAX_PATHS]
    ss[W + "paths"] = [i for i in ss[W + "paths"] if i in ids]
    chosen = c2.multiselect("Paths of", ids, key=W + "paths", max_selections=MAX_PATHS,
                            format_func=lambda i: run_label(by_id[i]),
                            help="runs of the same task and size that kept snapshots: their paths are drawn, and "
                                 "the PCA plane is the one they move in")
    return centre, [by_id[i] for i in chosen]


def plane_settings(view: LandscapeView) -> dict:
    limits = deploy.settings()
    c1, c2, c3, c4, c5 = st.columns([2, 1, 1, 1, 2])
    plane = c1.radio("plane", PLANES, key=init(W + "plane", view.plane), format_func=PLANE_TITLES.get,
                     help="PCA: the two directions the paths move in most (Li et al. 2018, §7). Random: two "
                          "Gaussian directions, every filter scaled to its weights' norm (§4); a path barely "
                          "shows on them: high-dimensional random directions miss it")
    seed = c2.number_input("seed", 0, 2**31 - 1, step=1, key=init(W + "seed", min(view.seed, 2**31 - 1)),
                           help="of the random directions")
    n = c3.number_input("points per side", 3, limits.max_grid, step=10,
                        key=init(W + "n", min(view.n, limits.max_grid)),
                        help=f"the grid is n × n (at most {limits.max_grid} here); Li et al. use 51")
    keep = c4.checkbox("move biases", key=init(W + "keep", view.keep_1d),
                       help="1-D tensors (biases, norm weights): left fixed by default, as in the paper")
    data = c5.radio("evaluated on", DATA, key=init(W + "data", view.data), format_func=DATA_TITLES.get)
    with st.expander("span of the grid"):
        auto = st.checkbox("fit it around the paths (PCA) or ±1 (random)", key=init(W + "auto", view.span is None))
        span0 = view.span or (-1.0, 1.0, -1.0, 1.0)
        cols = st.columns(4)
        names = ("a from", "a to", "b from", "b to")
        vals = [cols[i].number_input(names[i], -1e4, 1e4, key=init(W + f"span{i}", float(span0[i])), format="%g",
                                     disabled=auto) for i in range(4)]
    span = None
    if not auto:
        if vals[0] < vals[1] and vals[2] < vals[3]:
            span = tuple(float(v) for v in vals)
        else:
            st.warning("The span needs 'from' below 'to' on both axes: using the fitted span.")
    return dict(plane=plane, seed=int(seed), n=int(n), keep_1d=bool(keep), data=data, span=span)


# ---------------------------------------------------------------- actions (callbacks)


def start(spec) -> None:
    """The Evaluate button: the one place a landscape evaluation is launched."""
    try:
        worker.launch(spec, str(Store().path), owner=session_owner())
    except ValueError as e:
        st.session_state[P + "message"] = ("error", f"Not started: {e}")
    except Exception as e:  # never a traceback
        st.session_state[P + "message"] = ("error", f"Could not start the evaluation: {type(e).__name__}: {e}")


def stop(landscape_id: int) -> None:
    try:
        row = cache.get(Store(), landscape_id)
        if not may_control(row, session_owner(), deploy.settings().public):
            raise ValueError("another visitor started it; only they can cancel it")
        worker.cancel(landscape_id, str(Store().path))
        st.session_state[P + "message"] = ("info", "Cancelling: it stops after the row it is on; the rows done "
                                                   "are kept, and Evaluate goes on from them.")
    except (KeyError, ValueError, OSError) as e:
        st.session_state[P + "message"] = ("error", f"Could not cancel: {e}")


# ---------------------------------------------------------------- one request: status, progress, button


def status_line(spec, row: dict | None, what: str, estimate: str) -> bool:
    """The request's state, with its button (Evaluate, Go on, Cancel); True while it is being evaluated."""
    if row is None or row["status"] in ("cancelled", "stopped", "failed", "interrupted"):
        done = 0 if row is None else row["done"]
        label = f"Evaluate {what}" if not done else f"Go on ({spec.rows - done} of {spec.rows} rows left)"
        if row is not None and row.get("error"):
            (st.error if row["status"] == "failed" else st.info)(md(f"{row['status'].capitalize()}: "
                                                                   + row["error"].splitlines()[0]))
        st.button(label, key=f"{P}go{spec.kind}", type="primary", on_click=start, args=(spec,),
                  help=("runs in a worker process; " + estimate + " going by this run's own evaluations")
                  if estimate else "runs in a worker process")
        return False
    if row["status"] == "done":
        return False
    c1, c2 = st.columns([5, 1])
    frac = row["done"] / max(1, row["total"])
    c1.progress(frac, text=md(f"{what}: {row['status']}, {row['done']} of {row['total']} rows"))
    if may_control(row, session_owner(), deploy.settings().public):
        c2.button("Cancel", key=f"{P}cancel{spec.kind}", on_click=stop, args=(row["id"],))
    return True


def plane_block(spec, labels: dict, color: str, estimate: str) -> None:
    """The plane's status and figures: polled (a fragment) while its worker runs."""
    store = Store()
    row = cache.find(store, spec)
    active = status_line(spec, row, f"the {spec.n} × {spec.n} grid", estimate)
    if row is not None and row["result"]:
        result = row["result"]
        loss, metric = cache.values(store, row["id"], spec.rows, spec.cols)
        field = color if result.get("metric_name") else "loss"
        cfg = {"displaylogo": False}
        c1, c2 = st.columns(2)
        c1.plotly_chart(pl.plane_figure(result, loss, metric, labels=labels, field=field), key=P + "map", config=cfg)
        c2.plotly_chart(pl.surface_figure(result, loss, labels=labels), key=P + "surface", config=cfg)
        explain(result)
        off = pl.path_rows(result, labels, only_off=True)
        if off:
            with st.expander(f"{len(off)} path point(s) lie off the plane: their real loss and the map's value"):
                st.dataframe(table_text(off, percent=("difference", "off the plane")), hide_index=True,
                             width="stretch")
        if row["status"] == "done":
            st.download_button("The grid (CSV)", functools.partial(pl.grid_csv, result, loss, metric),
                               file_name=f"landscape-{spec.run}.csv", mime="text/csv", key=P + "csv")
    if st.session_state.get(P + "polling_plane") and not active:
        st.session_state[P + "polling_plane"] = False
        st.rerun(scope="app")  # it ended: redraw once (buttons), stop polling


def explain(result: dict) -> None:
    plane = result.get("plane") or {}
    ex = plane.get("explained")
    parts = [f"Evaluated on {result.get('data', '?')}, {result.get('n_params', 0):,} parameters, on "
             f"{result.get('device', '?')}."]
    if plane.get("kind") == "pca" and ex:
        parts.append(f"The two directions explain {ex[0]:.1%} and {ex[1]:.1%} of the paths' variance "
                     f"({ex[0] + ex[1]:.1%} together).")
    else:
        parts.append(f"Directions: {plane.get('about', '')}; each has the norm of the weights it moves "
                     f"(‖w‖ = {plane.get('w0_norm', float('nan')):.3g}), cosine between them "
                     f"{plane.get('cos', float('nan')):.2g}.")
    parts.append("A triangle marks where a path starts, the star the centre. Each snapshot is filled with the "
                 "colour of its real loss: where that differs from the map around it, the point lies off the plane "
                 "(hover for both values; in 3D a dotted line drops to its real loss).")
    st.caption(md(" ".join(parts)))


def line_section(runs: list[dict], view: LandscapeView, labels: dict) -> tuple[int, int] | None:
    st.subheader("Between two runs: the line from A's weights to B's")
    st.caption("The loss along (1 − t)·A + t·B (Goodfellow et al. 2015): a wide, low valley between two minima "
               "against a barrier, and how steeply each end rises (the flat-versus-sharp question of Keskar et al. "
               "2017). Li et al. 2018 warn that such 1-D sharpness depends on the weights' scale: the filter-"
               "normalised plane above compares runs fairly.")
    ids = [r["id"] for r in runs]
    if len(ids) < 2:
        st.info("It takes two runs of the same task and size that kept snapshots.")
        return None
    by_id = {r["id"]: r for r in runs}
    a0, b0 = view.line if view.line and all(i in ids for i in view.line) else (ids[0], ids[1])
    c1, c2, c3 = st.columns([2, 2, 1])
    if st.session_state.get(W + "la") not in ids:  # a new centre: another set of runs
        st.session_state[W + "la"] = a0
    a = c1.selectbox("A (t = 0)", ids, key=W + "la", format_func=lambda i: short_label(by_id[i]))
    rest = [i for i in ids if i != a]
    if st.session_state.get(W + "lb") not in rest:
        st.session_state[W + "lb"] = b0 if b0 in rest else rest[0]
    b = c2.selectbox("B (t = 1)", rest, key=W + "lb", format_func=lambda i: short_label(by_id[i]))
    show = c3.checkbox("show the line", key=init(W + "line_on", view.line is not None))
    return (a, b) if show else None


def line_block(spec, labels: dict, estimate: str) -> None:
    store = Store()
    row = cache.find(store, spec)
    active = status_line(spec, row, f"the line ({spec.rows} points)", estimate)
    if row is not None and row["result"]:
        loss, metric = cache.values(store, row["id"], spec.rows, spec.cols)
        st.plotly_chart(pl.line_figure(row["result"], loss, metric, labels=labels), key=P + "line",
                        config={"displaylogo": False})
    if st.session_state.get(P + "polling_line") and not active:
        st.session_state[P + "polling_line"] = False
        st.rerun(scope="app")


def poll(block, spec, key: str, *args) -> None:
    """Run block(spec, *args) once, or as a fragment every POLL_S seconds while its worker runs."""
    row = cache.find(Store(), spec)
    active = row is not None and row["status"] in cache.ACTIVE
    st.session_state[P + key] = active
    st.fragment(run_every=POLL_S if active else None)(block)(spec, *args)


# ---------------------------------------------------------------- the page


def main() -> None:
    st.title("Loss landscape")
    st.caption("A trained network's own loss on a plane through its final weights, with the paths its optimizers "
               "took (Li, Xu, Taylor, Studer, Goldstein 2018, “Visualizing the loss landscape of neural nets”).")
    try:
        store = Store()
        store.reap()
        cache.reap(store)
        counts = store.snapshot_counts()
        runs = drawable(store.list_runs(limit=LIST_LIMIT), counts)
    except Exception as e:  # an unreadable store must not break the page
        st.error(f"The run store can't be read: {md(e)}")
        return
    load_link()
    message = st.session_state.pop(P + "message", None)
    if message:
        (st.error if message[0] == "error" else st.info)(md(message[1]))
    if not runs:
        st.info("No run has kept its weights yet. On the Train page leave 'keep weight snapshots' ticked, or from "
                "a terminal: `python -m training run --task digits-mlp --snapshots 20`; then come back here.")
        return
    view: LandscapeView = st.session_state[P + "view"]
    note = st.empty()
    centre, paths = pick_runs(view, runs)
    settings = plane_settings(view)
    color = st.radio("colour the map by", ("loss", "metric"), key=init(W + "color", view.color), horizontal=True,
                     format_func={"loss": "loss (log scale)", "metric": "the task's metric"}.get)
    group = companions(runs, centre)
    view = dataclasses.replace(view, run=centre["id"], paths=tuple(r["id"] for r in paths), color=color, **settings)
    labels = {r["id"]: short_label(r) for r in runs}

    spec = view.plane_spec()
    try:
        spec.check()
    except ValueError as e:
        st.error(md(e))
        return
    points = spec.n * spec.n + 2 * sum(counts.get(r["id"], 0) for r in paths)  # the grid, and each path point twice
    scored = scored_evals(store, centre["id"])
    poll(plane_block, spec, "polling_plane", labels, view.color, estimate_text(centre, scored, points, spec.data))

    line_pick = line_section(group, view, labels)
    view = dataclasses.replace(view, line=line_pick)
    line = view.line_spec()
    if line is not None:
        try:
            line.check()
            poll(line_block, line, "polling_line", labels, estimate_text(centre, scored, line.rows, line.data))
        except ValueError as e:
            st.error(md(e))
    write_link(view)
    with note:
        link_message(P, view)
    with st.popover("Share"):
        share_box(query_string(view), "landscape")
    limits = deploy.settings()
    if limits.public:
        st.caption(f"This public server evaluates grids of at most {limits.max_grid} × {limits.max_grid} points, "
                   f"{limits.max_landscapes or 'any number'} at once, {limits.landscape_s or '∞'} s each "
                   "(a stopped one goes on from its rows when asked again).")
    st.caption(f"Run store: {md(store.path)}. The same from a terminal: `python -m training landscape "
               f"{centre['id']} --paths {','.join(str(r['id']) for r in paths) or centre['id']} --grid {spec.n}` "
               f"(writes the grid and these figures).")


main()
