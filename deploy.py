"""Deployment settings: public mode and the limits it brings, read from the environment.

One switch, OPT_PLAYGROUND_PUBLIC=1, turns a server into a public demo (default off: a local user
keeps every power). Each limit below can be overridden by its own variable; `settings()` reads
them on every call (microseconds), so a test can monkeypatch the environment.

    variable                              public default   local default   what it bounds
    OPT_PLAYGROUND_PUBLIC                 -                off             the switch
    OPT_PLAYGROUND_TRAINING               off              on              may visitors launch training jobs
    OPT_PLAYGROUND_MAX_JOBS               2                none            training jobs active at once, server-wide
    OPT_PLAYGROUND_MAX_SESSION_JOBS       2                none            ... started by one browser session
    OPT_PLAYGROUND_MAX_TRAIN_STEPS        5000             10^7            steps of one training job
    OPT_PLAYGROUND_MAX_BATCH              512              65536           batch size of one job
    OPT_PLAYGROUND_MAX_SIZE               1                64              model/data scale of one job
    OPT_PLAYGROUND_MAX_STORE_MB           200              none            run store size past which Start is refused
    OPT_PLAYGROUND_DEADLINE_S             15               none            compute seconds of one page request
    OPT_PLAYGROUND_MAX_WORK               1.5e8            5e8             rows x steps of one sweep request
    OPT_PLAYGROUND_SLOTS                  cores - 1        cores           heavy computations at once, server-wide
    OPT_PLAYGROUND_SLOT_WAIT_S            60               600             how long a request waits for a slot
    OPT_PLAYGROUND_TORCH_THREADS          1                1               torch threads of the server's computations
    OPT_PLAYGROUND_MAX_SNAPSHOTS          20               200             weight snapshots one training job keeps
    OPT_PLAYGROUND_MAX_SNAPSHOT_MB        20               1024            ... their size, per run (fewer are kept)
    OPT_PLAYGROUND_MAX_GRID               51               401             points per side of a loss-landscape grid
    OPT_PLAYGROUND_MAX_LANDSCAPES         1                none            landscape evaluations at once, server-wide
    OPT_PLAYGROUND_LANDSCAPE_S            300              none            compute seconds of one landscape evaluation

No streamlit, no torch: the engine (trajectories), the job validator (training.workers.check_job)
and the pages all read the same values.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

PREFIX = "OPT_PLAYGROUND_"
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}

# hard ceilings that hold in every mode: what a widget's maximum says, rechecked on the server
LOCAL_MAX_TRAIN_STEPS = 10_000_000
LOCAL_MAX_BATCH = 1 << 16
LOCAL_MAX_SIZE = 64.0
LOCAL_MAX_WORK = 5 * 10**8
LOCAL_MAX_SNAPSHOTS = 200
LOCAL_MAX_SNAPSHOT_MB = 1024.0
LOCAL_MAX_GRID = 401


@dataclass(frozen=True)
class Settings:
    public: bool
    training: bool  # launching training jobs is allowed
    max_jobs: int | None  # active training jobs, server-wide (None: unbounded)
    max_session_jobs: int | None  # active training jobs of one browser session
    max_train_steps: int
    max_batch: int
    max_size: float
    max_store_mb: float | None
    deadline_s: float | None  # compute seconds of one page request (None: none)
    max_work: int  # rows x steps of one sweep request, summed over its optimizers and seeds
    slots: int  # heavy computations running at once in this server process
    slot_wait_s: float
    torch_threads: int
    max_snapshots: int  # weight snapshots one training job keeps (Job.snapshots)
    max_snapshot_mb: float  # their size per run: the runner keeps fewer where they would not fit
    max_grid: int  # points per side of a loss-landscape grid
    max_landscapes: int | None  # landscape evaluations running at once, server-wide
    landscape_s: float | None  # compute seconds of one landscape evaluation (it keeps the rows done)

    def disabled_reason(self) -> str | None:
        """Why training cannot be launched here (None where it can)."""
        if self.training:
            return None
        return ("Training is switched off on this public demo: every run is a process with its own memory and "
                "CPU, and a shared server cannot give one to every visitor. Run the app on your own machine "
                "(pip install -r requirements.txt; streamlit run app.py) to train, or ask the operator to set "
                "OPT_PLAYGROUND_TRAINING=on.")


def _text(name: str) -> str | None:
    v = os.environ.get(PREFIX + name)
    return None if v is None else v.strip()


def _flag(name: str, default: bool) -> bool:
    v = _text(name)
    if v is None:
        return default
    v = v.lower()
    if v in TRUE:
        return True
    if v in FALSE:
        return False
    raise ValueError(f"{PREFIX}{name}={v!r}: use 1/0, true/false, on/off")


def _number(name: str, default, kind=float, low: float = 0.0, none_ok: bool = False):
    """A positive number from the environment ("none" or "off" for unbounded where none_ok)."""
    v = _text(name)
    if v is None or v == "":
        return default
    if none_ok and v.lower() in ("none", "off", "unlimited"):
        return None
    try:
        x = float(v)
    except ValueError:
        raise ValueError(f"{PREFIX}{name}={v!r} is not a number") from None
    if not math.isfinite(x) or x < low:
        raise ValueError(f"{PREFIX}{name}={v!r} must be a finite number >= {low:g}")
    return kind(x)


def settings() -> Settings:
    """The settings in force now (public mode's defaults where OPT_PLAYGROUND_PUBLIC is on).

    A malformed variable raises ValueError naming it: an operator's typo must not silently
    open a public server up.
    """
    public = _flag("PUBLIC", False)
    cores = os.cpu_count() or 1
    if public:
        d = dict(training=False, max_jobs=2, max_session_jobs=2, max_train_steps=5000, max_batch=512, max_size=1.0,
                 max_store_mb=200.0, deadline_s=15.0, max_work=150_000_000, slots=max(1, cores - 1),
                 slot_wait_s=60.0, max_snapshots=20, max_snapshot_mb=20.0, max_grid=51, max_landscapes=1,
                 landscape_s=300.0)
    else:
        d = dict(training=True, max_jobs=None, max_session_jobs=None, max_train_steps=LOCAL_MAX_TRAIN_STEPS,
                 max_batch=LOCAL_MAX_BATCH, max_size=LOCAL_MAX_SIZE, max_store_mb=None, deadline_s=None,
                 max_work=LOCAL_MAX_WORK, slots=cores, slot_wait_s=600.0, max_snapshots=LOCAL_MAX_SNAPSHOTS,
                 max_snapshot_mb=LOCAL_MAX_SNAPSHOT_MB, max_grid=LOCAL_MAX_GRID, max_landscapes=None, landscape_s=None)
    return Settings(
        public=public,
        training=_flag("TRAINING", d["training"]),
        max_jobs=_number("MAX_JOBS", d["max_jobs"], int, 1, none_ok=True),
        max_session_jobs=_number("MAX_SESSION_JOBS", d["max_session_jobs"], int, 1, none_ok=True),
        # an operator may lower the hard ceilings, never raise them
        max_train_steps=min(_number("MAX_TRAIN_STEPS", d["max_train_steps"], int, 1), LOCAL_MAX_TRAIN_STEPS),
        max_batch=min(_number("MAX_BATCH", d["max_batch"], int, 1), LOCAL_MAX_BATCH),
        max_size=min(_number("MAX_SIZE", d["max_size"], float, 0.05), LOCAL_MAX_SIZE),
        max_store_mb=_number("MAX_STORE_MB", d["max_store_mb"], float, 1, none_ok=True),
        deadline_s=_number("DEADLINE_S", d["deadline_s"], float, 0.1, none_ok=True),
        max_work=min(_number("MAX_WORK", d["max_work"], int, 1000), LOCAL_MAX_WORK),
        slots=_number("SLOTS", d["slots"], int, 1),
        slot_wait_s=_number("SLOT_WAIT_S", d["slot_wait_s"], float, 0),
        torch_threads=_number("TORCH_THREADS", 1, int, 1),
        max_snapshots=min(_number("MAX_SNAPSHOTS", d["max_snapshots"], int, 0), LOCAL_MAX_SNAPSHOTS),
        max_snapshot_mb=min(_number("MAX_SNAPSHOT_MB", d["max_snapshot_mb"], float, 0.001), LOCAL_MAX_SNAPSHOT_MB),
        max_grid=min(_number("MAX_GRID", d["max_grid"], int, 3), LOCAL_MAX_GRID),
        max_landscapes=_number("MAX_LANDSCAPES", d["max_landscapes"], int, 1, none_ok=True),
        landscape_s=_number("LANDSCAPE_S", d["landscape_s"], float, 1, none_ok=True),
    )
