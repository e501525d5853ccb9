"""The player's SVG chart (ui/race_chart.js) in a real browser, on a real race's figure: axes and ticks
where the numbers say, one trail per run, the legend and hover as text (never markup), the map kept
square, and a drag zooming in (a double click back out). No server: the figure is made here, its
series resolved into plain arrays as the player does, and drawn on a blank page.
"""
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import ui
from plots.live import PANEL0
from ui import player

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser  # ~2 s: chromium, no server
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")


def resolved(spec: ui.ExplorerSpec) -> tuple[dict, dict]:
    """(figure with every {"$": ...} reference replaced by its numbers, as the player's resolve does; parts)."""
    parts = player.race_parts(spec, spec.race())
    ser, shown = parts["series"], parts["shown"]
    fig = json.loads(json.dumps(parts["figure"]))
    fig["layout"].pop("template", None)
    fig["layout"]["images"][0]["source"] = "data:image/png;base64,"  # drawn or not, it is placed

    def col(v):
        if v["$"] == "S":
            return shown.tolist()
        r, a, *b = v["$"]
        if a == "S":
            return [[int(s), float(x)] for s, x in zip(shown, ser[r, b[0]], strict=True)]
        c = ser[r, a].astype(np.float64)
        c = 10.0 ** c if v.get("pow10") else c
        return [x if math.isfinite(x) else None for x in c.tolist()]

    for t in fig["data"]:
        for k, v in list(t.items()):
            if isinstance(v, dict) and "$" in v:
                t[k] = col(v)
    return fig, parts


@pytest.fixture(scope="module")
def page():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        pg = b.new_page(viewport={"width": 1200, "height": 800})
        pg.set_content('<div id="box" style="position:relative;width:1100px"></div>')
        pg.add_script_tag(content=(ROOT / "ui" / "race_chart.js").read_text(encoding="utf-8"))
        yield pg
        b.close()


def draw(page, fig: dict) -> None:
    # JSON has no NaN: the gaps travel as null and become NaN, as the player's Float32Arrays hold them
    page.evaluate("""(fig) => {
        const box = document.getElementById('box'); box.replaceChildren();
        const num = (a) => Array.isArray(a) && !Array.isArray(a[0]) ? a.map((v) => v === null ? NaN : v) : a;
        const data = fig.data.map((t) => ({...t, x: num(t.x), y: num(t.y)}));
        window.chart = new RaceChart(box);
        window.chart.draw(data, {...fig.layout, width: 1100});
    }""", fig)


def test_ticks_read_as_a_person_reads_an_axis(page):
    decades = page.evaluate("logTicks(-3.2, 1.1, 6).map(([, s]) => s)")
    assert decades == ["10⁻³", "10⁻²", "10⁻¹", "1", "10"]
    within = page.evaluate("logTicks(Math.log10(0.3), Math.log10(3), 6).map(([, s]) => s)")
    assert within == ["0.5", "1", "2"]  # less than two decades: 1, 2, 5 of each
    assert page.evaluate("linearTicks(-2, 2, 4).map(([, s]) => s)") == ["−2", "−1", "0", "1", "2"]
    assert page.evaluate("linearTicks(0, 300, 5).map(([v]) => v)") == [0, 100, 200, 300]


def test_a_race_is_drawn_where_its_numbers_say(page):
    spec = ui.ExplorerSpec(steps=60)
    fig, parts = resolved(spec)
    draw(page, fig)
    got = page.evaluate("""() => {
        const c = window.chart, A = c.axes;
        const trails = [...document.querySelectorAll('#box .opt-traces g')]
            .filter((g) => /^r\\d+$/.test(g.dataset.group));
        return {x: [A.x._offset, A.x._length, A.x.range], y: [A.y._offset, A.y._length, A.y.range],
                legend: [...document.querySelectorAll('#box .opt-axes text')].map((t) => t.textContent),
                paths: trails.map((g) => g.querySelectorAll('path').length),
                image: !!document.querySelector('#box image'),
                y2: [A.y2.range, A.y2.log]};
    }""")
    assert got["x"][2] == [-2, 2] and got["y"][2] == [-1, 3]
    assert abs(got["x"][1] - got["y"][1]) < 0.5  # 4 x 4 units on a square: the map keeps its scale
    labels = parts["labels"]
    assert all(lab in got["legend"] for lab in labels)
    assert {"loss", "gradient norm before clipping", "step"} <= set(got["legend"])
    assert sum(got["paths"]) == len(labels) * 5  # a trail and four curves per run
    assert got["image"] and got["y2"][1] is True
    # the loss panel's range holds every run's log10 loss (5% padding either side)
    logs = parts["series"][:, PANEL0][np.isfinite(parts["series"][:, PANEL0])]
    lo, hi = got["y2"][0]
    assert lo < logs.min() and hi > logs.max() and (hi - lo) < 1.2 * (logs.max() - logs.min()) + 1e-9


def test_hover_names_the_run_step_and_loss_as_text(page):
    spec = ui.ExplorerSpec(steps=60)
    fig, parts = resolved(spec)
    fig["data"][0]["name"] = "&lt;img src=x onerror=alert(1)&gt;"  # escaped for Plotly: shown as it reads
    draw(page, fig)
    r, i = 2, 20  # run 3 (Adam), its 21st shown step
    text = page.evaluate(f"""() => {{
        const t = window.chart.data[{r}], box = window.chart.svg.getBoundingClientRect();
        window.chart.svg.dispatchEvent(new PointerEvent('pointermove', {{clientX: box.left + t._px[{i}],
            clientY: box.top + t._py[{i}], bubbles: true}}));
        return window.chart.tip.textContent;
    }}""")
    step = int(parts["shown"][i])
    loss = float(parts["series"][r, 2, i])
    assert text.startswith(parts["labels"][r] + "\n") and f"step {step}\n" in text
    assert f"loss {float(f'{loss:.5g}'):g}" in text.replace("−", "-")
    legend = page.evaluate("[...document.querySelectorAll('#box .opt-axes text')].map((t) => t.textContent)")
    assert "<img src=x onerror=alert(1)>" in legend  # text, not an element
    assert page.evaluate("document.querySelectorAll('#box img, #box foreignObject').length") == 0


def test_a_drag_zooms_the_map_and_a_double_click_resets_it(page):
    fig, _ = resolved(ui.ExplorerSpec(steps=40))
    draw(page, fig)
    box = page.evaluate("""() => { const A = window.chart.axes, r = window.chart.svg.getBoundingClientRect();
        return [r.left + A.x._offset, r.top + A.y._offset, A.x._length, A.y._length]; }""")
    x, y, w, h = box
    page.mouse.move(x + w * 0.25, y + h * 0.25)
    page.mouse.down()
    page.mouse.move(x + w * 0.5, y + h * 0.5, steps=5)
    page.mouse.up()
    zoomed = page.evaluate("[window.chart.axes.x.range, window.chart.axes.y.range]")
    assert zoomed[0][0] == pytest.approx(-1.0, abs=0.05) and zoomed[0][1] == pytest.approx(0.0, abs=0.05)
    assert zoomed[1][0] == pytest.approx(1.0, abs=0.05) and zoomed[1][1] == pytest.approx(2.0, abs=0.05)
    page.mouse.dblclick(x + w * 0.5, y + h * 0.5)
    assert page.evaluate("[window.chart.axes.x.range, window.chart.axes.y.range]") == [[-2, 2], [-1, 3]]
