"""The scrub's pieces without a browser: a knob's stops, the bank's rows against races of each value alone,
the wire format (each array sent once a session), the player's payloads and what the page accepts back."""
import dataclasses
import json

import numpy as np
import pytest

import surfaces
import trajectories
import ui
from optimizers.run import RunConfig, default_run
from plots.live import CHANNELS, LOSS, PANEL0, X, Y, live_race, series
from plots.race import frame_steps
from trajectories.bank import MAX_BANK_ROWS, Variation, bank
from ui import player
from ui.knobs import MAX_STOPS, Knob, committed, knobs, noise_knob, stop_of, stops
from ui.spec import clicked_start
from ui.ticks import linear_range, log_options
from ui.wire import NAN_Q, Wire, deflated, dequantize, forget, inflated, key_of, quantize, unpack

START = (-1.5, 2.0)


# ---------------------------------------------------------------- knobs
@pytest.mark.parametrize("run", [default_run("adam", lr=0.05), default_run("momentum"), RunConfig("lookahead"),
                                 RunConfig("sgd", (("lr", 0.2),), "norm", 1.0, "step", (("step_size", 30),
                                                                                         ("gamma", 0.1)))])
def test_every_knob_stops_at_values_its_editor_offers_and_at_the_current_one(run):
    ks = knobs(run)
    assert ks
    for k in ks:
        v = list(k.values)
        assert v == sorted(set(v)) and 2 <= len(v) <= MAX_STOPS, k
        assert k.values[k.index] == pytest.approx(_current(run, k))
        if k.integer:
            assert all(float(x).is_integer() for x in v)
        elif k.log:
            assert set(v) <= set(log_options(v[0], v[-1], k.value))  # the editor's round log values
        else:
            lo, hi, _ = linear_range(v[0], v[-1], k.value)
            assert lo <= v[0] and v[-1] <= hi  # inside the editor slider's range
            inner = [x for x in v[1:-1] if x != k.value]  # round stops between the ends (and the value kept)
            assert all(float(f"{x:.3g}") == x for x in inner), k


def _current(run: RunConfig, k: Knob) -> float:
    if k.target == "clip":
        return run.clip_threshold
    if k.target.startswith("schedule."):
        return dict(run.schedule_kw)[k.target.split(".", 1)[1]]
    name, _, i = k.target.partition(".")
    v = dict(run.hparams)[name]
    return v[int(i)] if i else v


def test_knobs_leave_out_what_has_nothing_to_drag():
    plain = knobs(default_run("sgd"))
    assert [k.target for k in plain] == ["lr", "weight_decay"]  # no clip threshold without clipping
    cos = RunConfig("sgd", schedule="cosine", schedule_kw=(("T_max", None), ("eta_min", 0.0)))
    assert "schedule.T_max" not in [k.target for k in knobs(cos)]  # "auto": derived from the steps
    assert not [k for k in knobs(default_run("adam")) if k.target.startswith("schedule.")]  # ConstantLR: advanced
    clipped = dataclasses.replace(default_run("sgd"), clip="norm", clip_threshold=1.0)
    assert [k.key for k in knobs(clipped) if k.target == "clip"] == ["clip_thr"]
    betas = [k for k in knobs(default_run("adam")) if k.target.startswith("betas")]
    assert [k.key for k in betas] == ["hp.adam.betas.0", "hp.adam.betas.1"]


def test_stops_are_round_and_bounded():
    assert stops(0.0, 0.999, 0.9, False, False)[:4] == [0.0, 0.05, 0.1, 0.15]
    lr = stops(1e-5, 1.0, 0.05, True, False)
    assert lr[0] == 1e-5 and lr[-1] == 1.0 and 0.05 in lr and len(lr) <= MAX_STOPS
    k = stops(1, 20, 5, False, True)
    assert k == [float(i) for i in range(1, 21)]
    assert 0.0 in noise_knob(0.0).values and 0.37 in noise_knob(0.37).values


def test_only_a_knobs_own_stops_are_taken_back():
    ks = knobs(default_run("adam", lr=0.05))
    lr = ks[0]
    assert stop_of(lr, 0.05) == lr.index and stop_of(lr, 0.07) is not None
    for bad in (0.0501, -1, float("nan"), float("inf"), True, "0.05", None, [0.05], 10**400 if False else 1e300):
        assert stop_of(lr, bad) is None, bad
    assert committed(ks, "lr", 0.07) == ("hp.adam.lr", 0.07)
    assert committed(ks, "betas.0", 0.5) == ("hp.adam.betas.0", 0.5)
    assert committed(ks, "momentum", 0.5) is None  # Adam has no such knob
    assert committed(ks, None, 0.05) is None and committed(ks, {"x": 1}, 0.05) is None
    la = knobs(RunConfig("lookahead"))
    assert committed(la, "k", 7) == ("hp.lookahead.k", 7) and isinstance(committed(la, "k", 7.0)[1], int)


def test_a_click_becomes_a_rounded_start_inside_the_box():
    s = surfaces.get("rosenbrock")
    assert clicked_start({"x": 1.00412, "y": 1.99731}, s) == (1.0, 2.0)
    assert clicked_start({"x": 0.123456, "y": -0.5}, s) == (0.12, -0.5)
    for bad in (None, [], {"x": 1}, {"x": "1", "y": 2}, {"x": float("nan"), "y": 0}, {"x": True, "y": 0},
                {"x": 1e9, "y": 0}, {"x": 0, "y": -1e300}):
        assert clicked_start(bad, s) is None, bad


# ---------------------------------------------------------------- the bank
RUNS = [default_run("sgd", lr=0.001), default_run("momentum", lr=0.001), default_run("adam", lr=0.05),
        RunConfig("sgd", (("lr", 0.02),), "norm", 1.0, "cosine", (("T_max", None), ("eta_min", 0.0)))]


@pytest.mark.slow  # ~1.1 s: many runs
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_each_bank_row_equals_the_race_of_that_value_alone(noise):
    vs = [Variation(2, "lr", (0.01, 0.1)), Variation(2, "betas.1", (0.9, 0.99)), Variation(1, "momentum", (0.5,)),
          Variation(3, "clip", (0.1, 10.0)), Variation(3, "schedule.eta_min", (0.005,)),
          Variation(0, "noise", (0.0, 1.0)), Variation(3, "noise", (0.5,))]
    result, rows = bank("rosenbrock", RUNS, START, 120, vs, noise=noise, seed=3)
    assert [(r, t) for r, t, _ in rows] == [(v.run, v.target) for v in vs]
    for (r, target, sl), v in zip(rows, vs, strict=True):
        for j, value in enumerate(v.values):
            run, row_noise = RUNS[r], noise
            if target == "noise":
                row_noise = value
            else:
                run = _changed(run, target, value)
            ref = trajectories.race("rosenbrock", [run], START, 120, noise=row_noise, seed=3, smoothness=False)
            got = sl.start + j
            # a hyperparameter as a (rows, 1) tensor rounds differently from a float: 1e-14 apart, no more
            np.testing.assert_allclose(result.xy[:, got], ref.xy[:, 0], rtol=1e-10, atol=1e-12,
                                       err_msg=f"{target}={value}")
            np.testing.assert_allclose(result.loss[:, got], ref.loss[:, 0], rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(result.lr[:, got], ref.lr[:, 0], rtol=1e-12)
            assert result.diverged_at[got] == ref.diverged_at[0]


def _changed(run: RunConfig, target: str, value: float) -> RunConfig:
    if target == "clip":
        return dataclasses.replace(run, clip_threshold=value)
    if target.startswith("schedule."):
        kw = dict(run.schedule_kw)
        kw[target.split(".", 1)[1]] = value
        return dataclasses.replace(run, schedule_kw=tuple(kw.items()))
    h = dict(run.hparams)
    name, _, i = target.partition(".")
    if i:
        pair = list(h[name])
        pair[int(i)] = value
        h[name] = tuple(pair)
    else:
        h[name] = value
    return dataclasses.replace(run, hparams=tuple(h.items()))


def test_a_bank_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="rows"):
        bank("rosenbrock", RUNS, START, 10, [Variation(0, "lr", tuple(np.linspace(1e-4, 1e-2, MAX_BANK_ROWS + 1)))])
    with pytest.raises(ValueError, match="runs"):
        bank("rosenbrock", RUNS, START, 10, [Variation(9, "lr", (0.1,))])
    with pytest.raises(ValueError):
        bank("rosenbrock", RUNS, START, 10, [Variation(0, "noise", (-1.0,))])
    with pytest.raises((ValueError, KeyError)):
        bank("rosenbrock", RUNS, START, 10, [Variation(0, "momentum", (0.5,))])  # plain SGD has none


# ---------------------------------------------------------------- the wire
def test_each_array_is_sent_once_a_session_and_again_when_the_browser_lacks_it():
    sent = {}
    a, b = np.arange(10, dtype=np.float32), np.ones((2, 3), dtype=np.int32)
    w = Wire(sent)
    header = {"a": w.ref(a), "b": w.ref(b)}
    h1, arrays = unpack(w.pack(header))
    np.testing.assert_array_equal(arrays[h1["a"]["#"]], a)
    np.testing.assert_array_equal(arrays[h1["b"]["#"]], b)
    w2 = Wire(sent)
    h2, arrays2 = unpack(w2.pack({"a": w2.ref(a)}))
    assert h2["a"] == h1["a"] and arrays2 == {}  # referred to, not carried
    assert forget(sent, [h1["a"]["#"], 7, "x" * 100, None]) == 1
    w3 = Wire(sent)
    _, arrays3 = unpack(w3.pack({"a": w3.ref(a)}))
    assert list(arrays3) == [h1["a"]["#"]]
    assert forget(sent, "not a list") == 0
    w4 = Wire({})  # one Wire, two payloads (a page's mounts): the second carries only its own arrays
    w4.pack({"a": w4.ref(a)})
    assert list(unpack(w4.pack({"b": w4.ref(b)}))[1]) == [key_of(b)]
    with pytest.raises(ValueError):  # JSON has no NaN: a header never carries one
        Wire({}).pack({"x": float("nan")})


def test_deflated_rows_come_back_exactly():
    q = np.random.default_rng(1).integers(0, 65536, size=(5, 6, 77)).astype(np.uint16)
    q[0, 0, :10] = NAN_Q
    assert (inflated(deflated(q), q.shape) == q).all()


def test_quantized_rows_keep_nan_and_stay_within_half_a_step():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 6, 50)) * np.array([1, 10, 1e-3, 100, 1, 1])[None, :, None]
    a[0, 0, 7] = np.nan
    a[1, 2] = np.nan
    a[2, 3] = 5.0
    q, scale = quantize(a)
    assert q.dtype == np.uint16 and q[0, 0, 7] == NAN_Q and (q[1, 2] == NAN_Q).all()
    back = dequantize(q, scale)
    assert np.isnan(back[0, 0, 7]) and np.isnan(back[1, 2]).all() and (back[2, 3] == 5.0).all()
    err = np.abs(np.nan_to_num(back - a))
    assert (err <= scale[..., 1:2] * 0.5 + 1e-12).all()


# ---------------------------------------------------------------- the live race and the payloads
def test_the_series_hold_the_race_at_the_shown_steps():
    spec = ui.ExplorerSpec(steps=120)
    result = spec.race()
    parts = player.race_parts(spec, result)
    shown, ser = parts["shown"], parts["series"]
    assert set(parts["frames"].tolist()) <= set(shown.tolist()) and ser.shape == (4, CHANNELS, shown.size)
    np.testing.assert_allclose(ser[:, X], result.xy[shown, :, 0].T, rtol=1e-6)
    np.testing.assert_allclose(ser[:, Y], result.xy[shown, :, 1].T, rtol=1e-6)
    np.testing.assert_allclose(ser[:, LOSS], result.loss[shown].T, rtol=1e-6)
    np.testing.assert_allclose(ser[:, PANEL0], np.log10(np.maximum(result.loss[shown].T, 1e-16)), rtol=1e-5)
    gn = ser[:, PANEL0 + 1, :-1]  # the last step has no update
    np.testing.assert_allclose(gn, np.log10(result.grad_norm[shown[:-1]].T), rtol=1e-5)
    fig = parts["figure"]
    assert "frames" not in fig and "sliders" not in fig["layout"] and "updatemenus" not in fig["layout"]
    trails = [t for t in fig["data"] if t.get("legendgroup", "").startswith("r") and t.get("xaxis", "x") == "x"]
    assert [t["x"] for t in trails] == [{"$": [r, X]} for r in range(4)]
    assert not [t for t in fig["data"] if t.get("name") == "click to start here"]


def test_a_diverged_run_has_no_position_after_its_last_real_step():
    k = 5
    race = dataclasses.replace(ui.ExplorerSpec(steps=30).race())
    xy = race.xy.copy()
    xy[k:, 1] = xy[k - 1, 1]
    race = dataclasses.replace(race, xy=xy, diverged_at=np.array([-1, k, -1, -1]))
    shown = np.arange(31)
    ser = series(race, shown, min_value=0.0, minima=[(1.0, 1.0)])
    assert np.isfinite(ser[1, X, :k]).all() and np.isnan(ser[1, X, k:]).all()


def test_the_second_payload_of_a_view_carries_no_array_and_a_changed_run_only_its_own():
    spec = ui.ExplorerSpec(steps=80)
    parts = player.race_parts(spec, spec.race())
    sent = {}
    h1, a1 = unpack(player.race_payload(parts, spec, Wire(sent)))
    refs = set(_refs(h1))
    assert refs == set(a1)  # every array the header names is in the first payload
    json.dumps(h1, allow_nan=False)
    assert "plotly" not in h1 and "template" not in h1["figure"]["layout"]  # the player's own chart draws it
    assert h1["tune"]["run"] == 0 and len(h1["tune"]["knobs"]) == 4
    h2, a2 = unpack(player.race_payload(parts, spec, Wire(sent)))
    assert a2 == {} and h2["id"] == h1["id"]
    runs = list(spec.runs)
    runs[2] = default_run("adam", lr=0.1)
    spec3 = dataclasses.replace(spec, runs=tuple(runs))
    parts3 = player.race_parts(spec3, spec3.race())
    h3, a3 = unpack(player.race_payload(parts3, spec3, Wire(sent)))
    assert set(a3) == {h3["series"][2]["#"]}  # only run 3's numbers travel
    assert h3["series"][0] == h1["series"][0] and h3["id"] != h1["id"]


def _refs(obj):
    if isinstance(obj, dict):
        if isinstance(obj.get("#"), str):
            yield obj["#"]
        else:
            for v in obj.values():
                yield from _refs(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _refs(v)


def test_a_bank_is_computed_once_and_a_changed_run_recomputes_only_its_own_groups():
    spec = ui.ExplorerSpec(steps=40, surface="booth")
    wanted = player.missing_groups(spec, 2)
    assert [(v.run, v.target) for v in wanted][:2] == [(2, "lr"), (2, "betas.0")]
    assert [v.run for v in wanted if v.target == "noise"] == [0, 1, 2, 3]
    player.store_groups(spec, wanted, player.compute_groups(spec, wanted))
    assert player.missing_groups(spec, 2) == []
    groups = player.bank_groups(spec, 2)
    lr = next(g for g in groups if g.target == "lr")
    j = lr.values.index(0.05)  # the run's own value: its row is the race's run 3
    ref = spec.race(smoothness=False)
    frames = frame_steps(spec.steps, player.MAX_FRAMES)
    from plots.live import BANK_POINTS, shown_steps

    shown = shown_steps(spec.steps, frames, BANK_POINTS)
    back = dequantize(lr.q, lr.scale)[j]
    span = np.ptp(ref.xy[shown, 2, 0])
    np.testing.assert_allclose(back[0], ref.xy[shown, 2, 0], atol=span / 30000)
    runs = list(spec.runs)
    runs[0] = default_run("sgd", lr=0.002)
    other = dataclasses.replace(spec, runs=tuple(runs))
    assert [(v.run, v.target) for v in player.missing_groups(other, 2)] == [(0, "noise")]
    sent = {}
    h, arrays = unpack(player.bank_payload(spec, 2, groups, Wire(sent)))
    assert h["view"] == "bank" and h["id"] == player.bank_id(spec, 2) and set(_refs(h)) == set(arrays)
    _, again = unpack(player.bank_payload(spec, 2, groups, Wire(sent)))
    assert again == {}


def test_live_race_without_a_known_minimum_draws_the_loss_as_it_is():
    s = surfaces.get("saddle")
    race = trajectories.race(s, [default_run("sgd", lr=0.05)], (0.5, 0.001), 40)
    live = live_race(trajectories.grid(s, 30), race, minima=s.minima, start=(0.5, 0.001), bounds=s.bounds,
                     min_value=None)
    assert live["panels"][0]["log"] is False and live["panels"][3]["has"] is False
    assert np.isnan(live["series"][0, PANEL0 + 3]).all()


def test_a_bank_of_rules_that_evaluate_the_loss_equals_their_races():
    """SAM (a second gradient) and a zeroth-order method (loss values, seeded random directions) in a bank:
    each row equals the race of that value alone (the directions depend on the seed, not on the batch)."""
    runs = [default_run("zo_sgd"), default_run("sam")]
    lr = knobs(runs[0])[0].values[8:10]
    result, rows = bank("rosenbrock", runs, START, 60, [Variation(0, "lr", lr), Variation(1, "rho", (0.01, 0.05))],
                        seed=1)
    for (r, target, sl), values in zip(rows, (lr, (0.01, 0.05)), strict=True):
        for j, v in enumerate(values):
            ref = trajectories.race("rosenbrock", [_changed(runs[r], target, v)], START, 60, seed=1, smoothness=False)
            np.testing.assert_allclose(result.xy[:, sl.start + j], ref.xy[:, 0], rtol=1e-10, atol=1e-12)
