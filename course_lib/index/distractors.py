"""A labelled stand-in for a million distractor images when none can be downloaded: vectors drawn from a
Gaussian with the mean and covariance (PCA) of real descriptors, L2-normalised.

What it keeps: the dimension, the spread along each principal direction, hence the cost of search and
the behaviour of quantisers on real-like statistics. What it lacks: the clusters, near-duplicates and
bursts of real photo collections, so recall and mAP measured with it are optimistic stand-ins for R1M.
"""
from __future__ import annotations

import numpy as np

from ..transforms import PCA, l2_normalise


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
