"""Training tuples for siamese / triplet fine-tuning: (query, positive, N negatives) from a RetrievalDataset.

Every query is paired with each of its positives (easy and hard views); negatives come
from a pool (the database) by mining, at most one per class, never a positive or junk image.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import RetrievalDataset


@dataclass
class TuplePairs:
    """Matching pairs and the pool negatives are drawn from.

    anchors[k], positives[k]: the images of pair k (a query and one of its positives).
    anchor_query[k]: which query of the dataset pair k belongs to; anchor_boxes[k]: its query box or None.
    pool: database images negatives are chosen from; pool_classes: one class id per pool image
    (negatives are taken one per class); forbidden[q]: pool ids that must never be a negative of query q.
    """

    anchors: list[Path]
    positives: list[Path]
    anchor_query: list[int]
    anchor_boxes: list
    pool: list[Path]
    pool_classes: list[int]
    forbidden: list[set[int]]

    def __len__(self) -> int:
        return len(self.anchors)

    def sample(self, n: int | None, rng: np.random.Generator) -> list[int]:
        """Pair ids for one epoch: `n` drawn without replacement (all of them, shuffled, if n is None or larger)."""
        order = rng.permutation(len(self))
        return [int(i) for i in (order if n is None else order[:n])]


def tuple_pairs(dataset: RetrievalDataset, pool_classes=None) -> TuplePairs:
    """All (query, positive) pairs of `dataset`; its database is the negative pool.

    pool_classes: one class per database image (default `dataset.extra["image_object"]`, as
    mini-train gives, else every image its own class).
    """
    if pool_classes is None:
        pool_classes = dataset.extra.get("image_object", list(range(len(dataset.images))))
    if len(pool_classes) != len(dataset.images):
        raise ValueError(f"pool_classes has {len(pool_classes)} entries for {len(dataset.images)} database images")
    anchors, positives, anchor_query, anchor_boxes = [], [], [], []
    for q, g in enumerate(dataset.gnd):
        for i in sorted(set(g.get("easy", [])) | set(g.get("hard", []))):
            anchors.append(dataset.queries[q])
            positives.append(dataset.images[i])
            anchor_query.append(q)
            anchor_boxes.append(dataset.bboxes[q])
    if not anchors:
        raise ValueError(f"{dataset.name}: no query has a positive, so there is nothing to train on")
    forbidden = [set(g.get("easy", [])) | set(g.get("hard", [])) | set(g.get("junk", [])) for g in dataset.gnd]
    return TuplePairs(anchors, positives, anchor_query, anchor_boxes, list(dataset.images), [int(c) for c in pool_classes],
                      forbidden)
