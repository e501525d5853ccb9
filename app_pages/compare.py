"""Compare runs: training runs from the store, overlaid: loss and metric (vs step or wall time), lr,
gradient norm, clipped fraction, the (L0, L1) scatter, a summary table; CSV; a link per run that
opens its optimizer, clipping and schedule on a 2D surface in the explorer; a link to the loss
landscape of the selected runs that kept snapshots (app_pages/landscape.py).

Reads the store only (a fragment polls it while a selected run is active); runs are started on the
Train page or by `python -m training`. `?runs=1,2,3` selects runs. No tensor math here.
"""
from __future__ import annotations

import functools

import streamlit as st

from plots import training as pt
from plots.numbers import table_text
from training import tasks, workers
from training.device import device_text
from training.store import ACTIVE, Store
from ui.landscape_runs import compare_link
from ui.text import md
from ui.train_spec import (
    COMPARE,
    CurveCache,
    compare_url,
    explorer_url,
    run_label,
    short_label,
)
from ui.widgets import may_change, share_box

P = "cmp_"  # every widget key of this page starts with it
LIST_LIMIT = 1000  # runs offered in the picker (newest first)
DEFAULT_RUNS = 6  # preselected: the newest runs of the newest run's task
POLL_S = 2.0


@st.cache_resource(show_spinner=False)
def curve_cache() -> CurveCache:
    """One per server: a finished run is read once, a running one only its new rows."""
    return CurveCache()


# ---------------------------------------------------------------- the selection <-> ?runs=


def default_selection(runs: list[dict]) -> list[int]:
    if not runs:
        return []
    task = runs[0]["task"]  # runs come newest first
    return sorted(r["id"] for r in runs if r["task"] == task)[-DEFAULT_RUNS:]


def seed_selection(runs: list[dict]) -> list[int]:
    """Put the selection into the picker's state: from ?runs= when a new link arrives, else keep the
    person's choice (minus deleted runs), else the default. Returns ids asked for that do not exist."""
    ss = st.session_state
    known = {r["id"] for r in runs}
    asked = list(COMPARE.from_query({"runs": st.query_params.get_all("runs")})[0].runs)  # ids that exist or not
    missing = []
    if asked and asked != ss.get(P + "link_seen"):
        ss[P + "link_seen"] = asked
        ss[P + "runs"] = [i for i in asked if i in known]
        missing = [i for i in asked if i not in known]
    elif P + "runs" not in ss:
        ss[P + "runs"] = default_selection(runs)
    else:
        ss[P + "runs"] = [i for i in ss[P + "runs"] if i in known]
    return missing


def write_selection(ids: list[int]) -> None:
    text = ",".join(map(str, ids))
    if st.query_params.get("runs", "") != text:
        if ids:
            st.query_params["runs"] = text
        elif "runs" in st.query_params:
            del st.query_params["runs"]
    st.session_state[P + "link_seen"] = list(ids)


# ---------------------------------------------------------------- actions (callbacks)


def ask_delete(run_id: int) -> None:
    st.session_state[P + "confirm"] = run_id


def keep(run_id: int) -> None:
    st.session_state.pop(P + "confirm", None)


def allowed(run_id: int) -> None:
    """Raise ValueError unless this session may cancel or delete the run (checked on the server,
    whatever the page showed: a public visitor only their own runs)."""
    if not may_change(Store().run(run_id)):
        raise ValueError(f"run #{run_id} was started by another visitor; only they can change it")


def delete(run_id: int) -> None:
    ss = st.session_state
    ss.pop(P + "confirm", None)
    try:
        allowed(run_id)
        Store().delete_run(run_id)
    except (KeyError, ValueError) as e:
        ss[P + "message"] = ("error", str(e.args[0] if e.args else e))
        return
    curve_cache().forget(run_id)
    ss[P + "runs"] = [i for i in ss.get(P + "runs", []) if i != run_id]
    ss[P + "message"] = ("info", f"Deleted run #{run_id}.")


def cancel(run_id: int) -> None:
    try:
        allowed(run_id)
        workers.cancel_soon(run_id, str(Store().path), grace=5.0)  # the page never waits for the run to stop
        st.session_state[P + "message"] = ("info", f"Run #{run_id}: cancelling (it stops at its next flush).")
    except (KeyError, ValueError, OSError) as e:
        st.session_state[P + "message"] = ("error", f"Could not cancel run #{run_id}: {e}")


# ---------------------------------------------------------------- the curves (live while a run is active)


def plot_data(store: Store, runs: list[dict]) -> list[dict]:
    """What plots.training takes: one dict per run with its columns and task facts."""
    cache = curve_cache()
    out = []
    for r in runs:
        steps, evals = cache.get(store, r)
        info = tasks.info(r)
        summary = r.get("summary") or {}
        job = r.get("job") or {}
        out.append({"id": r["id"], "label": short_label(r), "steps": steps, "evals": evals, **info,
                    "status": r["status"], "device": device_text(r.get("device_info")) or r.get("device") or "",
                    "steps_per_s": summary.get("steps_per_s"), "clip": job.get("clip")})
    return out


def curves(ids: list[int], x: str, smoothing: float, polling: bool) -> None:
    store = Store()
    runs = sorted(store.list_runs(ids=ids), key=lambda r: ids.index(r["id"]))
    if not runs:
        return
    data = plot_data(store, runs)
    if len({r["task"] for r in runs}) > 1:
        st.warning("These runs come from different tasks: their metrics are not on the same scale.")
    active = [r["id"] for r in runs if r["status"] in ACTIVE]
    if active:
        st.caption(f"Live: {', '.join(f'#{i}' for i in active)} still running; the charts refresh every "
                   f"{POLL_S:g} s.")

    st.subheader("Summary")
    table = table_text(pt.summary_rows(data), percent=("clipped",))
    table["explorer"] = [explorer_url(r.get("job") or {}, r.get("total_steps")) for r in runs]
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "explorer": st.column_config.LinkColumn("explorer", display_text="Open on a 2D surface",
                                                help="the same optimizer, clipping and schedule on a 2D surface"),
    })

    cfg = {"displaylogo": False}
    c1, c2 = st.columns(2)
    c1.plotly_chart(pt.loss_figure(data, x=x, smoothing=smoothing), key=P + "loss", config=cfg)
    c2.plotly_chart(pt.metric_figure(data, x=x), key=P + "metric", config=cfg)
    c1, c2 = st.columns(2)
    c1.plotly_chart(pt.lr_figure(data, x=x), key=P + "lr", config=cfg)
    c2.plotly_chart(pt.grad_norm_figure(data, x=x, smoothing=smoothing), key=P + "grad", config=cfg)
    c1, c2 = st.columns(2)
    c1.plotly_chart(pt.clipped_figure(data), key=P + "clipped", config=cfg)
    c2.plotly_chart(pt.smoothness_figure(data), key=P + "smooth", config=cfg)
    none = [d["id"] for d in data if not (pt.col(d["evals"], "smoothness") > 0).any()]
    if none:  # a run missing from the scatter is said to be, never silently dropped
        c2.caption(md(f"No smoothness measured in run(s) {', '.join(f'#{i}' for i in none)}: they are not in "
                      "this scatter. Runs measure it about 40 times by default; 'smoothness every' on the Train "
                      "page (or --smoothness-every on the command line) sets how often."))

    c1, c2 = st.columns(2)
    names = "-".join(str(i) for i in ids[:8])
    c1.download_button("Steps of these runs (CSV)", functools.partial(pt.curves_csv, data, "steps"),
                       file_name=f"runs-{names}-steps.csv", mime="text/csv", key=P + "csv_steps")
    c2.download_button("Evaluations of these runs (CSV)", functools.partial(pt.curves_csv, data, "evals"),
                       file_name=f"runs-{names}-evals.csv", mime="text/csv", key=P + "csv_evals")
    if polling and not active:
        st.rerun(scope="app")  # every selected run ended: redraw the page once (labels, buttons), stop polling


# ---------------------------------------------------------------- one run's details and actions


def details(run: dict) -> None:
    job = run.get("job") or {}
    with st.expander(md(run_label(run))):
        hp = ", ".join(f"{k}={v}" for k, v in (job.get("hparams") or ()))
        clip = job.get("clip")
        clip = "none" if not clip else f"{clip[0]} {float(clip[1]):g}"
        sched = job.get("schedule")
        sched = "constant" if not sched else sched[0] + "".join(f" {k}={v}" for k, v in sched[1] or ())
        sched += "".join(f" → from step {m} {name}" + "".join(f" {k}={v}" for k, v in kw or ())
                         for m, name, kw in job.get("then") or ())  # a chained schedule's later phases
        st.markdown(f"**{md(run['optimizer'])}** " + md(
                    f"({hp or 'defaults'}) · clipping {clip} · schedule {sched} · steps "
                    f"{run.get('total_steps') or 'task default'} · batch {job.get('batch_size') or 'task default'} · "
                    f"seed {job.get('seed', 0)} · size {job.get('size', 1)} · device "
                    f"{device_text(run.get('device_info')) or run.get('device')}"))
        if run.get("error"):
            st.code(run["error"], language=None, wrap_lines=True)
        notes = (run.get("device_info") or {}).get("notes") or []
        summary = run.get("summary") or {}
        if summary.get("switched_at"):  # SWATS: where it switched from Adam to SGD, and at which learned lr
            notes = [*notes, f"switched from Adam to SGD after update {summary['switched_at']}, learned lr "
                             f"{float(summary.get('switch_lr') or float('nan')):.4g}"]
        for n in notes:
            st.caption(md(n))
        c1, c2, c3 = st.columns(3)
        url = explorer_url(job, run.get("total_steps"))
        if url:
            c1.link_button("Open the same settings on a 2D surface", url,
                           help="this run's optimizer, hyperparameters, clipping and schedule in the explorer")
        active = run["status"] in ACTIVE
        if not may_change(run):
            c2.caption("Started by another visitor: only they can cancel or delete it.")
            return
        if active:
            c2.button("Cancel", key=f"{P}cancel{run['id']}", on_click=cancel, args=(run["id"],))
        if st.session_state.get(P + "confirm") == run["id"]:
            st.warning(f"Delete run #{run['id']} and everything it logged? This cannot be undone.")
            d1, d2 = st.columns(2)
            d1.button(f"Yes, delete #{run['id']}", key=f"{P}yes{run['id']}", on_click=delete, args=(run["id"],),
                      type="primary")
            d2.button("Keep it", key=f"{P}no{run['id']}", on_click=keep, args=(run["id"],))
        else:
            c3.button("Delete run", key=f"{P}del{run['id']}", on_click=ask_delete, args=(run["id"],),
                      disabled=active, help="cancel it first" if active else "asks for confirmation")


# ---------------------------------------------------------------- the page


def main() -> None:
    st.title("Compare runs")
    try:
        store = Store()
        store.reap()  # runs whose worker died are marked interrupted
        runs = store.list_runs(limit=LIST_LIMIT)
    except Exception as e:  # an unreadable store must not break the page
        st.error(f"The run store can't be read: {md(e)}")
        return
    message = st.session_state.pop(P + "message", None)
    if message:
        (st.error if message[0] == "error" else st.info)(md(message[1]))
    if not runs:
        st.info("No runs yet. Start some on the Train page, or from a terminal: "
                "`python -m training run --task digits-mlp --optimizer adam --lr 1e-3`.")
        return
    by_id = {r["id"]: r for r in runs}
    missing = seed_selection(runs)
    if missing:
        st.warning(md(f"The link asks for run(s) {', '.join(f'#{i}' for i in missing)}, which are not in the store "
                      f"({store.path})."))
    ids = st.multiselect("Runs", list(by_id), key=P + "runs", format_func=lambda i: run_label(by_id[i]),
                         placeholder="pick runs to compare", help="runs in the store, newest first")
    write_selection(ids)
    if ids:
        with st.popover("Share"):
            share_box(compare_url(ids).split("?", 1)[1], "comparison")
        url, about = compare_link([by_id[i] for i in ids], store.snapshot_counts())  # the Landscape page
        if url:
            st.link_button("Loss landscape of these runs", url, help=about)
        else:
            st.caption(md(about))
    c1, c2 = st.columns([1, 2])
    x = c1.radio("x axis", ["step", "wall"], key=P + "x", horizontal=True,
                 format_func={"step": "step", "wall": "wall time"}.get)
    smoothing = c2.slider("smoothing (loss and gradient norm)", 0.0, 0.99, key=P + "smoothing", value=0.6,
                          step=0.01, help="exponential moving average, as TensorBoard's slider")
    if not ids:
        st.info("Pick one or more runs above.")
        return
    active = any(by_id[i]["status"] in ACTIVE for i in ids)
    st.fragment(run_every=POLL_S if active else None)(curves)(list(ids), x, float(smoothing), active)

    st.subheader("Runs")
    for i in ids:
        details(by_id[i])


main()
