"""The command layer: `python -m course_lib COMMAND ...`, one module per command, each turning its arguments
into one call of the library and printing the result. The library never imports this package.

Every failure a user can cause (bad argument, missing dataset, weights that cannot be fetched offline, an
unreadable image) ends with one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from ..cli import OneLineParser, calm_progress_in_logs, one_line, warning_line

# In the order `--help` lists them; each module has add_parser(subparsers) and run(args).
COMMANDS = ("evaluate", "search", "train", "train_detector", "extract", "index", "datasets", "check", "log",
            "new_project", "release", "grade", "schedule")


def _module(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m course_lib",
        description="Command line of the course kit. Retrieval: evaluate, search, extract, index. Training: train, "
                    "train-detector. Data: datasets, check, log, new-project. Teaching: release, grade, schedule.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser, metavar="COMMAND")
    for name in COMMANDS:
        _module(name).add_parser(sub)
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the user asked for something impossible: said in one line, exit 2."""
    from ..datasets import DatasetNotAvailable
    from ..download import DownloadError
    from ..images import ImageLoadError

    backbones = sys.modules.get("course_lib.models.backbones")  # not imported yet: no weights were sought
    weights = (backbones.WeightsUnavailable,) if backbones else ()
    return (ValueError, OSError, DatasetNotAvailable, DownloadError, ImageLoadError, *weights)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    calm_progress_in_logs()
    if argv[:1] == ["schedule"]:  # its own parser (`python -m course_lib schedule --help`)
        from .schedule import main as schedule_main

        return schedule_main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, or an argument refused in one line: its status, also when called in-process
        return int(done.code or 0)
    warnings.showwarning = warning_line
    try:
        return int(args.func(args) or 0)
    except user_errors() as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
