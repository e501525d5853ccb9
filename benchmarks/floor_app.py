"""The floor under benchmarks/browser.py: the least a Streamlit rerun that redraws a chart costs in this
browser on this machine. A button bumps a counter; one small st.plotly_chart (50 points) shows it;
OPT_FLOOR_SLIDERS (default 0) sliders in the sidebar stand for a page's other elements (the explorer's
sidebar has ~40). No computation at all: what is measured is Streamlit's and Plotly's own work."""
import os

import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="floor", layout="wide")
st.session_state.setdefault("k", 0)


def bump() -> None:
    st.session_state.k += 1


k = st.session_state.k
with st.sidebar:
    st.button("rerun", on_click=bump)
    for i in range(int(os.environ.get("OPT_FLOOR_SLIDERS", "0"))):
        st.slider(f"knob {i}", 0, 10, 5, key=f"s{i}")
st.plotly_chart(go.Figure(go.Scatter(y=[(i * (k + 1)) % 7 for i in range(50)])), key="chart")
