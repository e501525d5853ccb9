"""The presets' races and tune-strip banks computed once per server, in a background thread, so a preset's
first click is answered from the server's caches (ui/race_rows.py, ui/player.py's groups) like a second.

The thread starts a few seconds after the server (the first visitor's page loads first), takes one torch
thread like every computation here, and computes one preset at a time, each within the engine's caps; a
preset the caps refuse is left to be computed when clicked."""
from __future__ import annotations

import dataclasses
import threading
import time

from . import player, race_rows
from .presets import PRESETS
from .spec import ExplorerSpec

DELAY_S = 8.0  # after the server's start: a visitor's first chart (4 s cold here) comes first


def views() -> list[ExplorerSpec]:
    """What a click on each preset computes: its view without the story, as the page races it."""
    return [dataclasses.replace(p.view().without_preset(), view3d=False) for p in PRESETS]


def warm(delay: float = 0.0) -> int:
    """Compute every preset's race and its first run's bank; the number of presets now cached."""
    time.sleep(delay)
    done = 0
    for spec in views():
        try:
            race_rows.race(spec)
            missing = player.missing_groups(spec, 0)
            if missing:
                player.store_groups(spec, missing, player.compute_groups(spec, missing))
            done += 1
        except (ValueError, ArithmeticError):  # the engine's caps, an overflow: computed when clicked
            continue
    return done


def start(delay: float = DELAY_S) -> threading.Thread:
    t = threading.Thread(target=warm, args=(delay,), name="warm-presets", daemon=True)
    t.start()
    return t
