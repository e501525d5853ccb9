"""A torch.optim.Optimizer that runs a Rule on each parameter tensor as it is.

Given model.parameters() it behaves like the matching torch.optim class; given a (N, 2)
tensor of points and tensor hyperparameters of shape (N, 1), each row is its own model.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .base import Spec
from .closure import estimate as estimate_with_closure
from .compiled import CompiledUpdate


class RuleOptimizer(torch.optim.Optimizer):
    """compiled=True: each step runs the rule through torch.compile (optimizers/compiled.py), the
    eager rule where it cannot; `compiled_note` says which ran."""

    def __init__(self, params: Iterable[Any], spec: Spec, hparams: dict, *, compiled: bool = False):
        self.spec = spec
        self._compiled = CompiledUpdate(spec) if compiled else None
        self.generator: torch.Generator | None = None  # zeroth-order directions (None: torch's global one)
        self.last_evaluations = (0, 0)  # (loss values, gradients) the last step's update used
        self._estimated = False
        super().__init__(params, dict(hparams))

    @property
    def compiled_note(self) -> str:
        c = self._compiled
        if c is None:
            return "eager"
        return "compiled" if c.failed is None else f"eager (compiling {self.spec.name}'s rule failed: {c.failed})"

    def __repr__(self) -> str:
        return f"{self.spec.name}({self.spec.reference}) " + super().__repr__()

    def _hparams(self, group: dict) -> dict:
        # every key of the group except the parameter list: hyperparameters plus fixed values
        return {k: v for k, v in group.items() if k != "params"}

    @torch.no_grad()
    def step(self, closure=None):
        if self._has_modes() and not all(g.get("train_mode", False) for g in self.param_groups):
            raise RuntimeError(
                f"{self.spec.name}: the optimizer is in eval mode; call optimizer.train() before step() "
                "(and optimizer.eval() before evaluating or saving), as the schedule-free package requires"
            )
        loss = None
        if self.spec.rule.oracle:
            if closure is not None:
                loss = self.estimate_(closure)
            elif not self._estimated:
                raise RuntimeError(
                    f"{self.spec.name} evaluates the loss itself: call step(closure) with a closure that re-evaluates "
                    "the model and returns the loss (torch's convention, as for LBFGS), or estimate_(closure) "
                    "and then step()")
            self._estimated = False
        else:
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            self.last_evaluations = (0, 1)
        for group in self.param_groups:
            h = self._hparams(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{self.spec.name} does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state.update(self.spec.rule.init(p, h))
                    state["step"] = 0
                state["step"] += 1
                if self._compiled is None or not self._compiled(p, p.grad, state, h, state["step"]):
                    self.spec.rule.update(p, p.grad, state, h, state["step"])
        return loss

    @torch.no_grad()
    def estimate_(self, closure):
        """For a rule that evaluates the loss itself (zeroth-order, SAM): put in every parameter's .grad the
        gradient its update will use, evaluating the closure where the rule asks (optimizers/closure.py);
        step() then applies it. Returns the loss at the current parameters. Between the two a caller may
        clip the gradients, as the training runner does."""
        loss, self.last_evaluations = estimate_with_closure(self, closure)
        self._estimated = True
        return loss

    def _has_modes(self) -> bool:
        rule = self.spec.rule
        return rule.to_train is not None or rule.to_eval is not None

    def _switch(self, hook_name: str, train_mode: bool) -> None:
        """Run the rule's mode hook on every parameter of each group not already in that mode.

        The mode is kept per param group in group["train_mode"] (as the schedule-free package
        does), so calling train() twice moves the parameters once. Parameters without state
        (no step yet) stay where they are; the group's mode changes all the same.
        """
        if not self._has_modes():
            return
        hook = getattr(self.spec.rule, hook_name)
        with torch.no_grad():
            for group in self.param_groups:
                if group.get("train_mode", False) == train_mode:
                    continue
                h = self._hparams(group)
                if hook is not None:
                    for p in group["params"]:
                        state = self.state[p]
                        if state:
                            hook(p, state, h)
                group["train_mode"] = train_mode

    def train(self) -> None:
        """Schedule-free optimizers: move parameters to the training sequence y (no-op for others)."""
        self._switch("to_train", True)

    def eval(self) -> None:
        """Schedule-free optimizers: move parameters to the averaged sequence x (no-op for others)."""
        self._switch("to_eval", False)
