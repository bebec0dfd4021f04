"""k-nearest-neighbour graphs with faiss, the building block of DBA, k-reciprocal re-ranking and diffusion.

Only the k best neighbours of each item are ever stored: (n, k) arrays, never an n x n matrix.
"""
from __future__ import annotations

import numpy as np

from ..index import build_index, search


def knn_graph(db: np.ndarray, k: int, include_self: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Each database item's k nearest database items by inner product: (similarities, ids), each (n, k).

    With include_self the item itself is its own first neighbour (as DBA and k-reciprocal count it);
    without, it is dropped and the k others are kept. k is capped at what the database holds.
    """
    n = len(db)
    extra = 0 if include_self else 1
    k = min(k, n - extra)
    sims, ids = search(build_index(db), db, k + extra)
    if include_self:
        return sims, ids
    # The item is usually first, but exact ties (duplicates) may place it later: drop it wherever it is.
    keep = ids != np.arange(n)[:, None]
    too_many = keep.sum(axis=1) > k
    keep[too_many, -1] = False
    return sims[keep].reshape(n, k), ids[keep].reshape(n, k)


def top_of_ranks(ranks: np.ndarray, k: int) -> np.ndarray:
    """The first k database ids of every query's list: (n_queries, k) from ranks (n_db, n_queries)."""
    ranks = np.asarray(ranks)
    if ranks.ndim != 2:
        raise ValueError(f"ranks must be 2-D (n_db, n_queries), got shape {ranks.shape}")
    return ranks[:min(k, len(ranks))].T
