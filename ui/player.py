"""What the explorer's player (ui/race_view.js) receives: the race as a wire payload, and a run's bank.

Pure (no streamlit): the page caches `race_parts` and `run_bank` and packs them per session (ui/wire.py
decides which arrays that session still needs).

    parts = race_parts(spec, result)              # the still figure + per-run series (plots/live.py)
    payload = race_payload(parts, spec, wire, tune_run=0)
    bank = run_bank(spec, 0)                     # every knob of run 0 (and the noise of every run), in one engine call
    payload = bank_payload(bank, wire)
"""
from __future__ import annotations

import glob
import hashlib
import html
import importlib.util
import os
from dataclasses import dataclass

import numpy as np

import plots
from plots.live import bank_series, live_race
from plots.race import frame_steps
from trajectories import grid as surface_grid
from trajectories.bank import NOISE, Variation, bank

from .knobs import Knob, knobs, noise_knob
from .spec import ExplorerSpec
from .wire import Wire, quantize

GRID = 200  # the surface image's resolution
MAX_FRAMES = 200


def view_id(*parts) -> str:
    """A short hash of plain data (specs are frozen dataclasses of numbers and strings: repr is stable)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=10).hexdigest()


def plotly_chunk() -> str:
    """The file name of the Plotly bundle Streamlit's own frontend loads for st.plotly_chart (its
    static/js/PlotlyChart.*.js): the player imports the same file, which sets window.Plotly."""
    spec = importlib.util.find_spec("streamlit")  # found, not imported: this module stays free of streamlit
    root = os.path.dirname(spec.origin) if spec and spec.origin else ""
    found = glob.glob(os.path.join(root, "static", "static", "js", "PlotlyChart.*.js"))
    return os.path.basename(found[0]) if found else "PlotlyChart.js"


# ---------------------------------------------------------------- the race
def race_parts(spec: ExplorerSpec, result, grid=None) -> dict:
    """live_race of this view's result (plots/live.py) plus the surface image as PNG bytes."""
    s = spec.surface_obj()
    grid = grid if grid is not None else surface_grid(s, GRID)
    labels = [f"{i + 1}. {r.label()}" for i, r in enumerate(spec.runs)]
    race = plots.as_race(result, labels)
    parts = live_race(grid, race, minima=s.minima, start=spec.start_point(), bounds=s.bounds, min_value=s.min_value,
                      max_frames=MAX_FRAMES, arrows=spec.arrows, box=s.box)
    image = parts["figure"]["layout"]["images"][0]
    parts["png"] = np.frombuffer(_png_bytes(image["source"]), dtype=np.uint8)
    parts["labels"] = labels
    return parts


def _png_bytes(data_uri: str) -> bytes:
    import base64

    return base64.b64decode(data_uri.split(",", 1)[1])


def knob_data(k: Knob) -> dict:
    return {"target": k.target, "label": k.label, "values": list(k.values), "texts": k.texts(), "index": k.index}


def race_payload(parts: dict, spec: ExplorerSpec, wire: Wire, *, tune_run: int = 0, chunk: str | None = None) -> bytes:
    """The race view's payload for this session: the figure (its image, trails and curves by reference),
    the frames, each run's series as its own array (a changed run leaves the others' arrays sent), and
    the tune strip's knobs with the bank it expects for the selected run."""
    fig = dict(parts["figure"])
    layout = dict(fig["layout"])
    layout["images"] = [{**layout["images"][0], "source": {"png": wire.ref(parts["png"])}}]
    fig["layout"] = layout
    series = parts["series"]
    tune_run = tune_run if 0 <= tune_run < len(spec.runs) else 0
    header = {
        "view": "race",
        "id": view_id(spec.without_preset()),
        "plotly": chunk or plotly_chunk(),
        "figure": fig,
        "narrow": parts["narrow"],
        "shown": wire.ref(parts["shown"].astype(np.int32)),
        "frames": wire.ref(parts["frames"].astype(np.int32)),
        "series": [wire.ref(series[r]) for r in range(series.shape[0])],
        "arrows": wire.ref(parts["arrows"]) if parts["arrows"] is not None else None,
        "runs": [{**run, "label": html.escape(run["label"], quote=False), "label_text": run["label"]}
                 for run in parts["runs"]],
        "panels": parts["panels"],
        "tune": {"run": tune_run, "bank": bank_id(spec, tune_run),
                 "knobs": [[knob_data(k) for k in knobs(r)] for r in spec.runs],
                 "noise": knob_data(noise_knob(spec.noise))},
    }
    return wire.pack(header)


# ---------------------------------------------------------------- a run's bank
def bank_id(spec: ExplorerSpec, run: int) -> str:
    return view_id(spec.without_preset(), run)


def variations(spec: ExplorerSpec, run: int) -> list[Variation]:
    """Every knob of run `run` across its stops, and the noise across its stops for every run."""
    out = [Variation(run, k.target, k.values) for k in knobs(spec.runs[run])]
    nk = noise_knob(spec.noise)
    out += [Variation(r, NOISE, nk.values) for r in range(len(spec.runs))]
    return out


def bank_rows(spec: ExplorerSpec, run: int) -> int:
    return sum(len(v.values) for v in variations(spec, run))


@dataclass(frozen=True)
class RunBank:
    """A run's bank, ready to send: rows quantized to 2 bytes (ui/wire.py), which rows are which knob."""

    id: str
    shown: np.ndarray  # (L,) int steps
    frames: np.ndarray  # (F,) int steps
    q: np.ndarray  # (rows, CHANNELS, L) uint16
    scale: np.ndarray  # (rows, CHANNELS, 2) float32
    diverged: np.ndarray  # (rows,) int32: the update that diverged, -1 never
    final: np.ndarray  # (rows,) float32: the last real loss
    knobs: tuple  # ({"target", "runs": [run, ...], "start": [first row per run]}, ...)


def run_bank(spec: ExplorerSpec, run: int, progress=None, deadline=None) -> RunBank:
    """Run `run`'s bank (trajectories.bank) packed as the player reads it. Raises ValueError (the engine's
    checks and caps, trajectories.limits.TimeLimit past the deadline)."""
    s = spec.surface_obj()
    vs = variations(spec, run)
    result, rows = bank(s, list(spec.runs), spec.start_point(), spec.steps, vs, noise=spec.noise, seed=spec.seed,
                        progress=progress, deadline=deadline)
    if result.xy.shape[0] - 1 < spec.steps:
        from trajectories.limits import TimeLimit

        raise TimeLimit("the preview was stopped at this server's compute limit")
    frames = frame_steps(spec.steps, MAX_FRAMES)
    shown, ser = bank_series(result, steps=spec.steps, frames=frames, min_value=s.min_value, minima=s.minima)
    q, scale = quantize(ser)
    last = np.where(result.diverged_at < 0, spec.steps, np.maximum(result.diverged_at - 1, 0))
    final = result.loss[last, np.arange(result.loss.shape[1])]
    meta: dict[tuple, dict] = {}
    for r, target, sl in rows:
        m = meta.setdefault((target, target == NOISE), {"target": target, "runs": [], "start": []})
        m["runs"].append(r)
        m["start"].append(sl.start)
    return RunBank(bank_id(spec, run), shown.astype(np.int32), frames.astype(np.int32), q, scale,
                   result.diverged_at.astype(np.int32), final.astype(np.float32), tuple(meta.values()))


def bank_payload(b: RunBank, wire: Wire) -> bytes:
    return wire.pack({"view": "bank", "id": b.id, "shown": wire.ref(b.shown), "frames": wire.ref(b.frames),
                      "q": wire.ref(b.q), "scale": wire.ref(b.scale), "diverged": wire.ref(b.diverged),
                      "final": wire.ref(b.final), "knobs": list(b.knobs)})


def empty_payload(wire: Wire) -> bytes:
    """The bank mount's payload while there is no bank to send (none wanted, or it could not be made)."""
    return wire.pack({"view": "none"})
