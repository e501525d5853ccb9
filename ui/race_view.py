"""The explorer's race player as a Streamlit component (components v2): ui/race_view.js in the page itself.

    race_view(payload, key=..., on_commit=..., on_start=..., on_missing=...)   # the chart + tune strip
    mount(payload, key=..., on_missing=...)       # the prefetch, the bank's carrier, the 3D view (ui/scene_view.js)

What the browser may send back, each a trigger the page checks again before it uses it (it comes
from the visitor's machine: any value at all may arrive): "commit" {run, target, value} when a dragged
knob is let go, "start" {x, y} for a click on the map, "missing" [keys] for arrays it lacks; and the
state "tune_run", the run whose knobs the strip shows.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

LOADER = Path(__file__).with_name("race_view_loader.js").read_text(encoding="utf-8")  # sent with every payload
CSS = """
[data-testid="stMainBlockContainer"] { padding-top: 1.5rem; }
.opt-race { font-family: inherit; width: 100%; }
.opt-race .opt-bar { display: flex; align-items: center; gap: 0.6rem; flex-wrap: wrap; margin: 0 0 0.2rem 0; }
.opt-race .opt-play { font: inherit; font-size: 0.9rem; padding: 0.2rem 0.8rem; border-radius: 0.5rem;
  border: 1px solid rgba(49, 51, 63, 0.25); background: #fff; cursor: pointer; min-width: 6.5rem; }
.opt-race .opt-step { flex: 1 1 12rem; min-width: 8rem; accent-color: #0072B2; }
.opt-race .opt-step-text { font-size: 0.85rem; color: #444; min-width: 8.5rem; font-variant-numeric: tabular-nums; }
.opt-race .opt-note { font-size: 0.85rem; color: #a33; }
.opt-race .opt-plotbox { position: relative; width: 100%; }
.opt-race .opt-overlay { position: absolute; left: 0; top: 0; pointer-events: none; overflow: visible; }
.opt-race .opt-plot { position: relative; }
.opt-race .opt-chart { display: block; user-select: none; }
.opt-race .opt-tip { position: absolute; display: none; pointer-events: none; white-space: pre; z-index: 2;
  font-size: 0.78rem; line-height: 1.3; color: #222; background: rgba(255, 255, 255, 0.95);
  border: 1.5px solid #444; border-radius: 0.3rem; padding: 0.2rem 0.45rem; font-variant-numeric: tabular-nums; }
.opt-race .opt-tune { border-top: 1px solid rgba(49, 51, 63, 0.12); padding-top: 0.35rem; margin-top: 0.1rem; }
.opt-race .opt-tune-head { display: flex; flex-wrap: wrap; gap: 0.35rem; align-items: center; }
.opt-race .opt-tune-title { font-size: 0.85rem; font-weight: 600; margin-right: 0.2rem; }
.opt-race .opt-chip { font: inherit; font-size: 0.8rem; padding: 0.1rem 0.55rem; border-radius: 1rem; cursor: pointer;
  border: 1px solid rgba(49, 51, 63, 0.2); background: #fff; display: inline-flex; align-items: center; gap: 0.3rem; }
.opt-race .opt-chip.on { border-color: #333; background: #f0f2f6; font-weight: 600; }
.opt-race .opt-dot { width: 0.7rem; height: 0.7rem; border-radius: 50%; display: inline-block; }
.opt-race .opt-knobs { display: grid; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); gap: 0.1rem 1.2rem;
  margin-top: 0.25rem; }
.opt-race .opt-knob { display: grid; grid-template-columns: 7.5rem 1fr 3.8rem; align-items: center; gap: 0.4rem;
  font-size: 0.8rem; }
.opt-race .opt-knob-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.opt-race .opt-knob input { width: 100%; accent-color: #0072B2; touch-action: none; }
.opt-race .opt-knob-value { font-variant-numeric: tabular-nums; text-align: right; }
.opt-race .opt-readout, .opt-scene .opt-readout { font-size: 0.8rem; color: #444; margin-top: 0.15rem;
  min-height: 1.2em; }
.opt-table-box { overflow-x: auto; }
.opt-table { border-collapse: collapse; font-size: 0.875rem; font-variant-numeric: tabular-nums; width: 100%; }
.opt-table th, .opt-table td { border-bottom: 1px solid rgba(49, 51, 63, 0.1); padding: 0.25rem 0.6rem;
  text-align: right; white-space: nowrap; }
.opt-table thead th { font-weight: 600; color: rgba(49, 51, 63, 0.7); white-space: normal; vertical-align: bottom; }
.opt-table th:first-child, .opt-table td:first-child { text-align: left; white-space: normal; min-width: 13rem; }
.opt-table tbody th { font-weight: 400; }
.opt-scene { width: 100%; font-family: inherit; }
.opt-scene-legend { display: flex; flex-wrap: wrap; gap: 0.2rem 0.9rem; font-size: 0.8rem; margin-bottom: 0.2rem; }
.opt-scene-item { display: inline-flex; align-items: center; gap: 0.3rem; }
.opt-scene .opt-dot { width: 0.7rem; height: 0.7rem; border-radius: 50%; display: inline-block; }
.opt-scene-canvas { display: block; cursor: grab; touch-action: none; }
"""

_component = st.components.v2.component("optimizer_playground.race_view", js=LOADER, css=CSS, isolate_styles=False)


def race_view(payload: bytes, *, key: str, on_commit, on_start, on_missing, on_tune_run):
    """Mount the player (its arrays in `payload`, ui/player.race_payload); returns its state and triggers."""
    return _component(key=key, data=payload, default={"tune_run": 0}, on_commit_change=on_commit,
                      on_start_change=on_start, on_missing_change=on_missing, on_tune_run_change=on_tune_run)


def mount(payload: bytes, *, key: str, on_missing):
    """Mount a payload that needs no answer but the arrays it lacks: the prefetch (no visible element: the
    player and Plotly start loading at once), the bank carrier (no visible element: the bank reaches the
    player once it is computed) and the 3D view (ui/scene_view.js)."""
    return _component(key=key, data=payload, on_missing_change=on_missing)
