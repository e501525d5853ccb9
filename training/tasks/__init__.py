"""The training tasks: real data that ships or is generated, a model, a loss, a metric, a budget.

    training.tasks.names() -> list[str]
    training.tasks.get(name) -> Task          # unknown name -> KeyError listing the valid ones
    training.tasks.info(run) -> dict          # metric_name, higher_is_better, target of a stored run's task
    training.tasks.budget(name) -> int | None # the task's default steps (None: no such task)

See base.Task for the fields and functions every task has.
"""
from __future__ import annotations

from collections.abc import Mapping

from . import adding, char_lstm, digits, transformer
from .base import Task

_TASKS: dict[str, Task] = {t.name: t for t in (digits.MLP, digits.CNN, char_lstm.TASK, adding.TASK,
                                                transformer.TASK)}


def names() -> list[str]:
    return list(_TASKS)


def get(name: str) -> Task:
    try:
        return _TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; choose one of: {', '.join(_TASKS)}") from None


def budget(name: object) -> int | None:
    """The task's default number of steps; None for a task this version does not have."""
    t = _TASKS.get(str(name))
    return None if t is None else t.steps


def info(run: Mapping) -> dict:
    """metric_name, higher_is_better, target of a stored run's task (a run dict of Store.list_runs): what
    the run stored (the runner's start info, its summary), else the task registry's."""
    out: dict = {"metric_name": "metric", "higher_is_better": True, "target": None}
    if run.get("task") in _TASKS:
        t = _TASKS[run["task"]]
        out.update(metric_name=t.metric_name, higher_is_better=t.higher_is_better, target=t.target)
    for src in (run.get("summary"), run.get("device_info")):  # the start info wins over the summary
        if isinstance(src, dict):
            out.update({k: src[k] for k in ("higher_is_better", "target") if k in src})
    for src in (run.get("device_info"), run.get("summary")):  # the summary's name wins
        if isinstance(src, dict) and src.get("metric_name"):
            out["metric_name"] = str(src["metric_name"])
    return out


__all__ = ["Task", "budget", "get", "info", "names"]
