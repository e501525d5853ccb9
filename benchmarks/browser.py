"""How the explorer feels in a real browser: input to chart updated, bytes over the websocket, scrub frames.

Against a freshly started `streamlit run app.py` of its own (loopback, a temporary run store), Debian's
chromium (playwright, never a downloaded browser) does what a person does, each interaction --repeat
times in a fresh tab opened on the default view, and prints per interaction p50 and p95 of:
- latency: from the input event (the key press or pointer press, stamped in the page) until the race
  chart's last DOM change of that rerun (the chart then stays quiet for QUIET_MS and the script has
  finished): what a person sees as "the chart answered";
- bytes: websocket bytes received (server -> browser) and sent, for that interaction.
Interactions: lr one slider step (keyboard), optimizer change, steps + 1, add a run, surface change,
3D view on and off, a preset clicked the first time and a preset clicked again (cached).
First chart: navigation start -> the race chart drawn: cold, the first visit to a fresh server (it imports
torch and computes; --cold-servers servers, one sample each), and warm, in fresh browser contexts after it.
Scrub: a drag across a knob of the chart's tune strip (where the page has one): per input event, the
time until the frame holding the new drawing was painted (event -> requestAnimationFrame -> the task
after it), p50/p95, and the websocket messages the page sent during the drag (aim: none).

Aims (issue 10, on 2 idle cores): scrub p95 <= 50 ms with no message until release; discrete changes
p50 < 400 ms and p95 < 800 ms; cached preset < 250 ms; first chart < 2 s warm, < 4 s cold.

Usage: python benchmarks/browser.py [--repeat 5] [--app PATH] [--only lr,scrub,...] [--cold-servers 3]
--only floor: the floor under them all (benchmarks/floor_app.py: a bare Streamlit rerun redrawing a small chart).
--app serves another checkout (e.g. a worktree of an older commit): the figures before a change.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, table
from _server import CHROMIUM, FLAGS, Server, free_port

VIEWPORT = {"width": 1440, "height": 900}
QUIET_MS = 400  # the chart counts as updated once it has not changed for this long
TIMEOUT_S = 30.0
AIMS = {"discrete p50": 400, "discrete p95": 800, "cached preset": 250, "warm": 2000, "cold": 4000, "scrub p95": 50}

# Stamps the first input event of an interaction and the race chart's DOM changes (the explorer's own
# chart, or the first Plotly graph of the main area), and times scrub frames.
INIT_JS = """
(() => {
  const b = window.__bench = {t0: null, last: 0, changes: 0, frames: []};
  const stamp = () => { if (b.t0 === null) b.t0 = performance.now(); };
  for (const ev of ['pointerdown', 'mousedown', 'keydown']) document.addEventListener(ev, stamp, true);
  // the player's own SVG chart (.opt-chart), or a Plotly graph where an older checkout draws the race with Plotly
  const chart = () => document.querySelector(window.__benchWatch ||
    '[data-testid="stMain"] .opt-chart, [data-testid="stMain"] .js-plotly-plot');
  // a change inside the chart, or the chart itself put in or taken out (not an ancestor's attributes:
  // the app's root flags the script's state on itself)
  const holds = (n, c) => n && n.contains && n.contains(c);
  new MutationObserver(ms => {
    const c = chart();
    if (!c) return;
    for (const m of ms) {
      if (c.contains(m.target) || (m.type === 'childList' &&
          [...m.addedNodes, ...m.removedNodes].some(n => holds(n, c)))) {
        b.last = performance.now(); b.changes++; return;
      }
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  document.addEventListener('input', e => {
    if (!e.target.closest || !e.target.closest('.opt-tune')) return;
    const t = e.timeStamp;
    requestAnimationFrame(() => setTimeout(() => b.frames.push(performance.now() - t), 0));
  }, true);
})();
"""
# the race chart drawn: performance.now() then (ms since this document's navigation start), else false
CHART_DRAWN_JS = """() => {
  const p = document.querySelector('[data-testid="stMain"] .opt-chart, [data-testid="stMain"] .js-plotly-plot');
  return p && p.querySelector('image, .scatterlayer .trace') ? performance.now() : false;
}"""
IDLE_JS = """() => document.querySelector('[data-test-script-state]')?.getAttribute('data-test-script-state')"""


class Tab:
    """One browser tab on the explorer, with its websocket byte counters."""

    def __init__(self, ctx, url: str):
        self.page = ctx.new_page()
        self.recv = self.sent = self.sent_msgs = 0
        self.page.on("websocket", self._ws)
        self.page.add_init_script(INIT_JS)
        self.page.goto(url, wait_until="commit")
        drawn = self.page.wait_for_function(CHART_DRAWN_JS, polling="raf", timeout=TIMEOUT_S * 1000 * 4)
        self.first_chart = float(drawn.json_value())  # ms from navigation start
        self.settle()

    def _ws(self, ws) -> None:
        if "_stcore/stream" not in ws.url:
            return

        def got(payload):
            self.recv += len(payload)

        def put(payload):
            self.sent += len(payload)
            self.sent_msgs += 1

        ws.on("framereceived", got)
        ws.on("framesent", put)

    def settle(self, timeout: float = TIMEOUT_S) -> None:
        """Until the script has finished and the chart has been quiet for QUIET_MS."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.page.evaluate(IDLE_JS)
            quiet = self.page.evaluate(f"performance.now() - window.__bench.last > {QUIET_MS}")
            if state == "notRunning" and quiet:
                return
            time.sleep(0.05)

    def measure(self, action, watch: str | None = None) -> tuple[float, int, int]:
        """(ms from the input event to the chart's last change, bytes received, bytes sent) of one interaction.
        watch: a CSS selector of what the interaction changes, where it is not the race chart."""
        self.page.evaluate(f"window.__benchWatch = {watch!r}" if watch else "window.__benchWatch = null")
        self.page.evaluate("window.__bench.t0 = null; window.__bench.changes = 0")
        r0, s0 = self.recv, self.sent
        action(self.page)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:  # the chart changed, the script finished, and then nothing for QUIET_MS
            b = self.page.evaluate("[window.__bench.changes, performance.now() - window.__bench.last]")
            if b[0] > 0 and b[1] > QUIET_MS and self.page.evaluate(IDLE_JS) == "notRunning":
                break
            time.sleep(0.03)
        else:
            print(f"    (no chart change within {TIMEOUT_S:.0f} s)", flush=True)
        t0, last = self.page.evaluate("[window.__bench.t0, window.__bench.last]")
        ms = (last - t0) if t0 is not None and last > t0 else float("nan")
        self.settle()
        return ms, self.recv - r0, self.sent - s0

    def close(self) -> None:
        self.page.close()


# ---------------------------------------------------------------- widgets, found by their labels (sidebar or main)


def labelled(scope, testid: str, label: str):
    """The widget labelled `label` inside scope (a page or a locator)."""
    root = getattr(scope, "page", scope)  # `has=` takes a locator relative to the element: built from the page
    lab = root.locator('[data-testid="stWidgetLabel"]').filter(has_text=re.compile(f"^{re.escape(label)}$"))
    return scope.locator(f'[data-testid="{testid}"]').filter(has=lab).first


def run_editor(page, n: int):
    """Run n's editor (an expander titled 'Run n: ...'), opened."""
    exp = page.locator('[data-testid="stExpander"]').filter(
        has=page.locator("summary").filter(has_text=re.compile(rf"Run {n}:"))).first
    if exp.locator("details").first.get_attribute("open") is None:
        exp.locator("summary").first.click()
        page.wait_for_timeout(300)
    return exp


def press_slider(scope, label: str, key: str = "ArrowRight"):
    thumb = labelled(scope, "stSlider", label).locator('input[type=range]').first
    thumb.focus()
    thumb.press(key)


def choose(scope, label: str, text: str):
    """Open the selectbox, type to find the option, then press Enter: the interaction's time counts from
    the Enter (the typing before it is the person's, not the app's)."""
    box = labelled(scope, "stSelectbox", label)
    box.locator("input").first.click()
    box.page.keyboard.type(text)
    box.page.wait_for_timeout(150)
    box.page.evaluate("window.__bench.t0 = null")
    box.page.keyboard.press("Enter")


OPTIMIZERS = ["nadam", "radam", "adamax", "amsgrad", "adamw", "lion", "adabound", "rmsprop", "adagrad", "nesterov"]
SURFACES = ["Beale", "Booth", "Himmelblau", "Rastrigin", "Ackley", "Matyas", "N.13", "ravine", "quartic", "Three-hump"]


TABS = '[data-testid="stMain"] [data-testid="stTabs"]'  # where the 3D view appears and goes


def interactions(repeat: int) -> dict:
    """name -> (setup(page) once per fresh tab, [action(page), ...], what to watch (None: the race chart))."""

    def open_run1(page):
        run_editor(page, 1)  # an editor opens once; its knobs are then timed
        page.wait_for_timeout(1500)

    def lr(page):
        press_slider(run_editor(page, 1), "lr")

    def opt(i):
        return lambda page: choose(run_editor(page, 1), "optimizer", OPTIMIZERS[i % len(OPTIMIZERS)])

    def steps(page):
        press_slider(page, "steps")

    def add(page):
        page.get_by_role("button", name="add a run").first.click()

    def surface(i):
        return lambda page: choose(page, "loss surface", SURFACES[i % len(SURFACES)])

    def toggle3d(page):
        labelled(page, "stCheckbox", "3D surface view").locator("label").first.click()

    def preset(i):
        return lambda page: page.locator('[data-testid="stSidebar"] button').filter(
            has_text=PRESETS[i % len(PRESETS)]).first.click()

    none = lambda page: None
    return {
        "lr one step": (open_run1, [lr] * repeat, None),
        "optimizer change": (open_run1, [opt(i) for i in range(repeat)], None),
        "steps + 1": (none, [steps] * repeat, None),
        "add a run": (none, [add] * min(repeat, 4), None),
        "surface change": (none, [surface(i) for i in range(repeat)], None),
        "3D view on/off": (none, [toggle3d] * (2 * ((repeat + 1) // 2)), TABS),
        "preset, first click": (none, [preset(i) for i in range(repeat)], None),
        "preset, cached": (none, [preset(i) for i in range(2)] + [preset(i % 2) for i in range(repeat)], None),
    }


PRESETS = ["Clipping tames", "Momentum in a ravine", "Escaping a saddle", "Adam vs AMSGrad", "AdaBound",
           "Warm restarts", "Warm-up for Adam", "Gradient noise"]


def scrub(ctx, url: str, moves: int = 30) -> dict | None:
    """Drag the chart's first tune knob across its range; None where the page has no tune strip."""
    tab = Tab(ctx, url)
    try:
        page = tab.page
        knob = page.locator(".opt-tune input[type=range]").first
        try:
            knob.wait_for(timeout=15_000)
        except Exception:
            return None
        page.wait_for_function("() => document.querySelector('.opt-tune')?.dataset.ready === '1'",
                               timeout=TIMEOUT_S * 1000)
        box = knob.bounding_box()
        y = box["y"] + box["height"] / 2
        page.evaluate("window.__bench.frames = []")
        m0 = tab.sent_msgs
        page.mouse.move(box["x"] + 4, y)
        page.mouse.down()
        for i in range(1, moves + 1):
            page.mouse.move(box["x"] + 4 + (box["width"] - 8) * i / moves, y)
            page.wait_for_timeout(25)
        page.wait_for_timeout(200)
        during = tab.sent_msgs - m0
        page.mouse.up()
        frames = page.evaluate("window.__bench.frames")
        return {"frames": frames, "sent during drag": during}
    finally:
        tab.close()


FLOOR_SLIDERS = (0, 40)  # a bare page, and one with as many sidebar elements as the explorer's


def floor(browser, workdir: Path, repeat: int) -> list[tuple]:
    """The floor (benchmarks/floor_app.py on a server of its own): a button's rerun until its small chart
    changed, measured as every interaction above, with no computation at all."""
    rows = []
    for n in FLOOR_SLIDERS:
        server = Server("local", free_port(), workdir, ROOT, script="benchmarks/floor_app.py",
                        env={"OPT_FLOOR_SLIDERS": str(n)})
        server.start()
        try:
            c = browser.new_context(viewport=VIEWPORT)
            tab = Tab(c, server.url + "/")
            click = lambda page: page.locator('[data-testid="stSidebar"] button').filter(has_text="rerun").first.click()
            got = [tab.measure(click) for _ in range(repeat)]
            tab.close()
            c.close()
            warm = []
            for _ in range(3 if n == 0 else 0):  # the first chart in a fresh browser, on this warm server
                c = browser.new_context(viewport=VIEWPORT)
                warm.append(Tab(c, server.url + "/").first_chart)
                c.close()
        finally:
            server.stop()
        if warm:
            rows.append(("floor: first chart of a bare Streamlit page, warm server", f"{statistics.median(warm):.0f}",
                         f"{max(warm):.0f}", "", "", "(no aim: the framework's own)"))
        rows.append(summary(f"floor: a Streamlit rerun redrawing a small chart, {n} sidebar sliders", got,
                            "(no aim: the framework's own)"))
        print(f"  floor, {n} sliders: {[round(g[0]) for g in got]} ms", flush=True)
    return rows


def cold_visit(browser, workdir: Path, app: Path) -> float:
    """The first chart of the first visit to a freshly started server (it imports torch and computes), ms."""
    server = Server("local", free_port(), workdir, app)
    server.start()
    try:
        c = browser.new_context(viewport=VIEWPORT)
        ms = Tab(c, server.url + "/").first_chart
        c.close()
        return ms
    finally:
        server.stop()


def summary(name: str, got: list[tuple[float, int, int]], aim: str) -> tuple:
    """A table row of measured (ms, bytes received, bytes sent): p50 and p95 ms, the bytes' p50 in kB."""
    ms = [g[0] for g in got]
    return (name, f"{statistics.median(ms):.0f}", f"{pct(ms, .95):.0f}",
            f"{statistics.median(g[1] for g in got) / 1e3:.1f}", f"{statistics.median(g[2] for g in got) / 1e3:.2f}",
            aim)


def pct(values: list[float], q: float) -> float:
    v = sorted(x for x in values if x == x)
    if not v:
        return float("nan")
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--app", default="", help="serve the app from another checkout (the figures before a change)")
    p.add_argument("--only", default="", help="comma-separated interaction names (substrings), scrub, first")
    p.add_argument("--warm-visits", type=int, default=5)
    p.add_argument("--cold-servers", type=int, default=3, help="fresh servers the cold first chart is taken on")
    args = p.parse_args()
    if not CHROMIUM:
        sys.exit("chromium not found (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    app = Path(args.app).resolve() if args.app else ROOT
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    want = lambda name: not only or any(o in name for o in only)
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="opt-browser-") as tmp:
        server = Server("local", free_port(), Path(tmp), app)
        server.start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                url = server.url + "/"
                ctx = browser.new_context(viewport=VIEWPORT)
                cold = Tab(ctx, url)
                colds, cold_recv = [cold.first_chart], cold.recv
                cold.close()
                ctx.close()
                if want("first"):
                    warm, recv = [], []
                    for _ in range(args.warm_visits):
                        c = browser.new_context(viewport=VIEWPORT)
                        t = Tab(c, url)
                        warm.append(t.first_chart)
                        recv.append(t.recv)
                        c.close()
                    rows.append(("first chart, warm server", f"{statistics.median(warm):.0f}", f"{pct(warm, .95):.0f}",
                                 f"{statistics.median(recv) / 1e3:.0f}", "", f"< {AIMS['warm']}"))
                for name, (setup, actions, watch) in interactions(args.repeat).items():
                    if not want(name):
                        continue
                    c = browser.new_context(viewport=VIEWPORT)
                    tab = Tab(c, url)
                    setup(tab.page)
                    tab.settle()
                    got = []
                    for act in actions:
                        got.append(tab.measure(act, watch))
                    tab.close()
                    c.close()
                    if name == "preset, cached":
                        got = got[2:]  # the first two clicks put both presets in the cache
                    ms = [g[0] for g in got]
                    aim = f"< {AIMS['cached preset']}" if name == "preset, cached" else \
                        f"p50 < {AIMS['discrete p50']}, p95 < {AIMS['discrete p95']}"
                    rows.append(summary(name, got, aim))
                    print(f"  {name}: {[round(x) if x == x else 'none' for x in ms]} ms", flush=True)
                for _ in range(args.cold_servers - 1 if want("first") else 0):  # more fresh servers: one sample each
                    colds.append(cold_visit(browser, Path(tmp), app))
                name = "first chart, cold server" + (f" ({len(colds)} fresh servers)" if len(colds) > 1 else "")
                rows.insert(0, (name,
                                f"{statistics.median(colds):.0f}", f"{max(colds):.0f}" if len(colds) > 1 else "",
                                f"{cold_recv / 1e3:.0f}", "", f"< {AIMS['cold']}"))
                print(f"  first chart, cold: {[round(c) for c in colds]} ms", flush=True)
                if want("floor"):
                    rows += floor(browser, Path(tmp), args.repeat)
                if want("scrub"):
                    c = browser.new_context(viewport=VIEWPORT)
                    s = scrub(c, url)
                    c.close()
                    if s is None:
                        notes.append("scrub: this app has no tune strip (nothing to drag without the server)")
                    else:
                        f = s["frames"]
                        rows.append(("scrub (frame after each drag event)", f"{pct(f, .5):.1f}", f"{pct(f, .95):.1f}",
                                     "", f"{s['sent during drag']} msgs", f"p95 <= {AIMS['scrub p95']}, 0 msgs"))
                        notes.append(f"scrub: {len(f)} input events timed")
                browser.close()
        finally:
            server.stop()
    print()
    print(table(rows, ("interaction", "p50 ms", "p95 ms", "received kB (p50)", "sent kB (p50)", "aim")))
    for n in notes:
        print(n)


if __name__ == "__main__":
    main()
