"""The command line: one argument parser whose errors are one line, and the vision commands.

`python -m course_lib evaluate DATASET ...` and `... datasets` live here; `... schedule ...`
is parsed by course_lib.schedule.cli with the same one-line-error parser. Every failure a user
can cause (bad argument, missing dataset, weights that cannot be fetched offline, an unreadable
image) ends with one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


class OneLineParser(argparse.ArgumentParser):
    """argparse with errors as one line (`prog: error: message (see --help)`) instead of usage + message."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the user asked for something impossible: said in one line, exit 2."""
    from .datasets import DatasetNotAvailable
    from .datasets.download import DownloadError
    from .images import ImageLoadError
    from .models import WeightsUnavailable

    return (ValueError, OSError, DatasetNotAvailable, DownloadError, ImageLoadError, WeightsUnavailable)


def _check_output_file(option: str, value: str) -> Path:
    """Refuse an output path before any work is done: a missing or unwritable folder, or a folder as file."""
    path = Path(value).expanduser()
    if path.is_dir():
        raise ValueError(f"{option} {value}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise ValueError(f"{option} {value}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) and not (path.exists() and os.access(path, os.W_OK)):
        raise ValueError(f"{option} {value}: folder {path.parent} is not writable")
    return path


def cmd_evaluate(args) -> int:
    from . import config
    from .datasets import load_dataset
    from .experiment import results_table, run
    from .files import write_json
    from .models import load_backbone
    from .pooling import POOLINGS

    methods = args.pooling or list(POOLINGS)
    if args.max_side is not None and args.max_side < 32:
        raise ValueError(f"--image-size {args.max_side}: must be at least 32 pixels")
    json_path = _check_output_file("--json", args.json) if args.json else None
    dataset = load_dataset(args.dataset, download=not args.no_download)
    device = config.get_device(args.device)
    backbone = load_backbone(args.backbone, device=device)
    print(f"{dataset.summary()} | backbone {backbone.name} | longer side {args.max_side} | {device}",
          file=sys.stderr)
    rows = run(dataset, backbone, methods, max_side=args.max_side, scales=args.scales, progress=not args.quiet)
    print(results_table(rows).to_string())
    if json_path is not None:
        write_json(json_path, {"dataset": dataset.name, "backbone": backbone.name, "max_side": args.max_side,
                               "scales": list(args.scales), "results": rows})
    return 0


def cmd_datasets(args) -> int:
    from .datasets import describe_registry

    print(describe_registry())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .models import BACKBONES, DEFAULT_BACKBONE
    from .pooling import POOLINGS

    parser = OneLineParser(prog="python -m course_lib",
                           description="Command line of the course kit: evaluate, datasets, schedule.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    ev = sub.add_parser("evaluate", help="extract, search and evaluate one dataset",
                        description="Extract global descriptors, rank the database with faiss and print "
                                    "mAP and mP@1/5/10 per method.")
    ev.add_argument("dataset", help="a registered dataset name (see `datasets`) or a path to a dataset folder")
    ev.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=BACKBONES)
    ev.add_argument("--pooling", action="append", choices=list(POOLINGS),
                    help="pooling method (repeat for several; default: all)")
    ev.add_argument("--image-size", dest="max_side", type=int, default=512, metavar="N",
                    help="longer image side in pixels (default 512)")
    ev.add_argument("--scales", type=float, nargs="+", default=[1.0],
                    help="multi-scale factors, e.g. 1 0.707 0.5 (default: 1)")
    ev.add_argument("--json", metavar="FILE", help="also write the results, with per-query AP, as JSON")
    ev.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    ev.add_argument("--no-download", action="store_true", help="never download; fail if the data is missing")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=cmd_evaluate)

    ds = sub.add_parser("datasets", help="list the registered datasets and whether they are here")
    ds.set_defaults(func=cmd_datasets)

    # Listed here for --help; its arguments are parsed by course_lib.schedule.cli itself (see main).
    sub.add_parser("schedule", help="course schedule: status, deadlines, calendar export, checks")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["schedule"]:
        from .schedule.cli import main as schedule_main

        return schedule_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
