"""Exact nearest-neighbour search with faiss: on L2-normalised descriptors the inner product is the cosine."""

from __future__ import annotations

import faiss
import numpy as np


def _as_float32(x: np.ndarray, name: str) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, dim), got shape {x.shape}")
    return x


def build_index(db: np.ndarray) -> faiss.Index:
    """An exact inner-product faiss index holding the database descriptors (n_db, dim)."""
    db = _as_float32(db, "db")
    index = faiss.IndexFlatIP(db.shape[1])
    index.add(db)
    return index


def search(index: faiss.Index, queries: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k best database items per query: (scores, ids), each (n_queries, k), best first.

    k defaults to the whole database (the full ranking that mAP needs).
    """
    queries = _as_float32(queries, "queries")
    if queries.shape[1] != index.d:
        raise ValueError(f"queries have dimension {queries.shape[1]} but the index holds dimension {index.d}")
    k = index.ntotal if k is None else min(k, index.ntotal)
    return index.search(queries, k)


def rank_database(db: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Full ranking in the evaluation layout: (n_db, n_queries), column j = database ids for query j."""
    _, ids = search(build_index(db), queries)
    return ids.T.copy()
