"""k-reciprocal re-ranking: Z. Zhong, L. Zheng, D. Cao, S. Li, "Re-ranking Person Re-identification with
k-reciprocal Encoding", CVPR 2017.

Two items are k-reciprocal neighbours when each is among the other's k nearest; a query's encoding is
its (expanded) set of k-reciprocal neighbours weighted by similarity, and the final distance mixes the
Jaccard distance of two encodings with the original distance. The neighbour lists come from faiss and
the encodings are sparse, so nothing n x n is built. Unlike the paper, which builds one graph over all
probes and the gallery together, the database graph here ignores the queries: one query's list never
depends on which other queries are asked, and the database side is computed once, offline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ..index import build_index, search
from .knn import knn_graph


@dataclass(frozen=True)
class ReciprocalDatabase:
    """The database side of k-reciprocal re-ranking, computed once: neighbour lists and encodings."""

    k1: int
    k2: int
    neighbour_ids: np.ndarray        # (n, k1 + 1) nearest database items, self first
    neighbour_sims: np.ndarray       # (n, k1 + 1)
    half_sets: list                  # per item, its k-reciprocal set at k1 / 2 (for expansion)
    encodings: sparse.csr_matrix     # (n, n): row g is item g's encoding V_g after local expansion over k2
    by_member: sparse.csc_matrix     # the same, stored by column: which items share member j
    totals: np.ndarray               # (n,) sum of each row (1 up to rounding)


def _reciprocal_sets(ids: np.ndarray, k: int) -> list[np.ndarray]:
    """For each row i, the items among ids[i, :k + 1] that also list i among their first k + 1."""
    n = len(ids)
    top = ids[:, :k + 1]
    member = sparse.csr_matrix((np.ones(top.size, dtype=bool), (np.repeat(np.arange(n), top.shape[1]),
                                                                 top.ravel())), shape=(n, n))
    back = np.asarray(member[top.ravel(), np.repeat(np.arange(n), top.shape[1])]).reshape(top.shape)
    return [top[i][back[i]] for i in range(n)]


def _expanded(reciprocal: np.ndarray, candidates: np.ndarray, half_sets: list) -> np.ndarray:
    """Add a neighbour's half-size reciprocal set when more than 2/3 of it is already in the set."""
    members = set(reciprocal.tolist())
    extra = [half_sets[c] for c in candidates
             if len(half_sets[c]) and np.isin(half_sets[c], reciprocal).sum() > 2 / 3 * len(half_sets[c])]
    return np.unique(np.concatenate([reciprocal, *extra])) if extra else np.array(sorted(members), dtype=np.int64)


def _encoding(sims_to_members: np.ndarray) -> np.ndarray:
    """Gaussian-kernel weights exp(-d) of the squared distances d = 2 - 2 s, summing to 1."""
    weights = np.exp(-(2 - 2 * sims_to_members.astype(np.float64)))
    return weights / weights.sum()


def reciprocal_database(db: np.ndarray, k1: int = 20, k2: int = 6) -> ReciprocalDatabase:
    """Neighbour lists, reciprocal sets and locally expanded encodings of every database item."""
    if k1 < 1 or k2 < 1:
        raise ValueError(f"k1 and k2 must be at least 1, got k1={k1}, k2={k2}")
    db = np.asarray(db, dtype=np.float32)
    n = len(db)
    sims, ids = knn_graph(db, k1 + 1, include_self=True)
    k1 = min(k1, ids.shape[1] - 1)
    full_sets = _reciprocal_sets(ids, k1)
    half_sets = _reciprocal_sets(ids, round(k1 / 2))
    rows, cols, values = [], [], []
    for i in range(n):
        members = _expanded(full_sets[i], full_sets[i], half_sets)
        rows.append(np.full(len(members), i))
        cols.append(members)
        values.append(_encoding(db[members] @ db[i]))
    encodings = sparse.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                                  shape=(n, n))
    if k2 > 1:  # local query expansion: the mean encoding of the k2 nearest items (self included)
        k2 = min(k2, ids.shape[1])
        spread = sparse.csr_matrix((np.full(n * k2, 1.0 / k2), (np.repeat(np.arange(n), k2), ids[:, :k2].ravel())),
                                   shape=(n, n))
        encodings = spread @ encodings
    encodings = encodings.tocsr()
    return ReciprocalDatabase(k1, k2, ids, sims, half_sets, encodings, encodings.tocsc(),
                              np.asarray(encodings.sum(axis=1)).ravel())


def query_encoding(base: ReciprocalDatabase, db: np.ndarray, query: np.ndarray, query_ids: np.ndarray,
                   query_sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(database ids, weights) of one query's encoding, from its nearest database items (best first)."""
    # The query enters database item g's k1 + 1 nearest when it is closer than g's current (k1+1)-th.
    threshold = base.neighbour_sims[query_ids[:base.k1], -1]
    reciprocal = query_ids[:base.k1][query_sims[:base.k1] >= threshold]
    if len(reciprocal) == 0:
        return reciprocal.astype(np.int64), np.zeros(0)
    members = _expanded(reciprocal, reciprocal, base.half_sets)
    weights = _encoding(db[members] @ query)
    if base.k2 > 1:  # local expansion: the mean with the encodings of the query's k2 - 1 nearest items
        vector = sparse.csr_matrix((weights, (np.zeros(len(members), dtype=np.int64), members)),
                                   shape=(1, len(db)))
        vector = sparse.csr_matrix((vector + base.encodings[query_ids[:base.k2 - 1]].sum(axis=0)) / base.k2)
        return vector.indices.astype(np.int64), vector.data
    return members.astype(np.int64), weights


def jaccard_distances(base: ReciprocalDatabase, members: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """1 - sum(min(V_q, V_g)) / sum(max(V_q, V_g)) for every database item g (1 where they share nothing)."""
    n = base.encodings.shape[0]
    if len(members) == 0:
        return np.ones(n)
    block = base.by_member[:, members].tocoo()
    shared = np.bincount(block.row, np.minimum(block.data, weights[block.col]), minlength=n)
    union = weights.sum() + base.totals - shared
    return 1 - shared / np.maximum(union, 1e-12)


def k_reciprocal_rerank(db: np.ndarray, queries: np.ndarray, k1: int = 20, k2: int = 6, lam: float = 0.3,
                        base: ReciprocalDatabase | None = None) -> np.ndarray:
    """Re-rank every query by the final distance (1 - lam) * Jaccard + lam * original: ranks (n_db, n_queries).

    The original distance is the squared Euclidean distance of unit vectors, 2 - 2 s, divided by its
    largest value over the database, as in the paper's code. k1, k2, lam: the paper's defaults (20, 6, 0.3).
    `base`: the database side from `reciprocal_database(db, k1, k2)`, to reuse across calls.
    """
    if not 0 <= lam <= 1:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    db = np.asarray(db, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    base = reciprocal_database(db, k1, k2) if base is None else base
    index = build_index(db)
    near_sims, near_ids = search(index, queries, max(base.k1, base.k2))
    ranks = np.empty((len(db), len(queries)), dtype=np.int64)
    for q, query in enumerate(queries):
        original = 2 - 2 * (db @ query).astype(np.float64)
        original /= max(original.max(), 1e-12)
        jaccard = jaccard_distances(base, *query_encoding(base, db, query, near_ids[q], near_sims[q]))
        ranks[:, q] = np.argsort((1 - lam) * jaccard + lam * original, kind="stable")
    return ranks
