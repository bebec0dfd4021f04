"""A labelled stand-in for a million distractor images when none can be downloaded: vectors drawn from a
Gaussian with the mean and covariance (PCA) of real descriptors, L2-normalised. The real descriptors can
be those of random regions of real photos (`random_region_descriptors`): thousands of them give a covariance of
full rank, where a few hundred whole images leave most of a 1280-D space empty.

What it keeps: the dimension, the spread along each principal direction, hence the cost of search and
the behaviour of quantisers on real-like statistics. What it lacks: the clusters, near-duplicates and
bursts of real photo collections, so recall and mAP measured with it are optimistic stand-ins for R1M.
"""
from __future__ import annotations

import numpy as np

from ..transforms import PCA, l2_normalise


def random_windows(height: int, width: int, count: int, rng: np.random.Generator, min_cells: int = 3
                   ) -> list[tuple[int, int, int, int]]:
    """`count` random (top, left, bottom, right) windows of a height x width feature map, each side at least
    min_cells cells (or the whole side when it is shorter)."""
    windows = []
    for _ in range(count):
        h = int(rng.integers(min(min_cells, height), height + 1))
        w = int(rng.integers(min(min_cells, width), width + 1))
        top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        windows.append((top, left, top + h, left + w))
    return windows


def window_gem(fmap, windows, p: float = 3.0, eps: float = 1e-6) -> np.ndarray:
    """(len(windows), C) L2-normalised GeM of each (top, left, bottom, right) window of one (C, H, W) map.

    The GeM of a window is the generalised mean (mean of x^p)^(1/p), which `pooling.box_max_approx` with
    mean=True reads from one integral image of x^p in four look-ups per window, whatever its size."""
    from torch.nn import functional as F

    from ..pooling import box_max_approx, integral_images

    boxes = [(left, top, right - left, bottom - top) for top, left, bottom, right in windows]
    gem = box_max_approx(integral_images(fmap[None].clamp(min=eps), p), boxes, alpha=p, mean=True)[0]
    return F.normalize(gem.float(), dim=1).numpy()


def random_region_descriptors(paths, backbone, per_image: int = 16, max_side: int = 384, seed: int = 0,
                       min_cells: int = 3) -> np.ndarray:
    """(len(paths) * per_image, D) GeM descriptors of random regions of real photos: one forward pass per
    photo, each region pooled from its window of the last conv map (as R-MAC pools its regions).
    Thousands of them give real descriptor statistics at a few hundred forward passes."""
    from ..features import conv_map

    rng = np.random.default_rng(seed)
    rows = []
    for path in paths:
        fmap = conv_map(backbone, path, max_side=max_side)
        rows.append(window_gem(fmap, random_windows(fmap.shape[1], fmap.shape[2], per_image, rng, min_cells)))
    return np.concatenate(rows)


def gaussian_distractors(pca: PCA, n: int, seed: int = 0, chunk: int = 100_000) -> np.ndarray:
    """(n, D) float32 unit vectors with the learning set's mean and covariance (rank `pca.rank`)."""
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}")
    rng = np.random.default_rng(seed)
    out = np.empty((n, pca.input_dim), dtype=np.float32)
    scale = np.sqrt(pca.eigenvalues)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        z = rng.standard_normal((rows, pca.rank)) * scale
        out[start:start + rows] = l2_normalise(pca.mean + z @ pca.components.T)
    return out
