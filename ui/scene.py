"""The explorer's 3D view as a payload for ui/scene_view.js (loaded like the player: ui/race_view_loader.js
imports it from bytes sent once a session). No streamlit here."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .player import view_id
from .wire import Wire

SCENE_JS = np.frombuffer(Path(__file__).with_name("scene_view.js").read_bytes(), dtype=np.uint8)


def scene_payload(data: dict, wire: Wire) -> bytes:
    """data: plots.scene_data(...). The grid's z and colour positions and each trail travel as float32
    arrays; labels as plain text (the browser writes them with textContent, never as markup)."""
    f4 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    header = {
        "view": "scene", "code": wire.ref(SCENE_JS), "x": data["x"], "y": data["y"],
        "z": wire.ref(f4(data["z"])), "c": wire.ref(f4(data["c"])), "scale": data["scale"],
        "zrange": data["zrange"], "lift": data["lift"], "aspect_z": data["aspect_z"], "height": data["height"],
        "minima": data["minima"],
        "runs": [{"label": r["label"], "colour": r["colour"], "xyl": wire.ref(f4(r["xyl"]))} for r in data["runs"]],
    }
    header["id"] = view_id(header["x"], header["y"], header["z"], header["c"], [r["xyl"] for r in header["runs"]])
    return wire.pack(header)

