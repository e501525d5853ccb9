"""Hostile links: whatever a visitor puts in the address bar, no traceback and no unclear error, in linear time.

(a) the readers (ui.links.from_query, ui.sweep_links.from_query, the Compare page's ?runs= (ui.codec's Ids field)) on a
    corpus of bad values in every field: they never raise, return a valid spec (one that writes and
    reads back without a warning), and what they accept runs through the engine (a few steps)
    raising nothing but ValueError;
(b) a representative subset through Streamlit's AppTest on every page: no exception, and no element
    showing a traceback or an exception's class name.
Nothing here is about how displayed text is escaped (that is the pages' business).
"""
from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest

import optimizers
import surfaces
from optimizers.schedules import schedule_spec
from ui import links, sweep_links
from ui.spec import ExplorerSpec
from ui.sweep_spec import SweepSpec, run_one
from ui.train_spec import COMPARE

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "app_pages"
TIMEOUT = 180  # AppTest's per-run limit: the first run imports torch, on 2 busy cores

# ---------------------------------------------------------------- the corpus

OVERFLOW = ["1e200", "1e308", "-1e308", "1e-320", "1e999", "-1e999", "1e-400", "inf", "-inf", "nan", "NaN",
            "1" + "0" * 400, "0x10", "1_000", "+.5e-3", "2000", "4294967296", "9223372036854775808"]
UNICODE_DIGITS = ["²", "١٢٣", "１２", "٣e٢", "²,³", "1²"]
HUGE = ["9" * 5000, "1" + "0" * 4400]
MANY_IDS = ",".join(str(i) for i in range(60_000))


def run_ids(text) -> list[int]:
    """The Compare page's ?runs= (given any way query parameters come) as the page reads it."""
    return list(COMPARE.from_query({"runs": text})[0].runs)


MARKUP = ["[Log in again](https://evil.example/login)", "<script>alert(1)</script>", "**bold**", "~~x~~", "$x$",
          ":red[x]", "`code`", "# title", "\\", "%", "%00", "&", "=", "?a=b"]
CONTROL = ["\x00", "a\x00b", "\x1b[31mred", "\r\n", "\t", "\u202eevil", "\ufeff1", "\udfff", "x\u0085y"]
LONG = ["x" * 5000, "1" * 3999, "~" * 3999, ":" * 3999, ",".join(["1"] * 2000), "adam~" + "lr:1~" * 1000]
STRUCTURE = ["", " ", "~", ":", ",", "auto", "none", "~~~", ":::", ",,,", "a:b:c", "1,2,3", "1,", ",1"]
BAD = OVERFLOW + UNICODE_DIGITS + HUGE + MARKUP + CONTROL + LONG + STRUCTURE
NUMERIC_BAD = ["1e200", "1e308", "-1e308", "1e-320", "1e-300", "1e999", "nan", "1" + "0" * 400, "2000", "0",
               "9223372036854775808", "²", "١٢٣", "１２", "9" * 5000]  # in the places that take a number

EXPLORER_KEYS = list(links.TOP_KEYS) + ["r0", "c0", "sch0", "r7", "c7", "sch7", "r8", "r99999", "c01", "zz", "\x00"]
SWEEP_ONLY_KEYS = ["v", "m", "ax", "ay", "color", "tol", "seeds", "bn", "r3", "r4", "sch9", "zz"]
SHARED_KEYS = ["s", "sp", "f", "x0", "n", "noise", "r0", "c0", "sch0"]  # read by the explorer's code: a sample
CATCH_ALL = "could not be read ("  # the readers' last resort: reaching it means a reader itself raised


def with_params() -> list[tuple[str, str]]:
    return [(s, p.name) for s in surfaces.names() for p in surfaces.get(s).params]


def field_queries(base: dict[str, str], keys: list[str], every: int = 1) -> list[dict]:
    """Each key given each bad value (or every `every`-th) in a whole link, every third of those
    alone (a hand-typed link), and given twice."""
    out = []
    for key in keys:
        for i, bad in enumerate(BAD[::every]):
            if i % 3 == 0:
                out.append({key: bad})
            out.append({**base, key: bad})
        out.append({**base, key: [BAD[0], BAD[20]]})  # a repeated key comes as a list
    return out


def run_queries(base: dict[str, str]) -> list[dict]:
    """Every hyperparameter of every optimizer, every schedule argument, every clip kind and
    every surface parameter given each bad number; plus markup in the names themselves."""
    out = []
    for name in optimizers.names():
        for hp in optimizers.spec(name).hparams:
            for bad in NUMERIC_BAD:
                value = f"{bad},{bad}" if hp.kind == "pair" else bad
                out.append({**base, "r0": f"{name}~{hp.name}:{value}"})
    for sched in optimizers.schedule_names():
        for p in schedule_spec(sched).params:
            for bad in NUMERIC_BAD:
                out.append({**base, "sch0": f"{sched}~{p.name}:{bad}"})
    for kind in optimizers.clip_kinds():
        for bad in NUMERIC_BAD:
            out.append({**base, "c0": f"{kind},{bad}"})
    for surface, param in with_params():
        for bad in NUMERIC_BAD:
            out.append({**base, "s": surface, "sp": f"{param}:{bad}"})
    for bad in NUMERIC_BAD:
        out.append({**base, "x0": f"{bad},{bad}"})
        out.append({**base, "x0": f"0,{bad}"})
    for bad in MARKUP + CONTROL:
        out += [{**base, "r0": f"{bad}~lr:1"}, {**base, "r0": f"adam~{bad}:1"}, {**base, "r0": f"adam~lr:{bad}"},
                {**base, "sch0": f"{bad}~x:1"}, {**base, "c0": f"{bad},1"}, {**base, "sp": f"{bad}:1"}]
    out.append({**base, "r0": "adamw_schedulefree~lr:1e200"})  # the links of the report
    out.append({**base, "r0": "sgd_schedulefree~r:2000"})
    out.append({**base, "r0": "adamw_schedulefree~lr:1e308~r:1e308~weight_lr_power:1e308"})
    return out


def sweep_axis_queries(base: dict[str, str]) -> list[dict]:
    out = []
    for bad in NUMERIC_BAD + MARKUP[:4] + CONTROL[:2]:
        for ax in (f"lr~{bad}~1~4~log", f"lr~1e-5~{bad}~4~log", f"lr~1e-5~1~{bad}~log", f"lr~1e-5~1~4~{bad}",
                   f"{bad}~1~2~4~lin"):
            out.append({**base, "ax": ax})
        out.append({**base, "ay": f"momentum~0~{bad}~3~lin"})
    for name, axis in (("sgd_schedulefree", "r~1e-3~1e300~4~log"), ("adamw_schedulefree", "lr~1e-5~1e300~4~log"),
                       ("adamw_schedulefree", "weight_lr_power~0~1e308~4~lin"), ("sgd", "lr~1e-320~1e308~4~log")):
        out.append({**base, "r0": name, "r1": name, "ax": axis, "ay": "none"})
    out.append({**base, "c0": "value,1e308", "c1": "norm,1e-320", "ax": "clip~1e-320~1e308~4~log", "ay": "none"})
    return out


def read_all(read, to_query, queries, kind) -> set:
    """The distinct specs the queries read as; each read checked, each distinct spec valid."""
    specs = set()
    for q in queries:
        spec, warnings = read(q)
        assert isinstance(spec, kind), q
        assert isinstance(warnings, list) and all(isinstance(w, str) for w in warnings), q
        assert not [w for w in warnings if CATCH_ALL in w], (q, warnings)
        assert all(len(w) < 1500 for w in warnings), q  # values are quoted cut short, never in full
        specs.add(spec)
    for spec in specs:
        back, again = read(to_query(spec))  # a valid spec: it writes a link that reads back as itself
        assert again == [] and back == spec, (spec, again)
    return specs


# ---------------------------------------------------------------- (a) the readers, directly


@pytest.mark.slow  # ~4 000 links read, ~700 distinct views raced: ~10 s on 2 busy cores
def test_explorer_reader_survives_the_corpus_and_what_it_accepts_runs():
    base = links.to_query(ExplorerSpec())
    queries = field_queries(base, EXPLORER_KEYS) + run_queries(base)
    specs = read_all(links.from_query, links.to_query, queries, ExplorerSpec)
    assert len(specs) > 50  # the corpus reaches many different views (accepted extremes among them)
    for spec in specs:
        short = dataclasses.replace(spec, steps=min(spec.steps, 4))
        try:
            res = short.race(smoothness=False)
        except ValueError:  # a clear message, which the page shows (a custom formula that does not parse)
            continue
        assert res.xy.shape[0] == short.steps + 1


@pytest.mark.slow  # ~1 500 links read (a few ms each), the distinct requests swept on tiny grids: ~10 s
def test_sweep_reader_survives_the_corpus_and_what_it_accepts_runs():
    small = SweepSpec(steps=10, x=sweep_links.AxisSpec("lr", 1e-5, 1e-2, 4, True),
                      y=sweep_links.AxisSpec("momentum", 0.0, 0.9, 3, False))
    base = sweep_links.to_query(small)
    queries = field_queries(base, SWEEP_ONLY_KEYS) + field_queries(base, SHARED_KEYS, every=4)
    queries += sweep_axis_queries(base)
    # the optimizer fields, as in the explorer, but a sample of them: each read is a few ms
    queries += [q for i, q in enumerate(run_queries(base)) if i % 7 == 0 or "schedulefree" in q.get("r0", "")]
    specs = read_all(sweep_links.from_query, sweep_links.to_query, queries, SweepSpec)
    assert len(specs) > 20
    swept = set()
    for spec in specs:
        axes = {a: dataclasses.replace(getattr(spec, a), n=min(getattr(spec, a).n, 3))
                for a in ("x", "y") if getattr(spec, a) is not None}
        try:
            short = dataclasses.replace(spec, steps=min(spec.steps, 4), seeds=1, basins_n=3, tol=1e-3,
                                        color="final_loss", **axes)
        except ValueError:
            continue
        if short in swept:  # the same engine calls as a request already swept
            continue
        swept.add(short)
        for k in range(len(short.runs)):
            try:
                run_one(short, k)
            except ValueError:  # a clear message, shown by the page
                continue


@pytest.mark.slow  # ~0.5 s: many runs
def test_explorer_links_from_the_report_no_longer_overflow():
    for link in ("r0=adamw_schedulefree~lr:1e200", "r0=sgd_schedulefree~r:2000"):
        spec, warnings = links.from_query_string(link)
        assert warnings == [] and spec.runs[0].optimizer.endswith("schedulefree")
        res = spec.race()  # was: OverflowError in optimizers/rules/schedulefree.py
        assert res.xy.shape == (spec.steps + 1, 1, 2)


@pytest.mark.parametrize("text", UNICODE_DIGITS + HUGE + ["1" * 19, "-1", "+1", "1.0", "1e3", " ", "", "#", "##1",
                                                           "0x1", "1_0", "\x001", "1\x00", "١", "𝟏", "①"])
def test_run_ids_are_ascii_digits_only(text):
    ids = run_ids(text)
    assert all(isinstance(i, int) and 0 <= i < 10**18 for i in ids)
    assert ids == ([int(text.lstrip("#"))] if text.lstrip("#").isascii() and text.lstrip("#").isdigit()
                   and len(text.lstrip("#")) <= 18 else [])


def test_run_ids_keep_order_drop_duplicates_and_stop_at_64():
    assert run_ids("3,1, x,#2,3") == [3, 1, 2]
    assert run_ids(["1,2", "5", "2"]) == [1, 2, 5]
    assert run_ids("²,7,١٢٣,8,９") == [7, 8]
    assert run_ids(",".join(["5"] * 1000 + ["6"])) == [5, 6]
    assert run_ids("1" * 18) == [int("1" * 18)] and run_ids("1" * 19) == []
    assert run_ids(MANY_IDS) == list(range(64))
    for junk in (None, [], [None], 17, [3, "4"], ("1,2",), ["\x00"], MARKUP):
        assert isinstance(run_ids(junk), list)


@pytest.mark.slow  # ~1.0 s: fuzzing
def test_readers_are_linear_in_the_link():
    """60 000 ids, 60 000 unknown keys, 60 000 repeated values: each well under a CPU-second or two."""
    cases = [
        lambda: run_ids(MANY_IDS),
        lambda: run_ids([MANY_IDS] * 4),
        lambda: run_ids(",".join(str(i % 70) for i in range(240_000))),
        lambda: links.from_query({f"k{i}": "x" for i in range(60_000)}),
        lambda: sweep_links.from_query({f"k{i}": "x" for i in range(60_000)}),
        lambda: links.from_query({f"r{i}": "adam" for i in range(60_000)}),
        lambda: links.from_query({"n": [str(i) for i in range(60_000)]}),
    ]
    for i, case in enumerate(cases):
        t0 = time.process_time()
        case()
        took = time.process_time() - t0
        assert took < 3.0, f"case {i} took {took:.1f} CPU-seconds"


def test_raw_query_strings_never_raise():
    for qs in ("%", "%ZZ&&&==&", "v=1&n=%00&r0=adam~lr:1e200", "r0=adamw_schedulefree~lr:1e200&r0=sgd",
               "?" * 5000, "&".join(f"k{i}=1" for i in range(5000)), "s=%E2%80%AE&f=%00", "runs=%C2%B2",
               "ax=%EF%BC%91~1~2~3~log"):
        spec, warnings = links.from_query_string(qs)
        assert isinstance(spec, ExplorerSpec) and not [w for w in warnings if CATCH_ALL in w]
        spec, warnings = sweep_links.from_query_string(qs)
        assert isinstance(spec, SweepSpec) and not [w for w in warnings if CATCH_ALL in w]


# ---------------------------------------------------------------- (b) the pages, under AppTest

BAD_WORDS = re.compile(r"Traceback|\b(?:Overflow|ZeroDivision|Type|Key|Index|Attribute|Runtime|Memory|Recursion"
                       r"|Unicode(?:Encode|Decode)?|Assertion|NotImplemented|Lookup|Arithmetic|FloatingPoint)Error\b"
                       r"|\bValueError:")


def shown_texts(at) -> list[str]:
    """Every element's protobuf as text (labels, values, help, chart specs): what the page sends."""
    out = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return out


OVERFLOWED = re.compile(r"overflow|numerical result|sweep failed", re.IGNORECASE)


def assert_clean(at, q) -> None:
    assert not at.exception, (q, [e.value for e in at.exception])
    bad = [m.group(0) for t in shown_texts(at) for m in [BAD_WORDS.search(t)] if m]
    assert not bad, (q, bad)
    # a page may catch what the engine raises and say so: for a value the link reader accepted, that
    # is still an unclear error ("the numbers overflowed ((34, 'Numerical result out of range'))")
    errors = [str(e.value) for e in at.error]
    assert not [e for e in errors if OVERFLOWED.search(e)], (q, errors)


def load(at, q: dict) -> None:
    at.query_params.clear()
    for k, v in q.items():
        at.query_params[k] = v
    at.run()


EXPLORER_LINKS = [
    {"r0": "adamw_schedulefree~lr:1e200"},
    {"r0": "sgd_schedulefree~r:2000", "n": "50"},
    {"v": "1", "n": "30", "r0": "adam~lr:1e308", "c0": "norm,1e-320", "sch0": "exponential~gamma:1e200",
     "r1": "adamw_schedulefree~lr:1e308~r:1e308~weight_lr_power:1e308", "sch1": "step~step_size:1e300"},
    {"n": "²", "seed": "١٢٣", "noise": "１２", "x0": "1e308,-1e308", "3d": "²"},
    {"s": "[Log in again](https://evil.example/login)", "r0": "**bold**~lr:~~x~~", "sch0": "$x$",
     "c0": ":red[x],1", "zz": "<script>alert(1)</script>"},
    {"s": "custom", "f": "<script>alert(1)</script>"},
    {"s": "\x00", "r0": "adam\x00~lr:1\x00", "x0": "\x1b[31m", "f": "x\x00"},
    {"v": "1", "f": "x" * 5000, "r0": "adam~" + "lr:1~" * 1000, "sp": ":" * 3999},
    {"n": ["1", "2", "3"], "r0": ["adam", "sgd"], "v": ["1", "99999999999999999999"]},
    {**{f"k{i}": "x" for i in range(200)}, "r99999": "adam", "c01": "norm,1"},
    {"s": "ravine", "sp": "condition:1e308~angle:1e308", "n": "20"},
    {"s": "cliff", "sp": "wall:1e200", "n": "20", "x0": "1e-320,-1e-320"},
    {"v": "1", "s": "rosenbrock", "n": "5000", "r0": "adamw_schedulefree~lr:1e200", "arrows": "1", "3d": "1"},
]


def explorer_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(PAGES / "explorer.py"), default_timeout=TIMEOUT)


@pytest.mark.slow
def test_explorer_page_survives_hostile_links():
    at = explorer_app()
    for q in EXPLORER_LINKS:
        at.session_state["ex_loaded"] = False  # a fresh visit: the page reads the URL again
        load(at, q)
        assert_clean(at, q)


SMALL_SWEEP = {"n": "10", "ax": "lr~1e-5~0.01~4~log", "ay": "none"}
SWEEP_LINKS = [
    {**SMALL_SWEEP, "r0": "adamw_schedulefree~lr:1e200"},
    {**SMALL_SWEEP, "r0": "sgd_schedulefree~r:2000", "r1": "adamw_schedulefree~r:1e308"},
    {**SMALL_SWEEP, "r0": "sgd_schedulefree", "ax": "r~1e-3~1e300~4~log"},
    {**SMALL_SWEEP, "r0": "adamw_schedulefree", "ax": "lr~1e-5~1e308~4~log", "sch0": "exponential~gamma:1e200"},
    {**SMALL_SWEEP, "ax": "²~١~１２~５~log", "ay": "momentum~0~1e999~3~lin"},
    {**SMALL_SWEEP, "m": "[Log in again](https://evil.example/login)", "color": "<script>alert(1)</script>",
     "tol": "1e-320", "noise": "1e308", "seeds": "9" * 5000, "bn": "١٢٣"},
    {**SMALL_SWEEP, "s": "\x00", "m": "map\x00", "r0": "**bold**", "sch0": ":red[x]", "c0": "$x$,~~x~~"},
    {**SMALL_SWEEP, "f": "x" * 5000, "r0": "adam~" + "lr:1~" * 1000, "ax": "~" * 3999},
    {**SMALL_SWEEP, "n": ["1", "2", "3"], "r0": ["adam", "sgd"]},
    {**SMALL_SWEEP, **{f"k{i}": "x" for i in range(200)}, "r9": "adam"},
    {**SMALL_SWEEP, "r0": "sgd", "r1": "adam", "c0": "value,1e308", "c1": "norm,1e-320",
     "ax": "clip~1e-320~1e308~4~log"},
    {"m": "basins", "bn": "4", "n": "10", "r0": "adamw_schedulefree~lr:1e200", "r1": "sgd_schedulefree~r:2000"},
    {"m": "robustness", "n": "10", "ax": "lr~1e-320~1e308~4~log", "r0": "adamw_schedulefree~r:1e300"},
]


@pytest.mark.slow
def test_sweeps_page_survives_hostile_links():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PAGES / "sweeps.py"), default_timeout=TIMEOUT)
    for q in SWEEP_LINKS:
        load(at, q)  # a new link: the page reads it again
        assert_clean(at, q)


COMPARE_LINKS = [
    {"runs": "²"}, {"runs": "١٢٣"}, {"runs": "１２,2"}, {"runs": "9" * 5000}, {"runs": MANY_IDS},
    {"runs": "[Log in again](https://evil.example/login)"}, {"runs": "<script>alert(1)</script>,1"},
    {"runs": "1\x00,2"}, {"runs": ["1,2", "²", "2"]}, {"runs": "-1,0,1e200,1"}, {"runs": "**1**", "zz": ":red[x]"},
    {"runs": "1" * 18},
]


@pytest.fixture
def store_with_runs(tmp_path, monkeypatch) -> str:
    """A throwaway run store ($OPT_PLAYGROUND_DB) holding two finished runs (ids 1 and 2)."""
    from training.job import EvalRow, Job, StepRow
    from training.store import RunSink, Store

    path = str(tmp_path / "runs.sqlite")
    monkeypatch.setenv("OPT_PLAYGROUND_DB", path)
    store = Store(path)
    for opt in ("adam", "sgd"):
        job = Job.from_dict(dict(task="digits-mlp", optimizer=opt, hparams=(("lr", 0.01),), clip=("norm", 1.0),
                                 steps=3))
        run_id = store.create_run(job)
        with RunSink(store, run_id, heartbeat_every=0) as sink:
            sink.start(job, "cpu", {"device": {"text": "CPU"}, "metric_name": "accuracy", "higher_is_better": True,
                                    "target": 0.95, "steps": 3})
            sink.steps([StepRow(i, 2.0 / (i + 1), 0.01, 1.5, 0.5, 0.1 * (i + 1)) for i in range(3)])
            sink.evals([EvalRow(3, 0.5, 0.9, 1000.0, smoothness=3.0, grad_norm=1.0, wall=1.0)])
            sink.finish("done", {"metric_name": "accuracy", "final_metric": 0.9, "steps_per_s": 50.0})
    return path


@pytest.mark.slow
def test_compare_page_survives_hostile_links(store_with_runs):
    from streamlit.testing.v1 import AppTest

    for q in COMPARE_LINKS:
        at = AppTest.from_file(str(PAGES / "compare.py"), default_timeout=TIMEOUT)
        load(at, q)
        assert_clean(at, q)


@pytest.mark.slow
def test_train_page_ignores_hostile_links(store_with_runs):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=TIMEOUT)
    for q in ({"runs": "²"}, {"r0": "adamw_schedulefree~lr:1e200", "zz": "<script>alert(1)</script>"},
              {"task": "\x00" * 100, "n": "9" * 5000}, {**{f"k{i}": "x" for i in range(200)}}):
        load(at, q)
        assert_clean(at, q)
