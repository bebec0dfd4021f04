"""`extract DATASET --out DIR`: a dataset's descriptors into resumable shards (shared out under torchrun)."""
from __future__ import annotations

import os
import sys

from ..cli import add_device_option, add_image_size_option, add_no_download_option, add_quiet_option, positive_int


def add_parser(sub) -> None:
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
    ex.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=BACKBONES,
                    help=f"pretrained network (default {DEFAULT_BACKBONE})")
    add_image_size_option(ex, 512)
    ex.add_argument("--shard-size", type=positive_int, default=1000, metavar="N", help="images per shard (default 1000)")
    add_device_option(ex, "; under torchrun each process takes the GPU of its local rank")
    add_no_download_option(ex)
    add_quiet_option(ex, "no progress lines")
    ex.set_defaults(func=run)


def run(args) -> int:
    from .. import config
    from ..datasets import load_dataset
    from ..index.shards import check_output_folder, extract_dataset, world
    from ..models import load_backbone
    from ..train.distributed import init_from_environment

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
