"""Search by regions: every region of every database image in one faiss index (`RegionIndex`), a query answered
by its best region (the image and the box) or by the votes of its own regions' nearest regions.

Two descriptions of regions: `rmac_region_macs`, the exact MAC of each R-MAC grid region of a conv map (the
votes of Xie, Hong, Zhang, Tian, "Image Classification and Retrieval are ONE", ICMR 2015: a test image's label
is the vote of its regions' nearest labelled regions, and the same index ranks images for an instance query);
and `pixel_box_macs`, the max over a RoI Align of boxes given in pixels, proposed either by the R-MAC grid
(fixed, the same for every image) or by a trained detector (`detector_boxes`: what Faster R-CNN thinks is an
object, whatever its class), each with the whole image besides, so an image without detections can still be found.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F
from torchvision import ops

from ..cache import ARRAYS, cache_folder, content_key, dataset_spec, expect, read_or_compute
from ..features import conv_map, image_tensor
from ..index import build_index, search
from ..pooling import regional_max, rmac_regions
from .localize import cells_to_box

REGIONS_VERSION = 2  # 2: images keyed by their content, not their size and time


class RegionIndex:
    """All regions of a set of images in one exact inner-product faiss index: region r belongs to image
    `owners[r]` and, when the regions came with boxes, covers `boxes[r]` (x1, y1, x2, y2 in image pixels)."""

    def __init__(self, regions: Sequence[np.ndarray], boxes: Sequence[np.ndarray] | None = None,
                 ids: Sequence[int] | None = None):
        """regions: one (R_i, D) array of unit descriptors per image; boxes: one (R_i, 4) array per image;
        ids: the images' ids (default 0, 1, 2, ...)."""
        ids = list(range(len(regions)) if ids is None else ids)
        self.owners = np.concatenate([np.full(len(r), i, dtype=np.int64) for i, r in zip(ids, regions)])
        self.n_images = max(ids, default=-1) + 1
        self.boxes = None if boxes is None else np.concatenate(boxes)
        self.index = build_index(np.concatenate(regions))

    def __len__(self) -> int:
        return len(self.owners)

    def image_votes(self, regions: np.ndarray, k: int = 10) -> np.ndarray:
        """Each query region's k nearest regions vote with their similarity for the images owning them
        (one vote per image per query region): summed votes per image, (n_images,)."""
        sims, ids = search(self.index, regions, k)
        votes = np.zeros((len(regions), self.n_images))
        for row, (s, i) in enumerate(zip(sims, ids)):
            np.maximum.at(votes[row], self.owners[i], np.maximum(s, 0))
        return votes.sum(axis=0)

    def classify(self, regions: np.ndarray, labels: Sequence, k: int = 10):
        """The label whose images collect the most votes from this image's regions."""
        labels = np.asarray(labels)
        votes = self.image_votes(regions, k)
        classes = np.unique(labels)
        return classes[np.argmax([votes[labels == c].sum() for c in classes])]

    def rank(self, regions: np.ndarray, k: int = 10) -> np.ndarray:
        """Images best first by their votes (ties by image id): an instance search over regions."""
        return np.argsort(-self.image_votes(regions, k), kind="stable")


def rmac_region_macs(maps: torch.Tensor, L: int = 2) -> np.ndarray:
    """The exact MAC of each R-MAC region of one (C, H, W) map (whole map included), L2-normalised: (R, C)."""
    macs = regional_max(maps[None], rmac_regions(maps.shape[-2], maps.shape[-1], L))[0]
    return F.normalize(macs.double(), dim=1).float().numpy()


def propose_regions(map_size: tuple[int, int], image_size: tuple[int, int], L: int = 3) -> np.ndarray:
    """Candidate regions of one image: the R-MAC grid of scales 1..L and the whole image, in pixels."""
    return np.array([cells_to_box(r, map_size, image_size) for r in rmac_regions(*map_size, L)], dtype=np.float64)


def pixel_box_macs(maps: torch.Tensor, regions: np.ndarray, image_size: tuple[int, int],
                   output_size: int = 3) -> np.ndarray:
    """L2-normalised max-pooled descriptor of each box in pixels of the image: RoI Align of the (C, H, W) map
    to an output_size x output_size grid, then the max over the grid (an approximate MAC). Returns (R, C)."""
    scale = maps.shape[-1] / image_size[0]
    boxes = torch.as_tensor(regions, dtype=maps.dtype)
    aligned = ops.roi_align(maps[None], [boxes], output_size=output_size, spatial_scale=scale, sampling_ratio=2,
                            aligned=True)
    return F.normalize(aligned.amax(dim=(-2, -1)), dim=1).float().numpy()


def detector_boxes(model, image_path, max_side: int | None = 512, score_threshold: float = 0.05,
                   max_boxes: int = 20, nms_iou: float = 0.5) -> np.ndarray:
    """(R, 4) boxes that a trained detector finds in one image, in pixels of the image file, best first.

    Class-agnostic: the detections of every class go through one more non-maximum suppression (two classes
    claiming the same object give one region), and the `max_boxes` best are kept. The detector sees the
    image with its longer side at most `max_side` (it resizes again on its own); boxes are scaled back.
    """
    from ..images import image_size
    from .detector import detect

    width, height = image_size(image_path)
    image = image_tensor(image_path, max_side)
    found = detect(model, [image.to(next(model.parameters()).device)], score_threshold)[0]
    keep = ops.nms(found["boxes"].float(), found["scores"].float(), nms_iou)[:max_boxes]
    scale = torch.tensor([width / image.shape[2], height / image.shape[1]] * 2)
    boxes = found["boxes"][keep].float().cpu() * scale
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    return boxes.double().numpy()


def build_region_index(maps_of, image_sizes, ids, L: int = 3, proposals=None) -> RegionIndex:
    """Regions of the database images `ids`; `maps_of(i)` gives image i's (C, H, W) map.

    proposals: None for the R-MAC grid of scales 1..L, or a function giving image i's boxes in pixels
    (`detector_boxes`), to which the whole image is added."""
    ids = list(ids)
    vectors, all_boxes = [], []
    for i in ids:
        maps = maps_of(i)
        if proposals is None:
            regions = propose_regions(tuple(maps.shape[-2:]), image_sizes[i], L)
        else:
            width, height = image_sizes[i]
            regions = np.concatenate([[[0.0, 0.0, float(width), float(height)]],
                                      np.asarray(proposals(i), dtype=np.float64).reshape(-1, 4)])
        vectors.append(pixel_box_macs(maps, regions, image_sizes[i]))
        all_boxes.append(regions)
    return RegionIndex(vectors, all_boxes, ids)


def search_regions(regions: RegionIndex, query: np.ndarray, k: int | None = None) -> list[tuple[int, float, tuple]]:
    """Images ranked by their best region's similarity to the (D,) query: (image id, score, box), best first."""
    scores, hits = search(regions.index, np.reshape(query, (1, -1)))
    results, seen = [], set()
    for score, hit in zip(scores[0], hits[0]):
        owner = int(regions.owners[hit])
        if owner not in seen:
            seen.add(owner)
            results.append((owner, float(score), tuple(float(v) for v in regions.boxes[hit])))
            if k is not None and len(results) == k:
                break
    return results


def region_ranking(regions: RegionIndex, queries: np.ndarray, n_database: int) -> tuple[np.ndarray, list[dict]]:
    """Rank every database image for each query by its best region: ranks (n_database, n_queries) as the
    evaluation expects, and per query {image id: best region's box}. Images without regions come last."""
    ranks = np.zeros((n_database, len(queries)), dtype=np.int64)
    best_boxes = []
    for q, vector in enumerate(queries):
        results = search_regions(regions, vector)
        order = [i for i, _, _ in results]
        missing = sorted(set(range(n_database)) - set(order))
        ranks[:, q] = order + missing
        best_boxes.append({i: box for i, _, box in results})
    return ranks, best_boxes


def located_share(dataset, best_boxes: list[dict], threshold: float = 0.5) -> tuple[float, int]:
    """Share of (query, positive with a true box) whose best region has IoU >= threshold with it, and their number."""
    from .boxes import paired_iou

    found, truth = [], []
    for q, boxes in enumerate(best_boxes):
        for i, true_box in (dataset.positive_boxes[q] if dataset.positive_boxes else {}).items():
            found.append(boxes[i])
            truth.append(true_box)
    if not found:
        return float("nan"), 0
    return float((paired_iou(found, truth) >= threshold).mean()), len(found)


def dataset_regions(dataset, backbone, max_side: int = 224, L: int = 2) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """`rmac_region_macs` of every database image and every query (cropped to its box), cached in the "regions"
    cache folder, keyed by the images' contents, the backbone, the size and L."""
    spec = {"version": REGIONS_VERSION, "backbone": backbone.name, "max_side": max_side, "L": L,
            **dataset_spec(dataset)}
    path = cache_folder("regions") / f"{dataset.name}-{content_key(spec, 24)}{ARRAYS.suffix}"
    n_images = len(dataset.images) + len(dataset.queries)

    def compute() -> dict[str, np.ndarray]:
        found = [rmac_region_macs(conv_map(backbone, p, max_side=max_side), L) for p in dataset.images]
        found += [rmac_region_macs(conv_map(backbone, p, max_side=max_side, bbox=b), L)
                  for p, b in zip(dataset.queries, dataset.bboxes)]
        return {"vectors": np.concatenate(found), "counts": np.array([len(r) for r in found])}

    def check(stored) -> None:
        vectors, counts = stored["vectors"], stored["counts"]
        expect(vectors.ndim == 2 and counts.shape == (n_images,) and counts.sum() == len(vectors),
               f"{len(vectors)} vectors in {counts.shape} counts, expected counts for {n_images} images")

    stored = read_or_compute(path, compute, ARRAYS, check, "region cache entry")
    regions = np.split(stored["vectors"], np.cumsum(stored["counts"])[:-1])
    return regions[:len(dataset.images)], regions[len(dataset.images):]
