"""The presets' races and tune-strip banks computed once per server, in a background thread, so a preset's
first click is answered from the server's caches (ui/race_rows.py, ui/player.py's groups) like a second.

The thread computes one preset at a time, each only once no page of the explorer has run for QUIET_S
(touch() marks a run), so it takes a core from nobody waiting for an answer; like every computation here
it uses one torch thread, within the engine's caps (a preset the caps refuse is computed when clicked)."""
from __future__ import annotations

import dataclasses
import threading
import time

from . import player, race_rows
from .presets import PRESETS
from .spec import ExplorerSpec

QUIET_S = 3.0  # seconds without a page run before the next preset is computed (one takes 0.3-1.5 s here)
_last = [time.monotonic()]  # the last page run (the server's start counts as one)


def touch() -> None:
    """A page of the explorer runs now: the warm-up waits until QUIET_S after it."""
    _last[0] = time.monotonic()


def wait_quiet(quiet: float) -> None:
    while (left := quiet - (time.monotonic() - _last[0])) > 0:
        time.sleep(left)


def views() -> list[ExplorerSpec]:
    """What a click on each preset computes: its view without the story, as the page races it."""
    return [dataclasses.replace(p.view().without_preset(), view3d=False) for p in PRESETS]


def warm(quiet: float = 0.0) -> int:
    """Compute every preset's race and its first run's bank, each once the server has been quiet for `quiet`
    seconds; the number of presets now cached."""
    done = 0
    for spec in views():
        wait_quiet(quiet)
        try:
            race_rows.race(spec)
            missing = player.missing_groups(spec, 0)
            if missing:
                player.store_groups(spec, missing, player.compute_groups(spec, missing))
            done += 1
        except (ValueError, ArithmeticError):  # the engine's caps, an overflow: computed when clicked
            continue
    return done


def start(quiet: float = QUIET_S) -> threading.Thread:
    t = threading.Thread(target=warm, args=(quiet,), name="warm-presets", daemon=True)
    t.start()
    return t
