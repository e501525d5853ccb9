"""Landscapes in the run store (tables `landscapes` and `landscape_rows`, training/store.py): a request
per (centre run, spec key), its result (axes, plane, paths) and its rows as they are evaluated.

A request is evaluated once and then read by every page and the command line. Its rows land one
at a time (a transaction each), so a cancelled, stopped or killed evaluation keeps what it did, and
asking again resumes from there. Status: queued -> running -> done | cancelled | stopped (its time
limit) | failed | interrupted (its process vanished: reap()).
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..store import HEARTBEAT_EVERY, STALE_AFTER, Store
from .spec import Spec, from_key

ACTIVE = ("queued", "running")
STATUSES = (*ACTIVE, "done", "cancelled", "stopped", "failed", "interrupted")


def _runs_text(spec: Spec) -> str:
    return "," + ",".join(str(int(r)) for r in spec.runs()) + ","


def _row(r) -> dict[str, Any]:
    d = dict(r)
    d["spec"] = from_key(d["key"])
    text = d.pop("result_json")
    d["result"] = None if text is None else json.loads(text)
    d["cancel_requested"] = bool(d["cancel_requested"])
    return d


_SELECT = """SELECT landscapes.*, (SELECT COUNT(*) FROM landscape_rows WHERE landscape_id = landscapes.id) AS done
             FROM landscapes"""


def find(store: Store, spec: Spec) -> dict | None:
    """The stored request for spec (with `done`: rows evaluated, `result`, `spec`), or None."""
    with store._read() as con:
        r = con.execute(_SELECT + " WHERE run_id = ? AND key = ?", (spec.run, spec.key())).fetchone()
    return None if r is None else _row(r)


def get(store: Store, landscape_id: int) -> dict:
    with store._read() as con:
        r = con.execute(_SELECT + " WHERE id = ?", (landscape_id,)).fetchone()
    if r is None:
        raise KeyError(f"no landscape {landscape_id} in {store.path}")
    return _row(r)


def for_run(store: Store, run_id: int) -> list[dict]:
    """Every stored request that reads this run, newest first."""
    with store._read() as con:
        rows = con.execute(_SELECT + " WHERE runs LIKE ? ORDER BY id DESC", (f"%,{int(run_id)},%",)).fetchall()
    return [_row(r) for r in rows]


def request(store: Store, spec: Spec, owner: str | None = None) -> int:
    """The id of spec's request: a new one (queued), the stored one, or, where the stored one ended
    before it was complete (cancelled, stopped, failed, interrupted), that one queued again: its
    evaluation resumes from the rows it has."""
    now = time.time()
    with store._write() as con:
        r = con.execute("SELECT id, status, total FROM landscapes WHERE run_id = ? AND key = ?",
                        (spec.run, spec.key())).fetchone()
        if r is None:
            cur = con.execute("INSERT INTO landscapes (run_id, key, runs, created, status, total, heartbeat, owner)"
                              " VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
                              (spec.run, spec.key(), _runs_text(spec), now, spec.rows, now, owner))
            return int(cur.lastrowid)
        if r["status"] not in (*ACTIVE, "done"):
            con.execute("UPDATE landscapes SET status = 'queued', cancel_requested = 0, error = NULL, heartbeat = ?,"
                        " pid = NULL, finished = NULL WHERE id = ?", (now, r["id"]))
        return int(r["id"])


def claim(store: Store, landscape_id: int, pid: int | None = None) -> None:
    with store._write() as con:
        con.execute("UPDATE landscapes SET pid = ?, host = ?, heartbeat = ? WHERE id = ?",
                    (pid or os.getpid(), socket.gethostname(), time.time(), landscape_id))


def set_status(store: Store, landscape_id: int, status: str, *, error: str | None = None,
               only_if_active: bool = False) -> bool:
    if status not in STATUSES:
        raise ValueError(f"unknown landscape status {status!r}")
    now = time.time()
    sets, args = ["status = ?", "heartbeat = ?"], [status, now]
    if status not in ACTIVE:
        sets.append("finished = ?")
        args.append(now)
    if error is not None:
        sets.append("error = ?")
        args.append(error)
    where = "id = ?" + (f" AND status IN {ACTIVE!r}" if only_if_active else "")
    with store._write() as con:
        return con.execute(f"UPDATE landscapes SET {', '.join(sets)} WHERE {where}",
                           (*args, landscape_id)).rowcount > 0


def set_result(store: Store, landscape_id: int, result: dict) -> None:
    """The request's axes, plane and paths (JSON-able; NaN allowed), before its first row."""
    with store._write() as con:
        con.execute("UPDATE landscapes SET result_json = ?, heartbeat = ? WHERE id = ?",
                    (json.dumps(result, allow_nan=True), time.time(), landscape_id))


def add_row(store: Store, landscape_id: int, row: int, loss, metric) -> None:
    loss = np.ascontiguousarray(loss, dtype="<f8")
    metric = np.ascontiguousarray(metric, dtype="<f8")
    with store._write() as con:
        con.execute("INSERT OR REPLACE INTO landscape_rows VALUES (?, ?, ?, ?)",
                    (landscape_id, int(row), loss.tobytes(), metric.tobytes()))
        con.execute("UPDATE landscapes SET heartbeat = ? WHERE id = ?", (time.time(), landscape_id))


def rows_done(store: Store, landscape_id: int) -> set[int]:
    with store._read() as con:
        return {int(r[0]) for r in con.execute("SELECT row FROM landscape_rows WHERE landscape_id = ?",
                                               (landscape_id,))}


def values(store: Store, landscape_id: int, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(loss, metric), each (rows, cols) float64, NaN where a row is not evaluated yet."""
    loss = np.full((rows, cols), np.nan)
    metric = np.full((rows, cols), np.nan)
    with store._read() as con:
        for r in con.execute("SELECT row, loss, metric FROM landscape_rows WHERE landscape_id = ?", (landscape_id,)):
            j = int(r[0])
            if 0 <= j < rows:
                loss[j] = np.frombuffer(r[1], dtype="<f8", count=cols)
                metric[j] = np.frombuffer(r[2], dtype="<f8", count=cols)
    return loss, metric


@contextmanager
def beating(store: Store, landscape_id: int, every: float = HEARTBEAT_EVERY) -> Iterator[None]:
    """A background heartbeat while the block runs: reap() tells a slow row from a dead process."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                with store._write() as con:
                    con.execute("UPDATE landscapes SET heartbeat = ? WHERE id = ?", (time.time(), landscape_id))
            except sqlite3.Error:
                pass  # a busy store: the next beat or row will do

    t = threading.Thread(target=beat, name=f"landscape-{landscape_id}-heartbeat", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=5)


def request_cancel(store: Store, landscape_id: int) -> None:
    with store._write() as con:
        con.execute("UPDATE landscapes SET cancel_requested = 1 WHERE id = ?", (landscape_id,))


def cancel_requested(store: Store, landscape_id: int) -> bool:
    with store._read() as con:
        r = con.execute("SELECT cancel_requested FROM landscapes WHERE id = ?", (landscape_id,)).fetchone()
    return bool(r and r[0])


def count_active(store: Store) -> int:
    with store._read() as con:
        return int(con.execute("SELECT COUNT(*) FROM landscapes WHERE status IN (?, ?)", ACTIVE).fetchone()[0])


def reap(store: Store, stale_after: float = STALE_AFTER) -> list[int]:
    """Mark as interrupted every queued/running request whose process is gone (as Store.reap does for runs)."""
    return [i for i in store.gone("landscapes", stale_after) if set_status(store, i, "interrupted", only_if_active=True,
                                          error="its process ended before it finished; the rows done are kept")]
