// The explorer's race player (a Streamlit components-v2 module; ui/race_view.py mounts it).
//
// Every number it draws comes from the torch engine on the server: the race's series and, for the
// scrub, a bank of trajectories for every value a knob stops at (trajectories/bank.py). This file
// only puts those numbers on the screen: it unpacks the wire format (ui/wire.py), draws the still
// figure in SVG (RaceChart, ui/race_chart.js, which the page sends in front of this file as one module)
// and what moves (heads, the panels' markers, arrows, a knob's other values while it is dragged) in an
// SVG layer over it, so a frame of the animation or of a drag costs a few SVG attribute writes. Plotly
// draws only the (L0, L1) tab's figure, loaded when that tab is first opened.
//
// Two mounts share this module: view "race" (the chart, its controls and the tune strip) and view
// "bank" (an empty element at the page's end that brings a bank once it is computed). It reaches the
// browser once a session, as an array of the wire like any other: the component's own script is the
// small loader (ui/race_view_loader.js) that unpacks each payload and imports this from those bytes.

const NAN_Q = 65535;
const NARROW = 700; // px: below this width the map sits above the panels

const G = globalThis.__optPlayground; // the loader's: the arrays received (store), banks, players

// ---------------------------------------------------------------- the wire (ui/race_view_loader.js unpacks it)
function refs(obj, out = []) {
  if (obj && typeof obj === "object") {
    if (typeof obj["#"] === "string") out.push(obj["#"]);
    else for (const v of Object.values(obj)) refs(v, out);
  }
  return out;
}

const arr = (ref) => G.store.get(ref["#"]);

// ---------------------------------------------------------------- Plotly
// The vendored basic bundle (ui/vendor: scatter and the layout components, a quarter of the full one to
// evaluate) arrives deflated through the wire and runs as a classic script; should it fail, the full
// bundle Streamlit ships for st.plotly_chart (its own chunk: importing it sets window.Plotly too).
let plotlyPromise = null;
function plotly(spec) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyPromise) {
    const full = () => {
      const main = [...document.querySelectorAll("script[src]")].map((s) => s.src).find((s) => /\/static\/js\/index\.[^/]*\.js/.test(s));
      return import(new URL(spec.chunk, main || document.baseURI).href);
    };
    const basic = spec.basic && G.store.get(spec.basic["#"]);
    const load = basic ? runScript(basic.a).catch(full) : full();
    plotlyPromise = load.then(() => {
      if (!window.Plotly) throw new Error("Plotly did not load");
      return window.Plotly;
    });
  }
  return plotlyPromise;
}

async function runScript(deflated) {
  const text = await new Response(new Blob([deflated]).stream().pipeThrough(new DecompressionStream("deflate"))).blob();
  const url = URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
  await new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = url;
    s.onload = resolve;
    s.onerror = reject;
    document.head.appendChild(s);
  });
  URL.revokeObjectURL(url);
}

// ---------------------------------------------------------------- small helpers
function el(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}
function setPath(node, d) {
  node.setAttribute("d", d || "M0,0");
  node.style.display = d ? "" : "none";
}
const finite = Number.isFinite;
function bisect(a, v) { // the index of the last element <= v
  let lo = 0, hi = a.length - 1;
  while (lo < hi) { const m = (lo + hi + 1) >> 1; if (a[m] <= v) lo = m; else hi = m - 1; }
  return lo;
}
function deepSet(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ||= {};
  o[keys[keys.length - 1]] = value;
}

// A run's numbers, from the race (a Float32Array series (R, C, L)) or a bank (uint16 rows + scales).
class Rows {
  constructor(get, shown, count) { this.get = get; this.shown = shown; this.count = count; }
  static race(perRun, shown) { // perRun: one (C, L) array a run
    return new Rows((r, ch) => {
      const [, L] = perRun[r].shape;
      return perRun[r].a.subarray(ch * L, (ch + 1) * L);
    }, shown, perRun.length);
  }
  static bank(q, scale, shown) { // channels as the race's (x, y, loss, panels), the loss left out of a bank
    const [R, C, L] = q.shape;
    const cache = new Map();
    return new Rows((r, ch0) => {
      const ch = ch0 < 2 ? ch0 : ch0 - 1;
      const k = r * C + ch;
      if (!cache.has(k)) {
        const lo = scale.a[2 * k], step = scale.a[2 * k + 1], src = q.a.subarray(k * L, (k + 1) * L);
        const out = new Float32Array(L);
        for (let i = 0; i < L; i++) out[i] = src[i] === NAN_Q ? NaN : lo + src[i] * step;
        cache.set(k, out);
      }
      return cache.get(k);
    }, shown, R);
  }
}

// never the modebar's "Share chart..." (it uploads the chart to Plotly's cloud), as st.plotly_chart
const CONFIG = { displaylogo: false, showSendToCloud: false, modeBarButtonsToRemove: ["select2d", "lasso2d", "sendChartToCloud"] };

function stillLayout(layout) { // a copy of a payload's layout, its template (sent once by reference) filled in
  const out = JSON.parse(JSON.stringify(layout));
  if (out.template && out.template.json) out.template = jsonOf(out.template.json);
  return out;
}

// ---------------------------------------------------------------- the player
class Player {
  constructor(parent, args) {
    this.args = args;
    this.root = el("div", "opt-race", parent);
    const bar = el("div", "opt-bar", this.root);
    this.play = el("button", "opt-play", bar);
    this.play.type = "button";
    this.play.textContent = "▶ Play";
    this.step = el("input", "opt-step", bar);
    this.step.type = "range";
    this.step.min = 0;
    this.step.setAttribute("aria-label", "step");
    this.stepText = el("span", "opt-step-text", bar);
    this.note = el("span", "opt-note", bar);
    this.box = el("div", "opt-plotbox", this.root);
    this.gd = el("div", "opt-plot", this.box);
    this.chart = new RaceChart(this.gd);
    // every render of the chart (a new figure, a zoom, a widened panel, a resize) moves the overlay with it
    this.chart.onrender = () => { if (this.h) { this.layoutOverlay(); this.dim(); this.drawPreview(); this.moveMarks(); } };
    this.svg = svgEl("svg", { class: "opt-overlay" }, this.box);
    this.tune = el("div", "opt-tune", this.root);
    this.frame = 0;
    this.timer = null;
    this.preview = null; // {knob, stop}: a knob dragged away from its value
    this.play.onclick = () => (this.timer ? this.pause() : this.start());
    this.step.oninput = () => { this.pause(); this.frame = +this.step.value; this.moveMarks(); };
    this.gd.addEventListener("pointerdown", (e) => { this.down = [e.clientX, e.clientY]; });
    this.gd.addEventListener("click", (e) => this.clicked(e));
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(this.root);
    G.players.add(this);
  }

  async update(header, args) {
    performance.mark("opt-payload"); // the benchmark (benchmarks/browser.py) reads these marks
    this.args = args;
    const missing = refs(header).filter((k) => !G.store.has(k));
    if (missing.length && !(await G.arrived(missing, 3000))) { // keep what is drawn; the page sends them again
      this.note.textContent = "loading…";
      if (this.asked !== header.id) { this.asked = header.id; args.setTriggerValue("missing", missing.filter((k) => !G.store.has(k))); }
      return;
    }
    if (this.args !== args) return; // a newer payload came while this one waited
    this.note.textContent = "";
    const fresh = this.h?.id !== header.id;
    this.h = header;
    this.shown = arr(header.shown).a;
    this.frames = Array.from(arr(header.frames).a);
    this.fidx = this.frames.map((t) => bisect(this.shown, t));
    this.rows = Rows.race(header.series.map(arr), this.shown);
    this.arrows = header.arrows ? arr(header.arrows) : null;
    this.step.max = this.frames.length - 1;
    if (this.frame > this.frames.length - 1) this.frame = this.frames.length - 1;
    this.step.value = this.frame;
    if (fresh) this.preview = null;
    this.widened = null;
    // a rerun that leaves the view as it is (a tab opened, the 3D box ticked, Share) sends the same figure:
    // it stays drawn (its hover and a scrub's widened ranges with it)
    const same = JSON.stringify([header.id, header.figure, header.narrow, header.series, header.arrows]);
    if (same !== this.same || !this.chart.axes) {
      this.same = same;
      try { this.draw(); } catch (e) { this.same = null; throw e; }
    }
    this.buildTune();
    this.moveMarks();
  }

  draw() {
    const h = this.h, fig = h.figure;
    const data = fig.data.map((t) => this.resolve(t));
    const layout = JSON.parse(JSON.stringify(fig.layout)); // a copy: the narrow layout and the image are set in it
    for (const img of layout.images || []) if (img.source && img.source.png) img.source = imageUrl(img.source.png);
    this.narrow = this.root.clientWidth < NARROW;
    if (this.narrow) for (const [k, v] of Object.entries(h.narrow)) deepSet(layout, k, v);
    layout.width = this.box.clientWidth || 800;
    this.traceOf = this.traceIndex(fig.data);
    performance.mark("opt-react");
    this.chart.draw(data, layout); // and the overlay (onrender)
    performance.mark("opt-drawn");
    this.root.dataset.drawn = String((+this.root.dataset.drawn || 0) + 1);
  }

  resolve(t) {
    const out = {};
    for (const [k, v] of Object.entries(t)) out[k] = v && typeof v === "object" && "$" in v ? this.column(v) : v;
    return out;
  }

  column(v) {
    const s = this.shown;
    if (v.$ === "S") return s;
    const [r, a, b] = v.$;
    if (a === "S") { // (step, value) pairs for a hover
      const c = this.rows.get(r, b);
      return Array.from(s, (step, i) => [step, c[i]]);
    }
    const c = this.rows.get(r, a);
    if (!v.pow10) return c;
    const out = new Float64Array(c.length);
    for (let i = 0; i < c.length; i++) out[i] = Math.pow(10, c[i]);
    return out;
  }

  traceIndex(data) { // run -> the indices of its trail and curves (to dim while a knob of it is dragged)
    const of = new Map();
    data.forEach((t, i) => {
      const g = t.legendgroup || "";
      if (/^r\d+$/.test(g)) { const r = +g.slice(1); if (!of.has(r)) of.set(r, []); of.get(r).push(i); }
    });
    return of;
  }

  fit() {
    if (!this.h || !this.gd.isConnected) return;
    const narrow = this.root.clientWidth < NARROW;
    if (narrow !== this.narrow) { this.draw(); return; }
    const w = this.box.clientWidth || 800;
    if (!this.chart.layout || w === this.chart.layout.width) return;
    this.chart.layout.width = w;
    this.chart.render();
  }

  // ---------------------------------------------------------------- the overlay: what moves
  axes(xname, yname) {
    const A = this.chart.axes || {};
    return A[xname] && A[yname] ? { xa: A[xname], ya: A[yname] } : null;
  }

  layoutOverlay() {
    this.svg.setAttribute("width", this.chart.width);
    this.svg.setAttribute("height", this.chart.height);
    this.svg.replaceChildren();
    const defs = svgEl("defs", {}, this.svg);
    const n = this.rows.count;
    const cols = this.h.runs.map((r) => r.colour);
    const area = (name, xn, yn) => { // g: clipped to the plot area (lines); marks: a mark's size beyond it
      const ax = this.axes(xn, yn);
      if (!ax) return null;
      const group = (id, pad) => {
        const clip = svgEl("clipPath", { id }, defs);
        svgEl("rect", { x: ax.xa._offset - pad, y: ax.ya._offset - pad, width: ax.xa._length + 2 * pad, height: ax.ya._length + 2 * pad }, clip);
        return svgEl("g", { "clip-path": `url(#${id})` }, this.svg);
      };
      return { ...ax, g: group(`${this.uid()}-${name}`, 0), marks: group(`${this.uid()}-${name}-m`, 8) };
    };
    const map = area("map", "x", "y");
    this.map = map;
    this.panelAreas = this.h.panels.map((p, i) => (p.has ? area(`p${i}`, p.x, p.y) : null));
    // preview lines under the marks
    this.ghost = { trail: [], curves: [] };
    const previewLine = (g, colour, width) => svgEl("path", { fill: "none", stroke: colour, "stroke-width": width, "stroke-linejoin": "round", style: "display:none" }, g);
    for (let r = 0; r < n; r++) {
      this.ghost.trail.push(previewLine(map.g, cols[r], 2.6));
      this.ghost.curves.push(this.panelAreas.map((a) => (a ? previewLine(a.g, cols[r], 1.8) : null)));
    }
    this.arrowEls = [];
    if (this.arrows) {
      for (let r = 0; r < n; r++) {
        this.arrowEls.push([svgEl("line", { stroke: "#111111", "stroke-width": 2.5 }, map.g), svgEl("line", { stroke: "#ffffff", "stroke-width": 2.5 }, map.g)]);
      }
    }
    // marks over the lines, clipped a mark's size beyond their plot area (one at step 0 shows whole)
    this.heads = cols.map((c) => svgEl("circle", { r: 6.5, fill: c, stroke: "#111111", "stroke-width": 1.5 }, map.marks));
    this.marks = this.panelAreas.map((a) => (a ? cols.map((c) => svgEl("circle", { r: 4, fill: c, stroke: "#111111", "stroke-width": 1 }, a.marks)) : null));
    this.dead = cols.map((c) => svgEl("path", { d: "M-7,-7L7,7M-7,7L7,-7", stroke: c, "stroke-width": 3, style: "display:none" }, map.marks));
  }

  uid() { return (this._uid ||= "opt" + Math.random().toString(36).slice(2, 9)); }

  // the positions and panel values of run r at frame k: from the race, or from the row a dragged knob shows
  source(r) {
    const p = this.preview, s = p && p.src.get(r);
    return s ? { rows: s.rows, row: s.row, fidx: p.fidx, diverged: s.g.diverged[s.row] } : { rows: this.rows, row: r, fidx: this.fidx };
  }

  moveMarks() {
    if (!this.h || !this.heads) return;
    const k = this.frame;
    this.step.value = k;
    this.stepText.textContent = `step ${this.frames[k]} of ${this.frames[this.frames.length - 1]}` + this.costs(this.frames[k]);
    const { xa, ya } = this.map;
    for (let r = 0; r < this.heads.length; r++) {
      const s = this.source(r);
      const x = s.rows.get(s.row, 0), y = s.rows.get(s.row, 1);
      let i = s.fidx[k];
      while (i > 0 && !finite(x[i])) i--; // a diverged run stays at its last real point
      const on = finite(x[i]) && finite(y[i]);
      this.heads[r].style.display = on ? "" : "none";
      if (on) this.heads[r].setAttribute("transform", `translate(${xa._offset + xa.l2p(x[i])},${ya._offset + ya.l2p(y[i])})`);
      this.marks.forEach((m, p) => {
        if (!m) return;
        const a = this.panelAreas[p], v = s.rows.get(s.row, 3 + p)[s.fidx[k]];
        const ok = finite(v);
        m[r].style.display = ok ? "" : "none";
        if (ok) m[r].setAttribute("transform", `translate(${a.xa._offset + a.xa.l2p(this.frames[k])},${a.ya._offset + a.ya.l2p(v)})`);
      });
      if (this.arrows && !(this.preview && this.preview.runs.includes(r))) {
        const o = (r * this.frames.length + k) * 4, t = this.arrows.a;
        const [g, u] = this.arrowEls[r];
        const px = xa._offset + xa.l2p(x[i]), py = ya._offset + ya.l2p(y[i]);
        for (const [line, ax, ay] of [[g, t[o], t[o + 1]], [u, t[o + 2], t[o + 3]]]) {
          const ok = on && finite(ax) && finite(ay);
          line.style.display = ok ? "" : "none";
          if (ok) { line.setAttribute("x1", px); line.setAttribute("y1", py); line.setAttribute("x2", xa._offset + xa.l2p(ax)); line.setAttribute("y2", ya._offset + ya.l2p(ay)); }
        }
      } else if (this.arrows) this.arrowEls[r].forEach((l) => (l.style.display = "none"));
    }
  }

  // what the updates so far cost, for the runs whose cost is not one gradient an update (zeroth-order
  // methods count loss values, SAM two gradients): " · run 3: 240 f"
  costs(step) {
    const parts = [];
    this.h.runs.forEach((run, r) => {
      const e = run.evals;
      if (!e || (e[0] === 0 && e[1] === 1)) return;
      const n = Math.min(step, run.taken);
      const text = [e[0] ? `${e[0] * n} f` : "", e[1] ? `${e[1] * n} ∇f` : ""].filter(Boolean).join(" + ");
      parts.push(`run ${r + 1}: ${text}`);
    });
    return parts.length ? ` · evaluations ${parts.join(", ")}` : "";
  }

  start() {
    if (this.frame >= this.frames.length - 1) this.frame = 0;
    this.play.textContent = "❚❚ Pause";
    this.timer = setInterval(() => {
      if (!this.gd.isConnected) return this.pause();
      if (this.frame >= this.frames.length - 1) return this.pause();
      this.frame += 1;
      this.moveMarks();
    }, 40);
  }

  pause() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.play.textContent = "▶ Play";
  }

  clicked(e) {
    if (!this.h || e.detail > 1) return;
    if (this.down && Math.hypot(e.clientX - this.down[0], e.clientY - this.down[1]) > 4) return; // a zoom, not a click
    const { xa, ya } = this.map, box = this.gd.getBoundingClientRect();
    const px = e.clientX - box.left - xa._offset, py = e.clientY - box.top - ya._offset;
    if (px < 0 || py < 0 || px > xa._length || py > ya._length) return;
    this.args.setTriggerValue("start", { x: xa.p2l(px), y: ya.p2l(py) });
  }

  // ---------------------------------------------------------------- the tune strip
  buildTune() {
    const t = this.h.tune, box = this.tune;
    box.replaceChildren();
    if (!t) return;
    const head = el("div", "opt-tune-head", box);
    el("span", "opt-tune-title", head).textContent = "Tune without waiting:";
    this.chips = this.h.runs.map((run, r) => {
      const b = el("button", "opt-chip" + (r === t.run ? " on" : ""), head);
      b.type = "button";
      const dot = el("span", "opt-dot", b);
      dot.style.background = run.colour;
      el("span", "", b).textContent = run.label_text;
      b.onclick = () => {
        if (r === this.h.tune.run) return;
        this.h.tune.run = r;
        this.h.tune.bank = null; // the page names run r's bank in its next payload
        this.preview = null;
        this.args.setStateValue("tune_run", r);
        this.buildTune();
      };
      return b;
    });
    const grid = el("div", "opt-knobs", box);
    const knobs = [...(t.knobs[t.run] || []).map((k) => ({ ...k, runs: [t.run] })), { ...t.noise, runs: this.h.runs.map((_, r) => r) }];
    for (const k of knobs) {
      const row = el("label", "opt-knob", grid);
      el("span", "opt-knob-label", row).textContent = k.label;
      const input = el("input", "", row);
      input.type = "range";
      input.min = 0;
      input.max = k.values.length - 1;
      input.step = 1;
      input.value = k.index;
      input.dataset.knob = k.target;
      const out = el("span", "opt-knob-value", row);
      out.textContent = k.texts[k.index];
      input.onpointerdown = input.onkeydown = () => this.widen(k);
      input.oninput = () => { out.textContent = k.texts[+input.value]; this.scrub(k, +input.value); };
      input.onchange = () => {
        const j = +input.value;
        if (j !== k.index) this.args.setTriggerValue("commit", { run: k.runs.length > 1 ? -1 : t.run, target: k.target, value: k.values[j] });
      };
    }
    this.readout = el("div", "opt-readout", box);
    this.bankReady();
  }

  bank() { return G.banks.get(this.h?.tune?.bank); }

  bankReady() {
    const ready = !!this.bank();
    this.tune.dataset.ready = ready ? "1" : "0";
    if (this.readout && !this.preview) {
      this.readout.textContent = ready
        ? "Drag a knob: the chart follows at once (every value computed by the engine in advance); let go to keep it."
        : "Preparing the preview of every knob value…";
    }
  }

  scrub(k, j) {
    const b = this.bank();
    if (!b) { this.readout.textContent = "The preview is still being computed: let go to use this value."; return; }
    const src = new Map();
    for (const r of k.runs) { const g = b.group(k.target, r); if (g) src.set(r, { rows: g.rows, row: j, g }); }
    if (!src.size || j === k.index) { this.preview = null; this.dim(); this.drawPreview(); this.moveMarks(); this.bankReady(); return; }
    this.preview = { runs: [...src.keys()], src, fidx: b.fidx };
    this.dim();
    this.drawPreview();
    this.moveMarks();
    const parts = [...src].map(([r, s]) => {
      const d = s.g.diverged[j];
      return d > 0 ? `run ${r + 1}: diverged at step ${d}` : `run ${r + 1}: final loss ${fmt(s.g.final[j])}`;
    });
    this.readout.textContent = `${k.label} ${k.texts[j]} → ${parts.join(" · ")} (let go to keep it)`;
  }

  // Before a knob moves: widen the panels' y ranges to hold every value the knob's rows reach (one
  // relayout as the drag starts; the figure the page sends once the knob is let go sets them again).
  widen(k) {
    const b = this.bank();
    if (!b || this.widened === k.target) return;
    const gs = k.runs.map((r) => b.group(k.target, r)).filter(Boolean);
    if (!gs.length) return;
    const change = {};
    this.h.panels.forEach((p, q) => {
      if (!p.has) return;
      const ya = (this.chart.axes || {})[p.y];
      if (!ya) return;
      let lo = Infinity, hi = -Infinity;
      const take = (c) => { for (let i = 0; i < c.length; i++) if (finite(c[i])) { if (c[i] < lo) lo = c[i]; if (c[i] > hi) hi = c[i]; } };
      for (let r = 0; r < this.rows.count; r++) take(this.rows.get(r, 3 + q));
      for (const g of gs) for (let j = 0; j < g.rows.count; j++) take(g.rows.get(j, 3 + q));
      if (!(hi >= lo)) return;
      const [a, z] = ya.range, pad = 0.05 * (hi - lo || 1);
      if (lo < Math.min(a, z) || hi > Math.max(a, z)) change[`${p.y.replace("y", "yaxis")}.range`] = [lo - pad, hi + pad];
    });
    this.widened = k.target;
    if (Object.keys(change).length) this.chart.setRanges(change);
  }

  dim() { // a dragged run's own lines fade (the preview is drawn over them); the rest as drawn
    const on = new Set(this.preview?.runs || []);
    for (const [r, idx] of this.traceOf || []) {
      for (const i of idx) {
        const node = this.chart.traceNodes?.[i];
        if (node) node.style.opacity = on.has(r) ? 0.25 : "";
      }
    }
  }

  drawPreview() {
    const p = this.preview, n = this.heads.length;
    for (let r = 0; r < n; r++) {
      const on = p && p.runs.includes(r);
      const s = on ? this.source(r) : null;
      setPath(this.ghost.trail[r], on ? line(s.rows.get(s.row, 0), s.rows.get(s.row, 1), this.map) : "");
      this.panelAreas.forEach((a, q) => {
        if (!a) return;
        setPath(this.ghost.curves[r][q], on ? line(s.rows.shown, s.rows.get(s.row, 3 + q), a) : "");
      });
      const dead = this.dead[r];
      dead.style.display = "none";
      if (on) {
        const row = s.row;
        if (s.diverged > 0) {
          const x = s.rows.get(row, 0), y = s.rows.get(row, 1);
          let i = x.length - 1;
          while (i > 0 && !finite(x[i])) i--;
          dead.setAttribute("transform", `translate(${this.map.xa._offset + this.map.xa.l2p(x[i])},${this.map.ya._offset + this.map.ya.l2p(y[i])})`);
          dead.style.display = "";
        }
      }
    }
  }
}

function line(xs, ys, a) { // an SVG path through a row's finite points (l units) on area a's axes
  return polyline(xs.length, (i) => a.xa._offset + a.xa.l2p(xs[i]), (i) => a.ya._offset + a.ya.l2p(ys[i]));
}

const jsons = new Map(); // array key -> the JSON value its bytes hold
function jsonOf(ref) {
  if (!jsons.has(ref["#"])) jsons.set(ref["#"], JSON.parse(new TextDecoder().decode(arr(ref).a)));
  return JSON.parse(JSON.stringify(jsons.get(ref["#"]))); // Plotly may keep what it is given
}

const imageUrls = new Map(); // array key -> object URL of its PNG bytes
function imageUrl(ref) {
  if (!imageUrls.has(ref["#"])) {
    imageUrls.set(ref["#"], URL.createObjectURL(new Blob([arr(ref).a], { type: "image/png" })));
    while (imageUrls.size > 16) { const [k, u] = imageUrls.entries().next().value; URL.revokeObjectURL(u); imageUrls.delete(k); }
  }
  return imageUrls.get(ref["#"]);
}

function fmt(v) {
  if (!finite(v)) return "—";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(2) : String(+v.toPrecision(4));
}

// ---------------------------------------------------------------- banks (the second mount)
async function inflate(ref, shape) { // ui/wire.py deflated(): zlib of the differences, high bytes then low bytes
  const bytes = await new Response(new Blob([arr(ref).a]).stream().pipeThrough(new DecompressionStream("deflate"))).arrayBuffer();
  const planes = new Uint8Array(bytes), L = shape[shape.length - 1], n = planes.length / 2;
  const q = new Uint16Array(n);
  for (let i = 0; i < n; i++) q[i] = ((planes[i] << 8) | planes[n + i]) + (i % L ? q[i - 1] : 0); // wraps mod 2^16
  return { a: q, shape };
}

async function takeBank(h) { // a bank: for each knob of the selected run and the noise of every run, its rows
  const shown = arr(h.shown).a;
  const frames = Array.from(arr(h.frames).a);
  const groups = new Map();
  for (const g of h.groups) {
    const q = await inflate(g.z, g.shape);
    groups.set(`${g.target}|${g.run}`, { rows: Rows.bank(q, arr(g.scale), shown), diverged: arr(g.diverged).a, final: arr(g.final).a });
  }
  G.banks.set(h.id, { fidx: frames.map((t) => bisect(shown, t)), group: (target, run) => groups.get(`${target}|${run}`) });
  while (G.banks.size > 8) G.banks.delete(G.banks.keys().next().value);
  for (const p of G.players) if (p.h?.tune?.bank === h.id) p.bankReady();
}

const mounts = new WeakMap();

// A still figure (the (L0, L1) panel) drawn by the same Plotly as the race: no second bundle to load
async function drawFigure(parent, h) {
  let box = parent.querySelector(":scope > .opt-figure");
  if (box && box.dataset.id === h.id) return; // the same figure: left as drawn
  if (!box) box = el("div", "opt-figure", parent);
  const P = await plotly(h.plotly);
  await P.react(box, h.figure.data, stillLayout(h.figure.layout), CONFIG);
  box.dataset.id = h.id;
}

// A table of text (the summary): every cell set as text, never markup; the same table is left as it is
function drawTable(parent, h) {
  let box = parent.querySelector(":scope > .opt-table-box");
  if (box && box.dataset.id === h.id) return;
  if (!box) box = el("div", "opt-table-box", parent);
  const table = el("table", "opt-table");
  const head = el("tr", "", el("thead", "", table));
  for (const c of h.columns) el("th", "", head).textContent = c;
  const body = el("tbody", "", table);
  for (const row of h.rows) {
    const tr = el("tr", "", body);
    row.forEach((v, i) => { const td = el(i ? "td" : "th", "", tr); td.textContent = v; });
  }
  box.replaceChildren(table);
  box.dataset.id = h.id;
}

// The loader (ui/race_view_loader.js) has unpacked the payload into G.store and hands over its header.
export function render(args, header) {
  const { parentElement } = args;
  if (header.view === "prefetch") { // the page's first element: this module loads while the rest of the page does
    performance.mark("opt-prefetch");
    return;
  }
  if (header.view === "bank") {
    const missing = refs({ shown: header.shown, frames: header.frames, groups: header.groups }).filter((k) => !G.store.has(k));
    G.arrived(missing, 3000).then((here) => {
      if (!here) args.setTriggerValue("missing", missing.filter((k) => !G.store.has(k)));
      else takeBank(header).catch(() => args.setTriggerValue("missing", refs(header.groups)));
    });
    return;
  }
  if (header.view === "figure") { drawFigure(parentElement, header); return; }
  if (header.view === "table") { drawTable(parentElement, header); return; }
  let player = mounts.get(parentElement);
  if (!player || !player.root.isConnected) {
    player = new Player(parentElement, args);
    mounts.set(parentElement, player);
  }
  player.update(header, args);
}
