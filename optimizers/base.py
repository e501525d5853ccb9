"""What every optimizer is made of: its hyperparameters, its update rule and its spec.

An update rule is tensor math on a tensor whose last dimension holds one model's
parameters and whose leading dimensions index independent models (see docs/architecture.md).
Hyperparameters reach the rule as Python floats or as tensors that broadcast against
the parameters, e.g. lr of shape (N, 1) beside parameters of shape (N, 2): one lr per row.
The rule is written once; the torch.optim adapter, the 2D engine and the training runner
all call it.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

Tensor = torch.Tensor
Hyper = float | Tensor  # a float, or a tensor broadcastable against the parameters
State = dict[str, Any]  # per-parameter state; "step" (int) is kept by the caller


@dataclass(frozen=True)
class HParam:
    """One hyperparameter: its reference default, a slider range, and its valid domain.

    kind: "float", "int", "bool" or "pair" (two floats, like Adam's betas; low/high/valid
    apply to each element).
    """

    name: str
    default: Any
    low: float = 0.0  # slider range, not a validity limit
    high: float = 1.0
    log: bool = False
    help: str = ""
    kind: str = "float"
    valid: tuple[float, float] = (0.0, math.inf)  # inclusive bounds a value must satisfy
    open_high: bool = False  # True: value must be < valid[1] (betas < 1)


@dataclass(frozen=True)
class Rule:
    """An update rule as two functions on one parameter tensor (rows x params).

    init(p, h) -> state                      # fresh state for p
    update(p, g, state, h, t) -> None        # in place on p and state; t = 1, 2, ... the step
    Optional hooks for optimizers with modes (schedule-free): to_eval / to_train(p, state, h).
    Optional for optimizers that switch rule mid-run (SWATS): switch(state) -> (at, lr), each (rows,):
    the update after which a row runs its second rule (0: it has not switched) and the lr it learned.

    A rule that evaluates the loss itself (zeroth-order methods, SAM) says so in `oracle` and adds
    two functions around its update; the caller (the 2D engine, the torch.optim adapter) evaluates
    the points it asks for, all rows and all parameter tensors at once:
      probe(p, g, state, h, t, draw) -> points (K, *p.shape): where the rule needs the loss
          ("value") or the gradient ("grad"); g is the step's gradient (None for "value" rules, which
          use none); draw(k) -> standard normal numbers (k, *B), B broadcastable to p.shape, from
          the caller's random stream;
      estimate(p, g, answers, state, h, t) -> the gradient the update uses, from answers: (K, *B)
          loss values (B: p.shape[:-1] + (1,) for one loss per row, all ones for one loss for the
          whole tensor) or (K, *p.shape) gradients.
    The caller then treats that gradient as any other (clipping, the diagnostics' gradient norm)
    and hands it to update (docs/architecture.md, "A rule that evaluates the loss itself").
    """

    init: Callable[[Tensor, dict], State]
    update: Callable[[Tensor, Tensor, State, dict, int], None]
    to_eval: Callable[[Tensor, State, dict], None] | None = None
    to_train: Callable[[Tensor, State, dict], None] | None = None
    switch: Callable[[State], tuple[Tensor, Tensor]] | None = None
    oracle: str = ""  # "": the step's gradient is all it needs; "value": zeroth-order; "grad": more gradients
    probe: Callable[..., Tensor] | None = None
    estimate: Callable[..., Tensor] | None = None

    def __post_init__(self) -> None:
        if self.oracle not in ("", "value", "grad") or (bool(self.oracle) != (self.probe is not None)) or (
                (self.probe is None) != (self.estimate is None)):
            raise ValueError("a rule with an oracle ('value' or 'grad') has both probe and estimate; others neither")


@dataclass(frozen=True)
class Spec:
    """Everything the UI, the engine and the adapter need to know about one optimizer."""

    name: str
    title: str
    rule: Rule
    hparams: tuple[HParam, ...]
    latex: str  # the update rule
    paper: str  # citation of the source
    reference: str  # the implementation it equals (e.g. "torch.optim.Adam")
    fixed: dict = field(default_factory=dict)  # values the rule reads but the user does not set

    def hparam(self, name: str) -> HParam:
        for hp in self.hparams:
            if hp.name == name:
                return hp
        raise KeyError(f"{self.name} has no hyperparameter {name!r}; it has {[h.name for h in self.hparams]}")

    def defaults(self) -> dict:
        return {hp.name: hp.default for hp in self.hparams}


def _check_value(spec_name: str, hp: HParam, value: Any) -> None:
    """Raise ValueError where a value is outside the hyperparameter's valid domain."""
    if hp.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{spec_name}: {hp.name} must be True or False, got {shown(value)}")
        return
    if hp.kind == "pair":
        if not (isinstance(value, (tuple, list)) and len(value) == 2):
            raise ValueError(f"{spec_name}: {hp.name} must be a pair of numbers, got {shown(value)}")
        for v in value:
            _check_scalar(spec_name, hp, v)
        return
    _check_scalar(spec_name, hp, value)


def _check_scalar(spec_name: str, hp: HParam, v: Any) -> None:
    lo, hi = hp.valid
    if isinstance(v, torch.Tensor):
        if v.is_complex() or v.dtype == torch.bool:
            raise ValueError(f"{spec_name}: {hp.name} must be a real tensor, got dtype {v.dtype}")
        ok = bool(torch.isfinite(v).all()) and bool((v >= lo).all()) and bool(
            (v < hi).all() if hp.open_high else (v <= hi).all()
        )
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        f = as_float(v)  # an int beyond the float range is not a valid value either
        ok = math.isfinite(f) and v >= lo and (v < hi if hp.open_high else v <= hi)
        if ok and hp.kind == "int" and not isinstance(v, int) and not f.is_integer():
            ok = False
    else:
        raise ValueError(f"{spec_name}: {hp.name} must be a number or a tensor, got {type(v).__name__}")
    if not ok:
        top = f"{hi})" if hp.open_high else f"{hi}]"
        whole = " whole" if hp.kind == "int" else ""
        raise ValueError(f"{spec_name}: invalid {hp.name} {shown(v)}: "
                         f"it must be a finite{whole} number in [{lo}, {top}")


def as_float(v: Any) -> float:
    """float(v) for a real number, inf for an int beyond the float range (float() raises OverflowError)."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def shown(v: Any, n: int = 80) -> str:
    """repr(v) for a message, cut to n characters; an int of more than 30 digits by its length
    (repr of a 5000-digit int raises ValueError)."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10**30:
        return f"(an integer of about {int(v.bit_length() * 0.30103)} digits)"
    try:
        text = repr(v)
    except ValueError:  # a container holding such an int
        text = f"(a {type(v).__name__})"
    return text if len(text) <= n else text[: n - 1] + "…"


def normalised(hp: HParam, value: Any) -> Any:
    """A checked value as the rules use it: a Python int given for a float (or pair) hyperparameter
    becomes a float, so no rule hands torch an int beyond int64 (lr=10**19); the rest unchanged."""
    def one(v):
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v

    if hp.kind == "float":
        return one(value)
    if hp.kind == "pair":
        return type(value)(one(v) for v in value)
    return value
