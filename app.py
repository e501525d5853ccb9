"""Optimizer Playground: `streamlit run app.py`. The explorer is the home page.

The page scripts live in app_pages/, not pages/: Streamlit treats a folder named pages/ beside
the main script as the legacy multipage layout until st.navigation first runs in the process,
so on a freshly started server a shared deep link (/sweeps?...) would run the page file alone,
with a file-name sidebar and without this script's navigation and layout.
"""
from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent
PAGES = [  # (file, title, url path); the explorer is the home page
    ("app_pages/explorer.py", "Explorer", ""),
    ("app_pages/sweeps.py", "Sweeps", "sweeps"),
    ("app_pages/train.py", "Train", "train"),
    ("app_pages/compare.py", "Compare runs", "compare"),
]

st.set_page_config(page_title="Optimizer Playground", layout="wide")
nav = [st.Page(f, title=t, url_path=u or None, default=not u) for f, t, u in PAGES if (HERE / f).exists()]
st.navigation(nav).run()
