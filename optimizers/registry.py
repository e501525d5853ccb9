"""The optimizer registry: names -> specs, and build() which returns a torch.optim.Optimizer."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .adapter import RuleOptimizer
from .base import Spec, _check_value, normalised

_SPECS: dict[str, Spec] = {}


def register(spec: Spec) -> Spec:
    if spec.name in _SPECS:
        raise ValueError(f"optimizer {spec.name!r} registered twice")
    _SPECS[spec.name] = spec
    return spec


_ORDER: tuple[str, ...] = ()


def set_order(order: tuple[str, ...]) -> None:
    """Fix the order of names() (optimizers.ORDER); every registered name must be in it once, and
    only those: a new optimizer is added to the list on purpose, where it belongs in the lineage."""
    global _ORDER
    missing, unknown = set(_SPECS) - set(order), set(order) - set(_SPECS)
    if missing or unknown or len(set(order)) != len(order):
        raise ValueError(f"optimizers.ORDER must list every registered optimizer once: missing {sorted(missing)}, "
                         f"not registered {sorted(unknown)}")
    _ORDER = tuple(order)


def names() -> list[str]:
    """Every optimizer's name, in optimizers.ORDER (the lineage, as the pages list them)."""
    return list(_ORDER) if _ORDER else list(_SPECS)


def spec(name: str) -> Spec:
    try:
        return _SPECS[name]
    except KeyError:
        raise KeyError(f"unknown optimizer {name!r}; choose one of: {', '.join(_SPECS)}") from None


def resolve(name: str, **hparams: Any) -> tuple[Spec, dict]:
    """The spec and the full hyperparameter dict (defaults filled in, values checked; a Python int
    given for a float hyperparameter comes back as a float). Raises ValueError for a bad one."""
    s = spec(name)
    known = {hp.name: hp for hp in s.hparams}
    unknown = sorted(set(hparams) - set(known))
    if unknown:
        raise ValueError(f"{name} has no hyperparameter {', '.join(unknown)}; it has: {', '.join(known)}")
    h = s.defaults() | hparams
    for k, v in h.items():
        _check_value(name, known[k], v)
    return s, {k: normalised(known[k], v) for k, v in h.items()} | s.fixed


def build(name: str, params: Iterable[Any], *, compiled: bool = False, **hparams: Any) -> RuleOptimizer:
    """A torch.optim.Optimizer running `name`'s rule; hyperparameters left out take the reference default.
    compiled=True: the rule through torch.compile, eager where it cannot (optimizers/compiled.py)."""
    s, h = resolve(name, **hparams)
    return RuleOptimizer(params, s, h, compiled=compiled)
