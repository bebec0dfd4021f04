"""`train-detector SOURCE --out DIR`: train the Faster R-CNN of notebook 04 on the offline scenes or on a
student's COCO folder, writing DIR/last.pt + last.json per epoch."""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from ..cli import (MAX_IMAGE_SIDE, add_device_option, add_quiet_option, check_run_folder, positive_int, real_number,
                   whole_number)

# Settings that must match for --resume to continue a run (the number of epochs may grow).
RESUME_KEYS = ("source", "images", "classes", "batch_size", "lr", "seed", "warmup", "steps_per_epoch", "image_size")


def add_parser(sub) -> None:
    td = sub.add_parser("train-detector", help="train the notebook-04 Faster R-CNN on scenes or a COCO folder",
                        description="Train torchvision's Faster R-CNN on the frozen pretrained backbone (notebook 04) "
                                    "and write DIR/last.pt + DIR/last.json after every epoch. SOURCE is 'scenes' (the "
                                    "offline scenes built from real photos) or a COCO folder: images/ and "
                                    "annotations.json with images, annotations ([x, y, width, height] boxes) and "
                                    "categories.")
    td.add_argument("source", metavar="SOURCE", help="'scenes' or a COCO-format folder")
    td.add_argument("--out", required=True, metavar="DIR", help="folder for last.pt and last.json")
    td.add_argument("--epochs", type=positive_int, default=5, help="passes over the training images (default 5)")
    td.add_argument("--resume", action="store_true", help="continue DIR/last.pt up to --epochs")
    td.add_argument("--scenes", type=positive_int, default=96, metavar="N", help="training scenes for SOURCE scenes (default 96)")
    td.add_argument("--held-out", type=whole_number(0), default=32, metavar="N",
                    help="held-out scenes scored with COCO AP after each epoch, for SOURCE scenes (default 32; 0: none)")
    td.add_argument("--val", metavar="DIR", help="a COCO folder scored with COCO AP after each epoch")
    td.add_argument("--batch-size", type=positive_int, default=4, metavar="N", help="images per step (default 4)")
    td.add_argument("--lr", type=real_number(0, 1, above=True), default=0.01,
                    help="SGD learning rate, in (0, 1] (default 0.01)")
    td.add_argument("--image-size", type=whole_number(64, MAX_IMAGE_SIDE, "pixels"), default=320, metavar="N",
                    help=f"longer image side the detector sees, 64 to {MAX_IMAGE_SIDE} (default 320; the shorter at "
                         "most 3/4 of it)")
    td.add_argument("--seed", type=whole_number(0), default=0, help="seed of the weights and the batches (default 0)")
    add_device_option(td)
    add_quiet_option(td)
    td.set_defaults(func=run)


def _load_source(source: str, args):
    """(training scenes, evaluation scenes or [], class names, data description) for SOURCE."""
    from ..detection import scenes as scene_maker
    from ..detection.coco import load_coco_scenes

    if source == "scenes":
        train = scene_maker.make_scenes(args.scenes, "train")
        held_out = scene_maker.make_scenes(args.held_out, "held-out") if args.held_out else []
        return train, held_out, scene_maker.class_names(), {"source": "scenes", "scene_seed": 0}
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise ValueError(f"{source}: neither 'scenes' nor a folder (a COCO folder holds images/ and annotations.json)")
    train, names = load_coco_scenes(folder, args.image_size)
    val = []
    if args.val:
        val, val_names = load_coco_scenes(args.val, args.image_size)
        if val_names != names:
            raise ValueError(f"--val {args.val}: its categories {val_names} differ from {source}'s {names}")
    return train, val, names, {"source": str(folder.resolve())}


def run(args) -> int:
    import torch

    from .. import config
    from ..train.checkpoint import CheckpointError
    from ..detection.checkpoint import load_detector, save_detector
    from ..detection.average_precision import coco_ap
    from ..detection.detector import DetectorDiverged, build_detector, detect, make_optimizer, train_detector

    if args.val and args.source == "scenes":
        raise ValueError("--val: SOURCE scenes is scored on its own held-out scenes (see --held-out)")
    checkpoint = check_run_folder("--out", args.out, args.resume) / "last.pt"
    if args.resume and not checkpoint.exists():
        raise ValueError(f"--resume: {checkpoint} does not exist; start without --resume")
    config.writable_home()
    device = config.get_device(args.device)
    train, evaluation, names, data = _load_source(args.source, args)
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    settings = {**data, "images": len(train), "classes": names, "batch_size": args.batch_size, "lr": args.lr,
                "seed": args.seed, "warmup": min(200, steps_per_epoch), "steps_per_epoch": steps_per_epoch,
                "image_size": args.image_size}
    history, done, saved = [], 0, {}
    if args.resume:
        model, record, saved = load_detector(checkpoint)
        changed = [k for k in RESUME_KEYS if record.get("settings", {}).get(k) != settings[k]]
        if changed:
            raise CheckpointError(f"--resume: {checkpoint} was trained with other settings ({', '.join(changed)}); "
                                  f"use the same ones or another --out folder")
        done, history = int(record["epoch"]), list(record.get("history", []))
        if done >= args.epochs:
            print(f"{checkpoint} already has {done} epoch(s); nothing to do (raise --epochs to continue)")
            return 0
    else:
        torch.manual_seed(args.seed)
        model = build_detector(len(names) + 1, min_size=round(0.75 * args.image_size), max_size=args.image_size)
    optimizer = make_optimizer(model, args.lr)
    if saved.get("optimizer") is not None:
        optimizer.load_state_dict(saved["optimizer"])
    if saved.get("rng") is not None:
        torch.set_rng_state(saved["rng"])  # the box samplers then draw what an uninterrupted run would
    if not args.quiet:
        print(f"train-detector: {len(train)} images of {len(names)} classes ({data['source']}), "
              f"{len(evaluation)} scored | {steps_per_epoch} steps of {args.batch_size} per epoch | {device}",
              file=sys.stderr)
    for epoch in range(done + 1, args.epochs + 1):
        start = time.perf_counter()
        try:
            steps = train_detector(model, train, epoch * steps_per_epoch, args.batch_size, args.lr, args.seed,
                                   not args.quiet, device, first_step=(epoch - 1) * steps_per_epoch,
                                   warmup=settings["warmup"], optimizer=optimizer,
                                   description=f"epoch {epoch}/{args.epochs}")
        except DetectorDiverged as err:
            kept = (f"the checkpoint of epoch {epoch - 1} in {checkpoint} is kept" if checkpoint.exists()
                    else "no checkpoint was written")
            raise DetectorDiverged(f"epoch {epoch}: {err} ({kept})") from None
        rng = torch.get_rng_state()
        row = {"epoch": epoch, "loss": sum(s["total"] for s in steps) / len(steps),
               "seconds": time.perf_counter() - start}
        if evaluation:
            found = detect(model, [s.tensor().to(device) for s in evaluation])
            scores = coco_ap(evaluation, found, names)
            row.update({"AP@0.5": scores["AP@0.5"], "AP@[.5:.95]": scores["AP@[.5:.95]"]})
        history.append(row)
        torch.set_rng_state(rng)  # scoring draws nothing the next epoch would see, with or without --resume
        model.cpu()
        save_detector(checkpoint, model, names, {"settings": settings, "epoch": epoch,
                                                 "step": epoch * steps_per_epoch, "history": history},
                      optimizer.state_dict(), rng)
        model.to(device)
    print("epoch  loss    AP@0.5  AP@[.5:.95]")
    for row in history:
        ap = (f"{100 * row['AP@0.5']:6.1f}  {100 * row['AP@[.5:.95]']:6.1f}" if "AP@0.5" in row else
              "     -       -")
        print(f"{row['epoch']:>5}  {row['loss']:.4f}  {ap}")
    print(f"checkpoint: {checkpoint}")
    return 0
