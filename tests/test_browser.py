"""A real browser against `streamlit run`: the chart renders, Play advances the animation, the surface
stays visible while it plays, a scrub redraws with no message to the server, knob and chart fit one
screen, and a screenshot lands in docs/ (the README shows it).

Debian's chromium driven by playwright's Python package (never a downloaded browser); skipped,
saying why, where chromium or playwright is absent.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOT = ROOT / "docs" / "explorer.png"

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # 5-15 s each: a streamlit server, chromium, real waits
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """A fresh `streamlit run app.py`; the first test's first request is a deep link (see below)."""
    port = free_port()
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--global.developmentMode", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def wait_healthy(url: str, proc: subprocess.Popen) -> None:
    """Until the server at url answers its health check; fails the test (with its output) after 90 s."""
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail("streamlit did not start: " + proc.stdout.read().decode(errors="replace")[-2000:])


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(server, browser):
    """A fresh tab (a new Streamlit session) per test."""
    pg = browser.new_page(viewport={"width": 1500, "height": 1100})
    pg.goto(server, wait_until="domcontentloaded")
    yield pg
    pg.close()


def test_a_deep_link_on_a_fresh_server_gets_the_app_navigation(server, browser):
    # must run first on this server: a deep link before anyone opened "/" (a shared /sweeps link)
    pg = browser.new_page(viewport={"width": 1400, "height": 900})
    pg.goto(f"{server}/sweeps?v=1&m=map", wait_until="domcontentloaded")
    pg.get_by_role("heading", name="Sweeps").first.wait_for(timeout=120_000)
    nav = pg.locator('[data-testid="stSidebarNav"]').inner_text(timeout=30_000)
    assert "Explorer" in nav and "Compare runs" in nav, nav  # app.py's titles, not file names
    pg.close()


MAP = ".opt-race .opt-chart image"  # the explorer's map: its surface image, drawn by the player's chart


def step_text(pg) -> str:
    return pg.locator(".opt-race .opt-step-text").first.text_content() or ""


def test_chart_renders_play_advances_and_the_surface_stays(page):
    page.wait_for_selector(MAP, timeout=120_000)
    page.wait_for_selector(".opt-race .opt-play", timeout=30_000)
    page.wait_for_timeout(1500)
    before = step_text(page)
    heads = page.locator(".opt-race .opt-overlay circle").first.get_attribute("transform")
    page.locator(".opt-race .opt-play").first.click()
    page.wait_for_timeout(2500)
    after = step_text(page)
    page.screenshot(path=str(SHOT), full_page=False)  # mid-animation: the heads have moved
    assert after != before, f"the step did not move: {before!r} -> {after!r}"
    assert page.locator(".opt-race .opt-overlay circle").first.get_attribute("transform") != heads
    assert page.locator(MAP).count() >= 1  # the surface stays under the moving heads
    rows = page.locator(".opt-table tbody tr")  # the summary: one row a run, its label as text
    assert rows.count() == 4 and (rows.first.locator("th").text_content() or "").startswith("1. SGD")
    assert "Traceback" not in page.content()
    assert SHOT.stat().st_size > 10_000


def idle(pg, timeout_ms: int = 60_000) -> None:
    """Until the script has run and finished (Streamlit flags its state on the app's root)."""
    pg.wait_for_timeout(300)
    pg.wait_for_function("() => document.querySelector('[data-test-script-state]')"
                         "?.getAttribute('data-test-script-state') === 'notRunning'", timeout=timeout_ms)
    pg.wait_for_timeout(500)


def test_a_rerun_that_keeps_the_view_does_not_redraw_the_chart(page):
    """Choosing another run in the tune strip reruns the page, which sends the same figure with another
    strip: the player rebuilds the strip and leaves Plotly's drawing as it is (data-drawn counts its draws,
    ~100-150 ms each here); a change of the view draws once more."""
    page.wait_for_selector(MAP, timeout=120_000)
    page.wait_for_selector(".opt-tune .opt-chip", timeout=60_000)
    idle(page)
    drawn = lambda: page.locator(".opt-race").first.get_attribute("data-drawn")  # noqa: E731
    before = None
    while before != drawn():  # settled: the first view's drawing done (a late font may resize it once)
        before = drawn()
        page.wait_for_timeout(1500)
    page.locator(".opt-tune .opt-chip").nth(1).click()
    idle(page)
    assert "on" in (page.locator(".opt-tune .opt-chip").nth(1).get_attribute("class") or "")
    assert drawn() == before
    steps = page.locator('[data-testid="stSidebar"] [data-testid="stSlider"]').filter(has_text="steps").first
    thumb = steps.locator("input[type=range]").first
    thumb.focus()
    thumb.press("ArrowRight")
    page.wait_for_function(f"() => document.querySelector('.opt-race')?.dataset.drawn !== {before!r}",
                           timeout=60_000)


def test_the_3d_view_draws_turns_and_reads_the_loss(server, browser):
    """?3d=1 opens the 3D tab: the canvas scene (ui/scene_view.js) draws the surface, a drag turns it (the
    picture changes), and hovering the surface reads x, y and the loss; no page error."""
    pg = browser.new_page(viewport={"width": 1440, "height": 900})
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        pg.goto(f"{server}/?v=1&3d=1", wait_until="domcontentloaded")
        canvas = pg.locator(".opt-scene-canvas").first
        canvas.wait_for(timeout=120_000)
        idle(pg)  # the page settled: a later rerun could mount the scene anew, its camera reset
        canvas.scroll_into_view_if_needed()
        pg.wait_for_timeout(800)
        picture = lambda: pg.evaluate("() => document.querySelector('.opt-scene-canvas').toDataURL()")  # noqa: E731
        painted = pg.evaluate("""() => { const c = document.querySelector('.opt-scene-canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n / (d.length / 4); }""")
        assert painted > 0.15, painted  # the surface covers a good part of the canvas
        before = picture()
        box = canvas.bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        pg.mouse.move(cx, cy)
        pg.mouse.down()
        for i in range(1, 8):
            pg.mouse.move(cx + 15 * i, cy)
            pg.wait_for_timeout(20)
        pg.mouse.up()
        pg.wait_for_timeout(200)
        assert picture() != before
        readout = ""
        for k in range(20):  # hover (again: a rerun may have drawn the scene anew since the drag)
            pg.mouse.move(cx + k % 3, cy + 40)
            pg.wait_for_timeout(150)
            readout = pg.locator(".opt-scene .opt-readout").first.text_content() or ""
            if re.search(r"loss [-0-9.e+]+", readout):
                break
        assert re.search(r"loss [-0-9.e+]+", readout), readout
        assert not errors, errors
    finally:
        pg.close()


def test_the_smoothness_tab_draws_its_points(page):
    """The (L0, L1) tab's figure, drawn by the player's Plotly (no st.plotly_chart): every run's points."""
    page.wait_for_selector(MAP, timeout=120_000)
    page.get_by_role("tab", name="(L0, L1) smoothness").first.click()
    page.wait_for_selector(".opt-figure .scatterlayer .trace", timeout=60_000)
    assert page.locator(".opt-figure .scatterlayer .trace").count() == 4  # the default view's four runs
    assert page.locator(".opt-figure .scatterlayer .point").count() > 100
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 0


def test_a_click_on_the_map_moves_the_start_and_the_url_follows(page):
    from urllib.parse import parse_qsl, urlparse

    page.wait_for_selector(MAP, timeout=120_000)
    assert dict(parse_qsl(urlparse(page.url).query)).get("x0") == "auto"
    box = page.locator(MAP).first.bounding_box()
    # 3/4 across, 1/4 down the default Rosenbrock map ((-2, 2) x (-1, 3)): the point (1, 2)
    page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + 0.25 * box["height"])
    deadline = time.time() + 60
    while time.time() < deadline and dict(parse_qsl(urlparse(page.url).query)).get("x0") == "auto":
        page.wait_for_timeout(500)
    x, y = (float(v) for v in dict(parse_qsl(urlparse(page.url).query))["x0"].split(","))
    assert abs(x - 1) < 0.05 and abs(y - 2) < 0.05, (x, y)  # rounded to a 200th of the map's span


def sent_frames(pg) -> list[int]:
    """A list that grows with every websocket frame the page sends to the server from now on."""
    frames: list[int] = []
    pg.on("websocket", lambda ws: ws.on("framesent", lambda f: frames.append(len(f))))
    return frames


def test_a_scrub_redraws_the_trajectory_without_a_message_to_the_server(server, browser):
    """Drag run 3's lr knob in the tune strip: the drawn trajectory follows every stop with no websocket
    message until the knob is let go; then one goes, and the link holds the value the strip showed."""
    from urllib.parse import parse_qsl, urlparse

    import ui

    pg = browser.new_page(viewport={"width": 1440, "height": 900})
    frames = sent_frames(pg)
    pg.goto(server, wait_until="domcontentloaded")
    pg.wait_for_selector(MAP, timeout=120_000)
    pg.locator(".opt-race .opt-chip").nth(2).click()  # run 3: Adam lr=0.05
    pg.wait_for_function("document.querySelector('.opt-tune')?.dataset.ready === '1'", timeout=120_000)
    knob = pg.locator('.opt-tune input[data-knob="lr"]').first
    box = knob.bounding_box()
    assert box["y"] + box["height"] <= 900, "the knob is below the fold"
    trail = pg.locator(".opt-race .opt-overlay path").nth(2)  # run 3's preview line on the map
    start = int(knob.input_value())
    y = box["y"] + box["height"] / 2
    at = lambda i: box["x"] + 8 + (box["width"] - 16) * i / int(knob.get_attribute("max"))
    pg.mouse.move(at(start), y)
    before = len(frames)
    pg.mouse.down()
    drawn = []
    for i in (start - 2, start - 4, start - 6):
        pg.mouse.move(at(i), y)
        pg.wait_for_timeout(150)
        drawn.append(trail.get_attribute("d"))
    assert len(frames) == before, "the page talked to the server during the drag"
    assert all(d and d.count("L") > 10 for d in drawn) and len(set(drawn)) == 3, "the trajectory did not follow"
    shown = pg.locator('.opt-tune input[data-knob="lr"] + .opt-knob-value').first.text_content()
    pg.mouse.up()
    deadline = time.time() + 60
    while time.time() < deadline and "lr:0.05~" in dict(parse_qsl(urlparse(pg.url).query)).get("r2", "lr:0.05~"):
        pg.wait_for_timeout(250)
    assert len(frames) > before  # let go: now the value goes to the server
    spec, warnings = ui.from_query(dict(parse_qsl(urlparse(pg.url).query)))
    assert warnings == [] and dict(spec.runs[2].hparams)["lr"] == float(shown)
    pg.close()


def test_knob_and_chart_fit_the_screen_together_and_stack_on_a_phone(server, browser):
    """1440 x 900: the map and every knob of the tune strip are on screen at once. 390 px wide (a phone):
    the map sits above the panels, and Play, the step slider and the panels overlap nothing."""
    def rect(pg, sel):
        b = pg.locator(sel).first.bounding_box()
        return b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]

    def apart(a, b):
        return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]

    pg = browser.new_page(viewport={"width": 1440, "height": 900})
    pg.goto(server, wait_until="domcontentloaded")
    pg.wait_for_selector(MAP, timeout=120_000)
    for sel in (MAP, ".opt-tune input[type=range]"):
        x0, y0, x1, y1 = rect(pg, sel)
        assert 0 <= y0 and y1 <= 900 and x1 <= 1440, (sel, y0, y1)
    pg.close()
    pg = browser.new_page(viewport={"width": 390, "height": 844})
    pg.goto(server, wait_until="domcontentloaded")
    pg.wait_for_selector(MAP, timeout=120_000)
    pg.wait_for_timeout(1000)
    play, step = rect(pg, ".opt-race .opt-play"), rect(pg, ".opt-race .opt-step")
    mapbox, panel = rect(pg, '.opt-race .opt-area[data-axes="xy"]'), rect(pg, '.opt-race .opt-area[data-axes="x2y2"]')
    assert apart(play, step) and apart(mapbox, panel) and mapbox[3] <= panel[1], (play, step, mapbox, panel)
    assert mapbox[2] <= 390 and panel[2] <= 390
    pg.close()


def test_a_click_on_a_sweep_cell_links_to_that_run_in_the_explorer(server, browser):
    from urllib.parse import parse_qsl, urlparse

    import ui

    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.goto(f"{server}/sweeps", wait_until="domcontentloaded")
    heat = pg.locator(".js-plotly-plot .heatmaplayer").first  # the first optimizer's map
    heat.wait_for(timeout=120_000)
    pg.wait_for_timeout(1500)
    box = heat.bounding_box()
    pg.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + 0.6 * box["height"])
    link = pg.get_by_role("link", name="in the explorer").first
    link.wait_for(timeout=60_000)
    href = link.get_attribute("href")
    spec, warnings = ui.from_query(dict(parse_qsl(urlparse(href).query)))
    assert warnings == [], warnings
    assert len(spec.runs) == 1
    pg.close()


def test_link_text_shows_as_written_never_as_markup(server, browser):
    """A link's values echoed back (the one message's list of what fell back) are text: no clickable
    link, emphasis or strikethrough."""
    from urllib.parse import quote

    evil = "[Log in again](https://evil.example/login)"
    pg = browser.new_page(viewport={"width": 1400, "height": 900})
    pg.goto(f"{server}/?v=1&s={quote(evil)}&r0={quote('adam~**bold**:1')}&x0={quote('~~strike~~')}",
            wait_until="domcontentloaded")
    alerts = pg.locator('[data-testid="stAlertContentWarning"]')
    alerts.first.wait_for(timeout=120_000)
    assert alerts.count() == 1 and "opened in part" in alerts.first.inner_text()  # one calm message
    pg.get_by_text("what fell back, and why").first.click()
    items = pg.locator('[data-testid="stText"]')
    items.first.wait_for(timeout=30_000)
    text = " ".join(items.all_inner_texts()).replace("\u2060", "")
    assert evil[:40] in text and "**bold**" in text and "~~strike~~" in text, text  # as typed (cut at 40)
    hrefs = [a.get_attribute("href") or "" for a in pg.locator("a").all()]
    assert not any("evil" in h for h in hrefs), hrefs
    assert pg.locator('[data-testid="stAlertContentWarning"] strong, '
                      '[data-testid="stAlertContentWarning"] del, [data-testid="stText"] a').count() == 0
    pg.close()


def test_the_shared_link_reproduces_the_view_in_a_fresh_browser(server, browser):
    """Share -> the full link -> a new browser context (no cookies, no session) opens the same view,
    its preset's story included."""
    from urllib.parse import parse_qsl, urlparse

    import ui

    preset = ui.preset("clipping_quartic")
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.goto(f"{server}/?{preset.link()}", wait_until="domcontentloaded")
    pg.wait_for_selector(MAP, timeout=120_000)
    pg.get_by_role("button", name="Share").first.click()
    code = pg.locator('[data-testid="stCode"] code').first
    code.wait_for(timeout=30_000)
    link = code.inner_text().strip()
    assert link.startswith(server), link  # the full address, not just "?v=1&..."
    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    fresh = other.new_page()
    fresh.goto(link, wait_until="domcontentloaded")
    fresh.wait_for_selector(MAP, timeout=120_000)
    fresh.get_by_text(preset.title).first.wait_for(timeout=30_000)  # the story box opened with it
    shown, warnings = ui.from_query(dict(parse_qsl(urlparse(fresh.url).query)))
    assert warnings == [] and shown == preset.view()
    assert "opened in part" not in fresh.content()
    other.close()
    pg.close()


def test_a_run_editor_stays_open_with_focus_while_it_is_edited(page):
    """Three presses of the arrow key on an open editor's lr slider: the editor stays open, the slider
    keeps the keyboard focus, its title stays as it was when it opened (a closed editor is built only
    when opened, so it is a widget whose identity includes its title: a title that followed the value
    would close it and drop the focus), and the chart's legend follows the value."""
    page.wait_for_selector(MAP, timeout=120_000)
    editor = page.locator('[data-testid="stExpander"]').filter(has_text="Run 3: Adam").first
    editor.locator("summary").first.click()
    slider = editor.locator('[data-testid="stSlider"] input[type="range"]').first
    slider.wait_for(state="attached", timeout=30_000)
    title = editor.locator("summary").first.inner_text()
    slider.focus()
    legend = page.locator(".opt-race .legend")
    for _ in range(3):
        before = slider.get_attribute("aria-valuetext")
        page.keyboard.press("ArrowRight")
        deadline = time.time() + 60
        shown = lambda: legend.text_content() or ""
        while time.time() < deadline and f"lr={slider.get_attribute('aria-valuetext')}" not in shown():
            page.wait_for_timeout(250)
        now = slider.get_attribute("aria-valuetext")
        assert now != before, "the arrow key did not move the slider"
        assert editor.locator("details").first.get_attribute("open") is not None, "the editor collapsed"
        assert editor.locator("summary").first.inner_text() == title, "the title changed"
        assert f"Adam lr={now}" in shown(), "the chart did not follow"
        assert page.evaluate("document.activeElement && document.activeElement.type") == "range", "focus lost"


def test_the_public_demo_recipe_serves_a_public_server(browser, tmp_path):
    """README's deploy recipe, public-demo.sh, as is: the Train page says training is off, and a link
    that asks for more than the server allows is refused with a message, not a traceback."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPT_PLAYGROUND_")}
    env.update(PORT=str(port), ADDRESS="127.0.0.1", OPT_PLAYGROUND_DB=str(tmp_path / "runs.sqlite"))
    proc = subprocess.Popen(["bash", str(ROOT / "public-demo.sh")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        pg = browser.new_page(viewport={"width": 1400, "height": 900})
        pg.goto(f"{url}/train", wait_until="domcontentloaded")
        pg.get_by_text("switched off on this public demo").first.wait_for(timeout=120_000)
        assert pg.get_by_role("button", name="Start").first.is_disabled()
        # 4 optimizers x 300 x 300 x 500 steps = 1.8e8 run-steps: over the public cap of 1.5e8
        pg.goto(f"{url}/sweeps?v=1&m=map&n=500&ax=lr~0.0001~0.01~300~log&ay=momentum~0~0.99~300~lin&"
                + "&".join(f"r{i}=momentum" for i in range(4)), wait_until="domcontentloaded")
        pg.get_by_text("opened in part").first.wait_for(timeout=120_000)  # the one message
        pg.get_by_text("what fell back, and why").first.click()
        pg.get_by_text("to stay within the limits").first.wait_for(timeout=30_000)
        assert "Traceback" not in pg.content()
        pg.close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def test_long_formulas_fit_the_sidebar(server, browser):
    """KaTeX never wraps: the explorer breaks long catalog formulas into lines (ui.latex.fit); each
    drawn formula stays inside its sidebar element, none cut off at the edge."""
    pg = browser.new_page(viewport={"width": 1400, "height": 900})
    for name in ("rastrigin", "sharp_flat", "goldstein_price", "ackley", "levi13"):
        pg.goto(f"{server}/?v=1&s={name}", wait_until="domcontentloaded")
        pg.locator('[data-testid="stSidebar"] .katex-html').first.wait_for(timeout=120_000)
        pg.wait_for_timeout(1000)
        box, drawn = pg.evaluate("""() => {
            const k = document.querySelector('[data-testid="stSidebar"] .katex-html');
            const b = k.closest('[data-testid="stElementContainer"]').getBoundingClientRect();
            let l = 1e9, r = -1e9;
            for (const e of k.querySelectorAll('.base')) {
                const x = e.getBoundingClientRect();
                if (x.width > 0) { l = Math.min(l, x.left); r = Math.max(r, x.right); }
            }
            return [[b.left, b.right], [l, r]];
        }""")
        assert box[0] - 0.5 <= drawn[0] and drawn[1] <= box[1] + 0.5, (name, box, drawn)
    pg.close()


def test_the_basins_legend_clears_the_axis_titles(browser, tmp_path):
    """plots.sweeps.basins_figure drawn by plotly.js: the legend box meets no axis title or tick label."""
    import trajectories
    from plots.sweeps import basins_figure

    b = trajectories.basins("himmelblau", "sgd", 60, n=12, hparams={"lr": 0.01})
    for width, maps in ((700, [("SGD", b)]), (1200, [("SGD", b), ("again", b)])):
        path = tmp_path / f"basins{len(maps)}.html"
        basins_figure(maps, minima=b.minima, bounds=((-5, 5), (-5, 5))).write_html(
            path, include_plotlyjs=True, default_width=width)
        pg = browser.new_page(viewport={"width": width + 40, "height": 600})
        pg.goto(path.as_uri())
        pg.locator(".legend").wait_for(timeout=30_000)
        boxes = pg.evaluate("""() => {
            const r = s => [...document.querySelectorAll(s)].map(e => e.getBoundingClientRect())
                .filter(b => b.width > 0).map(b => [b.left, b.top, b.right, b.bottom]);
            return {legend: r('.legend')[0], axes: r('.g-xtitle text, .g-x2title text, .g-ytitle text, .xtick text')};
        }""")
        pg.close()
        lx0, ly0, lx1, ly1 = boxes["legend"]
        assert boxes["axes"]
        for x0, y0, x1, y1 in boxes["axes"]:
            assert x1 <= lx0 or lx1 <= x0 or y1 <= ly0 or ly1 <= y0, (boxes["legend"], (x0, y0, x1, y1))
        assert lx1 <= width + 1  # inside the figure, not pushed off its edge
