"""Region-based search: describe regions of every database image (RoI Align on the conv map + max-pooling),
index all regional descriptors with faiss, and answer a query by its best region: the image and the box."""
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


def build_region_index(maps_of, image_sizes, ids, L: int = 3) -> RegionIndex:
    """Regions of the database images `ids`; `maps_of(i)` gives image i's (C, H, W) map."""
    vectors, owners, all_boxes = [], [], []
    for i in ids:
        maps = maps_of(i)
        regions = propose_regions(tuple(maps.shape[-2:]), image_sizes[i], L)
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
