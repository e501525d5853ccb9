// The race player's loader: the component script Streamlit sends with every payload (so it stays small).
// It unpacks the wire format (ui/wire.py: MAGIC, u32 header length, header JSON, 8-aligned arrays) into
// the arrays this page has received, imports the player (ui/race_view.js) from the bytes it came in as
// (once a session: every later payload names it by key only) and hands it the header.
const MAGIC = "OPW1";
const DT = { f4: Float32Array, i4: Int32Array, u2: Uint16Array, u1: Uint8Array, f8: Float64Array };
const KEEP = 600; // arrays the browser keeps (the server remembers 512 as sent)
const G = (globalThis.__optPlayground ||= { store: new Map(), banks: new Map(), players: new Set(), code: new Map() });

function unpack(u8) {
  if (String.fromCharCode(u8[0], u8[1], u8[2], u8[3]) !== MAGIC) throw new Error("not a race payload");
  const n = new DataView(u8.buffer, u8.byteOffset + 4, 4).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(u8.subarray(8, 8 + n)));
  for (const [key, [off, dt, shape]] of Object.entries(header.blobs || {})) {
    const T = DT[dt];
    const start = 8 + n + off, count = shape.reduce((a, b) => a * b, 1);
    G.store.delete(key);
    G.store.set(key, { a: new T(u8.slice(start, start + count * T.BYTES_PER_ELEMENT).buffer), shape }); // a copy: aligned
    while (G.store.size > KEEP) G.store.delete(G.store.keys().next().value);
  }
  return header;
}

// Arrays a payload names but carries not (sent before, in this payload's sibling): the page's mounts render
// in no fixed order, so the one carrying them (the prefetch: the player and Plotly) may come a moment
// later. Resolves true once every key is here, false after ms (then the page is asked to send them again).
G.arrived ||= (keys, ms) => new Promise((resolve) => {
  const t0 = performance.now();
  const poll = () => {
    if (keys.every((k) => G.store.has(k))) resolve(true);
    else if (performance.now() - t0 > ms) resolve(false);
    else setTimeout(poll, 20);
  };
  poll();
});

export default function (args) {
  const { data, parentElement } = args;
  if (!data) return;
  let header;
  try {
    header = unpack(data instanceof Uint8Array ? data : new Uint8Array(data));
  } catch (e) {
    parentElement.textContent = "The chart's data could not be read: reload the page.";
    return;
  }
  if (header.view === "none") return;
  const key = header.code["#"];
  G.arrived([key], 4000).then((here) => {
    if (!here) { args.setTriggerValue("missing", [key]); return; }
    if (!G.code.has(key)) {
      G.code.set(key, import(URL.createObjectURL(new Blob([G.store.get(key).a], { type: "text/javascript" }))));
    }
    G.code.get(key).then((m) => m.render(args, header)).catch(() => {
      parentElement.textContent = "The chart could not start: reload the page.";
    });
  });
}
