// The race's still chart in SVG: the map (surface image, trails, marks, the feasible box) and the four
// diagnostics panels, with their axes, ticks, titles, legend and hover. It reads the subset of a Plotly
// figure dict that plots.race_figure(live=True) writes (scatter lines and markers, log and linear axes,
// domains, a layout image, a rect shape, paper notes), so the server keeps one description of the race
// (the HTML export draws the same dict with plotly.js). A redraw is a few ms of SVG, against ~60-100 ms
// of Plotly's layout machinery for five subplots here (benchmarks/browser.py): a discrete change pays
// for the engine and Streamlit, not for the drawing.
//
// ui/player.py sends this file in front of ui/race_view.js, as one module: it exports nothing.
//
//   const chart = new RaceChart(box);        // box: the element the chart fills
//   chart.draw(data, layout);                // data: traces with arrays resolved; layout: as Plotly's
//   chart.axes.x.l2p(v)                      // the axis interface the player's overlay uses (Plotly's
//                                            // names: _offset, _length, range, l2p, p2l; l = log10 on log axes)

const SVGNS = "http://www.w3.org/2000/svg";
const FONT = "'Open Sans', verdana, arial, sans-serif";
const INK = "#2a3f5f"; // plotly_white's text colour, as the HTML export
const GRID_INK = "#EBF0F8";
const PAD = 0.05; // autorange padding, a fraction of the data's span

function svgEl(tag, attrs, parent) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function textEl(parent, x, y, s, attrs) {
  const t = svgEl("text", { x, y, fill: INK, "font-family": FONT, "font-size": 12, ...attrs }, parent);
  t.textContent = s; // text, never markup
  return t;
}

// An SVG path through the points (px(i), py(i)) for i < n, in pixels, broken where one is not finite
function polyline(n, px, py) {
  let d = "", pen = false;
  for (let i = 0; i < n; i++) {
    const x = px(i), y = py(i);
    if (!Number.isFinite(x) || !Number.isFinite(y)) { pen = false; continue; }
    d += (pen ? "L" : "M") + x.toFixed(1) + "," + y.toFixed(1);
    pen = true;
  }
  return d;
}

const unescaped = (s) => String(s ?? "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&amp;/g, "&");

// ---------------------------------------------------------------- numbers on axes and in the hover
function numText(v, digits) { // a short decimal, Plotly's minus sign
  if (!Number.isFinite(v)) return "—";
  const a = Math.abs(v);
  let s = a !== 0 && (a < 1e-4 || a >= 1e6) ? v.toExponential(Math.max(0, digits - 1)) : String(+v.toPrecision(digits));
  s = s.replace(/e\+?/, "e");
  return s.replace("-", "−");
}

const SUP = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };
const decade = (k) => (k === 0 ? "1" : k === 1 ? "10" : "10" + String(k).split("").map((c) => SUP[c]).join(""));

function niceStep(span, most) { // the smallest 1, 2, 5 x 10^k cutting span into at most `most` parts
  const raw = span / Math.max(1, most);
  const k = Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * 10 ** k >= raw * (1 - 1e-9)) return m * 10 ** k;
  return 10 ** (k + 1);
}

function linearTicks(lo, hi, most) {
  const step = niceStep(hi - lo, most);
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    const r = Math.abs(v) < step * 1e-9 ? 0 : +v.toPrecision(12);
    out.push([r, numText(r, 6)]);
  }
  return out;
}

function logTicks(lo, hi, most) { // lo, hi: log10 units
  if (hi - lo >= 1.5) { // whole decades, every k-th
    const every = Math.max(1, Math.ceil((hi - lo) / Math.max(1, most)));
    const out = [];
    for (let k = Math.ceil(lo - 1e-9); k <= hi + 1e-9; k++) if (k % every === 0) out.push([k, decade(k)]);
    if (out.length >= 2) return out;
  }
  const out = [];
  for (let k = Math.floor(lo) - 1; k <= Math.ceil(hi); k++) {
    for (const m of [1, 2, 5]) {
      const l = k + Math.log10(m);
      if (l >= lo - 1e-9 && l <= hi + 1e-9) out.push([l, numText(m * 10 ** k, 3)]);
    }
  }
  if (out.length >= 2 && out.length <= most + 1) return out;
  return linearTicks(10 ** lo, 10 ** hi, most).filter(([v]) => v > 0).map(([v, s]) => [Math.log10(v), s]);
}

// Plotly's hovertemplate subset the race uses: %{x}, %{y}, %{customdata}, %{customdata[i]}, %{text},
// %{fullData.name}, each with an optional :.Ng / :.Nf; <br> a line break; <extra>...</extra> the name.
function hoverText(t, i) {
  const value = (field) => {
    if (field === "x") return t.x[i];
    if (field === "y") return t.y[i];
    if (field === "text") return Array.isArray(t.text) ? t.text[i] : t.text;
    if (field === "fullData.name") return unescaped(t.name);
    const m = /^customdata(?:\[(\d+)\])?$/.exec(field);
    if (m && t.customdata) { const c = t.customdata[i]; return m[1] === undefined ? c : c && c[+m[1]]; }
    return "";
  };
  if (t.hoverinfo === "skip" || t.hoverinfo === "none") return null;
  if (t.hoverinfo === "text") return unescaped(Array.isArray(t.hovertext) ? t.hovertext[i] : t.hovertext);
  const tpl = t.hovertemplate || "%{fullData.name}<br>(%{x}, %{y})";
  let extra = "";
  const body = tpl.replace(/<extra>(.*?)<\/extra>/, (_, e) => { extra = e; return ""; });
  const fill = (s) => s.replace(/%\{([^}:]+)(?::([^}]*))?\}/g, (_, field, fmt) => {
    const v = value(field);
    if (typeof v !== "number") return unescaped(v ?? "");
    const m = /^\.(\d+)([gf])$/.exec(fmt || "");
    if (!m) return numText(v, 6);
    return m[2] === "f" ? v.toFixed(+m[1]).replace("-", "−") : numText(v, +m[1]);
  });
  const lines = fill(body).split(/<br\s*\/?>/);
  const name = fill(extra);
  return (name ? [name, ...lines] : lines).filter((s) => s !== "").join("\n");
}

// ---------------------------------------------------------------- an axis
class Axis {
  constructor(name, spec, letter) {
    this.name = name; // "x", "x2", "y", ...
    this.spec = spec || {};
    this.letter = letter;
    this.log = this.spec.type === "log";
  }
  d2l(v) { return this.log ? (v > 0 ? Math.log10(v) : NaN) : v; }
  key() { return this.letter + "axis" + this.name.slice(1); } // its layout key: "xaxis", "yaxis3"
  source(axes) { return (this.spec.matches && axes[this.spec.matches]) || this; } // whose range it shares
  place(offset, length) { this._offset = offset; this._length = length; }
  setRange(range) { this.range = range; }
  // l (log10 on a log axis) -> pixels from _offset; y grows downwards
  l2p(l) {
    const [a, b] = this.range;
    const f = (l - a) / (b - a);
    return this.letter === "x" ? f * this._length : (1 - f) * this._length;
  }
  p2l(p) {
    const [a, b] = this.range;
    const f = this.letter === "x" ? p / this._length : 1 - p / this._length;
    return a + f * (b - a);
  }
}

// ---------------------------------------------------------------- the chart
class RaceChart {
  constructor(box) {
    this.box = box;
    this.svg = svgEl("svg", { class: "opt-chart" }, box);
    this.tip = document.createElement("div");
    this.tip.className = "opt-tip";
    box.appendChild(this.tip);
    this.svg.addEventListener("pointermove", (e) => this.hover(e));
    this.svg.addEventListener("pointerleave", () => { this.tip.style.display = "none"; });
    this.svg.addEventListener("pointerdown", (e) => this.zoomStart(e));
    this.svg.addEventListener("dblclick", () => { this.ranges = {}; this.render(); });
    this.uid = "oc" + Math.random().toString(36).slice(2, 9);
    this.ranges = {}; // axis key ("xaxis", "yaxis3") -> [lo, hi] in l units: a zoom, a scrub's widened panel
    this.onrender = null; // called after every render (the player puts its overlay on the new axes)
  }

  // data: traces, their arrays resolved (numbers); layout: a Plotly layout (width set by the caller).
  // A zoom into the map stays while the map's own ranges stay (another run, lr, steps); the panels' go.
  draw(data, layout) {
    const same = this.layout && JSON.stringify([this.layout.xaxis?.range, this.layout.yaxis?.range]) ===
      JSON.stringify([layout.xaxis?.range, layout.yaxis?.range]);
    const keep = same ? { xaxis: this.ranges.xaxis, yaxis: this.ranges.yaxis } : {};
    this.data = data;
    this.layout = layout;
    this.ranges = Object.fromEntries(Object.entries(keep).filter(([, v]) => v));
    this.render();
  }

  setRanges(ranges) { // {yaxis3: [lo, hi], ...} in l units: redraw with them
    Object.assign(this.ranges, ranges);
    this.render();
  }

  render() {
    const L = this.layout, data = this.data;
    const W = L.width || this.box.clientWidth || 800, H = L.height || 540;
    const m = { l: 80, r: 80, t: 100, b: 80, ...(L.margin || {}) };
    const legend = this.legendItems(data, W, m);
    m.t = Math.max(m.t, 19 * legend.rows + 26); // rows that do not fit the top margin widen it (a phone)
    this.width = W;
    this.height = H;
    this._size = { l: m.l, t: m.t, w: Math.max(10, W - m.l - m.r), h: Math.max(10, H - m.t - m.b) };
    const s = this._size;
    this.svg.setAttribute("width", W);
    this.svg.setAttribute("height", H);
    this.svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    this.svg.replaceChildren();

    // axes: placed by domain, ranged by layout or data
    const axes = {};
    for (const [k, spec] of Object.entries(L)) {
      const mm = /^([xy])axis(\d*)$/.exec(k);
      if (mm) axes[mm[1] + mm[2]] = new Axis(mm[1] + mm[2], spec, mm[1]);
    }
    for (const t of data) for (const a of [t.xaxis || "x", t.yaxis || "y"]) if (!axes[a]) axes[a] = new Axis(a, {}, a[0]);
    for (const a of Object.values(axes)) {
      const d = a.spec.domain || [0, 1];
      if (a.letter === "x") a.place(s.l + d[0] * s.w, (d[1] - d[0]) * s.w);
      else a.place(s.t + (1 - d[1]) * s.h, (d[1] - d[0]) * s.h);
    }
    this.rangeAxes(axes, data);
    this.constrain(axes);
    this.axes = axes;

    const defs = svgEl("defs", {}, this.svg);
    const clips = {};
    const clipOf = (xn, yn) => {
      const id = `${this.uid}-${xn}${yn}`;
      if (!clips[id]) {
        const xa = axes[xn], ya = axes[yn];
        const c = svgEl("clipPath", { id }, defs);
        svgEl("rect", { x: xa._offset, y: ya._offset, width: xa._length, height: ya._length }, c);
        clips[id] = `url(#${id})`;
      }
      return clips[id];
    };
    const pairs = this.pairs(axes, data);
    const under = svgEl("g", { class: "opt-under" }, this.svg);
    for (const [xn, yn] of pairs) { // each subplot's plot area (data-axes "xy", "x2y2": what a test or a zoom finds)
      const xa = axes[xn], ya = axes[yn];
      svgEl("rect", { class: "opt-area", "data-axes": xn + yn, x: xa._offset, y: ya._offset, width: xa._length, height: ya._length, fill: "none" }, under);
      this.drawGrid(under, xa, ya);
    }
    for (const img of L.images || []) this.drawImage(under, img, axes, clipOf);
    const plot = svgEl("g", { class: "opt-traces" }, this.svg);
    this.traceNodes = data.map((t) => {
      const xa = axes[t.xaxis || "x"], ya = axes[t.yaxis || "y"];
      const g = svgEl("g", { "clip-path": clipOf(xa.name, ya.name), "data-group": t.legendgroup || "" }, plot);
      if (t.opacity !== undefined) g.setAttribute("opacity", t.opacity);
      this.drawTrace(g, t, xa, ya);
      return g;
    });
    for (const sh of L.shapes || []) this.drawShape(plot, sh, axes, clipOf);
    const over = svgEl("g", { class: "opt-axes" }, this.svg);
    for (const [xn, yn] of pairs) { this.drawTicks(over, axes[xn], axes[yn], "x"); this.drawTicks(over, axes[yn], axes[xn], "y"); }
    for (const a of L.annotations || []) this.drawNote(over, a);
    this.drawLegend(over, legend);
    this.hits = this.hitTable(data);
    if (this.onrender) this.onrender();
  }

  // ---------------------------------------------------------------- zoom: drag a box, double-click resets
  subplotAt(mx, my) {
    for (const [xn, yn] of this.pairs(this.axes, this.data)) {
      const xa = this.axes[xn], ya = this.axes[yn];
      if (mx >= xa._offset && mx <= xa._offset + xa._length && my >= ya._offset && my <= ya._offset + ya._length) return [xa, ya];
    }
    return null;
  }

  zoomStart(e) {
    if (e.button !== 0 || !this.axes) return;
    const r = this.svg.getBoundingClientRect(), x0 = e.clientX - r.left, y0 = e.clientY - r.top;
    const at = this.subplotAt(x0, y0);
    if (!at) return;
    const [xa, ya] = at;
    const box = svgEl("rect", { class: "opt-zoombox", fill: "rgba(0,114,178,0.12)", stroke: "#0072B2", "stroke-width": 1, style: "display:none" }, this.svg);
    const clamp = (v, a) => Math.min(a._offset + a._length, Math.max(a._offset, v));
    let x1 = x0, y1 = y0;
    const move = (ev) => {
      x1 = clamp(ev.clientX - r.left, xa); y1 = clamp(ev.clientY - r.top, ya);
      const big = Math.abs(x1 - x0) > 6 || Math.abs(y1 - y0) > 6;
      box.style.display = big ? "" : "none";
      if (big) { box.setAttribute("x", Math.min(x0, x1)); box.setAttribute("y", Math.min(y0, y1)); box.setAttribute("width", Math.abs(x1 - x0)); box.setAttribute("height", Math.abs(y1 - y0)); }
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      box.remove();
      if (Math.abs(x1 - x0) <= 6 && Math.abs(y1 - y0) <= 6) return; // a click (the map's: set the start)
      const key = (a) => a.source(this.axes).key();
      const span = (a, p, q) => { const u = [a.p2l(p - a._offset), a.p2l(q - a._offset)]; return [Math.min(...u), Math.max(...u)]; };
      if (Math.abs(x1 - x0) > 6) this.ranges[key(xa)] = span(xa, x0, x1);
      if (Math.abs(y1 - y0) > 6) this.ranges[key(ya)] = span(ya, y0, y1);
      this.tip.style.display = "none";
      this.render();
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  pairs(axes, data) { // the subplots: each x axis with the y axis it anchors to (or its traces use)
    const out = [];
    for (const a of Object.values(axes)) {
      if (a.letter !== "x") continue;
      const y = a.spec.anchor && axes[a.spec.anchor] ? a.spec.anchor : (data.find((t) => (t.xaxis || "x") === a.name)?.yaxis || "y" + a.name.slice(1));
      if (axes[y]) out.push([a.name, y]);
    }
    return out;
  }

  rangeAxes(axes, data) {
    const ext = {}; // axis -> [lo, hi] of its traces' values, in l units
    const take = (name, arr) => {
      const a = axes[name];
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < arr.length; i++) {
        const l = a.d2l(arr[i]);
        if (Number.isFinite(l)) { if (l < lo) lo = l; if (l > hi) hi = l; }
      }
      if (lo <= hi) { const e = ext[name] || [Infinity, -Infinity]; ext[name] = [Math.min(e[0], lo), Math.max(e[1], hi)]; }
    };
    for (const t of data) { if (t.x) take(t.xaxis || "x", t.x); if (t.y) take(t.yaxis || "y", t.y); }
    for (const a of Object.values(axes)) { // matched axes share their data
      const to = a.spec.matches;
      if (to && ext[a.name] && axes[to]) {
        const e = ext[to] || [Infinity, -Infinity];
        ext[to] = [Math.min(e[0], ext[a.name][0]), Math.max(e[1], ext[a.name][1])];
      }
    }
    for (const a of Object.values(axes)) {
      const src = a.source(axes);
      const own = this.ranges[src.key()] || this.ranges[a.key()];
      if (own) { a.setRange(own); continue; }
      if (Array.isArray(src.spec.range)) { a.setRange(src.spec.range.map(Number)); continue; }
      const e = ext[src.name];
      if (!e) { a.setRange(a.log ? [0, 1] : [-1, 1]); continue; }
      let [lo, hi] = e;
      if (hi - lo < 1e-12) { const d = Math.abs(lo) * 0.1 || (a.log ? 0.5 : 1); lo -= d; hi += d; }
      // lines reach the edges of a step axis (Plotly's autorange of an x axis of lines), values get 5%
      const pad = a.letter === "x" ? 0 : PAD * (hi - lo);
      a.setRange([lo - pad, hi + pad]);
    }
  }

  constrain(axes) { // scaleanchor with constrain "domain": the anchored pair keeps its scale, centred
    for (const a of Object.values(axes)) {
      const b = axes[a.spec.scaleanchor];
      if (!b) continue;
      const ratio = +a.spec.scaleratio || 1;
      const ua = Math.abs(a.range[1] - a.range[0]), ub = Math.abs(b.range[1] - b.range[0]);
      const pa = a._length / (ua * ratio), pb = b._length / ub; // px per unit of b
      const k = Math.min(pa, pb);
      if (pa > k) { const len = ua * ratio * k; a.place(a._offset + (a._length - len) / 2, len); }
      if (pb > k) { const len = ub * k; b.place(b._offset + (b._length - len) / 2, len); }
    }
  }

  drawGrid(g, xa, ya) {
    for (const [a, other] of [[xa, ya], [ya, xa]]) {
      const ticks = this.ticksOf(a);
      if (a.spec.showgrid !== false) {
        for (const [l] of ticks) {
          const p = a._offset + a.l2p(l);
          const attrs = a.letter === "x"
            ? { x1: p, x2: p, y1: other._offset, y2: other._offset + other._length }
            : { y1: p, y2: p, x1: other._offset, x2: other._offset + other._length };
          svgEl("line", { ...attrs, stroke: GRID_INK, "stroke-width": 1 }, g);
        }
      }
      if (a.spec.zeroline && !a.log && a.range[0] < 0 && a.range[1] > 0) {
        const p = a._offset + a.l2p(0);
        const attrs = a.letter === "x"
          ? { x1: p, x2: p, y1: other._offset, y2: other._offset + other._length }
          : { y1: p, y2: p, x1: other._offset, x2: other._offset + other._length };
        svgEl("line", { ...attrs, stroke: GRID_INK, "stroke-width": 2 }, g);
      }
    }
  }

  ticksOf(a) {
    const [lo, hi] = [Math.min(...a.range), Math.max(...a.range)];
    if (Array.isArray(a.spec.tickvals)) {
      const text = a.spec.ticktext || a.spec.tickvals.map((v) => numText(v, 6));
      return a.spec.tickvals.map((v, i) => [a.d2l(v), text[i]]).filter(([l]) => l >= lo - 1e-9 && l <= hi + 1e-9);
    }
    const most = Math.max(2, Math.floor(a._length / (a.letter === "x" ? 70 : 28)));
    return a.log ? logTicks(lo, hi, most) : linearTicks(lo, hi, most);
  }

  drawTicks(g, a, other, letter) {
    const title = a.spec.title && a.spec.title.text;
    const size = (a.spec.title && a.spec.title.font && a.spec.title.font.size) || 14;
    const labels = a.spec.showticklabels !== false;
    let widest = 0;
    if (labels) {
      for (const [l, text] of this.ticksOf(a)) {
        const p = a._offset + a.l2p(l);
        if (letter === "x") textEl(g, p, other._offset + other._length + 16, text, { "text-anchor": "middle" });
        else textEl(g, other._offset - 6, p + 4, text, { "text-anchor": "end" });
        widest = Math.max(widest, 7 * text.length);
      }
    }
    if (!title) return;
    const mid = a._offset + a._length / 2;
    if (letter === "x") textEl(g, mid, other._offset + other._length + (labels ? 40 : 18), title, { "text-anchor": "middle", "font-size": size });
    else {
      const x = other._offset - (labels ? widest + 14 : 10);
      textEl(g, x, mid, title, { "text-anchor": "middle", "font-size": size, transform: `rotate(-90 ${x} ${mid})` });
    }
  }

  drawImage(g, img, axes, clipOf) {
    const xa = axes[img.xref || "x"], ya = axes[img.yref || "y"];
    if (!xa || !ya || !img.source) return;
    const x0 = xa._offset + xa.l2p(img.x), x1 = xa._offset + xa.l2p(img.x + img.sizex);
    const y0 = ya._offset + ya.l2p(img.y), y1 = ya._offset + ya.l2p(img.y - img.sizey);
    svgEl("image", { href: img.source, x: Math.min(x0, x1), y: Math.min(y0, y1), width: Math.abs(x1 - x0), height: Math.abs(y1 - y0),
      preserveAspectRatio: "none", "clip-path": clipOf(xa.name, ya.name) }, g);
  }

  drawShape(g, sh, axes, clipOf) {
    if (sh.type !== "rect") return;
    const xa = axes[sh.xref || "x"], ya = axes[sh.yref || "y"];
    if (!xa || !ya) return;
    const xs = [sh.x0, sh.x1].map((v) => xa._offset + xa.l2p(v)), ys = [sh.y0, sh.y1].map((v) => ya._offset + ya.l2p(v));
    const line = sh.line || {};
    svgEl("rect", { x: Math.min(...xs), y: Math.min(...ys), width: Math.abs(xs[1] - xs[0]), height: Math.abs(ys[1] - ys[0]),
      fill: "none", stroke: line.color || "#111", "stroke-width": line.width || 2, "stroke-dasharray": line.dash === "dash" ? "9,9" : "none",
      "clip-path": clipOf(xa.name, ya.name) }, g);
  }

  drawTrace(g, t, xa, ya) {
    const mode = t.mode || "lines";
    const n = t.y ? t.y.length : 0;
    const xs = t.x || Array.from({ length: n }, (_, i) => (t.x0 || 0) + i * (t.dx || 1));
    const px = new Float32Array(n), py = new Float32Array(n);
    for (let i = 0; i < n; i++) { px[i] = xa._offset + xa.l2p(xa.d2l(xs[i])); py[i] = ya._offset + ya.l2p(ya.d2l(t.y[i])); }
    t._px = px; t._py = py; t._x = xs;
    if (mode.includes("lines")) {
      const d = polyline(n, (i) => px[i], (i) => py[i]);
      const line = t.line || {};
      if (d) svgEl("path", { d, fill: "none", stroke: line.color || "#444", "stroke-width": line.width ?? 2, "stroke-linejoin": "round" }, g);
    }
    if (mode.includes("markers")) {
      const mk = t.marker || {};
      const at = (v, i) => (Array.isArray(v) ? v[i] : v);
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(px[i]) || !Number.isFinite(py[i])) continue;
        const size = at(mk.size, i) || 6, colour = at(mk.color, i) || "#444", ln = mk.line || {};
        const d = symbol(mk.symbol || "circle", size / 2);
        const thin = /-thin$/.test(mk.symbol || "");
        svgEl("path", { d, transform: `translate(${px[i].toFixed(1)},${py[i].toFixed(1)})`,
          fill: thin ? "none" : colour, stroke: thin ? colour : (at(ln.color, i) || "none"), "stroke-width": thin ? (ln.width || 2) : (ln.width ?? 0) }, g);
      }
    }
    if (mode.includes("text") && t.text) {
      for (let i = 0; i < n; i++) {
        const s = Array.isArray(t.text) ? t.text[i] : t.text;
        if (s && Number.isFinite(px[i])) textEl(g, px[i], py[i] - ((t.marker && t.marker.size) || 6) / 2 - 4, unescaped(s), { "text-anchor": "middle", "font-size": 11, fill: "#111" });
      }
    }
  }

  drawNote(g, a) {
    if (a.xref !== "paper" || a.yref !== "paper") return;
    const s = this._size;
    const anchor = { left: "start", right: "end" }[a.xanchor] || "middle";
    const base = { top: "hanging", bottom: "auto" }[a.yanchor] || "central";
    textEl(g, s.l + a.x * s.w + (a.xshift || 0), s.t + (1 - a.y) * s.h - (a.yshift || 0) - (base === "auto" ? 3 : 0), unescaped(a.text),
      { "text-anchor": anchor, "dominant-baseline": base, "font-size": (a.font && a.font.size) || 12, fill: "#444" });
  }

  // The legend over the plot, left to right, wrapping: [{t, label, x, row}] and the number of rows
  legendItems(data, W, m) {
    if (this.layout.showlegend === false) return { items: [], rows: 0 };
    const x0 = m.l + ((this.layout.legend || {}).x || 0) * (W - m.l - m.r);
    let x = x0, row = 0;
    const items = [];
    for (const t of data) {
      if (t.showlegend === false || !t.name || (t.xaxis || "x") !== "x" || !(t.mode || "lines").includes("lines")) continue;
      const label = unescaped(t.name), w = 40 + 6.6 * label.length;
      if (x + w > W - 4 && x > x0) { x = x0; row++; }
      items.push({ t, label, x, row });
      x += w + 10;
    }
    return { items, rows: items.length ? row + 1 : 0 };
  }

  drawLegend(g, legend) {
    const top = this._size.t - 22 - 19 * (legend.rows - 1); // the last row over the plot, clear of its titles
    g = svgEl("g", { class: "legend" }, g);
    for (const { t, label, x, row } of legend.items) {
      const y = top + 19 * row;
      svgEl("line", { x1: x, x2: x + 28, y1: y, y2: y, stroke: (t.line && t.line.color) || "#444", "stroke-width": 2 }, g);
      textEl(g, x + 34, y + 4, label);
    }
  }

  // ---------------------------------------------------------------- hover
  hitTable(data) {
    return data.map((t, i) => ({ t, i })).filter(({ t }) => t._px && hoverText(t, 0) !== null);
  }

  hover(e) {
    const r = this.svg.getBoundingClientRect();
    const mx = e.clientX - r.left, my = e.clientY - r.top;
    let best = null, bestD = 15 * 15;
    for (const { t } of this.hits || []) {
      const xa = this.axes[t.xaxis || "x"], ya = this.axes[t.yaxis || "y"];
      if (mx < xa._offset - 8 || mx > xa._offset + xa._length + 8 || my < ya._offset - 8 || my > ya._offset + ya._length + 8) continue;
      const px = t._px, py = t._py;
      for (let i = 0; i < px.length; i++) {
        const dx = px[i] - mx, dy = py[i] - my, d = dx * dx + dy * dy;
        if (d < bestD) { bestD = d; best = [t, i]; }
      }
    }
    if (!best) { this.tip.style.display = "none"; return; }
    const [t, i] = best;
    const text = hoverText(t, i);
    if (!text) { this.tip.style.display = "none"; return; }
    this.tip.textContent = text;
    const colour = (t.line && t.line.color) || (t.marker && !Array.isArray(t.marker.color) && t.marker.color) || "#444";
    this.tip.style.borderColor = colour;
    this.tip.style.display = "block";
    const left = t._px[i] + 12, top = t._py[i] + 12;
    const w = this.tip.offsetWidth;
    this.tip.style.left = (left + w > this.width ? t._px[i] - 12 - w : left) + "px";
    this.tip.style.top = top + "px";
  }
}

function symbol(name, r) { // an SVG path of a marker symbol of radius r, centred on 0,0
  const base = name.replace(/-thin$/, "").replace(/-open$/, "");
  if (base === "x") {
    const a = r * 0.9, w = name.endsWith("-thin") ? 0 : r * 0.35;
    if (!w) return `M${-a},${-a}L${a},${a}M${-a},${a}L${a},${-a}`;
    return `M${-a + w},${-a}L0,${-w}L${a - w},${-a}L${a},${-a + w}L${w},0L${a},${a - w}L${a - w},${a}L0,${w}L${-a + w},${a}L${-a},${a - w}L${-w},0L${-a},${-a + w}Z`;
  }
  if (base === "star") {
    let d = "";
    for (let k = 0; k < 10; k++) {
      const rad = k % 2 ? r * 0.42 : r, ang = -Math.PI / 2 + (k * Math.PI) / 5;
      d += (k ? "L" : "M") + (rad * Math.cos(ang)).toFixed(2) + "," + (rad * Math.sin(ang)).toFixed(2);
    }
    return d + "Z";
  }
  if (base === "diamond") return `M${r * 1.2},0L0,${r * 1.2}L${-r * 1.2},0L0,${-r * 1.2}Z`;
  if (base === "square") return `M${r},${r}H${-r}V${-r}H${r}Z`;
  return `M${r},0A${r},${r} 0 1,1 0,${-r}A${r},${r} 0 0,1 ${r},0Z`; // circle
}
