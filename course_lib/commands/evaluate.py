"""`evaluate DATASET`: extract descriptors (pretrained or fine-tuned network, any pooling, several scales),
search, score with the dataset's protocol and print mAP per method; PCA, whitening and faiss indexes
(notebook 03), re-ranking (notebook 05) and localization (notebook 04) on request."""
from __future__ import annotations

import sys

from ..cli import (MAX_SCALE, add_device_option, add_image_size_option, add_no_download_option, add_quiet_option,
                   check_figure_file, check_output_file, positive_int, real_number, scale_factor)


def add_parser(sub) -> None:
    from ..names import BACKBONES, DEFAULT_BACKBONE, POOLING_NAMES
    from ..rerank import describe_methods

    ev = sub.add_parser("evaluate", help="extract, search and evaluate one dataset",
                        description="Extract global descriptors, rank the database with faiss and print "
                                    "mAP and mP@1/5/10 per method.")
    ev.add_argument("dataset", help="a registered dataset name (see `datasets`) or a path to a dataset folder")
    ev.add_argument("--backbone", choices=BACKBONES, help=f"pretrained network (default {DEFAULT_BACKBONE}; with "
                    "--checkpoint: the checkpoint's own)")
    ev.add_argument("--pooling", action="append", choices=list(POOLING_NAMES),
                    help="pooling method (repeat for several; default: all; with --checkpoint: the network's own "
                         "GeM and whitening, 'gem-ft')")
    add_image_size_option(ev, 512)
    ev.add_argument("--scales", type=scale_factor, nargs="+", default=[1.0],
                    help=f"multi-scale factors in (0, {MAX_SCALE:g}], e.g. 1 0.707 0.5 (default: 1)")
    ev.add_argument("--rerank", metavar="SPEC", help=f"post-process each ranking, steps left to right, e.g. "
                    f"'aqe:k=2,dba:k=2,diffusion' (parameters method:name=value:...); {describe_methods()}")
    ev.add_argument("--json", metavar="FILE", help="also write the results, with per-query AP, as JSON")
    ev.add_argument("--log", metavar="FILE", help="append this run as one line to an experiment log (JSON Lines: "
                    "results, settings, the kit's version and commit, the command, a fingerprint of the data; "
                    "`log FILE` shows it)")
    ev.add_argument("--note", metavar="TEXT", default="", help="with --log: a note kept with the run, e.g. what "
                    "changed since the last one")
    ev.add_argument("--plot", metavar="FILE", help="also draw the mAP per method with 95%% bootstrap intervals "
                    "(.png, .pdf or .svg)")
    add_device_option(ev)
    add_no_download_option(ev)
    add_quiet_option(ev)
    ev.add_argument("--checkpoint", metavar="FILE", help="evaluate a network fine-tuned with `train` (DIR/last.pt); "
                    "--pooling and --scales apply to it as to a pretrained one")
    ev.add_argument("--localize", action="store_true",
                    help="also localize the query in each positive with a true box; print mean IoU and share located")
    ev.add_argument("--pca", type=positive_int, metavar="D", help="project to D dimensions with PCA learned "
                    "on --learn-on, then L2-normalise again")
    ev.add_argument("--whiten", action="store_true", help="PCA-whitening (with --pca: D dims; without: all)")
    ev.add_argument("--power", type=real_number(0, 1), default=1.0, metavar="P",
                    help="whitening power on the eigenvalues, 0..1 (1: full whitening, 0.5: Jegou & Chum's softer "
                         "variant; default 1)")
    ev.add_argument("--learn-on", metavar="DATASET", help="dataset to learn the projection on (default: the "
                    "dataset's independent partner: mini -> mini-train, roxford5k <-> rparis6k, oxford5k <-> paris6k)")
    ev.add_argument("--index", metavar="FACTORY", help='search with a faiss index from a factory string, '
                    'e.g. "IVF64,PQ16" or "HNSW32" (default: exact search)')
    ev.add_argument("--nprobe", type=positive_int, metavar="N", help="IVF lists visited per query (with --index)")
    ev.set_defaults(func=run)


def run(args) -> int:
    from .. import config
    from ..datasets import load_dataset
    from ..files import write_json
    from ..names import DEFAULT_BACKBONE, POOLING_NAMES
    from ..rerank import parse_pipeline

    rerank = parse_pipeline(args.rerank) if args.rerank else None  # a bad spec fails before any work
    reduced = args.pca or args.whiten or args.index or args.nprobe
    others = [f"--{name}" for name in ("checkpoint", "pca", "whiten", "index") if getattr(args, name, None)]
    if rerank and others:
        raise ValueError(f"--rerank applies to the plain search only; it cannot be combined with {others[0]} yet")
    if args.checkpoint and reduced:
        raise ValueError("--checkpoint: evaluates the fine-tuned network's descriptors as they are; it cannot be "
                         "combined with --pca, --whiten or --index yet")
    if args.nprobe and not args.index:
        raise ValueError("--nprobe: only with --index (an IVF index)")
    json_path = check_output_file("--json", args.json) if args.json else None
    log_path = check_output_file("--log", args.log) if args.log else None
    if args.note and log_path is None:
        raise ValueError("--note is kept in the experiment log: add --log FILE")
    plot_path = check_figure_file("--plot", args.plot) if args.plot else None
    config.writable_home()  # the cache is written after the work: find out now that it can be
    dataset = load_dataset(args.dataset, download=not args.no_download, progress=not args.quiet)
    from ..experiment import results_table  # pandas: imported once arguments and data are good

    backbone_name = (args.backbone or DEFAULT_BACKBONE).lower()
    methods = args.pooling or list(POOLING_NAMES)
    backbone = cached = None
    if not (others or args.nprobe or args.localize):  # the plain search: maybe every descriptor is cached
        from ..descriptor_cache import read_cached

        cached = read_cached(dataset, backbone_name, methods, args.max_side, args.scales)
    if cached is not None:  # nothing to extract: no torch, no network (a warm run answers in about a second)
        from ..experiment import evaluate_descriptors

        _summary(args, dataset, backbone_name, "descriptors from the cache")
        rows = evaluate_descriptors(dataset, cached, rerank=rerank)
    else:
        backbone, methods = _network(args, methods)
        backbone_name = backbone.name
        _summary(args, dataset, backbone_name, str(config.get_device(args.device)))
        rows = _reduced(args, dataset, backbone, methods) if reduced else _plain(args, dataset, backbone, methods,
                                                                                   rerank)
    print(results_table(rows).to_string())
    if args.localize:
        _print_localization(dataset, backbone, args.max_side)
    if json_path is not None:
        write_json(json_path, {"dataset": dataset.name, "backbone": backbone_name, "max_side": args.max_side,
                               "scales": list(args.scales),
                               "rerank": [step.as_dict() for step in rerank] if rerank else [], "results": rows})
    if plot_path is not None:
        from ..experiment import rows_interval_table
        from ..files import save_figure
        from ..viz import map_bars

        intervals = rows_interval_table(rows)
        level = ", Medium" if dataset.protocol == "revisited" else ""
        figure = map_bars(intervals, ["map"], title=f"{dataset.name}: mAP (%){level}", intervals=intervals)
        save_figure(figure, plot_path)
    if log_path is not None:
        from ..experiment import append_log, run_record

        settings = {"backbone": backbone_name, "max_side": args.max_side, "scales": list(args.scales),
                    "arguments": {k: v for k, v in vars(args).items() if k != "func"}}
        append_log(log_path, run_record(dataset, rows, settings, note=args.note, command=_command_line()))
    return 0


def _command_line() -> str:
    """This process's command line as it can be typed again: `python -m course_lib evaluate ...` when started
    so (the path of __main__.py left out), else the program's name and its arguments."""
    import shlex
    from pathlib import Path

    program = Path(sys.argv[0])
    if program.name == "__main__.py" and program.parent.name == "course_lib":
        return shlex.join(["python", "-m", "course_lib", *sys.argv[1:]])
    return shlex.join([program.name, *sys.argv[1:]])


def _summary(args, dataset, backbone_name: str, where: str) -> None:
    if not args.quiet:
        print(f"{dataset.summary()} | backbone {backbone_name} | longer side {args.max_side} | {where}",
              file=sys.stderr)


def _network(args, methods):
    """(backbone, methods): the pretrained backbone, or the fine-tuned network of --checkpoint seen as one
    (its conv map for any pooling, its own GeM + whitening as the method 'gem-ft', the default)."""
    from .. import config
    from ..models import load_backbone
    from ..names import DEFAULT_BACKBONE

    device = config.get_device(args.device)
    if not args.checkpoint:
        return load_backbone(args.backbone or DEFAULT_BACKBONE, device=device), methods
    from ..train.checkpoint import load_checkpoint

    net, record = load_checkpoint(args.checkpoint, device=device)
    if args.backbone and args.backbone.lower() != net.backbone_name:
        raise ValueError(f"--backbone {args.backbone}: {args.checkpoint} fine-tuned {net.backbone_name}; "
                         f"drop --backbone")
    if not args.quiet:
        print(f"checkpoint {args.checkpoint}: {net.backbone_name}, trained from {net.train_from}, "
              f"p = {net.p:.3f}, epoch {record.get('epoch')}", file=sys.stderr)
    return net.as_backbone(), args.pooling or [net.DESCRIPTOR_TAP]


def _plain(args, dataset, backbone, methods, rerank) -> list[dict]:
    from ..experiment import run as run_experiment

    return run_experiment(dataset, backbone, methods, max_side=args.max_side, scales=args.scales,
                          progress=not args.quiet, rerank=rerank)


def _reduced(args, dataset, backbone, methods) -> list[dict]:
    """--pca, --whiten, --index: rows carry dims, index, bytes, ms/query (notebook 03)."""
    from ..datasets import load_dataset
    from ..experiment import run_reduced
    from ..transforms import learning_partner

    learn_dataset = None
    if args.pca or args.whiten:
        learn_name = args.learn_on or learning_partner(dataset.name)
        learn_dataset = load_dataset(learn_name, download=not args.no_download, progress=not args.quiet)
        if learn_dataset.name == dataset.name:
            raise ValueError(f"--learn-on {learn_name}: the evaluation set itself; learn on an independent set")
        if not args.quiet:
            print(f"projection learned on {learn_dataset.summary()}", file=sys.stderr)
    rows = run_reduced(dataset, learn_dataset, backbone, methods, dims=args.pca, whiten=args.whiten,
                       power=args.power, index=args.index, nprobe=args.nprobe, max_side=args.max_side,
                       scales=args.scales, progress=not args.quiet)
    for row in rows:
        print(f"{row['method']}: {row['dims']} dims, {row['index']}, {row['bytes_per_vector']} bytes/vector, "
              f"{row['ms_per_query']:.2f} ms/query", file=sys.stderr)
    return rows


def _print_localization(dataset, backbone, max_side: int) -> None:
    """--localize: localize the query in every positive that has a true box (refinement on the conv map,
    detection.localize) and print the mean IoU and the share located at IoU >= 0.5."""
    from ..detection.evaluate import MapStore, compare_localizers, positive_pairs, summarize_localizers

    pairs = positive_pairs(dataset)  # says in one line when the dataset gives no per-positive boxes
    summary = summarize_localizers(compare_localizers(MapStore(dataset, backbone, max_side), pairs, ("refine",)))
    print(f"\nlocalization of the query in {len(pairs)} positives with a true box (refinement on the conv map):")
    print(summary.round(3).to_string())
