"""Hand a prebuilt figure dict to code that wants a go.Figure, without re-validating it.

A figure dict with 200 animation frames takes ~0.3 s to validate into plotly objects (and
st.plotly_chart validates any dict it gets), while building it as plain dicts takes ~0.1 s.
PrebuiltFigure is a go.Figure whose to_dict() returns the dict as built: callers that only
serialise it (st.plotly_chart, plotly.io.to_json/to_html) get the same JSON, minus the wait.
"""
from __future__ import annotations

import plotly.graph_objects as go


class PrebuiltFigure(go.Figure):
    def __init__(self, fig: dict):  # deliberately skips go.Figure.__init__ (that is the validation)
        self._prebuilt = fig

    def to_dict(self) -> dict:
        return self._prebuilt

    def to_plotly_json(self) -> dict:
        return self._prebuilt

    def __reduce__(self):  # st.cache_data pickles return values
        return (PrebuiltFigure, (self._prebuilt,))

    def __repr__(self) -> str:
        return f"PrebuiltFigure({len(self._prebuilt.get('data', []))} traces, " \
               f"{len(self._prebuilt.get('frames', []))} frames)"


def prebuilt(fig: dict) -> PrebuiltFigure:
    return PrebuiltFigure(fig)
