"""The batched simulator on surfaces: runs, races, sweeps, basins, diagnostics."""
from .basins import DIVERGED, NOT_CONVERGED, BasinsResult, basins  # noqa: F401
from .grid import grid  # noqa: F401
from .limits import MAX_BASIN_CELLS, MAX_CELLS, MAX_ROWS, MAX_WORK  # noqa: F401
from .limits import MAX_SWEEP_STEPS as MAX_STEPS  # noqa: F401  (the old public name of the sweep bound)
from .result import Result  # noqa: F401
from .simulate import Run, race, simulate  # noqa: F401
from .sweep import Axis, SweepResult, sweep  # noqa: F401
