"""Can one visitor starve another on a public deployment? A light visitor's first chart, alone and beside heavy ones.

What it measures, against a fresh `streamlit run app.py` of its own (temporary OPT_PLAYGROUND_DB, loopback):
- light visitor: a fresh browser context opens the home page `/` (the explorer's default view); the time
  from navigation start until the race chart is drawn (the first Plotly chart of the main area has its
  traces or its surface image drawn). One untimed visit warms the server first; then --visits visits
  alone, then --visits visits while --heavy heavy sessions compute: median (p50) and max of each.
- heavy sessions: Streamlit sessions driven over the websocket protocol without a browser (on a real
  deployment a heavy visitor's page renders on their own machine, not beside the light visitor's browser:
  here both would share the two cores), that open heavy but legal links and keep their sessions open:
  (1) a Sweeps map: 4 optimizers on a 300 x 300 lr x weight_decay grid, (2) the explorer with a ~400
  character custom formula of sin/exp/tanh terms, 8 runs x 5000 steps, (3) a 400 x 400 basins map;
  each built under the mode's environment and shrunk (steps, then cells) until its spec's constructor
  accepts it under the caps.
  One that has finished opens a new session on a variant of its link (a new cache key, the same work),
  so the load lasts through the measurement.
- per mode: `local` (`streamlit run app.py`, OPT_PLAYGROUND_PUBLIC unset) and `public` (`public-demo.sh`,
  the README's deploy recipe: deploy.py's public demo, per-request deadlines, heavy computations in niced
  worker processes, a bounded number at once, one torch thread). By default both run one after the
  other, a fresh server each, in one table.

Printed: mode | light alone p50 / max | light with N heavy p50 / max | ratio of the p50s | aim met?, then
what each heavy session showed at the end (its st.warning/st.info/st.error boxes), and the server's peak
RSS (process and children; psutil where installed, else /proc). A second small table splits the light
visit: navigation -> page title drawn (the server has started the page's script), p50 alone and loaded;
the rest of a visit is the race chart's delta and Plotly drawing it in the browser.

Aim: in public mode, the light visitor's p50 with 3 heavy sessions at most 1.5x its p50 alone.
A visit that takes longer than --timeout seconds counts as --timeout and is reported as a timeout.

Usage: python benchmarks/load.py [--mode both|local|public] [--visits 5] [--heavy 3] [--port N] [--timeout 60]
Needs Debian's chromium (/usr/bin/chromium) and playwright's Python package (never a downloaded browser).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import websockets
from _common import ROOT, table
from _server import CHROMIUM, FLAGS, Server, free_port
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

import ui  # noqa: E402  (after _common puts the repo on sys.path)
from ui import sweep_links  # noqa: E402
from ui.spec import default_run  # noqa: E402
from ui.sweep_spec import AxisSpec, SweepSpec  # noqa: E402
from ui.text import plain  # noqa: E402

AIM = 1.5
WARM_TIMEOUT = 180.0  # the first visit imports torch and computes the default race
HEAVY_GRACE = 2.0  # seconds the heavy sessions compute before the loaded visits start
VIEWPORT = {"width": 1400, "height": 1000}

# The first chart of the main area, drawn (the explorer's own, or a Plotly chart): its traces or its image.
# Polled every animation frame: notes when the page title (the script's first output) appeared, and returns
# [chart, title] in seconds since this document's navigation start once the chart is drawn (else false).
CHART_DRAWN_JS = """() => {
  const now = performance.now() / 1000;
  if (!window.__titleAt && document.querySelector('[data-testid="stMain"] h1')) window.__titleAt = now;
  const p = document.querySelector('[data-testid="stMain"] .opt-chart, [data-testid="stMain"] .js-plotly-plot');
  const drawn = p && p.querySelector('image, .scatterlayer .trace, .heatmaplayer .hm');
  return drawn ? [now, window.__titleAt || now] : false;
}"""

# ---------------------------------------------------------------- the heavy links


@contextlib.contextmanager
def mode_env(env: dict[str, str]):
    """os.environ as the server's, while the heavy specs are built (a cap may depend on the mode)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def formula(max_len: int = 400) -> str:
    """A long but smooth custom formula: a bowl plus many sin/exp/tanh ridges (~400 characters)."""
    terms, k = ["0.1*(x**2+y**2)"], 1
    while True:
        fn = ("sin", "exp", "tanh")[k % 3]
        a, b = 0.3 + 0.1 * (k % 7), 0.2 + 0.1 * (k % 5)
        t = f"exp(-({a:.1f}*x+{b:.1f}*y)**2)" if fn == "exp" else f"{fn}({a:.1f}*x-{b:.1f}*y)"
        if len("+".join([*terms, t])) > max_len:
            return "+".join(terms)
        terms.append(t)
        k += 1


def accepted_sweep(make, steps: int, cells: int, min_cells: int, notes: list[str]) -> SweepSpec:
    """make(steps, cells) -> SweepSpec; shrink steps (to 50), then cells, until the constructor accepts it."""
    while True:
        try:
            return make(steps, cells)
        except ValueError as e:
            if steps > 50:
                new = (max(50, int(steps * 0.75)), cells)
            elif cells > min_cells:
                new = (steps, max(min_cells, int(cells * 0.8)))
            else:
                raise
            notes.append(f"refused at {cells} cells/side x {steps} steps ({e}); shrunk")
            steps, cells = new


@dataclasses.dataclass
class Heavy:
    """One heavy session's link (variant k: another cache key for the same work) and what it saw."""

    name: str
    what: str
    variant: object  # k -> path with query, from the server root
    notes: list[str] = dataclasses.field(default_factory=list)
    started: int = 0  # links opened (the first and every re-trigger)
    finished: int = 0  # computations seen through to the end
    state: dict = dataclasses.field(default_factory=dict)  # what its session shows now (await_finished)
    last_finished_state: dict = dataclasses.field(default_factory=dict)  # ... when it last finished


def heavy_links(env: dict[str, str], count: int) -> list[Heavy]:
    """The heavy sessions' links, built under the mode's environment (shrunk where a cap refuses them)."""
    out: list[Heavy] = []
    with mode_env(env):
        # (1) a Sweeps map: 4 optimizers on a 300 x 300 grid
        notes1: list[str] = []
        four = tuple(default_run(o) for o in ("momentum", "nesterov", "adam", "rmsprop"))

        def make_map(steps: int, cells: int, tol: float = 1e-3) -> SweepSpec:
            return SweepSpec(mode="map", surface="rosenbrock", steps=steps, runs=four,
                             x=AxisSpec("lr", 1e-5, 1e-2, cells, True), y=AxisSpec("weight_decay", 0.0, 0.1, cells,
                                                                                      False), tol=tol)

        m = accepted_sweep(make_map, 400, 300, 10, notes1)
        out.append(Heavy("sweep map", f"Sweeps map, 4 optimizers x {m.x.n} x {m.y.n} x {m.steps} steps "
                                      f"({m.work():.2g} run-steps)",
                         lambda k, m=m: "/sweeps?" + sweep_links.query_string(dataclasses.replace(
                             m, tol=1e-3 * (1 + 0.01 * k))), notes1))
        # (2) the explorer: a ~400-character custom formula, 8 runs x 5000 steps
        notes2: list[str] = []
        eight = tuple(default_run(o) for o in ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad", "lion",
                                               "radam"))
        f = formula()
        steps = ui.MAX_STEPS
        while True:
            try:
                ex = ui.ExplorerSpec(surface="custom", formula=f, runs=eight, steps=steps)
                break
            except ValueError as e:
                if steps <= 50:
                    raise
                notes2.append(f"refused at {steps} steps ({e}); shrunk")
                steps = max(50, steps * 3 // 4)
        out.append(Heavy("explorer formula", f"explorer, custom formula of {len(f)} characters, "
                                             f"{len(ex.runs)} runs x {ex.steps} steps",
                         lambda k, ex=ex: "/?" + ui.query_string(dataclasses.replace(ex, seed=k)), notes2))
        # (3) a basins map: 400 x 400 starts
        notes3: list[str] = []
        two = (default_run("adam", lr=0.05), default_run("momentum", lr=0.001))

        def make_basins(steps: int, cells: int, tol: float = 1e-3) -> SweepSpec:
            return SweepSpec(mode="basins", surface="himmelblau", steps=steps, runs=two, basins_n=cells, tol=tol)

        b = accepted_sweep(make_basins, 400, 400, 20, notes3)
        out.append(Heavy("basins", f"Sweeps basins, 2 optimizers x {b.basins_n} x {b.basins_n} starts x {b.steps} "
                                   f"steps ({b.work():.2g} run-steps)",
                         lambda k, b=b: "/sweeps?" + sweep_links.query_string(dataclasses.replace(
                             b, tol=1e-3 * (1 + 0.01 * k))), notes3))
    # more than three: the same kinds again, each with its own cache keys
    heavies = []
    for i in range(count):
        h = out[i % len(out)]
        shift = 1000 * (i // len(out))
        heavies.append(Heavy(h.name + (f" #{i // len(out) + 1}" if i >= len(out) else ""), h.what,
                             lambda k, v=h.variant, s=shift: v(k + s), list(h.notes)))
    return heavies


# ---------------------------------------------------------------- the server


# ---------------------------------------------------------------- the browser side


@dataclasses.dataclass
class Visit:
    seconds: float  # navigation start -> the race chart drawn
    title: float = float("nan")  # navigation start -> the page title drawn (the server ran the script's start)
    timed_out: bool = False
    error: str = ""


async def light_visit(browser, url: str, timeout: float) -> Visit:
    """A fresh context opens `url`; seconds from navigation start until the first main chart is drawn."""
    ctx = await browser.new_context(viewport=VIEWPORT)
    t0 = time.perf_counter()
    try:
        page = await ctx.new_page()
        await page.goto(url, wait_until="commit", timeout=timeout * 1000)
        left = max(0.1, timeout - (time.perf_counter() - t0))
        handle = await page.wait_for_function(CHART_DRAWN_JS, polling="raf", timeout=left * 1000)
        wall = time.perf_counter() - t0
        chart, title = (float(x) for x in await handle.json_value())  # since this document's navigation start
        ok = 0 < chart <= wall + 0.05
        return Visit(min(timeout, chart if ok else wall), title=min(timeout, title if ok else wall))
    except Exception as e:
        wall = time.perf_counter() - t0
        if "Timeout" in type(e).__name__ or "Timeout" in str(e)[:200] or wall >= timeout - 0.5:
            title = float("nan")
            with contextlib.suppress(Exception):
                title = float(await page.evaluate("() => window.__titleAt || NaN"))
            return Visit(timeout, title=title, timed_out=True)
        return Visit(min(timeout, wall), error=f"{type(e).__name__}: {str(e).splitlines()[0][:160]}")
    finally:
        with contextlib.suppress(Exception):
            await ctx.close()


async def keep_heavy(base: str, h: Heavy, stop: asyncio.Event, ready: asyncio.Event) -> None:
    """Keep h's link computing: a Streamlit session over the websocket protocol, without a browser
    (a heavy visitor's page renders on their own machine, not beside the light visitor's browser);
    when its script has finished, a new session opens the next variant (another cache key)."""
    url = base.replace("http://", "ws://", 1) + "/_stcore/stream"
    while not stop.is_set():
        path, _, query = h.variant(h.started).partition("?")
        h.started += 1
        try:
            async with websockets.connect(url, subprotocols=["streamlit"], max_size=None) as ws:
                msg = BackMsg()
                msg.rerun_script.query_string = query
                msg.rerun_script.page_name = path.strip("/")  # "" is the home page, "sweeps" the Sweeps page
                await ws.send(msg.SerializeToString())
                ready.set()
                h.state = {"running": True, "alerts": [], "progress": "", "exceptions": []}
                while not stop.is_set():
                    try:
                        data = await asyncio.wait_for(ws.recv(), 1.0)
                    except TimeoutError:
                        continue
                    if await_finished(data, h):
                        break
        except Exception as e:
            h.notes.append(f"session error: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
            ready.set()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


def await_finished(data: bytes, h: Heavy) -> bool:
    """Read one ForwardMsg into h.state (alert boxes, progress text, exceptions); True once the script finished."""
    f = ForwardMsg()
    f.ParseFromString(data)
    kind = f.WhichOneof("type")
    if kind == "delta" and f.delta.WhichOneof("type") == "new_element":
        el = f.delta.new_element
        what = el.WhichOneof("type")
        if what == "alert":  # a box updated in place (the wait's seconds) replaces its last version
            body, boxes = plain(el.alert.body), h.state["alerts"]
            same = boxes and boxes[-1][:24] == body[:24]
            h.state["alerts"] = [*boxes[-5:-1 if same else None], body]
        elif what == "progress":
            h.state["progress"] = plain(el.progress.text)
        elif what == "exception":
            h.state["exceptions"].append(el.exception.message)
        elif what == "plotly_chart":
            h.state["chart"] = True
    elif kind == "script_finished":
        h.finished += 1
        h.state["running"] = False
        h.last_finished_state = dict(h.state)
        return True
    return False


async def sampler(server: Server, stop: asyncio.Event) -> None:
    while not stop.is_set():
        server.sample()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


def summary(visits: list[Visit]) -> tuple[float, float, str]:
    secs = [v.seconds for v in visits]
    p50, worst = statistics.median(secs), max(secs)
    t = sum(v.timed_out for v in visits)
    e = sum(bool(v.error) for v in visits)
    extra = ", ".join(x for x in (f"{t} timeout{'s' * (t > 1)}" if t else "", f"{e} failed" if e else "") if x)
    return p50, worst, f"{p50:.2f} / {worst:.2f}" + (f" ({extra})" if extra else "")


async def measure_mode(pw, mode: str, args, workdir: Path) -> dict:
    """One fresh server in `mode`: warm, light visits alone, then beside the heavy sessions."""
    port = args.port or free_port()
    server = Server(mode, port, workdir, Path(args.app).resolve() if args.app else ROOT)
    t_mode = time.perf_counter()
    print(f"\n[{mode}] starting streamlit on port {port} ...", flush=True)
    browser = None
    stop = asyncio.Event()
    tasks: list[asyncio.Task] = []
    heavies: list[Heavy] = []
    try:
        await asyncio.to_thread(server.start)
        samp = asyncio.create_task(sampler(server, stop))
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        home = server.url + "/"
        warm = await light_visit(browser, home, WARM_TIMEOUT)
        print(f"[{mode}] warm-up visit: {warm.seconds:.2f} s" + (" (timeout)" if warm.timed_out else "")
              + (f" ({warm.error})" if warm.error else ""), flush=True)
        alone = []
        for i in range(args.visits):
            alone.append(await light_visit(browser, home, args.timeout))
            print(f"[{mode}] alone {i + 1}/{args.visits}: {alone[-1].seconds:.2f} s", flush=True)

        heavies = heavy_links(server.env, args.heavy)
        readies = []
        for h in heavies:
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(asyncio.create_task(keep_heavy(server.url, h, stop, ready)))
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 90)
        await asyncio.sleep(HEAVY_GRACE)
        loaded = []
        for i in range(args.visits):
            loaded.append(await light_visit(browser, home, args.timeout))
            busy = sum(bool(h.state.get("running")) for h in heavies)
            print(f"[{mode}] with {len(heavies)} heavy {i + 1}/{args.visits}: {loaded[-1].seconds:.2f} s "
                  f"({busy} heavy running)", flush=True)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        server.sample()
        rss, nproc = server.peak_rss()
        await samp
        return dict(mode=mode, alone=alone, loaded=loaded, heavies=heavies, rss=rss, nproc=nproc,
                    seconds=time.perf_counter() - t_mode, warm=warm)
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        if browser is not None:
            with contextlib.suppress(Exception):
                await browser.close()
        server.stop()


def title_p50(visits: list[Visit]) -> float:
    got = [v.title for v in visits if v.title == v.title]  # timed-out visits have none
    return statistics.median(got) if got else float("nan")


def report(results: list[dict], heavy: int) -> None:
    rows = []
    for r in results:
        a50, _, a_txt = summary(r["alone"])
        l50, _, l_txt = summary(r["loaded"])
        ratio = l50 / a50 if a50 > 0 else float("inf")
        met = "met" if ratio <= AIM else "NOT met"
        rows.append((r["mode"], a_txt, l_txt, f"{ratio:.2f}x", met))
    print()
    print(table(rows, ("mode", "light alone p50 / max s", f"light with {heavy} heavy p50 / max s", "ratio of p50s",
                       f"aim <= {AIM}x")))
    print("\nwhere the time goes: navigation -> page title drawn (the server started the script), p50 s")
    print(table([(r["mode"], f"{title_p50(r['alone']):.2f}", f"{title_p50(r['loaded']):.2f}") for r in results],
                ("mode", "title alone", f"title with {heavy} heavy")))
    for r in results:
        print(f"\n[{r['mode']}] server peak RSS {r['rss'] / 2**20:.0f} MiB ({r['nproc']} process"
              f"{'es' * (r['nproc'] > 1)}); mode took {r['seconds']:.0f} s")
        for h in r["heavies"]:
            s = h.state or {}
            now = ("computing" if s.get("running") else "idle") + (", chart drawn" if s.get("chart") else "")
            if s.get("progress"):
                now += f", progress: {s['progress'][:80]!r}"
            print(f"  heavy {h.name}: {h.what}")
            print(f"    links opened {h.started}, computations finished {h.finished}; at the end: {now}")
            boxes = list(dict.fromkeys(s.get("alerts", [])))
            last = h.last_finished_state
            earlier = [b for b in dict.fromkeys(last.get("alerts", [])) if b not in boxes]
            for b in boxes:
                print(f"    box: {' '.join(b.split())[:200]}")
            for b in earlier:
                print(f"    box (on an earlier finished run): {' '.join(b.split())[:200]}")
            for x in s.get("exceptions", []):
                print(f"    exception: {' '.join(x.split())[:200]}")
            if not boxes and not earlier and not s.get("exceptions"):
                print("    no warning/info/error box")
            for n in h.notes:
                print(f"    note: {n}")


async def amain(args) -> None:
    from playwright.async_api import async_playwright

    modes = ["local", "public"] if args.mode == "both" else [args.mode]
    results = []
    with tempfile.TemporaryDirectory(prefix="opt-load-") as tmp:
        async with async_playwright() as pw:
            for mode in modes:
                workdir = Path(tmp) / mode
                workdir.mkdir()
                results.append(await measure_mode(pw, mode, args, workdir))
    report(results, args.heavy)


def on_sigterm(*_) -> None:
    """A SIGTERM ends the run like Ctrl-C: the finally blocks stop the server's process group."""
    raise KeyboardInterrupt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=f"aim: light p50 with heavy sessions <= {AIM}x its p50 alone (public mode)")
    p.add_argument("--mode", choices=("both", "local", "public"), default="both",
                   help="local: OPT_PLAYGROUND_PUBLIC unset; public: OPT_PLAYGROUND_PUBLIC=1 (deploy.py); "
                        "both (default): local then public, a fresh server each, side by side in one table")
    p.add_argument("--visits", type=int, default=5, help="timed light visits alone, and again beside the heavy "
                                                          "sessions (default 5)")
    p.add_argument("--heavy", type=int, default=3, help="heavy sessions kept computing during the loaded visits "
                                                         "(default 3: sweep map, long formula, basins)")
    p.add_argument("--port", type=int, default=0, help="the server's port (default: a free one per mode)")
    p.add_argument("--app", default="", help="serve the app from another checkout (e.g. a git worktree of an "
                                             "older commit, --mode local: the figures before a change)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a light visit may take; longer counts as "
                                                                 "this and is reported as a timeout (default 60)")
    args = p.parse_args()
    if args.visits < 1 or args.heavy < 0 or args.timeout <= 0:
        p.error("--visits must be >= 1, --heavy >= 0, --timeout > 0")
    if not CHROMIUM:
        sys.exit("chromium not found (apt-get install -y chromium)")
    signal.signal(signal.SIGTERM, on_sigterm)
    t0 = time.perf_counter()
    try:
        asyncio.run(amain(args))
    except KeyboardInterrupt:
        sys.exit("interrupted (servers stopped)")
    finally:
        for server in Server.started:
            server.stop()
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
