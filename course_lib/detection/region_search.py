"""Region-based search: describe regions of every database image (RoI Align on the conv map + max-pooling),
index all regional descriptors with faiss, and answer a query by its best region: the image and the box.

The regions are proposed in one of two ways: the R-MAC grid (fixed, the same for every image), or the boxes
a trained detector finds (`detector_boxes`: what Faster R-CNN thinks is an object, whatever its class), each
with the whole image besides, so an image without detections can still be found."""
from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import torch
from torch.nn import functional as F
from torchvision import ops

from ..pooling import rmac_regions
from .localize import cells_to_box


@dataclass
class RegionIndex:
    """All regions of a database: faiss inner-product index, the image each region belongs to, its box."""

    index: faiss.Index
    owners: np.ndarray      # (R,) database id of each region
    boxes: np.ndarray       # (R, 4) x1, y1, x2, y2 in pixels of the image file

    def __len__(self) -> int:
        return len(self.owners)


def propose_regions(map_size: tuple[int, int], image_size: tuple[int, int], L: int = 3) -> np.ndarray:
    """Candidate regions of one image: the R-MAC grid of scales 1..L and the whole image, in pixels."""
    return np.array([cells_to_box(r, map_size, image_size) for r in rmac_regions(*map_size, L)], dtype=np.float64)


def describe_regions(maps: torch.Tensor, regions: np.ndarray, image_size: tuple[int, int],
                     output_size: int = 3) -> np.ndarray:
    """L2-normalised max-pooled descriptor of each region: RoI Align of the (C, H, W) map to an
    output_size x output_size grid, then the max over the grid. Returns (R, C) float32."""
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
    from ..features import image_tensor
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
    vectors, owners, all_boxes = [], [], []
    for i in ids:
        maps = maps_of(i)
        if proposals is None:
            regions = propose_regions(tuple(maps.shape[-2:]), image_sizes[i], L)
        else:
            width, height = image_sizes[i]
            regions = np.concatenate([[[0.0, 0.0, float(width), float(height)]],
                                      np.asarray(proposals(i), dtype=np.float64).reshape(-1, 4)])
        vectors.append(describe_regions(maps, regions, image_sizes[i]))
        owners += [i] * len(regions)
        all_boxes.append(regions)
    data = np.ascontiguousarray(np.concatenate(vectors), dtype=np.float32)
    index = faiss.IndexFlatIP(data.shape[1])
    index.add(data)
    return RegionIndex(index, np.asarray(owners, dtype=np.int64), np.concatenate(all_boxes))


def search_regions(regions: RegionIndex, query: np.ndarray, k: int | None = None) -> list[tuple[int, float, tuple]]:
    """Images ranked by their best region's similarity to the (D,) query: (image id, score, box), best first."""
    query = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
    scores, hits = regions.index.search(query, len(regions))
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
