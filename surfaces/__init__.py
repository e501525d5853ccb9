"""2D loss surfaces: the catalog of named test functions and a safe parser for custom formulas.

    surfaces.names() -> list[str]; surfaces.get(name) -> Surface (unknown name: KeyError)
    surfaces.parse("x**4 + y**2") -> Surface (bad formula: FormulaError, a ValueError)
    s(xy): Tensor[..., 2] -> Tensor[...], differentiable
"""
from .base import Param, Surface
from .catalog import get, names
from .formula import FormulaError, parse

__all__ = ["names", "get", "parse", "FormulaError", "Surface", "Param"]
