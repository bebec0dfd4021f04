"""Localization and detection cost, measured in one run on this machine.

1. Exhaustive box search vs greedy refinement (course_lib.detection.localize) on mini's positive
   views: boxes scored, milliseconds per image, boxes per second, mean IoU with the true box, and
   the ratios. Target of issue 12: refinement scores >= 10x fewer boxes at <= 0.05 lower mean IoU.
2. R-CNN-style vs Fast R-CNN-style vs Faster R-CNN cost per image on one scene, same backbone and
   head (course_lib.detection.speed). Target: Fast-style >= 10x R-CNN-style for 300 proposals.

    python benchmarks/localize.py
    python benchmarks/localize.py --pairs-per-query 0 --rcnn-timed 300     # all pairs, R-CNN fully timed
"""
from __future__ import annotations

import argparse

import torch

from course_lib.datasets import load_dataset
from course_lib.detection import boxes, detector, evaluate, scenes, speed
from course_lib.models import load_backbone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs-per-query", type=int, default=2, help="positives per query (0: all)")
    parser.add_argument("--proposals", type=int, default=300)
    parser.add_argument("--rcnn-timed", type=int, default=30, help="R-CNN crops run; time scaled to --proposals")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    dataset = load_dataset("mini")
    maps = evaluate.MapStore(dataset, load_backbone())
    pairs = evaluate.positive_pairs(dataset, per_query=args.pairs_per_query or None)
    for q, i, _ in pairs:   # conv maps first, so that only the box search is timed below
        maps.query(q), maps.image(i)
    table = evaluate.compare_localizers(maps, pairs)
    summary = evaluate.summarize_localizers(table)
    summary["boxes per second"] = summary["boxes scored"] / (summary["ms per image"] / 1000)
    print(f"\n1. localization on {len(pairs)} (query, positive view) pairs of mini (cached results are reused)")
    print(summary.round(3).to_string())
    ex, re = summary.loc["exhaustive"], summary.loc["refine"]
    print(f"refine scores {ex['boxes scored'] / re['boxes scored']:.1f}x fewer boxes, is "
          f"{ex['ms per image'] / re['ms per image']:.1f}x faster, mean IoU {re['mean IoU'] - ex['mean IoU']:+.3f}")

    scene = scenes.make_scenes(1, "held-out")[0]
    model = detector.build_detector(len(scenes.CLASSES) + 1).eval()
    image = scene.tensor()
    height, width = image.shape[-2:]
    grid = boxes.clip_boxes(boxes.anchor_grid((height // 16, width // 16), 16, (48, 96, 160), (0.5, 1.0, 2.0)),
                            width, height)
    proposals = grid[torch.linspace(0, len(grid) - 1, args.proposals).round().long()].float()
    costs = speed.pipeline_costs(model, image, proposals, rcnn_proposals=args.rcnn_timed, repeats=args.repeats)
    print(f"\n2. cost per image, one {width}x{height} scene, {args.proposals} proposals (weights untrained: cost only)")
    print(costs.round(4).to_string())


if __name__ == "__main__":
    main()
