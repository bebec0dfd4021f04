"""Classification and retrieval as one (Xie, Hong, Zhang, Tian, "Image Classification and Retrieval are
ONE", ICMR 2015): every image is a set of region descriptors in one faiss index; a test image's label is
the vote of its regions' nearest labelled regions, and the same index ranks images for an instance query.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .index import build_index, search
from .pooling import rmac_regions


def region_descriptors(maps: torch.Tensor, L: int = 2) -> np.ndarray:
    """MAC vectors of the R-MAC regions of one (C, H, W) map (whole map included), L2-normalised: (R, C)."""
    _, height, width = maps.shape
    vectors = [maps[:, y:y + h, x:x + w].amax(dim=(1, 2)) for x, y, w, h in rmac_regions(height, width, L)]
    stacked = torch.stack(vectors).double()
    return torch.nn.functional.normalize(stacked, dim=1).float().numpy()


class RegionIndex:
    """All regions of a set of images in one exact faiss index; `owner[i]` is the image of region i."""

    def __init__(self, regions: Sequence[np.ndarray]):
        self.owner = np.concatenate([np.full(len(r), i) for i, r in enumerate(regions)])
        self.n_images = len(regions)
        self.index = build_index(np.concatenate(regions))

    def image_votes(self, regions: np.ndarray, k: int = 10) -> np.ndarray:
        """Each query region's k nearest regions vote with their similarity for the images owning them
        (one vote per image per query region): summed votes per image, (n_images,)."""
        sims, ids = search(self.index, regions, k)
        votes = np.zeros((len(regions), self.n_images))
        for row, (s, i) in enumerate(zip(sims, ids)):
            np.maximum.at(votes[row], self.owner[i], np.maximum(s, 0))
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


def dataset_regions(dataset, backbone, max_side: int = 224, L: int = 2) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Region descriptors of every database image and every query (cropped to its box), cached on disk under
    the kit's cache folder, keyed by the images, the backbone, the size and L."""
    import hashlib
    import json
    import os

    from . import config
    from .features import conv_map, image_tensor
    from .files import save_npz

    spec = [1, backbone.name, max_side, L] + [[os.fspath(p), os.stat(p).st_size, os.stat(p).st_mtime_ns]
                                              for p in [*dataset.images, *dataset.queries]]
    spec.append([None if b is None else [float(v) for v in b] for b in dataset.bboxes])
    key = hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:24]
    path = config.home_dir() / "regions" / f"{dataset.name}-{key}.npz"
    if path.is_file():
        with np.load(path) as stored:
            vectors, counts = stored["vectors"], stored["counts"]
    else:
        with torch.inference_mode():
            found = [region_descriptors(conv_map(backbone, p, max_side=max_side), L) for p in dataset.images]
            found += [region_descriptors(conv_map(backbone, image_tensor(p, max_side, bbox=b)), L)
                      for p, b in zip(dataset.queries, dataset.bboxes)]
        vectors, counts = np.concatenate(found), np.array([len(r) for r in found])
        save_npz(path, vectors=vectors, counts=counts)
    regions = np.split(vectors, np.cumsum(counts)[:-1])
    return regions[:len(dataset.images)], regions[len(dataset.images):]
