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
    query_class[q]: where the dataset gives one (rSfM's 3D model), the class of query q, none of whose
    pool images may be its negative; None: only `forbidden` applies.
    """

    anchors: list[Path]
    positives: list[Path]
    anchor_query: list[int]
    anchor_boxes: list
    pool: list[Path]
    pool_classes: list[int]
    forbidden: list[set[int]]
    query_class: list[int] | None = None

    def __len__(self) -> int:
        return len(self.anchors)

    def sample(self, n: int | None, rng: np.random.Generator) -> list[int]:
        """Pair ids for one epoch: `n` drawn without replacement (all of them, shuffled, if n is None or larger)."""
        order = rng.permutation(len(self))
        return [int(i) for i in (order if n is None else order[:n])]


def tuple_pairs(dataset: RetrievalDataset, pool_classes=None) -> TuplePairs:
    """All (query, positive) pairs of `dataset`; its database is the negative pool.

    pool_classes: one class per database image (default `dataset.extra["image_object"]`, as
    mini-train gives, else every image its own class). `dataset.extra["query_class"]`, where present
    (rSfM), keeps every image of a query's own class out of its negatives.
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
    query_class = dataset.extra.get("query_class")
    return TuplePairs(anchors, positives, anchor_query, anchor_boxes, list(dataset.images),
                      [int(c) for c in pool_classes], forbidden,
                      [int(c) for c in query_class] if query_class is not None else None)


@dataclass
class ObjectViews:
    """Every object's images, for batches of P objects x K views (per-batch triplet sampling, notebook 05).

    views[o]: (path, box) of object o's images: its query (with its box) and every positive.
    image_ids[o]: the database id of each of those images (-1 for the query itself).
    forbidden[o]: database ids that must never be a negative of object o (its positives and junk).
    """

    views: list[list[tuple[Path, tuple | None]]]
    image_ids: list[list[int]]
    forbidden: list[set[int]]

    def __len__(self) -> int:
        return len(self.views)

    def batches(self, objects: int, rng: np.random.Generator) -> list[list[int]]:
        """One epoch of batches: every object once, in a random order, `objects` per batch (the last one
        may be smaller; a last batch of a single object is merged into the one before, as it has no negative)."""
        order = [int(o) for o in rng.permutation(len(self))]
        batches = [order[i:i + objects] for i in range(0, len(order), objects)]
        if len(batches) > 1 and len(batches[-1]) < 2:
            last = batches.pop()
            batches[-1] += last
        return batches

    def batch(self, object_ids: list[int], views: int, rng: np.random.Generator) -> dict:
        """Up to `views` images of each object (drawn without replacement), their labels (object ids), and
        `excluded[i, j]`: True where image j, though made for another object, shows i's object or is junk for it."""
        items, labels, ids = [], [], []
        for o in object_ids:
            pick = rng.choice(len(self.views[o]), size=min(views, len(self.views[o])), replace=False)
            for k in sorted(int(i) for i in pick):
                items.append(self.views[o][k])
                ids.append(self.image_ids[o][k])
                labels.append(o)
        excluded = np.array([[labels[j] != a and ids[j] in self.forbidden[a] for j in range(len(ids))]
                             for a in labels], dtype=bool)
        return {"paths": [p for p, _ in items], "boxes": [b for _, b in items], "labels": np.array(labels),
                "image_ids": ids, "excluded": excluded}


def object_views(dataset: RetrievalDataset) -> ObjectViews:
    """The objects of `dataset` (one per query that has a positive) with their query and positive images."""
    views, image_ids, forbidden = [], [], []
    for q, g in enumerate(dataset.gnd):
        positives = sorted(set(g.get("easy", [])) | set(g.get("hard", [])))
        if not positives:
            continue
        views.append([(dataset.queries[q], dataset.bboxes[q])] + [(dataset.images[i], None) for i in positives])
        image_ids.append([-1] + positives)
        forbidden.append(set(positives) | set(g.get("junk", [])))
    if len(views) < 2:
        raise ValueError(f"{dataset.name}: per-batch sampling needs two objects with positives or more, "
                         f"found {len(views)}")
    return ObjectViews(views, image_ids, forbidden)
