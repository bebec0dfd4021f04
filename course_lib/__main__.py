"""Command line: `python -m course_lib evaluate DATASET ...`, `... schedule ...`, `... datasets`.

Every failure a user can cause (bad argument, missing dataset, weights that cannot be
fetched offline, an unreadable image) ends with one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _user_errors() -> tuple[type[BaseException], ...]:
    from .datasets import DatasetNotAvailable
    from .download import DownloadError
    from .images import ImageLoadError
    from .models import WeightsUnavailable

    return (ValueError, FileNotFoundError, DatasetNotAvailable, DownloadError, ImageLoadError, WeightsUnavailable)


def _write_json_atomic(path: Path, payload: dict) -> None:
    path = path.expanduser()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json.part")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def cmd_evaluate(args) -> int:
    from . import config
    from .datasets import load_dataset
    from .experiment import results_table, run
    from .models import load_backbone
    from .pooling import POOLINGS

    methods = args.pooling or list(POOLINGS)
    if args.image_size is not None and args.image_size < 32:
        raise ValueError(f"--image-size {args.image_size}: must be at least 32 pixels")
    if args.json and not Path(args.json).expanduser().parent.is_dir():
        raise ValueError(f"--json {args.json}: folder {Path(args.json).parent} does not exist")
    dataset = load_dataset(args.dataset, download=not args.no_download)
    device = config.get_device(args.device)
    backbone = load_backbone(args.backbone, device=device)
    print(f"{dataset.name}: {len(dataset.images)} database images, {dataset.n_queries} queries "
          f"({dataset.protocol} protocol) | backbone {backbone.name} | image size {args.image_size} | {device}",
          file=sys.stderr)
    rows = run(dataset, backbone, methods, image_size=args.image_size, scales=args.scales,
               progress=not args.quiet)
    print(results_table(rows).to_string())
    if args.json:
        _write_json_atomic(Path(args.json), {"dataset": dataset.name, "backbone": backbone.name,
                                             "image_size": args.image_size, "scales": list(args.scales),
                                             "results": rows})
    return 0


def cmd_datasets(args) -> int:
    from .datasets import describe_registry

    print(describe_registry())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .models import BACKBONES, DEFAULT_BACKBONE
    from .pooling import POOLINGS

    parser = _Parser(prog="python -m course_lib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ev = sub.add_parser("evaluate", help="extract, search and evaluate one dataset",
                        description="Extract global descriptors, rank the database with faiss and print "
                                    "mAP and mP@1/5/10 per pooling method.")
    ev.add_argument("dataset", help="a registered dataset name (see `datasets`) or a path to a dataset folder")
    ev.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=BACKBONES)
    ev.add_argument("--pooling", action="append", choices=list(POOLINGS),
                    help="pooling method (repeat for several; default: all)")
    ev.add_argument("--image-size", type=int, default=512, help="longer image side in pixels (default 512)")
    ev.add_argument("--scales", type=float, nargs="+", default=[1.0],
                    help="multi-scale factors, e.g. 1 0.707 0.5 (default: 1)")
    ev.add_argument("--json", metavar="FILE", help="also write the results, with per-query AP, as JSON")
    ev.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    ev.add_argument("--no-download", action="store_true", help="never download; fail if the data is missing")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=cmd_evaluate)

    ds = sub.add_parser("datasets", help="list the registered datasets and whether they are here")
    ds.set_defaults(func=cmd_datasets)

    # Listed here for --help; its arguments are parsed by course_lib.schedule itself (see main).
    sub.add_parser("schedule", help="course schedule: status, deadlines, calendar export, checks")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["schedule"]:
        from .schedule import main as schedule_main

        return schedule_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except _user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
