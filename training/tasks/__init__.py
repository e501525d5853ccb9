"""The training tasks: real data that ships or is generated, a model, a loss, a metric, a budget.

    training.tasks.names() -> list[str]
    training.tasks.get(name) -> Task          # unknown name -> KeyError listing the valid ones

See base.Task for the fields and functions every task has.
"""
from __future__ import annotations

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


__all__ = ["Task", "get", "names"]
