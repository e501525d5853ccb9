"""Optimizers: update rules, clipping, schedules, the registry and a torch.optim adapter.

Public contract (DESIGN.md): names, spec, build, clip_, clip_kinds, schedule_names, schedule.
"""
from .base import HParam, Rule, Spec  # noqa: F401
from .clipping import clip_, clip_kinds, clip_with_coef_  # noqa: F401
from .registry import build, names, register, resolve, spec  # noqa: F401

# importing a rule module registers its optimizers; this order is the order of names()
from .rules import adabound, adam, adam_variants, adaptive, lion, lookahead, schedulefree, sgd, swats  # noqa: F401, E402, I001  # noqa: F401, E402, I001
from .schedules import schedule, schedule_names  # noqa: F401
