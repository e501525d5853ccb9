"""The registry of named surfaces: data, in the order the UI lists them."""
from __future__ import annotations

from .base import Surface
from .classic import CLASSIC
from .didactic import DIDACTIC

CATALOG: dict[str, Surface] = {s.name: s for s in [*CLASSIC, *DIDACTIC]}


def names() -> list[str]:
    """The names of all catalog surfaces, in display order."""
    return list(CATALOG)


def get(name: str) -> Surface:
    """The catalog surface called `name`; an unknown name raises KeyError listing the valid ones."""
    try:
        return CATALOG[name]
    except (KeyError, TypeError):
        raise KeyError(f"unknown surface {name!r}; valid names: {', '.join(CATALOG)}") from None
