"""Command-line pieces of notebook 03: `evaluate` options for PCA, whitening and faiss indexes, and the
`extract` subcommand (sharded, resumable descriptor extraction)."""
from __future__ import annotations

import sys


def positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of at least 1")
    return value


def add_evaluate_options(parser) -> None:
    """--pca D, --whiten, --power P, --learn-on DATASET, --index FACTORY, --nprobe N on `evaluate`."""
    parser.add_argument("--pca", type=positive_int, metavar="D", help="project to D dimensions with PCA learned "
                        "on --learn-on, then L2-normalise again")
    parser.add_argument("--whiten", action="store_true", help="PCA-whitening (with --pca: D dims; without: all)")
    parser.add_argument("--power", type=float, default=1.0, metavar="P",
                        help="whitening power on the eigenvalues, 0..1 (1: full whitening, 0.5: Jegou & Chum's softer "
                             "variant; default 1)")
    parser.add_argument("--learn-on", metavar="DATASET", help="dataset to learn the projection on (default: the "
                        "dataset's independent partner: mini -> mini-train, roxford5k <-> rparis6k, oxford5k <-> paris6k)")
    parser.add_argument("--index", metavar="FACTORY", help='search with a faiss index from a factory string, '
                        'e.g. "IVF64,PQ16" or "HNSW32" (default: exact search)')
    parser.add_argument("--nprobe", type=positive_int, metavar="N", help="IVF lists visited per query (with --index)")


def evaluate_reduced(args, dataset, backbone, methods) -> list[dict]:
    """cmd_evaluate's path when --pca, --whiten or --index is given; rows carry dims, index, bytes, ms/query."""
    from ..datasets import load_dataset
    from ..experiment import run_reduced
    from ..transforms import learning_partner

    if args.nprobe and not args.index:
        raise ValueError("--nprobe: only with --index (an IVF index)")
    if not 0 <= args.power <= 1:
        raise ValueError(f"--power {args.power}: must be between 0 and 1")
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
