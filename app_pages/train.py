"""Train: the explorer's optimizers, clipping and schedules on real PyTorch models, one worker process per run.

Widgets -> Jobs (ui.train_spec) -> training.workers.launch, only in the Start button's callback.
Everything else only reads the run store (polled by a fragment while runs are active), so a rerun,
a reload, a page switch or a second tab never stops or duplicates a job. No tensor math here.
"""
from __future__ import annotations

import math
import os

import streamlit as st

import deploy
import ui
from training import tasks, workers
from training.device import describe, device_text, pick
from training.job import FULL_BATCH, Job, auto_smoothness_every
from training.store import ACTIVE, Store
from ui import train_backend
from ui.text import md
from ui.train_spec import (
    compare_url,
    progress,
    run_from_state,
    run_label,
)
from ui.widgets import may_change, run_editor, run_expander, seed_run_state, session_owner

P = "tr_"  # every widget key of this page starts with it
MAX_SHOWN = 16  # runs in the progress section
DEFAULT_SNAPSHOTS = 21  # weights kept per run: the start and 20 more, for the Landscape page's path


# ---------------------------------------------------------------- what this machine has


@st.cache_resource(show_spinner=False)
def devices() -> dict:
    """Device choices and what they are: {"choices": [...], "text": {choice: words}, "auto_type", "gpus", "cores"}."""
    choices, text = ["auto", "cpu"], {}
    auto = pick("auto")
    cpu = describe("cpu")
    text["cpu"] = f"CPU, {cpu.get('cores') or '?'} cores"
    n = workers.gpu_count()
    if n:
        choices.append("cuda")
        text["cuda"] = describe("cuda")["text"]
        if n > 1:
            for i in range(n):
                choices.append(f"cuda:{i}")
                text[f"cuda:{i}"] = describe(f"cuda:{i}")["text"]
    try:
        pick("mps")
    except ValueError:
        pass
    else:
        choices.append("mps")
        text["mps"] = describe("mps")["text"]
    text["auto"] = f"{auto.type}" + (f":{auto.index}" if auto.index is not None else "")
    return {"choices": choices, "text": text, "auto_type": auto.type, "gpus": n, "cores": os.cpu_count() or 1}


def db_path() -> str:
    return str(Store().path)  # $OPT_PLAYGROUND_DB, else ./runs.sqlite


@st.cache_resource(show_spinner="Connecting to the Ray cluster...", ttl=30)
def ray_cluster() -> tuple:
    """(the Ray cluster, None) or (None, why not): connected once per server, its nodes re-read every 30 s."""
    return train_backend.connect()


def backend_of(ss) -> str:
    """Where the runs go: "ray" only where it is offered (never on a public server, whatever the state says)."""
    offered = train_backend.ray_offered(deploy.settings().public)
    return train_backend.RAY if offered and ss.get(key("backend")) == train_backend.RAY else train_backend.LOCAL


# ---------------------------------------------------------------- widget state -> jobs


def key(name: str, task: str | None = None) -> str:
    """A widget key; settings whose default comes from the task get one key per task."""
    return f"{P}{name}" if task is None else f"{P}{name}.{task}"


def settings_from_state(ss) -> dict:
    """The Job fields the page's settings widgets hold (the task's defaults where a widget has not rendered)."""
    task = ss.get(key("task"), tasks.names()[0])
    t = tasks.get(task)
    dev = ss.get(key("device"), "auto")
    flood = ss.get(key("flood")) if ss.get(key("flood_on"), False) else None
    return dict(
        steps=int(ss.get(key("steps", task), t.steps)),
        batch_size=FULL_BATCH if t.full_batch is not None and ss.get(key("full", task), False)
        else int(ss.get(key("batch", task), t.batch_size)),
        seed=int(ss.get(key("seed"), 0)),
        size=float(ss.get(key("size"), 1.0)),
        device=dev,
        eval_every=int(ss.get(key("eval", task), t.eval_every)),
        smoothness_every=int(ss.get(key("smooth", task), default_smoothness(t))),
        flooding=None if flood is None else float(flood),
        snapshots=snapshots_from_state(ss),
        amp=bool(ss.get(key("amp"), False)),
        sharpness=bool(ss.get(key("sharpness"), False)),
        compile=bool(ss.get(key("compile"), False)),
        label=str(ss.get(key("label"), "") or "").strip(),
    )


def snapshots_from_state(ss) -> int:
    """Weight snapshots to keep (the Landscape page's path): the box's number while ticked (the default), else 0."""
    if not ss.get(key("snap_on"), True) or deploy.settings().max_snapshots == 0:
        return 0
    return int(ss.get(key("snap_n"), min(DEFAULT_SNAPSHOTS, deploy.settings().max_snapshots)))


def default_smoothness(t) -> int:
    """Measure local smoothness about 40 times per run by default (one extra backward each time)."""
    return auto_smoothness_every(t.steps)


def jobs_from_state(ss) -> tuple[list, list[str]]:
    """(jobs, errors) from the widgets' state: one Job per run editor, each checked by workers.check_job.

    Used both to show problems as the person edits and by the Start callback, which runs before the
    widgets render: both read the same state, so what is launched is what the widgets show.
    """
    task = ss.get(key("task"), tasks.names()[0])
    try:
        settings = settings_from_state(ss)
    except (TypeError, ValueError) as e:
        return [], [f"settings: {e}"]
    fallback = ss.get(key("fallback"), {})
    check = workers.check_job
    if backend_of(ss) == train_backend.RAY:
        cluster, why = ray_cluster()
        if cluster is None:
            return [], [f"Ray: {why}"]
        check = lambda job: train_backend.check(job, cluster)  # noqa: E731
    jobs, errors = [], []
    for n, i in enumerate(ss.get(key("run_ids"), [])):
        try:
            run = run_from_state(f"{P}r{i}_", ss, fallback.get(i) or ui.default_run("adam"))
            job = Job(task, run, **settings)
            check(job)
        except (ValueError, KeyError, TypeError) as e:
            errors.append(f"Run {n + 1}: {e.args[0] if e.args else e}")
            continue
        jobs.append(job)
    return jobs, errors


def runs_on_cpu(job, info: dict) -> bool:
    return job.device == "cpu" or (job.device == "auto" and info["auto_type"] == "cpu")


# ---------------------------------------------------------------- actions (callbacks only)


def start_runs() -> None:
    """The Start button's callback: the one place that launches jobs (a rerun never does).

    Every job is checked again here (workers.check_job: the same validator as the command line,
    with this server's ceilings), and the server's limits admit the batch or refuse it whole."""
    ss = st.session_state
    jobs, errors = jobs_from_state(ss)
    if errors or not jobs:
        ss[key("launch_errors")] = errors or ["no runs to start"]
        return
    if backend_of(ss) == train_backend.RAY:
        start_on_ray(jobs)
        return
    info = devices()
    cpu_jobs = sum(runs_on_cpu(j, info) for j in jobs)
    # CPU runs share the cores with each other and with the CPU runs already active (one count for the batch)
    threads = workers.cpu_threads(Store(db_path()), cpu_jobs, info["cores"])
    owner = session_owner()
    launched, failed = [], []
    with workers.ADMIT_LOCK:  # from the limits check until the runs exist: two clicks cannot both pass
        try:
            workers.admit(Store(db_path()), len(jobs), owner)
        except ValueError as e:
            ss[key("launch_errors")] = [f"Not started: {e}"]
            return
        for n, job in enumerate(jobs):
            try:
                launched.append(workers.launch(job, db_path(), threads=threads if runs_on_cpu(job, info) else None,
                                               owner=owner))
            except Exception as e:  # never a traceback: say which run could not start
                failed.append(f"Run {n + 1} could not start: {type(e).__name__}: {e}")
    shared = f"{cpu_jobs} CPU runs share {info['cores']} cores: {threads} torch thread(s) each."
    remember_launched(launched, failed, shared if launched and cpu_jobs > 1 else None)


def start_on_ray(jobs: list) -> None:
    """Start's Ray branch: the same limits, then every job submitted to the cluster (ui.train_backend)."""
    ss = st.session_state
    cluster, why = ray_cluster()
    if cluster is None:
        ss[key("launch_errors")] = [f"Not started: Ray: {why}"]
        return
    owner = session_owner()
    with workers.ADMIT_LOCK:
        try:
            workers.admit(Store(db_path()), len(jobs), owner)
        except ValueError as e:
            ss[key("launch_errors")] = [f"Not started: {e}"]
            return
        launched, failed, note = train_backend.launch(jobs, cluster, db_path(), owner)
    remember_launched(launched, failed, note)


def remember_launched(launched: list[int], failed: list[str], note: str | None) -> None:
    """What Start did, for the next render: the runs to follow, the errors, a note."""
    ss = st.session_state
    ss[key("launch_errors")] = failed
    ss[key("launched")] = [*launched, *[i for i in ss.get(key("launched"), []) if i not in launched]][:MAX_SHOWN]
    ss[key("last_batch")] = launched
    if note:
        ss[key("note")] = note


def cancel_run(run_id: int) -> None:
    try:
        if not may_change(Store(db_path()).run(run_id)):
            raise ValueError("another visitor started it; only they can cancel it")
        workers.cancel_soon(run_id, db_path(), grace=5.0)  # the page never waits for the run to stop
        st.session_state[key("note")] = f"Run #{run_id}: cancelling (it stops at its next flush)."
    except (KeyError, ValueError, OSError) as e:
        st.session_state[key("launch_errors")] = [f"Could not cancel run #{run_id}: {e}"]


def add_run() -> None:
    ss = st.session_state
    ids = ss[key("run_ids")]
    if len(ids) >= ui.MAX_RUNS:
        return
    new = max(ids, default=-1) + 1
    fallback = ss[key("fallback")]
    try:  # a new run starts as a copy of the last one, as the person set it
        last = run_from_state(f"{P}r{ids[-1]}_", ss, fallback.get(ids[-1]) or ui.default_run("adam"))
    except (ValueError, IndexError, KeyError):
        last = fallback.get(ids[-1]) if ids else None
    last = last or ui.default_run("adam")
    seed_run_state(f"{P}r{new}_", last)
    fallback[new] = last
    ids.append(new)


def remove_run(i: int) -> None:
    ids = st.session_state[key("run_ids")]
    if len(ids) > 1 and i in ids:
        ids.remove(i)


# ---------------------------------------------------------------- widgets


def init_state() -> None:
    ss = st.session_state
    if key("run_ids") in ss:
        return
    first = tasks.get(tasks.names()[0])
    run = ui.default_run("adam", lr=first.default_lr)
    ss[key("run_ids")] = [0]
    ss[key("fallback")] = {0: run}
    seed_run_state(f"{P}r0_", run)


def task_and_budget() -> str:
    names = tasks.names()
    st.session_state.setdefault(key("task"), names[0])
    task = st.selectbox("Task", names, key=key("task"), format_func=lambda n: f"{tasks.get(n).title} ({n})")
    t = tasks.get(task)
    target = "" if t.target is None else f" Target: {t.metric_name} {'≥' if t.higher_is_better else '≤'} {t.target:g}."
    st.caption(f"{t.about} Metric: {t.metric_name}.{target} Default budget: {t.steps} steps of {t.batch_size} "
               f"{t.unit if t.unit != 'examples' else 'examples'}, an evaluation every {t.eval_every} steps.")
    return task


def settings(task: str) -> None:
    t = tasks.get(task)
    info = devices()
    limits = deploy.settings()
    steps_max = limits.max_train_steps
    c1, c2, c3, c4 = st.columns(4)
    c1.number_input("steps", min_value=1, max_value=steps_max, step=100,
                    key=_set(key("steps", task), min(t.steps, steps_max)),
                    help="optimizer steps (the task's default budget to start with)")
    full = t.full_batch is not None and st.session_state.get(key("full", task), False)
    c2.number_input("batch size", min_value=1, max_value=limits.max_batch, step=16,
                    key=_set(key("batch", task), min(t.batch_size, limits.max_batch)), disabled=full,
                    help="examples per step, drawn with replacement" + (": off while full batch is on" if full else ""))
    c2.checkbox("full batch", key=_set(key("full", task), False), disabled=t.full_batch is None,
                help=f"the whole training set ({t.train_size:,} examples) every step, without replacement: "
                     "gradient descent on the true training loss, to set against the minibatch noise of SGD"
                if t.full_batch is not None else t.no_full_batch)
    c3.number_input("seed", min_value=0, max_value=2**31 - 1, step=1, key=_set(key("seed"), 0),
                    help="model initialisation and minibatch order")
    c4.number_input("size", min_value=0.05, max_value=limits.max_size, step=0.25, format="%g",
                    key=_set(key("size"), min(1.0, limits.max_size)),
                    help="scales the task's model (and sequence length where it has one): 1 is the CPU-sized default")
    c1, c2, c3 = st.columns(3)
    c1.number_input("evaluate every (steps)", min_value=1, max_value=workers.MAX_INTERVAL, step=10,
                    key=_set(key("eval", task), t.eval_every))
    c2.number_input("smoothness every (steps, 0: never)", min_value=0, max_value=workers.MAX_INTERVAL, step=10,
                    key=_set(key("smooth", task), default_smoothness(t)),
                    help="estimate the local smoothness ‖∇L(x+d/2) − ∇L(x)‖/(‖d‖/2) every N steps (one extra "
                         "backward each time): the (L0, L1) scatter on the Compare page")
    with c3:
        flood = st.checkbox("flooding", key=_set(key("flood_on"), False),
                            help="Ishida et al. 2020: train on |loss − b| + b, so the training loss floats around b")
        st.number_input("flooding level b", min_value=0.0, max_value=100.0, step=0.01, format="%g",
                        key=_set(key("flood"), 0.05), disabled=not flood)

    if train_backend.ray_offered(limits.public):
        st.radio("run on", [train_backend.LOCAL, train_backend.RAY], key=_set(key("backend"), train_backend.LOCAL),
                 format_func=train_backend.TEXT.get, horizontal=True,
                 help="a Ray cluster: one GPU per run where it has GPUs, else CPU threads that fit each node; the "
                      "rows come back to this server's run store")
    if backend_of(st.session_state) == train_backend.RAY:
        device_row_ray()
    else:
        found = [f"**{c}**: {info['text'][c]}" for c in info["choices"] if c != "auto"]
        device_row(info["choices"], "auto: CUDA, then Apple MPS, then CPU; with several GPUs, each run goes to the "
                                    "least busy one",
                   "Found: " + " · ".join(found) + ("" if info["gpus"] or "mps" in info["choices"] else " (no GPU)")
                   + f". **auto** uses {info['text']['auto']}.")
    c1, c2 = st.columns(2)
    snap = c1.checkbox("keep weight snapshots (for the loss landscape)", key=_set(key("snap_on"), True),
                       help="the weights at evenly spaced steps, from the first to the last, kept in the run store: "
                            "the Landscape page draws the run's path through them")
    c2.number_input("snapshots per run", min_value=1, max_value=max(1, limits.max_snapshots), step=1,
                    key=_set(key("snap_n"), max(1, min(DEFAULT_SNAPSHOTS, limits.max_snapshots))), disabled=not snap,
                    help=f"at most {limits.max_snapshots} here, and {limits.max_snapshot_mb:g} MB a run (a large "
                         "model keeps fewer, and its notes say so)")
    c1, c2, c3 = st.columns(3)
    c3.checkbox("sharpness at evaluations", key=_set(key("sharpness"), False),
                help="the top Hessian eigenvalue of the training loss at every evaluation, by power iteration on "
                     "Hessian-vector products (up to 40 of them, each about two backward passes): the Compare "
                     "page's summary shows the last one")
    c1.checkbox("AMP (autocast)", key=_set(key("amp"), False),
                help="mixed precision: bfloat16 on CPU, MPS and recent GPUs, float16 with loss scaling on older ones")
    c2.checkbox("torch.compile", key=_set(key("compile"), False),
                help="compile the model and the optimizer step (the first steps are slow while they "
                     "compile; on CPU it needs a C compiler)")
    st.text_input("label (optional)", key=_set(key("label"), ""), max_chars=80,
                  help="a name for these runs, shown on the Compare page")


def device_row(choices: list[str], help: str, caption: str) -> None:
    """The device selectbox and, beside it, what the choices are (caption: Markdown we wrote)."""
    c1, c2 = st.columns([1, 2])
    if st.session_state.get(key("device")) not in choices:
        st.session_state[key("device")] = "auto"
    c1.selectbox("device", choices, key=key("device"), help=help)
    c2.caption(caption)


def device_row_ray() -> None:
    """The device choice for a Ray cluster, and what the cluster has (or why it cannot be reached)."""
    cluster, _ = ray_cluster()
    if cluster is None:  # why not is among the page's errors (jobs_from_state)
        st.caption(md(f"Runs would go to {train_backend.where()}."))
        return
    gpus = any(n.gpus >= 1 for n in cluster.nodes)
    device_row(train_backend.device_choices(cluster),
               "auto: one GPU per run where the cluster has GPUs, else CPU threads that fit each node",
               md(f"Runs go to {cluster.text()}.") + " **auto**: " + ("one GPU per run." if gpus else "CPU threads."))


def _set(k: str, default) -> str:
    st.session_state.setdefault(k, default)
    return k


def runs_editor() -> None:
    ss = st.session_state
    ids = ss[key("run_ids")]
    fallback = ss[key("fallback")]
    cols = st.columns(min(len(ids), 4))
    for n, i in enumerate(ids):
        with cols[n % len(cols)]:
            prev = fallback.get(i) or ui.default_run("adam")
            with run_expander(f"{P}r{i}_", n, prev, expanded=len(ids) == 1):
                fallback[i] = run_editor(f"{P}r{i}_", prev)
                st.button("remove this run", key=f"{P}rm{i}", on_click=remove_run, args=(i,), disabled=len(ids) == 1)
    st.button("add a run", key=key("add"), on_click=add_run, disabled=len(ids) >= ui.MAX_RUNS,
              help=f"up to {ui.MAX_RUNS} runs; a new run starts as a copy of the last one")


# ---------------------------------------------------------------- live progress (reads the store only)


def live_numbers(store: Store, run: dict) -> dict:
    """Latest metric and steps/s of a run, from the store (the summary once it has one)."""
    summary = run.get("summary") or {}
    metric = summary.get("final_metric")
    ev = store.evals(run["id"])
    finite = [m for m in ev["metric"].tolist() if math.isfinite(m)]
    if finite:
        metric = finite[-1]
    sps = summary.get("steps_per_s")
    if sps is None and run.get("last_step") is not None:
        tail = store.steps(run["id"], since=int(run["last_step"]) - 1)
        if len(tail["wall"]) and tail["wall"][-1] > 0:
            sps = (int(run["last_step"]) + 1) / float(tail["wall"][-1])
    return {"metric": metric, "steps_per_s": sps}


def shown_ids(store: Store) -> list[int]:
    """This session's launched runs, and every run still active in the store (after a reload too);
    on a public server only this session's own runs (others' are none of its business)."""
    mine = list(st.session_state.get(key("launched"), []))
    owner = session_owner() if deploy.settings().public else None
    active = [r["id"] for r in store.list_runs(status=ACTIVE, limit=MAX_SHOWN, owner=owner)]
    return sorted(set(mine) | set(active), reverse=True)[:MAX_SHOWN]


def progress_rows(ids: list[int], polling: bool) -> None:
    store = Store()
    runs = store.list_runs(ids=ids)
    if not runs:
        return
    for r in runs:
        p = progress(r)
        nums = live_numbers(store, r)
        name = tasks.info(r)["metric_name"]
        parts = [p["text"]]  # the status is the label's last word: said once
        if r.get("last_loss") is not None and math.isfinite(r["last_loss"]):
            parts.append(f"loss {r['last_loss']:.4g}")
        if nums["metric"] is not None:
            parts.append(f"{name} {nums['metric']:.4g}")
        if nums["steps_per_s"]:
            parts.append(f"{nums['steps_per_s']:.0f} steps/s")
        where = device_text(r.get("device_info")) or r.get("device")
        if where:
            parts.append(str(where))
        c1, c2 = st.columns([5, 1])
        with c1:
            st.progress(p["fraction"] or 0.0, text=f"**{md(run_label(r))}** · " + md(" · ".join(parts)))
            if r.get("error") and not p["active"]:
                st.caption(md(f"#{r['id']}: " + r["error"].splitlines()[0]))
        with c2:
            if p["active"] and may_change(r):
                st.button("Cancel", key=f"{P}cancel{r['id']}", on_click=cancel_run, args=(r["id"],),
                          help="stop this run (it keeps everything logged so far)")
    if polling and not any(r["status"] in ACTIVE for r in runs):
        st.rerun(scope="app")  # all ended: redraw the page once, which stops the polling


def progress_section() -> None:
    store = Store()
    ids = shown_ids(store)
    if not ids:
        return
    st.subheader("Runs")
    active = any(r["status"] in ACTIVE for r in store.list_runs(ids=ids))
    st.fragment(run_every=1.0 if active else None)(progress_rows)(ids, active)
    batch = st.session_state.get(key("last_batch")) or []
    c1, c2 = st.columns(2)
    if batch:
        c1.link_button("Compare the runs just started", compare_url(sorted(batch)))
    c2.link_button("Compare all these runs", compare_url(sorted(ids)))


# ---------------------------------------------------------------- the page


def public_limits_text(limits: deploy.Settings) -> str:
    """What this public server allows, in a sentence."""
    jobs = "" if limits.max_jobs is None else f"at most {limits.max_jobs} training job(s) at once on the server"
    mine = "" if limits.max_session_jobs is None else f"{limits.max_session_jobs} of them yours"
    parts = [p for p in (jobs, mine) if p]
    return ("This is a public demo: " + (", ".join(parts) + "; " if parts else "")
            + f"each run up to {limits.max_train_steps:,} steps, batch {limits.max_batch:,}, size "
            f"{limits.max_size:g}. You can cancel only the runs you started.")


def main() -> None:
    try:
        Store().reap()  # runs whose worker died are marked interrupted
    except Exception as e:  # an unreadable store must not break the page
        st.error(f"The run store at {md(db_path())} can't be read: {md(e)}")
        return
    init_state()
    st.title("Train")
    st.caption("The explorer's optimizers, clipping and schedules on real PyTorch models. Every run is its own "
               "worker process writing to the run store: reload or leave the page, the runs go on.")
    task = task_and_budget()
    settings(task)
    st.subheader("Runs to start")
    runs_editor()
    jobs, errors = jobs_from_state(st.session_state)
    for e in errors:
        st.error(md(e))
    limits = deploy.settings()
    off = limits.disabled_reason()
    if off:
        st.info(off)
    elif limits.public:
        st.caption(public_limits_text(limits))
    st.button(f"Start {len(jobs)} run{'s' if len(jobs) != 1 else ''}" if jobs else "Start", key=key("start"),
              type="primary", on_click=start_runs, disabled=bool(errors) or not jobs or bool(off))
    for e in st.session_state.pop(key("launch_errors"), []):
        st.error(md(e))
    note = st.session_state.pop(key("note"), None)
    if note:
        st.info(md(note))
    progress_section()
    st.caption(f"Run store: {db_path()}. The same runs from a terminal: "
               "`python -m training run --task digits-mlp --optimizer adam --lr 1e-3` (see `python -m training -h`).")


main()
