"""Optimizers: update rules, clipping, schedules, the registry and a torch.optim adapter.

Public contract (docs/architecture.md): names, spec, build, clip_, clip_kinds, schedule_names, schedule,
RunConfig (one run: optimizer + hyperparameters + clipping + schedule).
"""
from importlib import import_module

from .base import HParam, Rule, Spec  # noqa: F401
from .clipping import check_clip, clip_, clip_kinds, clip_with_coef_  # noqa: F401
from .registry import build, names, register, resolve, spec  # noqa: F401
from .schedules import schedule, schedule_at, schedule_names, schedule_spec  # noqa: F401

# importing a rule module registers its optimizers; this order (the lineage) is the order of names()
RULE_MODULES = ("sgd", "adaptive", "adam", "adam_variants", "adabound", "swats", "lion", "lookahead", "schedulefree")
for _m in RULE_MODULES:
    import_module(f"{__name__}.rules.{_m}")

from .run import RunConfig  # noqa: E402, F401  (after the rules: RunConfig checks against the registry)
