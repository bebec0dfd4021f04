"""`index build DIR --index FACTORY --out FILE`: a faiss index from `extract`'s shards, one shard in memory."""
from __future__ import annotations

import time

from ..cli import OneLineParser, check_output_file, positive_int


def add_parser(sub) -> None:
    ix = sub.add_parser("index", help="build a faiss index from `extract`'s shards",
                        description="Build a faiss index from a shard folder written by `extract`, one shard in "
                                    "memory at a time, and write it to a file (faiss format).")
    actions = ix.add_subparsers(dest="action", required=True, parser_class=OneLineParser, metavar="ACTION",
                                help="build: a faiss index from the shards")
    build = actions.add_parser("build", help="train the index on a sample of the shards, then add every shard")
    build.add_argument("folder", metavar="DIR", help="shard folder written by `extract`")
    build.add_argument("--index", required=True, metavar="FACTORY",
                       help='faiss factory string, e.g. "PCA256,IVF4096,PQ32" or "IVF1024,Flat"')
    build.add_argument("--pooling", default="gem", help="which descriptors of the shards (default gem)")
    build.add_argument("--train", type=positive_int, default=100_000, metavar="N",
                       help="vectors sampled from the shards to train on (default 100000)")
    build.add_argument("--out", required=True, metavar="FILE", help="index file to write")
    build.set_defaults(func=run)


def run(args) -> int:
    import faiss

    from ..files import atomic_write
    from ..index import zoo
    from ..index.shards import build_from_shards, peak_memory_mb

    out = check_output_file("--out", args.out)  # before the (long) build: a folder, or nowhere to write
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
