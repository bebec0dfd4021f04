"""`train DATASET --out DIR`: fine-tune a retrieval network on tuples and write a checkpoint per epoch."""
from __future__ import annotations

import sys

from ..cli import (add_device_option, add_image_size_option, add_quiet_option, check_run_folder, positive_int,
                   real_number, whole_number)


def add_parser(sub) -> None:
    from ..names import LOSS_NAMES, SAMPLER_NAMES

    tr = sub.add_parser("train", help="fine-tune a retrieval network (GeM, contrastive or triplet loss)",
                        description="Fine-tune the top of a pretrained network on (query, positive, negatives) "
                                    "tuples; print the loss and validation mAP per epoch; write DIR/last.pt "
                                    "(+ last.json) after every epoch.")
    tr.add_argument("dataset", help="training data: mini-train (offline), or a dataset folder with positives "
                                    "(then --val names the validation folder)")
    tr.add_argument("--val", help="validation dataset (default: mini-train's own validation photos)")
    tr.add_argument("--out", required=True, metavar="DIR", help="folder for last.pt and last.json")
    tr.add_argument("--epochs", type=positive_int, default=5, help="passes over the training tuples (default 5)")
    tr.add_argument("--loss", choices=LOSS_NAMES, help="default: contrastive, or triplet with --sampler")
    tr.add_argument("--margin", type=real_number(0, above=True),
                    help="loss margin, greater than 0 (default 0.7 contrastive, 0.1 triplet)")
    tr.add_argument("--mining", choices=["hard", "random"], default="hard",
                    help="negatives of each tuple: the closest non-matching images (hard) or any (default hard)")
    tr.add_argument("--negatives", type=positive_int, default=5, help="negatives per tuple (default 5)")
    tr.add_argument("--sampler", choices=SAMPLER_NAMES, help="per-batch triplet sampling instead of tuples mined "
                    "once per epoch: batches of --objects x --views images, each pair's negative picked inside the "
                    "batch")
    tr.add_argument("--objects", type=whole_number(2), default=8, metavar="P",
                    help="objects per batch with --sampler, at least 2 (default 8)")
    tr.add_argument("--views", type=whole_number(2), default=4, metavar="K",
                    help="views per object with --sampler, its query crop included, at least 2 (default 4)")
    tr.add_argument("--tuples", type=positive_int, metavar="N", help="tuples per epoch (default: every pair once)")
    tr.add_argument("--lr", type=real_number(0, 1, above=True), default=1e-3,
                    help="Adam learning rate, in (0, 1] (GeM p gets 10x; default 0.001)")
    add_image_size_option(tr, 320)
    tr.add_argument("--train-from", help="first trained stage of the backbone (default: only its last)")
    tr.add_argument("--whitening-dim", type=whole_number(1, 65536), metavar="D",
                    help="learn a whitening layer of this size end to end")
    tr.add_argument("--seed", type=whole_number(0), default=0, help="seed of mining, sampling and shuffling (default 0)")
    tr.add_argument("--resume", action="store_true", help="continue from DIR/last.pt")
    add_device_option(tr)
    add_quiet_option(tr, "no progress bars")
    tr.set_defaults(func=run)


def run(args) -> int:
    from .. import config
    from ..datasets import load_dataset, mini_train
    from ..train import distributed
    from ..train.loop import TrainSettings, train

    out = check_run_folder("--out", args.out, args.resume)
    loss = args.loss or ("triplet" if args.sampler else "contrastive")
    if args.sampler and loss != "triplet":
        raise ValueError(f"--sampler {args.sampler} trains the triplet loss; drop --loss {loss} or use --loss triplet")
    settings = TrainSettings(loss=loss, margin=args.margin, epochs=args.epochs, mining=args.mining,
                             negatives=args.negatives, tuples_per_epoch=args.tuples, lr=args.lr,
                             max_side=args.max_side, train_from=args.train_from,
                             whitening_dim=args.whitening_dim, seed=args.seed, sampler=args.sampler,
                             objects_per_batch=args.objects, views_per_object=args.views)
    data = load_dataset(args.dataset)
    if args.val is not None:
        train_set, val_set = data, load_dataset(args.val)
    elif data.name == "mini-train":
        train_set, val_set = mini_train.split(data, "train"), mini_train.split(data, "val")
    elif data.name == "rsfm120k":
        from ..datasets import rsfm

        train_set, val_set = rsfm.split(data, "train"), rsfm.split(data, "val")
    else:
        raise ValueError(f"{args.dataset}: give a validation dataset with --val")
    device = distributed.local_device(config.get_device(args.device))
    if distributed.init_from_environment(device) and distributed.world()[0] > 0:
        args.quiet = True  # under torchrun, only the first process reports
    choice = (f"{settings.sampler} sampling in batches of {settings.objects_per_batch} x {settings.views_per_object}"
              if settings.sampler else f"{settings.mining} negatives")
    rank, size = distributed.world()
    if rank == 0:
        print(f"train {train_set.summary()} | val {val_set.summary()} | {settings.loss} loss, {choice} | {device}"
              + (f" | {size} processes" if size > 1 else ""), file=sys.stderr)
    try:
        result = train(train_set, val_set, settings, out_dir=out, resume=args.resume, progress=not args.quiet,
                       device=device, data_name=args.dataset)
    finally:
        distributed.finish()
    if rank > 0:
        return 0
    print("epoch  loss     val mAP  p" + ("      zero-loss triplets" if settings.sampler else ""))
    for row in result.history:
        loss = "   -   " if row["loss"] is None else f"{row['loss']:.4f}"
        satisfied = "" if row.get("satisfied") is None else f"  {100 * row['satisfied']:5.1f}%"
        print(f"{row['epoch']:>5}  {loss:<7}  {100 * row['val_map']:6.2f}  {row['p']:.3f}{satisfied}")
    print(f"checkpoint: {result.checkpoint}")
    return 0
