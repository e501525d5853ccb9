"""The batched simulator on surfaces: runs, races, sweeps, basins, diagnostics."""
from .grid import grid  # noqa: F401
from .result import Result  # noqa: F401
from .simulate import Run, race, simulate  # noqa: F401
