"""Real training with the playground's optimizers: tasks, the runner, the run store, workers, the CLI.

    from optimizers import RunConfig
    from training import Job, Store
    from training.workers import launch, cancel, wait
    run_id = launch(Job(task="digits-mlp", run=RunConfig("adam", {"lr": 0.01}), steps=500))

Importing the package is cheap (no torch): tasks, runner and device are imported where used.
"""
from .job import EvalRow, Job, Sink, StepRow  # noqa: F401
from .store import RunSink, Store, default_path  # noqa: F401
