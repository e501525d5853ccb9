"""The explorer's whole view as URL query parameters, and back: a shared link reproduces it exactly.

Format, version 1 (every field is written, defaults included, so changing a default in the code
never changes what an old link shows; Streamlit's bind="query-params" leaves defaults out, so
we do not rely on it):

    v=1                                   the link format's version
    s=ravine                              surface: a catalog name or "custom"
    sp=condition:50~angle:0               surface parameters, all of them (absent where it has none)
    f=x**4 + y**2                         the custom formula (absent where empty; kept, and
                                          written, when another surface is shown)
    x0=-2.5,1 | x0=auto                   start point; auto = the surface's own start
    n=300  noise=0  seed=0  3d=0  arrows=0
    r0=adam~lr:0.001~betas:0.9,0.999~eps:1e-8~weight_decay:0      run 0: optimizer and ALL hyperparameters
    c0=norm,1 | c0=none,1                 run 0's clipping: kind, threshold
    sch0=cosine~T_max:auto~eta_min:0      run 0's lr schedule and ALL its arguments (auto = derived)
    r1=... c1=... sch1=...                up to r7

Numbers are written in the shortest form that reads back as the same float (repr, with
integers as "300" and exponents as "1e-8"); booleans as 1/0. The separators ~ : , need no
escaping in a query (RFC 3986), so query_string() leaves them readable.

The table of fields is EXPLORER (ui/codec.py reads and writes any view's table). Reading
(`from_query`) never raises: each field is read on its own, and a bad or outdated field falls
back to its default with a warning that names it; every other field is kept. A field the link
leaves out takes its default silently (`?s=quartic` is a whole view). Unknown keys are ignored
with a warning. A newer `v` is read as far as this version understands it, with a warning.

    p=clipping_quartic                    the preset the view started from (absent: none); its
                                          story box opens with the link

A custom formula that does not parse is KEPT (surface "custom", text as typed) with the
parser's message as a warning: the page shows the person's text beside the error instead of
silently replacing their work. ExplorerSpec.surface_obj() raises FormulaError for it.
"""
from __future__ import annotations

from . import codec
from .codec import AUTO, ITEM, KV, PAIR, RUN_KEY, VERSION, Flag, Number, Preset, Runs, SurfaceFields, fmt  # noqa: F401
from .spec import MAX_RUNS, MAX_STEPS, NOISE_RANGE, SEED_RANGE, ExplorerSpec

EXPLORER = codec.View(
    spec=ExplorerSpec,
    entries=(SurfaceFields(), Number("n", "steps", "steps", "int", 1, MAX_STEPS),
             Number("noise", "noise", "noise", "float", *NOISE_RANGE),
             Number("seed", "seed", "seed", "int", *SEED_RANGE), Flag("3d", "view3d", "3D view"),
             Flag("arrows", "arrows", "arrows"), Runs(), Preset("p", "preset", "preset")),
    link="an explorer link", fallback="view", run_word="run", max_runs=MAX_RUNS,
    run_key_name=lambda i, what: f"run {i + 1} {what}",
)
TOP_KEYS = EXPLORER.top_keys
NAMES = EXPLORER.names


# the explorer's link, written and read (ui.codec.View: never raises; see the module docstring for the format)
to_query, query_string = EXPLORER.to_query, EXPLORER.query_string
from_query, from_query_string = EXPLORER.from_query, EXPLORER.from_query_string
