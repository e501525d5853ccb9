// The explorer's 3D view (a components-v2 module like ui/race_view.js; ui/race_view_loader.js imports it
// from the bytes it came in as, once a session). The surface the engine evaluated on a grid, coloured as
// the map, with each run's trail lifted just above it, drawn on a 2D canvas: no WebGL and no second
// Plotly bundle (Streamlit's full one took 1.1 s to evaluate here, and software WebGL a second more to
// draw). A drag turns it (turntable: z stays up), the wheel zooms, a double click resets; hovering reads
// the nearest trail point or grid point. Every number comes from the server (ui/scene.py).

const G = globalThis.__optPlayground; // the loader's: the arrays received
const arr = (ref) => G.store.get(ref["#"]);
const AZ = -Math.PI / 4, EL = 0.45; // the first camera: from the front left, 26 degrees up (as the map reads)
const fmt = (v) => (Number.isFinite(v) ? Number(v.toPrecision(4)).toString() : "—");

function el(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  parent.appendChild(e);
  return e;
}

class Scene {
  constructor(parent) {
    this.root = el("div", "opt-scene", parent);
    this.legend = el("div", "opt-scene-legend", this.root);
    this.canvas = el("canvas", "opt-scene-canvas", this.root);
    this.readout = el("div", "opt-readout", this.root);
    this.ctx = this.canvas.getContext("2d");
    this.reset();
    let drag = null;
    this.canvas.addEventListener("pointerdown", (e) => { drag = [e.clientX, e.clientY]; this.canvas.setPointerCapture(e.pointerId); });
    this.canvas.addEventListener("pointerup", () => { drag = null; });
    this.canvas.addEventListener("pointermove", (e) => {
      if (!drag) { this.hover(e); return; }
      this.az -= (e.clientX - drag[0]) * 0.01;
      this.el = Math.min(1.45, Math.max(0.02, this.el + (e.clientY - drag[1]) * 0.01));
      drag = [e.clientX, e.clientY];
      this.later();
    });
    this.canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoom = Math.min(5, Math.max(0.3, this.zoom * Math.exp(-e.deltaY * 0.0015)));
      this.later();
    }, { passive: false });
    this.canvas.addEventListener("dblclick", () => { this.reset(); this.later(); });
    new ResizeObserver(() => this.later()).observe(this.root);
  }

  reset() { this.az = AZ; this.el = EL; this.zoom = 1; }

  later() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = null; this.draw(); });
  }

  update(h) {
    this.h = h;
    const [x0, x1] = h.x, [y0, y1] = h.y, w = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0)) || 1;
    const [zmin, zmax] = h.zrange, zs = zmax - zmin || 1;
    // world -> the box: x and y keep the map's proportions in a span of at most 1, z spans aspect_z
    this.box = { X: (x) => (x - (x0 + x1) / 2) / w, Y: (y) => (y - (y0 + y1) / 2) / w, Z: (z) => ((z - zmin) / zs - 0.5) * h.aspect_z };
    const z = arr(h.z), c = arr(h.c).a, [ny, nx] = z.shape;
    this.nx = nx; this.ny = ny;
    const n = nx * ny, P = new Float64Array(3 * n);
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        const k = j * nx + i;
        P[3 * k] = this.box.X(x0 + (x1 - x0) * i / (nx - 1));
        P[3 * k + 1] = this.box.Y(y0 + (y1 - y0) * j / (ny - 1));
        P[3 * k + 2] = this.box.Z(z.a[k]); // NaN stays NaN: its cells are left out
      }
    }
    this.P = P;
    this.zv = z.a;
    // a cell's colour: the map's colour at its mean position, shaded by its slope against a light from above
    const scale = h.scale, light = [-0.35, -0.45, 0.82];
    const cells = [], fill = [];
    for (let j = 0; j < ny - 1; j++) {
      for (let i = 0; i < nx - 1; i++) {
        const a = j * nx + i, b = a + 1, d = a + nx, e = d + 1;
        const cs = (c[a] + c[b] + c[d] + c[e]) / 4;
        if (!Number.isFinite(cs) || ![a, b, d, e].every((k) => Number.isFinite(P[3 * k + 2]))) continue;
        const ux = P[3 * b] - P[3 * a], uz = P[3 * b + 2] - P[3 * a + 2], vy = P[3 * d + 1] - P[3 * a + 1], vz = P[3 * d + 2] - P[3 * a + 2];
        const nrm = [-uz * vy, -ux * vz, ux * vy], len = Math.hypot(...nrm) || 1;
        const shade = 0.72 + 0.28 * Math.max(0, (nrm[0] * light[0] + nrm[1] * light[1] + nrm[2] * light[2]) / len);
        const t = cs * (scale.length - 1), lo = Math.floor(Math.min(t, scale.length - 2)), f = t - lo;
        const rgb = [0, 1, 2].map((q) => Math.round(shade * (scale[lo][q] * (1 - f) + scale[lo + 1][q] * f)));
        cells.push(a, b, e, d);
        fill.push(`rgb(${rgb[0]},${rgb[1]},${rgb[2]})`);
      }
    }
    this.cells = Int32Array.from(cells);
    this.fill = fill;
    this.trails = h.runs.map((r) => ({ label: r.label, colour: r.colour, xyl: arr(r.xyl) }));
    this.legend.replaceChildren();
    for (const r of h.runs) {
      const item = el("span", "opt-scene-item", this.legend);
      el("span", "opt-dot", item).style.background = r.colour;
      el("span", "", item).textContent = r.label; // a label is text, never markup
    }
    this.draw();
    this.root.dataset.drawn = String((+this.root.dataset.drawn || 0) + 1);
  }

  // the box -> the screen (orthographic): turn by az about z, tilt by el; depth grows away from the eye
  camera() {
    // a phone's narrow column gets a shorter canvas, and the box (its diagonal turns through the width) fits
    const W = this.root.clientWidth || 600, H = Math.min(this.h.height, Math.max(320, W));
    const ca = Math.cos(this.az), sa = Math.sin(this.az), ce = Math.cos(this.el), se = Math.sin(this.el);
    const s = this.zoom * Math.min(W * 0.62, H * 0.78), cx = W / 2, cy = H / 2;
    return { W, H, f: (X, Y, Z) => {
      const x1 = X * ca - Y * sa, y1 = X * sa + Y * ca;
      return [cx + s * x1, cy - s * (Z * ce + y1 * se), y1 * ce - Z * se];
    } };
  }

  draw() {
    if (!this.h) return;
    const { W, H, f } = this.camera(), dpr = window.devicePixelRatio || 1, ctx = this.ctx;
    if (this.canvas.width !== Math.round(W * dpr) || this.canvas.height !== Math.round(H * dpr)) {
      this.canvas.width = Math.round(W * dpr); this.canvas.height = Math.round(H * dpr);
      this.canvas.style.width = `${W}px`; this.canvas.style.height = `${H}px`;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const P = this.P, n = P.length / 3, S = new Float64Array(3 * n);
    for (let k = 0; k < n; k++) S.set(f(P[3 * k], P[3 * k + 1], P[3 * k + 2]), 3 * k);
    this.S = S;
    this.axes(f, ctx);
    // the painter's order: the farthest cell first
    const C = this.cells, m = C.length / 4, depth = new Float64Array(m), order = new Uint32Array(m);
    for (let q = 0; q < m; q++) {
      order[q] = q;
      depth[q] = S[3 * C[4 * q] + 2] + S[3 * C[4 * q + 1] + 2] + S[3 * C[4 * q + 2] + 2] + S[3 * C[4 * q + 3] + 2];
    }
    order.sort((a, b) => depth[b] - depth[a]);
    ctx.lineWidth = 0.6;
    ctx.lineJoin = "round";
    for (const q of order) {
      ctx.beginPath();
      for (let v = 0; v < 4; v++) {
        const k = C[4 * q + v];
        if (v) ctx.lineTo(S[3 * k], S[3 * k + 1]); else ctx.moveTo(S[3 * k], S[3 * k + 1]);
      }
      ctx.closePath();
      ctx.fillStyle = ctx.strokeStyle = this.fill[q];
      ctx.fill();
      ctx.stroke(); // closes the hairline seams between cells
    }
    this.drawTrails(f, ctx);
  }

  drawTrails(f, ctx) {
    const lift = this.h.lift, b = this.box;
    this.trailScreen = this.trails.map((t) => {
      const [L] = t.xyl.shape, a = t.xyl.a, pts = [];
      for (let i = 0; i < L; i++) pts.push(f(b.X(a[3 * i]), b.Y(a[3 * i + 1]), b.Z(a[3 * i + 2] + lift)));
      ctx.strokeStyle = t.colour; ctx.lineWidth = 3;
      ctx.beginPath();
      pts.forEach((p, i) => (i ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])));
      ctx.stroke();
      const mark = (p, r, diamond) => {
        ctx.beginPath();
        if (diamond) { ctx.moveTo(p[0], p[1] - r); ctx.lineTo(p[0] + r, p[1]); ctx.lineTo(p[0], p[1] + r); ctx.lineTo(p[0] - r, p[1]); ctx.closePath(); }
        else ctx.arc(p[0], p[1], r, 0, 2 * Math.PI);
        ctx.fillStyle = t.colour; ctx.fill(); ctx.strokeStyle = "#111111"; ctx.lineWidth = 1; ctx.stroke();
      };
      if (pts.length) { mark(pts[0], 4, false); mark(pts[pts.length - 1], 7, true); }
      return pts;
    });
    const zlo = this.h.zrange[0];
    for (const [x, y] of this.h.minima) { // the known minima: a white x on the floor of the box
      const p = f(b.X(x), b.Y(y), b.Z(zlo));
      ctx.strokeStyle = "#111111"; ctx.lineWidth = 3.5; this.cross(ctx, p, 5);
      ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 1.8; this.cross(ctx, p, 5);
    }
  }

  cross(ctx, p, r) {
    ctx.beginPath();
    ctx.moveTo(p[0] - r, p[1] - r); ctx.lineTo(p[0] + r, p[1] + r);
    ctx.moveTo(p[0] - r, p[1] + r); ctx.lineTo(p[0] + r, p[1] - r);
    ctx.stroke();
  }

  axes(f, ctx) { // the box's floor and one vertical edge, with their ends' values
    const h = this.h, b = this.box, [x0, x1] = h.x, [y0, y1] = h.y, [z0, z1] = h.zrange;
    const corner = f(b.X(x0), b.Y(y0), b.Z(z0)), ends = [
      [f(b.X(x1), b.Y(y0), b.Z(z0)), `x ${fmt(x0)} … ${fmt(x1)}`],
      [f(b.X(x0), b.Y(y1), b.Z(z0)), `y ${fmt(y0)} … ${fmt(y1)}`],
      [f(b.X(x0), b.Y(y0), b.Z(z1)), `loss ${fmt(z0)} … ${fmt(z1)}`]];
    const floor = [f(b.X(x0), b.Y(y0), b.Z(z0)), f(b.X(x1), b.Y(y0), b.Z(z0)), f(b.X(x1), b.Y(y1), b.Z(z0)), f(b.X(x0), b.Y(y1), b.Z(z0))];
    ctx.strokeStyle = "rgba(49, 51, 63, 0.35)"; ctx.lineWidth = 1;
    ctx.beginPath();
    floor.forEach((p, i) => (i ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])));
    ctx.closePath();
    ctx.moveTo(corner[0], corner[1]); ctx.lineTo(ends[2][0][0], ends[2][0][1]);
    ctx.stroke();
    ctx.fillStyle = "#444"; ctx.font = "12px 'Open Sans', verdana, arial, sans-serif";
    for (const [p, text] of ends) ctx.fillText(text, p[0] + 6, p[1] + 4); // text, never markup
  }

  hover(e) { // the nearest trail point within 10 px, else the nearest grid point within 10 px
    if (!this.S) return;
    const r = this.canvas.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
    let best = 100, text = "";
    (this.trailScreen || []).forEach((pts, t) => pts.forEach((p, i) => {
      const d = (p[0] - mx) ** 2 + (p[1] - my) ** 2;
      if (d < best) { best = d; text = `${this.trails[t].label}, step ${i}: loss ${fmt(this.trails[t].xyl.a[3 * i + 2])}`; }
    }));
    if (!text) {
      const S = this.S, [x0, x1] = this.h.x, [y0, y1] = this.h.y;
      for (let k = 0; k < S.length / 3; k++) {
        const d = (S[3 * k] - mx) ** 2 + (S[3 * k + 1] - my) ** 2;
        if (d < best && Number.isFinite(this.zv[k])) {
          best = d;
          const i = k % this.nx, j = Math.floor(k / this.nx);
          text = `x ${fmt(x0 + (x1 - x0) * i / (this.nx - 1))}, y ${fmt(y0 + (y1 - y0) * j / (this.ny - 1))}: loss ${fmt(this.zv[k])}`;
        }
      }
    }
    this.readout.textContent = text; // what to do with the scene is said in the caption under it
  }
}

const scenes = new WeakMap();

export function render(args, header) {
  const { parentElement } = args;
  const missing = [header.z, header.c, ...header.runs.map((r) => r.xyl)].map((r) => r["#"]).filter((k) => !G.store.has(k));
  if (missing.length) { // named, not carried: sent before (or by a mount that renders a moment later)
    G.arrived(missing, 3000).then((here) => (here ? render(args, header) : args.setTriggerValue("missing", missing)));
    return;
  }
  let scene = scenes.get(parentElement);
  if (!scene || !scene.root.isConnected) {
    scene = new Scene(parentElement);
    scenes.set(parentElement, scene);
  }
  if (scene.h?.id === header.id) return; // the same view: leave the camera where the person turned it
  scene.update(header);
}
