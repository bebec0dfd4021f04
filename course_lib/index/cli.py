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


def add_parsers(sub) -> None:
    """The `extract` and `index` subcommands."""
    from ..names import BACKBONES, DEFAULT_BACKBONE, POOLING_NAMES

    ex = sub.add_parser("extract", help="extract a dataset's descriptors into resumable shards (torchrun: shared out)",
                        description="Write a dataset's global descriptors into DIR as shards (shard-NNNNN.npz, each "
                                    "written whole or not at all) plus manifest.json. Run it again after an "
                                    "interruption: finished shards are kept. Under `torchrun --nproc_per_node N "
                                    "-m course_lib extract ...` each process extracts every N-th shard.")
    ex.add_argument("dataset", help="a registered dataset name or a dataset folder")
    ex.add_argument("--out", required=True, metavar="DIR", help="folder for the shards (new, empty, or this "
                    "command's earlier output to finish)")
    ex.add_argument("--pooling", action="append", choices=list(POOLING_NAMES), help="pooling (repeat; default: gem)")
    ex.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=BACKBONES)
    ex.add_argument("--image-size", dest="max_side", type=positive_int, default=512, metavar="N",
                    help="longer image side in pixels (default 512)")
    ex.add_argument("--shard-size", type=positive_int, default=1000, metavar="N", help="images per shard (default 1000)")
    ex.add_argument("--device", help="torch device (default: cuda if available, else cpu; under torchrun each "
                    "process takes the GPU of its local rank)")
    ex.add_argument("--no-download", action="store_true", help="never download; fail if the data is missing")
    ex.add_argument("--quiet", action="store_true", help="no progress lines")
    ex.set_defaults(func=cmd_extract)

    ix = sub.add_parser("index", help="build a faiss index from `extract`'s shards",
                        description="Build a faiss index from a shard folder written by `extract`, one shard in "
                                    "memory at a time, and write it to a file (faiss format).")
    from ..cli import OneLineParser

    actions = ix.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    build = actions.add_parser("build", help="train the index on a sample of the shards, then add every shard")
    build.add_argument("folder", metavar="DIR", help="shard folder written by `extract`")
    build.add_argument("--index", required=True, metavar="FACTORY",
                       help='faiss factory string, e.g. "PCA256,IVF4096,PQ32" or "IVF1024,Flat"')
    build.add_argument("--pooling", default="gem", help="which descriptors of the shards (default gem)")
    build.add_argument("--train", type=positive_int, default=100_000, metavar="N",
                       help="vectors sampled from the shards to train on (default 100000)")
    build.add_argument("--out", required=True, metavar="FILE", help="index file to write")
    build.set_defaults(func=cmd_index_build)


def cmd_extract(args) -> int:
    import os

    from .. import config
    from ..datasets import load_dataset
    from ..models import load_backbone
    from ..train.distributed import init_from_environment
    from .shards import check_output_folder, extract_dataset, world

    if args.max_side < 32:
        raise ValueError(f"--image-size {args.max_side}: must be at least 32 pixels")
    check_output_folder(args.out)  # before any work: a file or someone else's folder is refused
    device = config.get_device(args.device)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        device = config.get_device(f"cuda:{int(os.environ['LOCAL_RANK'])}")
    init_from_environment(device)
    dataset = load_dataset(args.dataset, download=not args.no_download, progress=not args.quiet)
    backbone = load_backbone(args.backbone, device=device)
    rank, world_size = world()
    if rank == 0 and not args.quiet:
        print(f"{dataset.summary()} | backbone {backbone.name} | longer side {args.max_side} | {world_size} "
              f"process(es) | {device}", file=sys.stderr)
    manifest = extract_dataset(dataset, backbone, args.pooling or ["gem"], args.out, shard_size=args.shard_size,
                               max_side=args.max_side, device=device, progress=not args.quiet)
    if rank == 0:
        writers = sorted({shard["rank"] for shard in manifest["shards"]})
        print(f"{args.out}: {manifest['n_images']} images in {len(manifest['shards'])} shards "
              f"(written by rank {', '.join(map(str, writers))}), {', '.join(manifest['methods'])}")
    return 0


def cmd_index_build(args) -> int:
    import time

    import faiss

    from ..cli import _check_output_file
    from ..files import atomic_write
    from . import zoo
    from .shards import build_from_shards, peak_memory_mb

    out = _check_output_file("--out", args.out)  # before the (long) build: a folder, or nowhere to write
    start = time.perf_counter()
    index = build_from_shards(args.folder, args.index, args.pooling, n_train=args.train)
    seconds = time.perf_counter() - start
    data = faiss.serialize_index(index)
    with atomic_write(out) as f:
        f.write(data.tobytes())
    peak = peak_memory_mb()
    print(f"{args.out}: {args.index} over {index.ntotal} vectors, {len(data) / max(index.ntotal, 1):.1f} bytes/vector "
          f"({zoo.code_bytes(index)} bytes of code), built in {seconds:.1f} s, peak memory "
          f"{'unknown' if peak is None else f'{peak:.0f} MB'}")
    return 0
