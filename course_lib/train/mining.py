"""Choosing negatives for training tuples: hard negatives from a similarity matrix, or random ones.

Hard-negative mining as in cirtorch: embed a pool with the current network, and for each
query take the most similar pool images that do not match it, at most one per class
(object, landmark, cluster), so that the N negatives are N different things.
"""
from __future__ import annotations

import numpy as np
import torch


def hard_negatives(similarity, forbidden, pool_classes, n_negatives: int, query_classes=None) -> list[list[int]]:
    """For each query (row of `similarity`, (Q, P)), the pool ids of its `n_negatives` hardest negatives.

    forbidden: per query, the pool ids that must not be negatives (its positives and junk).
    pool_classes: (P,) class of every pool image; at most one negative per class is taken.
    query_classes: optional (Q,) class of every query; no negative is taken from it (cirtorch never
    takes a negative from the query's own 3D model).
    Fewer than `n_negatives` come back only when the pool has too few allowed classes.
    """
    similarity = torch.as_tensor(np.asarray(similarity, dtype=np.float32))
    if similarity.ndim != 2:
        raise ValueError(f"similarity must be (queries, pool), got shape {tuple(similarity.shape)}")
    if len(pool_classes) != similarity.shape[1]:
        raise ValueError(f"pool_classes has {len(pool_classes)} entries for a pool of {similarity.shape[1]}")
    order = torch.argsort(similarity, dim=1, descending=True).tolist()
    chosen = []
    for q, ranked in enumerate(order):
        skip = set(int(i) for i in forbidden[q])
        seen_classes, picks = ({query_classes[q]} if query_classes is not None else set()), []
        for i in ranked:
            if i in skip or pool_classes[i] in seen_classes:
                continue
            picks.append(i)
            seen_classes.add(pool_classes[i])
            if len(picks) == n_negatives:
                break
        chosen.append(picks)
    return chosen


def random_negatives(n_pool: int, forbidden, pool_classes, n_negatives: int, rng, query_classes=None
                     ) -> list[list[int]]:
    """The same choice as `hard_negatives` but in a random order: the baseline mining is compared with."""
    scores = rng.random((len(forbidden), n_pool))
    return hard_negatives(scores, forbidden, pool_classes, n_negatives, query_classes)


def similarities_faiss(queries: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """All inner products queries x pool through a faiss flat index (the same numbers as a matmul)."""
    import faiss

    index = faiss.IndexFlatIP(pool.shape[1])
    index.add(np.ascontiguousarray(pool, dtype=np.float32))
    scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), pool.shape[0])
    out = np.empty_like(scores)
    np.put_along_axis(out, ids, scores, axis=1)
    return out
