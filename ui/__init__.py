"""The explorer's view as data: a frozen spec, its URL codec and one-click presets (no streamlit here)."""
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
    RunSpec,
    default_run,
)

__all__ = [
    "ExplorerSpec", "RunSpec", "default_run", "DEFAULT_RUNS", "CUSTOM",
    "MAX_RUNS", "MAX_STEPS", "NOISE_RANGE", "SEED_RANGE", "MAX_FORMULA",
    "to_query", "from_query", "from_query_string", "query_string",
    "Preset", "PRESETS", "preset",
]
