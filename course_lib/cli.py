"""The command line: one argument parser whose errors are one line, and the vision commands.

`python -m course_lib evaluate DATASET ...` and `... datasets` live here; `... schedule ...`
is parsed by course_lib.schedule.cli with the same one-line-error parser. Every failure a user
can cause (bad argument, missing dataset, weights that cannot be fetched offline, an unreadable
image) ends with one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import warnings
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

    backbones = sys.modules.get("course_lib.models.backbones")  # not imported yet: no weights were sought
    weights = (backbones.WeightsUnavailable,) if backbones else ()
    return (ValueError, OSError, DatasetNotAvailable, DownloadError, ImageLoadError, *weights)


MAX_SCALE = 4.0  # a longer side of 4 x --image-size already needs several GB of activations


def scale_factor(text: str) -> float:
    """argparse type of --scales: a finite factor in (0, MAX_SCALE]."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_SCALE):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid scale: give factors greater than 0 and at most "
                                         f"{MAX_SCALE:g}, e.g. 1 0.707 0.5")
    return value


def device_name(text: str) -> str:
    """argparse type of --device: cpu, cuda, cuda:N or mps, and only one that this machine has."""
    import torch

    valid = "cpu, cuda, cuda:N (N a GPU index) or mps"
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device: use {valid}") from None
    if device.type == "cpu":
        return text
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has no usable CUDA GPU; use cpu")
        if device.index is not None and device.index >= count:
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {count} GPU(s), cuda:0 to cuda:{count - 1}")
        return text
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has no Apple GPU (MPS); use cpu")
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not supported: use {valid}")


def _check_output_file(option: str, value: str) -> Path:
    """Refuse an output path before any work is done: a missing or unwritable folder, or a folder as file.

    Writability is tested by writing (os.access says nothing about read-only file systems or root),
    where `files.atomic_write` will write: beside the link's target for a symlink, into the file itself
    for a device or pipe (/dev/null, /dev/stdout).
    """
    path = Path(value).expanduser()
    try:
        real = path.resolve() if path.is_symlink() else path
    except (RuntimeError, OSError):
        raise ValueError(f"{option} {value}: symbolic link loop") from None
    if real.is_dir():
        raise ValueError(f"{option} {value}: is a folder; give a file name")
    if real.exists() and not real.is_file():
        if not os.access(real, os.W_OK):
            raise ValueError(f"{option} {value}: cannot be written")
        return path
    if not real.parent.is_dir():
        raise ValueError(f"{option} {value}: folder {real.parent} does not exist")
    try:
        with tempfile.TemporaryFile(dir=real.parent):
            pass
    except OSError as err:
        raise ValueError(f"{option} {value}: folder {real.parent} is not writable "
                         f"({err.strerror or type(err).__name__})") from None
    return path


FIGURE_FORMATS = (".png", ".pdf", ".svg")


def _check_figure_file(option: str, value: str) -> Path:
    """A figure file to write: a known format by its extension, in a folder that can be written."""
    if Path(value).suffix.lower() not in FIGURE_FORMATS:
        raise ValueError(f"{option} {value}: the file name must end in {', '.join(FIGURE_FORMATS)}")
    return _check_output_file(option, value)


def cmd_evaluate(args) -> int:
    from . import config
    from .datasets import load_dataset
    from .files import write_json
    from .names import POOLING_NAMES
    from .rerank import parse_pipeline

    methods = args.pooling or list(POOLING_NAMES)
    if args.max_side is not None and args.max_side < 32:
        raise ValueError(f"--image-size {args.max_side}: must be at least 32 pixels")
    rerank = parse_pipeline(args.rerank) if args.rerank else None  # a bad spec fails before any work
    others = [f"--{name}" for name in ("checkpoint", "pca", "whiten", "index") if getattr(args, name, None)]
    if rerank and others:
        raise ValueError(f"--rerank applies to the plain search only; it cannot be combined with {others[0]} yet")
    json_path = _check_output_file("--json", args.json) if args.json else None
    log_path = _check_output_file("--log", args.log) if args.log else None
    plot_path = _check_figure_file("--plot", args.plot) if args.plot else None
    config.writable_home()  # the cache is written after the work: find out now that it can be
    dataset = load_dataset(args.dataset, download=not args.no_download, progress=not args.quiet)
    from .experiment import results_table  # pandas: imported once arguments and data are good

    cached = None
    if not (others or args.nprobe or args.localize):  # the plain search: maybe every descriptor is cached
        from .descriptor_cache import read_cached

        cached = read_cached(dataset, args.backbone.lower(), methods, args.max_side, args.scales)
    if cached is not None:  # nothing to extract: no torch, no network (a warm run answers in about a second)
        from .experiment import evaluate_descriptors

        backbone_name = args.backbone.lower()
        if not args.quiet:
            print(f"{dataset.summary()} | backbone {backbone_name} | longer side {args.max_side} | "
                  f"descriptors from the cache", file=sys.stderr)
        rows = evaluate_descriptors(dataset, cached, rerank=rerank)
    else:
        rows, backbone = _extract_and_evaluate(args, dataset, methods, rerank)
        backbone_name = backbone.name
    print(results_table(rows).to_string())
    if args.localize:
        from .detection.cli import print_localization

        print_localization(dataset, backbone, args.max_side)
    if json_path is not None:
        write_json(json_path, {"dataset": dataset.name, "backbone": backbone_name, "max_side": args.max_side,
                               "scales": list(args.scales),
                               "rerank": [step.as_dict() for step in rerank] if rerank else [], "results": rows})
    if plot_path is not None:
        from .experiment import rows_interval_table
        from .files import save_figure
        from .viz import map_bars

        intervals = rows_interval_table(rows)
        level = ", Medium" if dataset.protocol == "revisited" else ""
        figure = map_bars(intervals, ["map"], title=f"{dataset.name}: mAP (%){level}", intervals=intervals)
        save_figure(figure, plot_path)
    if log_path is not None:
        from datetime import datetime, timezone

        from .experiment import append_log

        append_log(log_path, {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "dataset": dataset.name, "backbone": backbone_name, "max_side": args.max_side,
                              "scales": list(args.scales), "results": rows})
    return 0


def _extract_and_evaluate(args, dataset, methods, rerank):
    """(rows, backbone): build the network, extract what the cache lacks, search and score."""
    from . import config
    from .experiment import run
    from .models import load_backbone

    device = config.get_device(args.device)
    backbone = load_backbone(args.backbone, device=device)
    if not args.quiet:
        print(f"{dataset.summary()} | backbone {backbone.name} | longer side {args.max_side} | {device}",
              file=sys.stderr)
    if args.checkpoint:  # a network fine-tuned with `train` (notebook 02): its own GeM and whitening
        from .train.cli import evaluate_checkpoint

        rows = evaluate_checkpoint(dataset, args.checkpoint, args.max_side, device, progress=not args.quiet)
    elif args.pca or args.whiten or args.index or args.nprobe:  # notebook 03: PCA(-whitening) learned elsewhere, faiss index
        from .index.cli import evaluate_reduced

        rows = evaluate_reduced(args, dataset, backbone, methods)
    else:
        rows = run(dataset, backbone, methods, max_side=args.max_side, scales=args.scales,
                   progress=not args.quiet, rerank=rerank)
    return rows, backbone


def cmd_datasets(args) -> int:
    from .datasets import describe_registry

    print(describe_registry())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .names import BACKBONES, DEFAULT_BACKBONE, POOLING_NAMES
    from .rerank import describe_methods

    parser = OneLineParser(prog="python -m course_lib",
                           description="Command line of the course kit: evaluate, datasets, schedule.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    ev = sub.add_parser("evaluate", help="extract, search and evaluate one dataset",
                        description="Extract global descriptors, rank the database with faiss and print "
                                    "mAP and mP@1/5/10 per method.")
    ev.add_argument("dataset", help="a registered dataset name (see `datasets`) or a path to a dataset folder")
    ev.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=BACKBONES)
    ev.add_argument("--pooling", action="append", choices=list(POOLING_NAMES),
                    help="pooling method (repeat for several; default: all)")
    ev.add_argument("--image-size", dest="max_side", type=int, default=512, metavar="N",
                    help="longer image side in pixels (default 512)")
    ev.add_argument("--scales", type=scale_factor, nargs="+", default=[1.0],
                    help=f"multi-scale factors in (0, {MAX_SCALE:g}], e.g. 1 0.707 0.5 (default: 1)")
    ev.add_argument("--rerank", metavar="SPEC", help=f"post-process each ranking, steps left to right, e.g. "
                    f"'aqe:k=2,dba:k=2,diffusion' (parameters method:name=value:...); {describe_methods()}")
    ev.add_argument("--json", metavar="FILE", help="also write the results, with per-query AP, as JSON")
    ev.add_argument("--log", metavar="FILE", help="append this run as one line to an experiment log (JSON Lines)")
    ev.add_argument("--plot", metavar="FILE", help="also draw the mAP per method with 95%% bootstrap intervals "
                    "(.png, .pdf or .svg)")
    ev.add_argument("--device", type=device_name,
                    help="torch device: cpu, cuda, cuda:N or mps (default: cuda if available, else cpu)")
    ev.add_argument("--no-download", action="store_true", help="never download; fail if the data is missing")
    ev.add_argument("--quiet", action="store_true",
                    help="no progress bars and no summary line: stderr holds only warnings and errors")
    ev.add_argument("--checkpoint", metavar="FILE", help="evaluate a network fine-tuned with `train` (DIR/last.pt)")
    ev.add_argument("--localize", action="store_true",
                    help="also localize the query in each positive with a true box; print mean IoU and share located")
    from .index.cli import add_evaluate_options

    add_evaluate_options(ev)
    ev.set_defaults(func=cmd_evaluate)

    from .train.cli import add_parser as add_train_parser

    add_train_parser(sub)

    from .detection.cli import add_parser as add_search_parser

    add_search_parser(sub)

    from .detection.train_cli import add_parser as add_train_detector_parser

    add_train_detector_parser(sub)

    ds = sub.add_parser("datasets", help="list the registered datasets and whether they are here")
    ds.set_defaults(func=cmd_datasets)

    from .project import add_parsers as add_project_parsers

    add_project_parsers(sub)

    from .index.cli import add_parsers as add_index_parsers

    add_index_parsers(sub)  # extract (sharded, resumable) and index build

    from .release import add_parser as add_release_parser

    add_release_parser(sub)  # student and instructor copies of the notebooks

    # Listed here for --help; its arguments are parsed by course_lib.schedule.cli itself (see main).
    sub.add_parser("schedule", help="course schedule: status, deadlines, calendar export, checks")
    return parser


def one_line(error: BaseException) -> str:
    """An exception as one line: its message with line breaks folded (OSError: with the path it names)."""
    if isinstance(error, OSError) and error.strerror:
        text = f"{error.filename}: {error.strerror}" if error.filename is not None else error.strerror
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (a damaged cache entry healed, a skipped file) as one line each, without source lines."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


LOG_PROGRESS_INTERVAL_S = "60"


def calm_progress_in_logs(stream=None) -> None:
    """When stderr is a log (CI, a file), not a terminal, tqdm bars redraw at most once a minute (their
    first and last state, mostly) instead of filling the log; --quiet still turns them off."""
    stream = sys.stderr if stream is None else stream
    if not (hasattr(stream, "isatty") and stream.isatty()):
        os.environ.setdefault("TQDM_MININTERVAL", LOG_PROGRESS_INTERVAL_S)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    calm_progress_in_logs()
    if argv[:1] == ["schedule"]:
        from .schedule.cli import main as schedule_main

        return schedule_main(argv[1:])
    args = build_parser().parse_args(argv)
    warnings.showwarning = _warning_line
    try:
        return int(args.func(args) or 0)
    except user_errors() as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
