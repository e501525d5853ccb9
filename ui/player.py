"""What the explorer's player (ui/race_view.js) receives: the race as a wire payload, and a run's bank.

Pure (no streamlit): the page caches `race_parts` and packs payloads per session (ui/wire.py decides
which arrays that session still needs). A run's bank is its knobs' groups (one per knob: its rows at
every stop) plus a noise group for every run, kept server-wide by group_key: a change to one run
recomputes (and resends) only the groups that depend on it.

    parts = race_parts(spec, result)                  # the still figure + per-run series (plots/live.py)
    payload = race_payload(parts, spec, wire, tune_run=0)
    missing = missing_groups(spec, 0)                 # what no view computed yet
    store_groups(spec, missing, compute_groups(spec, missing))   # one engine call for all of them
    payload = bank_payload(spec, 0, bank_groups(spec, 0), wire)
"""
from __future__ import annotations

import functools
import glob
import hashlib
import html
import importlib.util
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import plots
from plots.live import PANEL0, X, Y, bank_series, live_race
from plots.race import frame_steps
from trajectories import grid as surface_grid
from trajectories.bank import NOISE, Variation, bank

from .knobs import Knob, knobs, noise_knob
from .lru import Lru
from .race_rows import row_key
from .spec import ExplorerSpec
from .wire import Wire, deflated, json_bytes, quantize

GRID = 200  # the surface image's resolution
# the player itself, as bytes: it travels once a session like any array (ui/race_view_loader.js imports it):
# the still chart's renderer (ui/race_chart.js, no exports) in front of the player, one module
PLAYER_FILES = ("race_chart.js", "race_view.js")
PLAYER_JS = np.frombuffer(b"\n".join(Path(__file__).with_name(f).read_bytes() for f in PLAYER_FILES), dtype=np.uint8)
PLOTLY_BASIC = Path(__file__).with_name("vendor") / "plotly-basic.min.js"  # ui/vendor/README.md


@functools.lru_cache(maxsize=1)
def plotly_basic() -> np.ndarray:
    """The vendored plotly.js partial bundle, zlib-deflated (1.1 MB -> 0.37 MB), made once a process."""
    return np.frombuffer(zlib.compress(PLOTLY_BASIC.read_bytes(), 9), dtype=np.uint8)


def plotly_ref(wire: Wire) -> dict:
    """How the player gets Plotly: the vendored basic bundle by reference (sent once a session), and the
    name of the full bundle Streamlit ships, should the vendored one fail to load."""
    return {"basic": wire.ref(plotly_basic()), "chunk": plotly_chunk()}
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
def race_parts(spec: ExplorerSpec, result, grid=None, image: dict | None = None) -> dict:
    """live_race of this view's result (plots/live.py) plus the surface image as PNG bytes (image: the
    grid's layout image where the caller has made it already)."""
    s = spec.surface_obj()
    grid = grid if grid is not None else surface_grid(s, GRID)
    labels = [f"{i + 1}. {r.label()}" for i, r in enumerate(spec.runs)]
    race = plots.as_race(result, labels)
    parts = live_race(grid, race, minima=s.minima, start=spec.start_point(), bounds=s.bounds, min_value=s.min_value,
                      max_frames=MAX_FRAMES, arrows=spec.arrows, box=s.box, image=image)
    image = parts["figure"]["layout"]["images"][0]
    parts["png"] = np.frombuffer(_png_bytes(image["source"]), dtype=np.uint8)
    parts["labels"] = labels
    return parts


def _png_bytes(data_uri: str) -> bytes:
    import base64

    return base64.b64decode(data_uri.split(",", 1)[1])


def knob_data(k: Knob) -> dict:
    return {"target": k.target, "label": k.label, "values": list(k.values), "texts": k.texts(), "index": k.index}


def template_ref(layout: dict, wire: Wire) -> dict:
    """layout (a copy the caller owns) with its template by reference: the same on every figure, sent once."""
    if isinstance(layout.get("template"), dict):
        layout["template"] = {"json": wire.ref(json_bytes(layout["template"]))}
    return layout


def race_payload(parts: dict, spec: ExplorerSpec, wire: Wire, *, tune_run: int = 0) -> bytes:
    """The race view's payload for this session: the figure (its image, trails and curves by reference),
    the frames, each run's series as its own array (a changed run leaves the others' arrays sent), and
    the tune strip's knobs with the bank it expects for the selected run."""
    fig = dict(parts["figure"])
    layout = {k: v for k, v in fig["layout"].items() if k != "template"}  # the player's chart has its own look
    layout["images"] = [{**layout["images"][0], "source": {"png": wire.ref(parts["png"])}}]
    fig["layout"] = layout
    series = parts["series"]
    tune_run = tune_run if 0 <= tune_run < len(spec.runs) else 0
    header = {
        "view": "race",
        "code": wire.ref(PLAYER_JS),
        "id": view_id(spec.without_preset()),
        "figure": fig,
        "narrow": parts["narrow"],
        "shown": wire.ref(parts["shown"].astype(np.int32)),
        "frames": wire.ref(parts["frames"].astype(np.int32)),
        "series": [wire.ref(series[r]) for r in range(series.shape[0])],
        "arrows": wire.ref(parts["arrows"]) if parts["arrows"] is not None else None,
        "runs": [{**run, "label": html.escape(run["label"], quote=False), "label_text": run["label"]}
                 for run in parts["runs"]],
        "panels": parts["panels"],
        "tune": tune_data(spec, tune_run),
    }
    return wire.pack(header)


def tune_data(spec: ExplorerSpec, tune_run: int) -> dict | None:
    """The tune strip: every run's knobs, the noise, and the bank it waits for (None where a knob cannot
    be made: the chart is drawn all the same, without the strip)."""
    try:
        return {"run": tune_run, "bank": bank_id(spec, tune_run),
                "knobs": [[knob_data(k) for k in knobs(r)] for r in spec.runs],
                "noise": knob_data(noise_knob(spec.noise))}
    except (ValueError, ArithmeticError, KeyError):
        return None


# ---------------------------------------------------------------- a run's bank
def bank_id(spec: ExplorerSpec, run: int) -> str:
    return view_id(spec.without_preset(), run)


def variations(spec: ExplorerSpec, run: int) -> list[Variation]:
    """Every knob of run `run` across its stops, and the noise across its stops for every run."""
    out = [Variation(run, k.target, k.values) for k in knobs(spec.runs[run])]
    nk = noise_knob(spec.noise)
    out += [Variation(r, NOISE, nk.values) for r in range(len(spec.runs))]
    return out


def rows_of(wanted: list[Variation]) -> int:
    return sum(len(v.values) for v in wanted)


BANK_CHANNELS = [X, Y, *range(PANEL0, PANEL0 + 4)]  # what a preview draws (its readout takes the final loss)


@dataclass(frozen=True)
class Group:
    """One variation's rows, ready to send: quantized to 2 bytes a value (ui/wire.py)."""

    run: int
    target: str
    values: tuple[float, ...]
    q: np.ndarray  # (stops, len(BANK_CHANNELS), L) uint16 over the bank's shown steps
    scale: np.ndarray  # (stops, len(BANK_CHANNELS), 2) float32
    diverged: np.ndarray  # (stops,) int32: the update that diverged, -1 never
    final: np.ndarray  # (stops,) float32: the last real loss

    @functools.cached_property
    def z(self) -> np.ndarray:
        """q as it travels (ui.wire.deflated), made once."""
        return deflated(self.q)


def group_key(spec: ExplorerSpec, v: Variation) -> tuple:
    """What one variation's rows depend on: the surface, start, steps, noise and seed, and its own run
    (not the other runs: a change to one run leaves the others' rows as they were)."""
    return (*row_key(spec, spec.runs[v.run]), v.target, v.values)


def compute_groups(spec: ExplorerSpec, wanted: list[Variation], progress=None, deadline=None) -> list[Group]:
    """The rows of every wanted variation, in one engine call (trajectories.bank). Raises ValueError (the
    engine's checks and caps; trajectories.limits.TimeLimit past the deadline)."""
    s = spec.surface_obj()
    result, rows = bank(s, list(spec.runs), spec.start_point(), spec.steps, wanted, noise=spec.noise,
                        seed=spec.seed, progress=progress, deadline=deadline)
    if result.xy.shape[0] - 1 < spec.steps:
        from trajectories.limits import TimeLimit

        raise TimeLimit("the preview was stopped at this server's compute limit")
    frames = frame_steps(spec.steps, MAX_FRAMES)
    _, ser = bank_series(result, steps=spec.steps, frames=frames, min_value=s.min_value, minima=s.minima)
    q, scale = quantize(ser[:, BANK_CHANNELS])
    last = np.where(result.diverged_at < 0, spec.steps, np.maximum(result.diverged_at - 1, 0))
    final = result.loss[last, np.arange(result.loss.shape[1])].astype(np.float32)
    div = result.diverged_at.astype(np.int32)
    return [Group(r, target, tuple(v.values), q[sl], scale[sl], div[sl], final[sl])
            for (r, target, sl), v in zip(rows, wanted, strict=True)]


GROUPS = Lru(256)  # Group by group_key, server-wide: every session's views share them


def missing_groups(spec: ExplorerSpec, run: int) -> list[Variation]:
    """The variations of run `run`'s bank that no view computed yet."""
    return [v for v in variations(spec, run) if GROUPS.get(group_key(spec, v)) is None]


def store_groups(spec: ExplorerSpec, wanted: list[Variation], groups: list[Group]) -> None:
    for v, g in zip(wanted, groups, strict=True):
        GROUPS.put(group_key(spec, v), g)


def bank_groups(spec: ExplorerSpec, run: int) -> list[Group] | None:
    """Run `run`'s bank from the cache (None while a group is missing)."""
    out = [GROUPS.get(group_key(spec, v)) for v in variations(spec, run)]
    return None if any(g is None for g in out) else out


def bank_payload(spec: ExplorerSpec, run: int, groups: list[Group], wire: Wire) -> bytes:
    """The bank mount's payload: each group's arrays by reference (a group unchanged since the last bank
    is not sent again)."""
    frames = frame_steps(spec.steps, MAX_FRAMES)
    from plots.live import BANK_POINTS, shown_steps

    shown = shown_steps(spec.steps, frames, BANK_POINTS).astype(np.int32)
    return wire.pack({"view": "bank", "code": wire.ref(PLAYER_JS), "id": bank_id(spec, run),
                      "shown": wire.ref(shown), "frames": wire.ref(frames.astype(np.int32)),
                      "groups": [{"run": g.run, "target": g.target, "z": wire.ref(g.z),
                                  "shape": list(g.q.shape), "scale": wire.ref(g.scale),
                                  "diverged": wire.ref(g.diverged), "final": wire.ref(g.final)} for g in groups]})


def prefetch_payload(wire: Wire) -> bytes:
    """The first mount's payload: the player, so it loads while the page is still being computed (Plotly is
    not needed for the race: the (L0, L1) tab's figure loads it when first opened)."""
    return wire.pack({"view": "prefetch", "code": wire.ref(PLAYER_JS)})


def figure_payload(fig: dict, wire: Wire, chunk: str | None = None) -> bytes:
    """A still Plotly figure (a plain dict of JSON values) for the player's "figure" view: drawn by the Plotly
    the race uses, its template sent once a session like the race's."""
    layout = template_ref(dict(fig["layout"]), wire)
    return wire.pack({"view": "figure", "code": wire.ref(PLAYER_JS), "id": view_id(fig),
                      "plotly": {"chunk": chunk} if chunk else plotly_ref(wire),
                      "figure": {"data": fig["data"], "layout": layout}})


def table_payload(rows: list[dict[str, str]], wire: Wire) -> bytes:
    """A table of text (the summary: plots.table_text's rows) for the player's "table" view: plain cells set
    as text, one element (st.table renders every cell as Markdown: ~40 cells cost a rerun ~30 ms here)."""
    columns = list(rows[0]) if rows else []
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    return wire.pack({"view": "table", "code": wire.ref(PLAYER_JS), "id": view_id(columns, cells),
                      "columns": columns, "rows": cells})


def empty_payload(wire: Wire) -> bytes:
    """The bank mount's payload while there is no bank to send (none wanted, or it could not be made)."""
    return wire.pack({"view": "none"})
