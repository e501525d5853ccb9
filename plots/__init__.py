"""Pure functions: numpy results in, Plotly figures out (no torch, no streamlit)."""
from .diagnostics import scene_data, smoothness_figure  # noqa: F401
from .export import figure_html, trajectories_csv  # noqa: F401
from .inputs import Grid, Race, as_grid, as_race  # noqa: F401
from .numbers import number_text, table_text  # noqa: F401
from .prebuilt import PrebuiltFigure, prebuilt  # noqa: F401
from .race import race_figure  # noqa: F401
from .summary import summary_rows  # noqa: F401
from .surface_image import surface_image, surface_layout_image  # noqa: F401
