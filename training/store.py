"""The run store: every training run, its per-step and per-eval rows, in one SQLite file.

One file (env var OPT_PLAYGROUND_DB, else ./runs.sqlite) shared by the pages, the command line
and every worker process. WAL mode lets one writer and many readers work at once; every
batched write of a running job is one transaction, so a process killed mid-run leaves every
row it flushed and never a half-written one. Connections are short-lived (opened per call,
closed before it returns): sqlite3 objects never cross threads or processes.

Schema (PRAGMA user_version = SCHEMA_VERSION):
  runs(id, created, job_json, label, task, optimizer, device, device_info_json, status, pid,
       host, heartbeat, started, finished, summary_json, error, cancel_requested, owner)
  steps(run_id, step, loss, lr, grad_norm, clip_coef, wall)            one row per optimizer step
  evals(run_id, step, val_loss, metric, throughput, smoothness, grad_norm, wall, extra_json)
  snapshots(run_id, step, n_params, params)       a run's weights at some steps (Job.snapshots), float32
  landscapes(id, run_id, key, runs, status, ...)  loss-landscape requests (training/landscape/cache.py)
  landscape_rows(landscape_id, row, loss, metric) their values, one row of a grid at a time
Times (created, heartbeat, started, finished) are Unix seconds; `wall` is seconds since the run
started. SQLite stores NaN as NULL: readers get NaN back in the numeric columns.

Status: queued -> running -> done | failed | cancelled | diverged; a run whose process vanished
(killed, machine rebooted) is marked interrupted by reap(), which pages and the CLI call on start.
"""
from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .job import EvalRow, Job, StepRow

SCHEMA_VERSION = 3
STATUSES = ("queued", "running", "done", "failed", "cancelled", "diverged", "interrupted")
ACTIVE = ("queued", "running")  # a process owns the run (or is about to)
FINAL = tuple(s for s in STATUSES if s not in ACTIVE)
ENV_VAR = "OPT_PLAYGROUND_DB"
BUSY_TIMEOUT_MS = 30_000  # a writer waits this long for another's transaction before giving up
STALE_AFTER = 120.0  # seconds without a heartbeat after which reap() gives up on a run
HEARTBEAT_EVERY = 10.0  # seconds between a RunSink's background heartbeats

STEP_COLUMNS = ("step", "loss", "lr", "grad_norm", "clip_coef", "wall")
EVAL_COLUMNS = ("step", "val_loss", "metric", "throughput", "smoothness", "grad_norm", "wall")

# Version 3: the loss landscape's tables (training/landscape). Rowid tables: their rows hold blobs
# of up to megabytes, which SQLite keeps better out of a WITHOUT ROWID b-tree.
_LANDSCAPE_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step     INTEGER NOT NULL,   -- updates done when the weights were copied
    n_params INTEGER NOT NULL,
    params   BLOB    NOT NULL,   -- float32 little-endian, in the flat buffer's order (training/flat.py)
    UNIQUE (run_id, step)
);
CREATE TABLE IF NOT EXISTS landscapes (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id           INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  -- the centre's run
    key              TEXT    NOT NULL,   -- the request as canonical JSON (training/landscape/spec.py)
    runs             TEXT    NOT NULL,   -- ",3,5,": every run it reads, so deleting one drops it
    created          REAL    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'queued',
    total            INTEGER NOT NULL,   -- rows to evaluate (landscape_rows holds those done)
    pid              INTEGER,
    host             TEXT,
    heartbeat        REAL,
    finished         REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    owner            TEXT,
    result_json      TEXT,   -- the axes, the plane, the paths (written before the first row)
    UNIQUE (run_id, key)
);
CREATE INDEX IF NOT EXISTS landscapes_status ON landscapes(status);
CREATE TABLE IF NOT EXISTS landscape_rows (
    landscape_id INTEGER NOT NULL REFERENCES landscapes(id) ON DELETE CASCADE,
    row          INTEGER NOT NULL,   -- a grid's row (one b value) or a line's point
    loss         BLOB    NOT NULL,   -- float64 (cols,)
    metric       BLOB    NOT NULL,
    PRIMARY KEY (landscape_id, row)
);
"""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    created          REAL    NOT NULL,
    job_json         TEXT    NOT NULL,
    label            TEXT    NOT NULL DEFAULT '',
    task             TEXT    NOT NULL,
    optimizer        TEXT    NOT NULL,
    device           TEXT,               -- as requested, then as resolved by the runner
    device_info_json TEXT,
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    pid              INTEGER,            -- the process that owns the run
    host             TEXT,               -- where that pid lives (reap() checks pids on its own host only)
    heartbeat        REAL,
    started          REAL,
    finished         REAL,
    summary_json     TEXT,
    error            TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner            TEXT                -- the browser session that launched it (public mode), NULL for anyone's
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
CREATE INDEX IF NOT EXISTS runs_task ON runs(task, created);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created);
CREATE TABLE IF NOT EXISTS steps (
    run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step      INTEGER NOT NULL,
    loss      REAL,
    lr        REAL,
    grad_norm REAL,
    clip_coef REAL,
    wall      REAL,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS evals (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step       INTEGER NOT NULL,
    val_loss   REAL,
    metric     REAL,
    throughput REAL,
    smoothness REAL,
    grad_norm  REAL,
    wall       REAL,
    extra_json TEXT,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
""" + _LANDSCAPE_SCHEMA
# (run_id, step) primary keys cluster each run's rows in step order: reading one run's curve is
# one index range scan, and a step written twice (an eval at the end that coincides with a
# periodic one) replaces the first.

# Migrations from version v to v + 1, applied in order by Store._init.
_MIGRATIONS: dict[int, str] = {
    1: "ALTER TABLE runs ADD COLUMN owner TEXT",  # who may cancel or delete a run on a public server
    2: _LANDSCAPE_SCHEMA,  # weight snapshots and loss landscapes
}


def default_path() -> Path:
    """$OPT_PLAYGROUND_DB, else ./runs.sqlite (in the working directory; gitignored)."""
    return Path(os.environ.get(ENV_VAR) or "runs.sqlite")


def _num(x: Any) -> float | None:
    """A float for SQLite; None for missing values (NaN is stored as NULL by SQLite anyway)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _json_default(o: Any) -> Any:
    """Make tensors, numpy values, tuples and paths JSON-able in summaries and device info."""
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    return str(o)


def _dumps(d: Any) -> str | None:
    return None if d is None else json.dumps(d, default=_json_default, allow_nan=True)


def _loads(s: str | None) -> Any:
    return None if s is None else json.loads(s)


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid exists on this host and is not a zombie."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    except OSError:
        return False
    try:  # a killed child its parent has not waited for yet is a zombie: dead for our purposes
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust kill(pid, 0)


class Store:
    """The run store at `path` (default: default_path()). Cheap to create; holds no connection."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_path()
        self.path = self.path.expanduser().absolute()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._init()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # ------------------------------------------------------------ connections

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: autocommit; transactions are explicit (BEGIN IMMEDIATE ... COMMIT)
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        con.execute("PRAGMA synchronous = NORMAL")  # in WAL mode: durable at checkpoints, never corrupt
        con.execute("PRAGMA foreign_keys = ON")
        return con

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on a fresh connection: all of it lands, or none of it."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")  # take the write lock now: no deadlock on upgrade
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def _init(self) -> None:
        with self._read() as con:
            if (con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
                    and con.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"):
                return  # the common case: a read, no write lock (pages create Stores on every rerun)
            mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]  # persistent: the file keeps it
            if mode.lower() != "wal":
                raise RuntimeError(f"{self.path}: could not switch SQLite to WAL mode (got {mode})")
        with self._write() as con:  # two processes opening a new store: one creates it
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} has schema version {version}; this code knows up to {SCHEMA_VERSION}")
            scripts = [_SCHEMA] if version == 0 else [_MIGRATIONS[v] for v in range(version, SCHEMA_VERSION)]
            for script in scripts:
                for stmt in script.split(";"):
                    if stmt.strip():
                        con.execute(stmt)
            if version != SCHEMA_VERSION:
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def pragma(self, name: str) -> Any:
        """A PRAGMA's value as a fresh connection sees it (journal_mode, user_version, ...)."""
        with self._read() as con:
            return con.execute(f"PRAGMA {name}").fetchone()[0]

    # ------------------------------------------------------------ runs

    def create_run(self, job: Job, *, pid: int | None = None, owner: str | None = None) -> int:
        """A new run for `job`, status queued; returns its id. owner: the session that launched it."""
        now = time.time()
        with self._write() as con:
            cur = con.execute(
                "INSERT INTO runs (created, job_json, label, task, optimizer, device, status, pid, host, heartbeat,"
                " owner) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
                (now, job.to_json(), job.label, job.task, job.run.optimizer, job.device, pid,
                 socket.gethostname() if pid else None, now, owner),
            )
            return int(cur.lastrowid)

    def claim(self, run_id: int, pid: int | None = None) -> None:
        """Record that process `pid` (default: this one) on this host owns the run."""
        with self._write() as con:
            con.execute("UPDATE runs SET pid = ?, host = ?, heartbeat = ? WHERE id = ?",
                        (pid or os.getpid(), socket.gethostname(), time.time(), run_id))

    def heartbeat(self, run_id: int) -> None:
        with self._write() as con:
            con.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time(), run_id))

    def set_status(self, run_id: int, status: str, *, error: str | None = None,
                   summary: dict | None = None, only_if_active: bool = False) -> bool:
        """Set a run's status (and finished time for a final one); returns whether a row changed.

        only_if_active: change it only while it is queued or running (never overwrite a final
        status another process wrote first).
        """
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}; one of: {', '.join(STATUSES)}")
        now = time.time()
        sets = ["status = ?", "heartbeat = ?"]
        args: list[Any] = [status, now]
        if status in FINAL:
            sets.append("finished = ?")
            args.append(now)
        if error is not None:
            sets.append("error = ?")
            args.append(error)
        if summary is not None:
            sets.append("summary_json = ?")
            args.append(_dumps(summary))
        where = "id = ?" + (f" AND status IN {ACTIVE!r}" if only_if_active else "")
        with self._write() as con:
            return con.execute(f"UPDATE runs SET {', '.join(sets)} WHERE {where}", (*args, run_id)).rowcount > 0

    def request_cancel(self, run_id: int) -> None:
        """Ask the run's process to stop: its RunSink.cancelled() turns True at the next poll."""
        with self._write() as con:
            con.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))

    def cancel_requested(self, run_id: int) -> bool:
        with self._read() as con:
            row = con.execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return bool(row and row[0])

    def mark_running(self, run_id: int, device: str, info: dict | None, *, pid: int | None, host: str | None,
                     only_if_active: bool = False) -> bool:
        """The run has started on `device` (info: what it is; the runner's info dict), in process `pid`
        on `host` (pid None: no process of one machine owns it, a run on a Ray cluster: reap() then
        goes by heartbeats alone and cancel() signals nothing). only_if_active: not once it has a final
        status (a cancel that came first). Returns whether a row changed."""
        now = time.time()
        where = "id = ?" + (f" AND status IN {ACTIVE!r}" if only_if_active else "")
        with self._write() as con:
            return con.execute(
                "UPDATE runs SET status = 'running', device = ?, device_info_json = ?, pid = ?, host = ?,"
                f" started = COALESCE(started, ?), heartbeat = ? WHERE {where}",
                (str(device), _dumps(info or {}), pid, host, now, now, run_id),
            ).rowcount > 0

    def clear_rows(self, run_id: int) -> None:
        """Delete a run's rows (steps, evaluations, snapshots), keeping the run: a retried run starts from scratch."""
        with self._write() as con:
            _delete_rows(con, run_id)

    def delete_run(self, run_id: int, *, force: bool = False) -> None:
        """Delete a run and its rows. A queued or running run is refused unless force=True."""
        with self._write() as con:
            row = con.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id} in {self.path}")
            if row[0] in ACTIVE and not force:
                raise ValueError(f"run {run_id} is {row[0]}; cancel it before deleting it")
            _delete_rows(con, run_id)
            gone = f"%,{int(run_id)},%"
            con.execute("DELETE FROM landscape_rows WHERE landscape_id IN"
                        " (SELECT id FROM landscapes WHERE runs LIKE ?)", (gone,))
            con.execute("DELETE FROM landscapes WHERE runs LIKE ?", (gone,))
            con.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # ------------------------------------------------------------ rows (written by RunSink)

    def add_steps(self, run_id: int, rows: Iterable[StepRow]) -> None:
        data = [(run_id, int(r.step), _num(r.loss), _num(r.lr), _num(r.grad_norm), _num(r.clip_coef), _num(r.wall))
                for r in rows]
        with self._write() as con:
            con.executemany("INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?)", data)
            con.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time(), run_id))

    def add_evals(self, run_id: int, rows: Iterable[EvalRow]) -> None:
        data = [(run_id, int(r.step), _num(r.val_loss), _num(r.metric), _num(r.throughput), _num(r.smoothness),
                 _num(r.grad_norm), _num(r.wall), _dumps(r.extra or {})) for r in rows]
        with self._write() as con:
            con.executemany("INSERT OR REPLACE INTO evals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", data)
            con.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time(), run_id))

    def add_snapshot(self, run_id: int, step: int, params: np.ndarray) -> None:
        """Keep the run's weights after `step` updates: params (P,), stored as float32."""
        flat = np.ascontiguousarray(np.asarray(params, dtype="<f4").ravel())
        with self._write() as con:
            con.execute("INSERT OR REPLACE INTO snapshots (run_id, step, n_params, params) VALUES (?, ?, ?, ?)",
                        (run_id, int(step), int(flat.size), flat.tobytes()))
            con.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time(), run_id))

    # ------------------------------------------------------------ reading

    def snapshot_info(self, run_id: int) -> dict[str, Any]:
        """The run's snapshots without their weights: {"step": int64 (k,), "n_params": int, "bytes": int}."""
        with self._read() as con:
            rows = con.execute("SELECT step, n_params, length(params) FROM snapshots WHERE run_id = ? ORDER BY step",
                               (run_id,)).fetchall()
        return {"step": np.array([r[0] for r in rows], dtype=np.int64),
                "n_params": int(rows[-1][1]) if rows else 0, "bytes": int(sum(r[2] for r in rows))}

    def snapshot_counts(self) -> dict[int, int]:
        """{run id: snapshots kept} for every run that kept some."""
        with self._read() as con:
            return {int(r[0]): int(r[1]) for r in
                    con.execute("SELECT run_id, COUNT(*) FROM snapshots GROUP BY run_id").fetchall()}

    def snapshots(self, run_id: int, steps: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(steps (k,) int64, weights (k, P) float32) of the run's snapshots, in step order (the
        given steps only, where given; KeyError for one it did not keep)."""
        with self._read() as con:
            rows = con.execute("SELECT step, n_params, params FROM snapshots WHERE run_id = ? ORDER BY step",
                               (run_id,)).fetchall()
        if steps is not None:
            want = [int(s) for s in steps]
            have = {r[0]: r for r in rows}
            missing = [s for s in want if s not in have]
            if missing:
                raise KeyError(f"run {run_id} kept no snapshot at step(s) {missing}")
            rows = [have[s] for s in want]
        sizes = {r[1] for r in rows}
        if len(sizes) > 1:
            raise ValueError(f"run {run_id}'s snapshots differ in size ({sorted(sizes)} parameters)")
        n = sizes.pop() if sizes else 0
        out = np.empty((len(rows), n), dtype=np.float32)
        for i, r in enumerate(rows):
            out[i] = np.frombuffer(r[2], dtype="<f4", count=n)
        return np.array([r[0] for r in rows], dtype=np.int64), out

    _RUN_SELECT = """
        SELECT runs.*,
               (SELECT MAX(step) FROM steps WHERE run_id = runs.id) AS last_step,
               (SELECT loss FROM steps WHERE run_id = runs.id ORDER BY step DESC LIMIT 1) AS last_loss,
               (SELECT COUNT(*) FROM evals WHERE run_id = runs.id) AS n_evals
        FROM runs"""

    @staticmethod
    def _run_dict(row: sqlite3.Row) -> dict:
        d = dict(row)
        d["job"] = json.loads(d["job_json"])
        d["device_info"] = _loads(d.pop("device_info_json"))
        d["summary"] = _loads(d.pop("summary_json"))
        d["cancel_requested"] = bool(d["cancel_requested"])
        end = d["finished"] or (d["heartbeat"] if d["status"] in ACTIVE else None)
        d["elapsed"] = None if d["started"] is None or end is None else max(0.0, end - d["started"])
        # the job's budget; where it took the task's default, what the runner said at start (or in its summary)
        d["total_steps"] = (d["job"].get("steps") or (d["device_info"] or {}).get("steps")
                            or (d["summary"] or {}).get("steps") or None)
        return d

    def list_runs(self, *, status: str | Iterable[str] | None = None, task: str | None = None,
                  ids: Iterable[int] | None = None, limit: int | None = None, newest_first: bool = True,
                  owner: str | None = None) -> list[dict]:
        """Runs as dicts: every runs column (job_json parsed into `job`, summary and device_info
        parsed), plus last_step, last_loss, n_evals, elapsed (seconds) and total_steps (None where
        the job used the task's default and the run has not said how many). owner: only that session's."""
        where, args = [], []
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        if status is not None:
            st = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({', '.join('?' * len(st))})")
            args += st
        if task is not None:
            where.append("task = ?")
            args.append(task)
        if ids is not None:
            ids = [int(i) for i in ids]
            where.append(f"id IN ({', '.join('?' * len(ids))})")
            args += ids
        sql = self._RUN_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY id " + ("DESC" if newest_first else "ASC")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._read() as con:
            return [self._run_dict(r) for r in con.execute(sql, args)]

    def count(self, *, status: Iterable[str] = ACTIVE, owner: str | None = None) -> int:
        """How many runs have one of these statuses (of this owner, where given)."""
        st = list(status)
        sql = f"SELECT COUNT(*) FROM runs WHERE status IN ({', '.join('?' * len(st))})"
        if owner is not None:
            sql += " AND owner = ?"
        with self._read() as con:
            return int(con.execute(sql, [*st, *([owner] if owner is not None else [])]).fetchone()[0])

    def size_bytes(self) -> int:
        """The store's size on disk: the database file and its write-ahead log."""
        return sum(p.stat().st_size for p in (self.path, self.path.with_name(self.path.name + "-wal")) if p.exists())

    def run(self, run_id: int) -> dict:
        """One run as list_runs describes it; KeyError if there is none."""
        with self._read() as con:
            row = con.execute(self._RUN_SELECT + " WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id} in {self.path}")
        return self._run_dict(row)

    def job(self, run_id: int) -> Job:
        with self._read() as con:
            row = con.execute("SELECT job_json FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id} in {self.path}")
        return Job.from_json(row[0])

    def status(self, run_id: int) -> str:
        with self._read() as con:
            row = con.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id} in {self.path}")
        return row[0]

    def steps(self, run_id: int, since: int = -1) -> dict[str, np.ndarray]:
        """The run's step rows with step > since, as columns: step (int64) and loss, lr,
        grad_norm, clip_coef, wall (float64, NaN where missing), in step order.
        `since` lets a page that polls fetch only the new rows."""
        with self._read() as con:
            rows = con.execute(f"SELECT {', '.join(STEP_COLUMNS)} FROM steps WHERE run_id = ? AND step > ?"
                               " ORDER BY step", (run_id, since)).fetchall()
        return _columns(rows, STEP_COLUMNS)

    def evals(self, run_id: int, since: int = -1) -> dict[str, Any]:
        """The run's eval rows as columns like steps(), plus `extra`: a list of dicts."""
        with self._read() as con:
            rows = con.execute(f"SELECT {', '.join(EVAL_COLUMNS)}, extra_json FROM evals WHERE run_id = ?"
                               " AND step > ? ORDER BY step", (run_id, since)).fetchall()
        out: dict[str, Any] = _columns([r[:-1] for r in rows], EVAL_COLUMNS)
        out["extra"] = [_loads(r[-1]) or {} for r in rows]
        return out

    # ------------------------------------------------------------ housekeeping

    def reap(self, stale_after: float = STALE_AFTER) -> list[int]:
        """Mark as interrupted every queued/running run whose process is gone; returns their ids.

        Gone: its pid (on this host) is not alive, or no heartbeat for `stale_after` seconds
        (a RunSink beats every HEARTBEAT_EVERY seconds while its process lives, whatever the
        training loop is doing; this catches pids on other hosts and reused pids).
        """
        reaped = []
        for run_id in self.gone("runs", stale_after):
            why = "its process ended (killed?) before the run finished; rows up to its last flush are kept"
            if self.set_status(run_id, "interrupted", error=why, only_if_active=True):
                reaped.append(run_id)
        return reaped

    def gone(self, table: str, stale_after: float = STALE_AFTER) -> list[int]:
        """Ids of the queued/running rows of `table` ("runs", "landscapes": a name from the code, never from
        input) whose process is gone: its pid on this host is not alive, or no heartbeat for stale_after s."""
        host, now = socket.gethostname(), time.time()
        with self._read() as con:
            rows = con.execute(f"SELECT id, pid, host, heartbeat, created FROM {table} WHERE status IN (?, ?)",
                               ACTIVE).fetchall()
        return [r["id"] for r in rows
                if (r["pid"] is not None and r["host"] == host and not pid_alive(r["pid"]))
                or now - (r["heartbeat"] or r["created"]) > stale_after]

    def integrity_check(self) -> str:
        with self._read() as con:
            return con.execute("PRAGMA integrity_check").fetchone()[0]


def _delete_rows(con: sqlite3.Connection, run_id: int) -> None:
    """Delete what a run wrote while it trained (in the caller's transaction)."""
    for table in ("steps", "evals", "snapshots"):
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))


def _columns(rows: list, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    out = {}
    for i, name in enumerate(names):
        if name == "step":
            out[name] = np.fromiter((r[i] for r in rows), dtype=np.int64, count=len(rows))
        else:
            out[name] = np.fromiter((np.nan if r[i] is None else r[i] for r in rows), dtype=np.float64,
                                    count=len(rows))
    return out


class RunSink:
    """The Sink (training.job.Sink) that writes one run into the store.

    Each call to steps()/evals() is one transaction (rows + heartbeat). open() claims the run for
    this process and starts a background heartbeat, so reap() can tell a slow step (a compile, a
    long eval) from a dead process; close() stops it. Use it as a context manager:

        with RunSink(store, run_id) as sink:
            train(job, sink)
    """

    def __init__(self, store: Store, run_id: int, *, poll_every: float = 0.25,
                 heartbeat_every: float = HEARTBEAT_EVERY):
        self.store = store
        self.run_id = int(run_id)
        self.poll_every = poll_every  # cancelled() asks the store at most this often
        self.heartbeat_every = heartbeat_every
        self.status: str | None = None  # the final status once finish() ran
        self.last_step: int | None = None
        self._cancel_local = False  # set by cancel(): a process stopping its own run (Ctrl-C)
        self._cancel_seen = False
        self._polled = 0.0
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # ---- lifecycle
    def open(self) -> RunSink:
        self.store.claim(self.run_id)
        if self.heartbeat_every and self._beat is None:
            self._stop.clear()
            self._beat = threading.Thread(target=self._beat_loop, name=f"run-{self.run_id}-heartbeat", daemon=True)
            self._beat.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
            self._beat = None

    def __enter__(self) -> RunSink:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_every):
            try:
                self.store.heartbeat(self.run_id)
            except sqlite3.Error:
                pass  # a busy store: the next beat or flush will do

    # ---- the Sink protocol
    def start(self, job: Job, device: str, info: dict) -> None:
        self.store.mark_running(self.run_id, device, info, pid=os.getpid(), host=socket.gethostname())

    def steps(self, rows: list[StepRow]) -> None:
        if rows:
            self.store.add_steps(self.run_id, rows)
            self.last_step = int(rows[-1].step)

    def evals(self, rows: list[EvalRow]) -> None:
        if rows:
            self.store.add_evals(self.run_id, rows)

    def snapshot(self, step: int, params: np.ndarray) -> None:
        self.store.add_snapshot(self.run_id, step, params)

    keep_final = False  # finish() leaves a final status another process wrote first (a cancel) as it is

    def finish(self, status: str, summary: dict) -> None:
        summary = dict(summary or {})
        error = summary.get("error")
        self.store.set_status(self.run_id, status, summary=summary, error=None if error is None else str(error),
                              only_if_active=self.keep_final)
        self.status = status

    def cancelled(self) -> bool:
        if self._cancel_local or self._cancel_seen:
            return True
        now = time.monotonic()
        if now - self._polled >= self.poll_every:
            self._polled = now
            try:
                self._cancel_seen = self.store.cancel_requested(self.run_id)
            except sqlite3.Error:
                pass
        return self._cancel_seen

    # ---- extras
    def cancel(self) -> None:
        """Stop this run from inside its own process (the CLI's Ctrl-C): cancelled() turns True now."""
        self._cancel_local = True

    @property
    def cancel_wanted(self) -> bool:
        """Whether anyone asked this run to stop (locally or through the store)."""
        return self._cancel_local or self._cancel_seen or self.store.cancel_requested(self.run_id)
