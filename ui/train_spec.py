"""The training pages' plain helpers: widget state -> Jobs, a stored run -> an explorer link, run labels,
and an incremental cache of the store's curves. No streamlit here (the pages call these).

    run_from_state(prefix, state, fallback) -> RunConfig     # what ui.widgets.run_editor shows, from its keys
    explorer_spec(job) / explorer_url(job)                 # "Open the same settings on a 2D surface"
    compare_url(run_ids), COMPARE                          # ?runs=1,2,3 (COMPARE.from_query reads it)
    run_label(run), progress(run)
    CurveCache                                             # steps/evals per run, fetched with since=
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import optimizers
from optimizers.chain import MAX_PHASES, natural_length
from optimizers.run import RunConfig
from optimizers.schedules import schedule_spec
from training.job import Job, job_dict, label_of, run_of
from training.store import ACTIVE, Store

from . import codec
from .links import query_string
from .spec import MAX_RUNS, MAX_STEPS, ExplorerSpec

EXPLORER_PATH = "./"  # the explorer is the app's default page; relative, so a base path still works
COMPARE_PATH = "compare"  # the Compare page's url_path (app.PAGES)
SURFACE_STEPS = (10, MAX_STEPS)  # the explorer's steps slider range
CLIP_SURFACE = "quartic"  # x**4: gradients grow with the distance, where clipping matters (Zhang et al. 2020)
PLAIN_SURFACE = "rosenbrock"


# ---------------------------------------------------------------- widget state -> RunConfig -> Job


def run_from_state(prefix: str, state: Mapping, fallback: RunConfig) -> RunConfig:
    """The RunConfig that ui.widgets.run_editor(prefix, fallback) shows, read from its widget keys.

    The Launch page builds its jobs with this both when it renders and in the Start button's
    callback (which runs before the widgets do, with their newest values). A key that is missing
    takes what run_editor would seed it with: the fallback's optimizer/clipping/schedule and the
    registry's defaults. Raises ValueError where the values do not make a valid run.
    """
    def get(key: str, default: Any) -> Any:
        v = state.get(prefix + key, default)
        return default if v is None else v

    opt = get("opt", fallback.optimizer)
    if opt not in optimizers.names():
        raise ValueError(f"unknown optimizer {opt!r}")
    hp = []
    for h in optimizers.spec(opt).hparams:
        key = f"hp.{opt}.{h.name}"
        if h.kind == "pair":
            hp.append((h.name, tuple(get(f"{key}.{i}", h.default[i]) for i in range(2))))
        else:
            hp.append((h.name, get(key, h.default)))
    clip = get("clip", fallback.clip)
    thr = get("clip_thr", fallback.clip_threshold)
    sched = get("sched", fallback.schedule)
    skw = schedule_kw_from_state(prefix, state, sched)
    return RunConfig(opt, tuple(hp), clip, thr, sched, skw, phases_from_state(prefix, state, sched, skw, fallback))


def schedule_kw_from_state(prefix: str, state: Mapping, schedule: str) -> tuple:
    """A schedule's arguments from ui.widgets.schedule_widgets(prefix, schedule)'s keys (registry defaults
    where missing; None is "auto", derived)."""
    if schedule not in optimizers.schedule_names():
        raise ValueError(f"unknown schedule {schedule!r}")
    skw = []
    for p in schedule_spec(schedule).params:
        v = state.get(prefix + f"skw.{schedule}.{p.name}", p.default)  # None: derived ("auto")
        if v is not None and p.kind == "int" and isinstance(v, float) and v.is_integer():
            v = int(v)
        skw.append((p.name, v))
    return tuple(skw)


NO_PHASE = ""  # the "then" box's choice where no further phase follows


def phase_keys(prefix: str, k: int) -> tuple[str, str, str]:
    """The widget keys of a chained schedule's phase k >= 1: (its schedule, its first step, its arguments' prefix)."""
    return f"{prefix}then.{k}", f"{prefix}at.{k}", f"{prefix}ph{k}."


def auto_start(name: str, kw, start: int) -> int | None:
    """Where the next phase starts when its step is left blank: after this phase's warm-up
    (optimizers.chain.natural_length), else None (it must be given)."""
    n = natural_length(name, dict(kw))
    return None if n is None else start + n


def phases_from_state(prefix: str, state: Mapping, first: str, first_kw, fallback: RunConfig) -> tuple:
    """The later phases ui.widgets.phase_widgets shows: ((milestone, name, arguments), ...). A blank first
    step means "where the phase before ends" (auto_start); ValueError where that is not defined."""
    out: list[tuple[int, str, tuple]] = []
    name, kw, start = first, first_kw, 0
    for k in range(1, MAX_PHASES):
        seeded = fallback.then[k - 1] if k <= len(fallback.then) else None
        k_name, k_at, k_prefix = phase_keys(prefix, k)
        nxt = state.get(k_name, seeded[1] if seeded else NO_PHASE)
        if not nxt:
            break
        nxt_kw = schedule_kw_from_state(k_prefix, state, nxt)
        at = state.get(k_at, seeded[0] if seeded else None)
        if at is None:
            at = auto_start(name, kw, start)
            if at is None:
                raise ValueError(f"schedule phase {k + 1} ({nxt}): say from which step it starts (it follows "
                                 f"{name}, which has no warm-up length to start after)")
        name, kw, start = nxt, nxt_kw, int(at)
        out.append((start, name, kw))
    return tuple(out)


def explorer_spec(job: Job | Mapping, total_steps: int | None = None) -> ExplorerSpec | None:
    """The explorer's view of a run's settings as one run on a 2D surface (None where impossible).

    The surface: `quartic` (x**4, gradients that grow without bound) where the run clips its
    gradients, `rosenbrock` otherwise. Steps: the run's own (so a schedule has the same shape),
    within the explorer's range.
    """
    run = run_of(job)
    if run is None:
        return None
    d = job_dict(job)
    from training import tasks  # torch, where a page needs it

    steps = total_steps or d.get("steps") or tasks.budget(d.get("task")) or 300
    steps = int(min(max(int(steps), SURFACE_STEPS[0]), SURFACE_STEPS[1]))
    surface = CLIP_SURFACE if run.clip != "none" else PLAIN_SURFACE
    try:
        return ExplorerSpec(surface=surface, runs=(run,), steps=steps)
    except ValueError:
        return None


def explorer_url(job: Job | Mapping, total_steps: int | None = None) -> str | None:
    """A relative URL that opens the run's settings in the explorer (None where impossible)."""
    spec = explorer_spec(job, total_steps)
    return None if spec is None else f"{EXPLORER_PATH}?{query_string(spec)}"


# ---------------------------------------------------------------- ids, labels, progress


def compare_url(run_ids: Iterable[int]) -> str:
    """The Compare page with these runs selected (relative: works under a base path)."""
    return f"{COMPARE_PATH}?runs={','.join(str(int(i)) for i in run_ids)}"


MAX_RUN_IDS = 64  # ids read from one link; the rest are left out


@dataclass(frozen=True)
class CompareView:
    """The Compare page's link, ?runs=1,2,3: the runs selected (ids that exist or not; the page says which not)."""

    runs: tuple[int, ...] = ()


COMPARE = codec.View(
    spec=CompareView, entries=(codec.Ids("runs", "runs", "runs", most=MAX_RUN_IDS, low=0),),
    link="a compare link", fallback="selection", run_word="run", max_runs=0,
    run_key_name=lambda i, what: f"run {i + 1} {what}", joined=("runs",), max_value=10**7,
)


def _run_text(run: Mapping) -> str:
    """The run's one label from a run dict of Store.list_runs (training.job.label_of)."""
    return label_of({"optimizer": run.get("optimizer"), **(run.get("job") or {})})


def run_label(run: Mapping) -> str:
    """"#12 digits-mlp · Adam lr=0.001 · clip norm 1 · cosine · “name” · done" (a run dict from Store.list_runs)."""
    parts = [f"#{run['id']} {run.get('task', '')}", _run_text(run)]
    if run.get("label"):
        parts.append(f"“{run['label']}”")
    parts.append(str(run.get("status", "")))
    return " · ".join(parts)


def short_label(run: Mapping) -> str:
    """A legend entry: "#12 Adam lr=0.001 · clip norm 1 · cosine" (no task, no status)."""
    return f"#{run['id']} {_run_text(run)}"


def may_control(run: Mapping, owner: str | None, public: bool) -> bool:
    """Whether this session may cancel or delete the run: anyone locally; on a public server only
    the session that launched it (runs from the command line belong to no visitor)."""
    return not public or (owner is not None and run.get("owner") == owner)


def progress(run: Mapping) -> dict:
    """What the Launch page's progress row shows for a run dict: fraction done (None when the budget
    is not known yet), step text, status, whether it still runs."""
    total = run.get("total_steps")
    done = 0 if run.get("last_step") is None else int(run["last_step"]) + 1
    frac = None if not total else min(1.0, done / total)
    if run.get("status") in ("done",) and frac is not None:
        frac = 1.0
    return {"fraction": frac, "done": done, "total": total, "active": run.get("status") in ACTIVE,
            "text": f"step {done}/{total}" if total else f"step {done}"}


# ---------------------------------------------------------------- the curves, fetched incrementally


def _concat(a: dict, b: dict) -> dict:
    return {k: (np.concatenate([a[k], b[k]]) if isinstance(a[k], np.ndarray) else list(a[k]) + list(b[k]))
            for k in a}


class CurveCache:
    """Each run's step and eval columns (Store.steps / Store.evals), kept between polls.

    A running run's new step rows are fetched with `since=` (a poll reads only what is new); its
    evals (one row per eval_every steps, and an eval may be rewritten at the end) are read whole.
    Once a run has a final status it is read whole one last time and then served from memory.
    Thread-safe: the page keeps one per server (st.cache_resource) for all sessions.
    """

    def __init__(self, max_runs: int = 256):
        self.max_runs = max_runs
        self._lock = threading.Lock()
        self._data: dict[tuple, dict] = {}  # (db path, run id, created) -> {"steps", "evals", "final"}

    def get(self, store: Store, run: Mapping) -> tuple[dict, dict]:
        """(steps, evals) of a run dict (from Store.list_runs), up to date."""
        key = (str(store.path), int(run["id"]), run.get("created"))
        final = run.get("status") not in ACTIVE
        with self._lock:
            entry = self._data.get(key)
        if entry is not None and entry["final"]:
            return entry["steps"], entry["evals"]
        if entry is None or final:
            steps = store.steps(run["id"])
        else:
            last = int(entry["steps"]["step"][-1]) if len(entry["steps"]["step"]) else -1
            steps = _concat(entry["steps"], store.steps(run["id"], since=last))
        evals = store.evals(run["id"])
        with self._lock:
            if len(self._data) >= self.max_runs:
                self._data.pop(next(iter(self._data)))
            self._data[key] = {"steps": steps, "evals": evals, "final": final}
        return steps, evals

    def forget(self, run_id: int) -> None:
        with self._lock:
            for k in [k for k in self._data if k[1] == int(run_id)]:
                del self._data[k]


__all__ = ["COMPARE", "MAX_RUNS", "CompareView", "CurveCache", "compare_url", "explorer_spec", "explorer_url",
           "may_control", "progress", "run_from_state", "run_label", "short_label"]
