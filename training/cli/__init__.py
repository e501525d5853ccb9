"""The command line: train, compare, list and export runs on a headless box.

    python -m training run --task char-lstm --optimizer adam --lr 1e-3 --clip norm:0.25 \\
                           --schedule one_cycle --steps 2000 --device auto
    python -m training compare --task digits-mlp --optimizer adam,sgd,momentum --lr 1e-3,1e-2 \\
                           --clip none,norm:1 --steps 500 [--parallel 2]
    python -m training list | show ID | cancel ID | delete ID | export --all --out DIR
    python -m training landscape RUN_ID [--paths ID,ID] [--plane pca|random] [--grid 51] --out DIR
    python -m training tasks | devices

Runs land in the same store the pages read (--db, else $OPT_PLAYGROUND_DB, else ./runs.sqlite),
so a run started here shows up on the Compare page. `run` trains in this process with a progress
bar on stderr; Ctrl-C once stops it cleanly (status cancelled), twice aborts (interrupted).
Bad arguments print one line and exit with status 2.

    parse.py     flag text -> values (hyperparameters, --clip, --schedule, lists); UsageError
    jobs.py      the flags of run and compare -> Jobs
    format.py    numbers, tables, a run's result line, compare's table
    progress.py  the progress bar; Ctrl-C and SIGTERM while training in the foreground
    train.py     the commands run and compare
    commands.py  the commands list, show, cancel, delete, export, tasks, devices; exit statuses
    landscape.py the command landscape: a run's loss landscape, evaluated and written as files
    entry.py     the argument parser and main()
"""
from .entry import build_parser, main
from .jobs import job_from_args, jobs_from_grid
from .parse import parse_clip, parse_hp, parse_schedule, split_list

__all__ = ["build_parser", "job_from_args", "jobs_from_grid", "main", "parse_clip", "parse_hp", "parse_schedule",
           "split_list"]
