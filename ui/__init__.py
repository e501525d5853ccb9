"""The explorer's view as data: a frozen spec, its URL codec and one-click presets (no streamlit here).

The page's loop, in short:

    spec, warnings = ui.from_query(st.query_params.to_dict())   # never raises; show the warnings
    ...widgets start from spec and build the next one (dataclasses.replace / ui.RunConfig)...
    st.query_params.from_dict(ui.to_query(spec))                 # the URL always holds the whole view
    result = cached_race(spec)   # @st.cache_data around spec.race(): the spec is hashable
"""
from .links import from_query, from_query_string, query_string, to_query
from .presets import PRESETS, Preset, preset
from .spec import (
    CUSTOM,
    DEFAULT_RUNS,
    MAX_FORMULA,
    MAX_RUNS,
    MAX_STEPS,
    NOISE_RANGE,
    SEED_RANGE,
    ExplorerSpec,
    RunConfig,
    default_run,
)

__all__ = [
    "ExplorerSpec", "RunConfig", "default_run", "DEFAULT_RUNS", "CUSTOM",
    "MAX_RUNS", "MAX_STEPS", "NOISE_RANGE", "SEED_RANGE", "MAX_FORMULA",
    "to_query", "from_query", "from_query_string", "query_string",
    "Preset", "PRESETS", "preset",
]
