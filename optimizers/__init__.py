"""Optimizers: update rules, clipping, schedules, the registry and a torch.optim adapter.

Public contract (docs/architecture.md): names, spec, build, clip_, clip_kinds, schedule_names, schedule,
Sequential (chained schedules, as torch's SequentialLR), RunConfig (one run: optimizer + hyperparameters +
clipping + schedule).
"""
from importlib import import_module

from .base import HParam, Rule, Spec  # noqa: F401
from .chain import MAX_PHASES, Sequential  # noqa: F401
from .clipping import check_clip, clip_, clip_kinds, clip_with_coef_  # noqa: F401
from .registry import build, names, register, resolve, set_order, spec  # noqa: F401
from .schedules import schedule, schedule_at, schedule_names, schedule_spec  # noqa: F401

# importing a rule module registers its optimizers (docs/architecture.md: adding an optimizer)
RULE_MODULES = ("sgd", "adaptive", "adam", "adam_variants", "adabound", "swats", "lion", "lookahead", "schedulefree",
                "zeroth_order", "sam")
for _m in RULE_MODULES:
    import_module(f"{__name__}.rules.{_m}")

# the order of names(), as the pages list them: the lineage, roughly as published (an explicit
# list, not the import order; a registered optimizer missing here fails at import)
ORDER = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "amsgrad", "adamw", "nadam",
         "radam", "adamax", "adabound", "amsbound", "swats", "lion", "lookahead", "adamw_schedulefree",
         "sgd_schedulefree", "zo_sgd", "zo_signsgd", "sam", "asam")
set_order(ORDER)

from .run import RunConfig  # noqa: E402, F401  (after the rules: RunConfig checks against the registry)
