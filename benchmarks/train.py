"""Training throughput on the offline setting: tuples per second, the share of time spent mining hard
negatives vs optimising, mining by faiss search vs a torch matmul, and per-batch triplet sampling
(the share of its steps spent choosing negatives inside the batch), measured in one run.

    python benchmarks/train.py [--epochs 2] [--tuples 60]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from course_lib.datasets import load_dataset, mini_train
from course_lib.models import load_backbone
from course_lib.train import TrainSettings, train
from course_lib.train.frozen import FrozenMaps
from course_lib.train.mining import hard_negatives, similarities_faiss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--tuples", type=int, default=60)
    parser.add_argument("--image-size", type=int, default=320)
    args = parser.parse_args()

    data = load_dataset("mini-train")
    train_set, val_set = mini_train.split(data, "train"), mini_train.split(data, "val")
    backbone = load_backbone()
    settings = TrainSettings(epochs=args.epochs, tuples_per_epoch=args.tuples, max_side=args.image_size, lr=1e-3)
    result = train(train_set, val_set, settings, backbone=backbone, progress=False)
    rows = result.history[1:]
    mining = sum(r["mining_s"] for r in rows)
    steps = sum(r["step_s"] for r in rows)
    tuples = args.tuples * len(rows)
    print(f"{tuples} tuples of 1 + 1 + {settings.negatives} images in {mining + steps:.1f} s: "
          f"{tuples / (mining + steps):.1f} tuples/s (trunk maps cached)")
    print(f"time share: mining {100 * mining / (mining + steps):.0f}%, optimisation steps "
          f"{100 * steps / (mining + steps):.0f}%")

    for sampler in ("semi-hard", "distance-weighted"):
        sampled = TrainSettings(loss="triplet", sampler=sampler, epochs=args.epochs, max_side=args.image_size,
                                lr=1e-3, objects_per_batch=4, views_per_object=4)
        rows = train(train_set, val_set, sampled, backbone=backbone, progress=False).history[1:]
        sampling = sum(r["mining_s"] for r in rows)
        steps = sum(r["step_s"] for r in rows)
        triplets = sum(r["triplets"] for r in rows)
        print(f"per-batch {sampler} sampling, batches of 4 x 4 images: {triplets} triplets in {sampling + steps:.1f} s "
              f"({triplets / (sampling + steps):.0f} triplets/s); choosing negatives "
              f"{100 * sampling / (sampling + steps):.1f}% of the time")

    maps = FrozenMaps(result.net, args.image_size)
    pool = maps.describe(train_set.images).numpy()
    queries = maps.describe(train_set.queries).numpy()
    forbidden = [set(g["easy"]) | set(g["hard"]) | set(g["junk"]) for g in train_set.gnd]
    classes = train_set.extra["image_object"]
    timings = {}
    for name, similarity in (("torch matmul", lambda: (torch.from_numpy(queries) @ torch.from_numpy(pool).T).numpy()),
                             ("faiss flat search", lambda: similarities_faiss(queries, pool))):
        start = time.perf_counter()
        for _ in range(20):
            chosen = hard_negatives(similarity(), forbidden, classes, settings.negatives)
        timings[name] = (time.perf_counter() - start) / 20
        print(f"mining with {name:<18} {1000 * timings[name]:.2f} ms per round "
              f"({len(queries)} queries x {len(pool)} pool images)")
    print(f"faiss / matmul time ratio: {timings['faiss flat search'] / timings['torch matmul']:.2f}")
    assert np.all([len(c) == settings.negatives for c in chosen])


if __name__ == "__main__":
    main()
