"""The presets' warm-up (ui/warm.py): afterwards a preset's race and its first run's bank come from the
server's caches, equal to computing them."""
from __future__ import annotations

import numpy as np
import pytest

import deploy
from ui import player, race_rows, warm


@pytest.mark.slow
def test_warm_fills_every_presets_race_and_bank():
    race_rows.ROWS.clear()
    assert warm.warm() == len(warm.views())
    for spec in warm.views():
        known = race_rows.known(spec)
        assert known is not None, spec
        np.testing.assert_array_equal(known.xy, spec.race().xy)
        assert player.missing_groups(spec, 0) == []


def test_the_warm_up_is_on_by_default_and_can_be_switched_off(monkeypatch):
    monkeypatch.delenv("OPT_PLAYGROUND_WARM", raising=False)
    assert deploy.settings().warm
    monkeypatch.setenv("OPT_PLAYGROUND_WARM", "off")
    assert not deploy.settings().warm
    monkeypatch.setenv("OPT_PLAYGROUND_WARM", "later")
    with pytest.raises(ValueError, match="OPT_PLAYGROUND_WARM"):
        deploy.settings()


def test_the_warm_up_waits_for_a_quiet_server(monkeypatch):
    """Each preset waits until no page has run for `quiet` seconds: a page run meanwhile pushes it back."""
    import time

    computed = []
    monkeypatch.setattr(warm, "views", lambda: ["a", "b"])
    monkeypatch.setattr(race_rows, "race", lambda spec: computed.append((spec, time.monotonic())))
    monkeypatch.setattr(player, "missing_groups", lambda spec, run: [])
    warm.touch()
    t0 = time.monotonic()
    assert warm.warm(quiet=0.3) == 2
    assert [c[0] for c in computed] == ["a", "b"] and computed[0][1] - t0 >= 0.3
