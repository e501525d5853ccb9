"""Optimizer Playground: `streamlit run app.py`. The explorer is the home page."""
from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent
PAGES = [  # (file, title, url path); the explorer is the home page
    ("pages/explorer.py", "Explorer", ""),
    ("pages/sweeps.py", "Sweeps", "sweeps"),
    ("pages/train.py", "Train", "train"),
    ("pages/compare.py", "Compare runs", "compare"),
]

st.set_page_config(page_title="Optimizer Playground", layout="wide")
nav = [st.Page(f, title=t, url_path=u or None, default=not u) for f, t, u in PAGES if (HERE / f).exists()]
st.navigation(nav).run()
