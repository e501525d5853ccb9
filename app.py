"""Optimizer Playground: `streamlit run app.py`. The explorer is the home page.

The page scripts live in app_pages/, not pages/: Streamlit treats a folder named pages/ beside
the main script as the legacy multipage layout until st.navigation first runs in the process,
so on a freshly started server a shared deep link (/sweeps?...) would run the page file alone,
with a file-name sidebar and without this script's navigation and layout.
"""
from pathlib import Path

import streamlit as st

import deploy
from ui import slots
from ui.text import md

HERE = Path(__file__).parent
PAGES = [  # (file, title, url path); the explorer is the home page
    ("app_pages/explorer.py", "Explorer", ""),
    ("app_pages/sweeps.py", "Sweeps", "sweeps"),
    ("app_pages/train.py", "Train", "train"),
    ("app_pages/compare.py", "Compare runs", "compare"),
    ("app_pages/landscape.py", "Landscape", "landscape"),
]


@st.cache_resource(show_spinner=False)
def start_workers() -> bool:
    """Once per server: the heavy-computation workers (ui.slots) start now, not on a visitor's first sweep."""
    slots.warm()
    return True


st.set_page_config(page_title="Optimizer Playground", layout="wide")
try:
    settings = deploy.settings()  # public mode and its limits (README: "Deploy a public demo")
except ValueError as e:  # an operator's typo in an OPT_PLAYGROUND_* variable: refuse to serve, say which
    st.error(f"This server is misconfigured: {md(e)}")
    st.stop()
if settings.public:  # a stranger sees no stack trace or internals, whatever goes wrong
    st.set_option("client.showErrorDetails", "none")
    st.set_option("client.toolbarMode", "viewer")
    start_workers()
# Every session is a thread of this one process: one torch thread per computation, and heavy ones in
# a bounded number of worker processes (ui.slots), keep every visitor's answer fast.
slots.fit_threads(settings.torch_threads)
nav = [st.Page(f, title=t, url_path=u or None, default=not u) for f, t, u in PAGES if (HERE / f).exists()]
st.navigation(nav).run()
