"""Query expansion and database-side augmentation: new descriptors made from the top of a ranked list.

* AQE, average query expansion: O. Chum, J. Philbin, J. Sivic, M. Isard, A. Zisserman, "Total Recall:
  Automatic Query Expansion with a Generative Feature Model for Object Retrieval", ICCV 2007.
* alpha-QE, alpha-weighted query expansion: F. Radenovic, G. Tolias, O. Chum, "Fine-tuning CNN Image
  Retrieval with No Human Annotation", TPAMI 2018.
* DBA, database-side augmentation: R. Arandjelovic, A. Zisserman, "Three things everyone should know to
  improve object retrieval", CVPR 2012 (alpha weighting as in Radenovic et al.).
"""
from __future__ import annotations

import numpy as np

from ..transforms import l2_normalise
from .knn import knn_graph, top_of_ranks


def _check_k(k, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {k!r}")
    return int(k)


def average_query_expansion(db: np.ndarray, queries: np.ndarray, ranks: np.ndarray, k: int = 2) -> np.ndarray:
    r"""AQE: each query becomes the normalised mean of itself and its top-k database descriptors,

    .. math:: q' = \frac{q + \sum_{i=1}^{k} d_{r_i}}{\lVert q + \sum_{i=1}^{k} d_{r_i} \rVert}.

    db (n_db, D), queries (n_queries, D), ranks (n_db, n_queries) in the evaluation layout.
    Returns the expanded queries (n_queries, D), float32, unit rows; k = 0 returns them unchanged.
    """
    k = _check_k(k)
    db, queries = np.asarray(db, dtype=np.float32), np.asarray(queries, dtype=np.float32)
    top = top_of_ranks(ranks, k)
    return l2_normalise(queries + db[top].sum(axis=1))


def alpha_query_expansion(db: np.ndarray, queries: np.ndarray, ranks: np.ndarray, k: int = 5,
                          alpha: float = 3.0) -> np.ndarray:
    r"""alpha-QE: like AQE, but neighbour :math:`d_{r_i}` is weighted by its similarity to the query raised to alpha,

    .. math:: q' \propto q + \sum_{i=1}^{k} \max(0, q^\top d_{r_i})^{\alpha}\, d_{r_i},

    so a long list of neighbours can be used: the far ones weigh little. alpha = 0 is AQE.
    """
    k = _check_k(k)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a non-negative number, got {alpha!r}")
    db, queries = np.asarray(db, dtype=np.float32), np.asarray(queries, dtype=np.float32)
    top = top_of_ranks(ranks, k)
    neighbours = db[top]                                            # (n_queries, k, D)
    sims = np.einsum("qd,qkd->qk", queries, neighbours)
    weights = np.maximum(sims, 0) ** alpha
    return l2_normalise(queries + np.einsum("qk,qkd->qd", weights, neighbours))


def database_augmentation(db: np.ndarray, k: int = 2, alpha: float = 0.0) -> np.ndarray:
    r"""DBA: every database descriptor becomes the normalised (alpha-weighted) mean of itself and its k
    nearest database neighbours, found with faiss: the expansion of AQE done once, offline, for the database.

    .. math:: d_j' \propto d_j + \sum_{i=1}^{k} \max(0, d_j^\top d_{n_i(j)})^{\alpha}\, d_{n_i(j)}.

    Returns the augmented database (n_db, D), float32, unit rows. The queries are left as they are.
    """
    k = _check_k(k)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a non-negative number, got {alpha!r}")
    db = np.asarray(db, dtype=np.float32)
    if k == 0:
        return l2_normalise(db)
    sims, ids = knn_graph(db, k, include_self=False)
    if alpha == 0:
        # Unweighted, two items with the same neighbourhood (mutual neighbours, common among views of one
        # object) get the same descriptor, and their scores tie exactly. Summing each distinct set of ids
        # once, in id order, makes those descriptors bitwise equal, so the tie is broken by database id
        # (the ranking's stable sort) on every machine, not by the last bits of a BLAS kernel.
        members = np.sort(np.concatenate([np.arange(len(db))[:, None], ids], axis=1), axis=1)
        sets, inverse = np.unique(members, axis=0, return_inverse=True)
        return l2_normalise(db[sets].sum(axis=1))[inverse.reshape(-1)]
    weights = np.maximum(sims, 0) ** alpha
    return l2_normalise(db + np.einsum("nk,nkd->nd", weights, db[ids]))
