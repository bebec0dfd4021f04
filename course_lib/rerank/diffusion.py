"""Diffusion on the k-NN graph of the database: A. Iscen, G. Tolias, Y. Avrithis, T. Furon, O. Chum,
"Efficient Diffusion on Region Manifolds: Recovering Small Objects with Compact CNN Representations", CVPR 2017.

The graph is sparse (faiss finds each item's k neighbours; scipy stores them), and each query is one
conjugate-gradient solve on it: no dense n x n matrix is ever built.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import cg

from .knn import knn_graph


def affinity_graph(db: np.ndarray, k: int = 50, gamma: float = 3.0) -> sparse.csr_matrix:
    r"""The symmetric sparse affinity of Iscen et al.: :math:`a_{ij} = \max(0, d_i^\top d_j)^\gamma` when i and
    j are each among the other's k nearest neighbours (mutual neighbours), else 0; no self-loops."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    n = len(db)
    sims, ids = knn_graph(db, k, include_self=False)
    values = np.maximum(sims, 0).astype(np.float64).ravel() ** gamma
    rows = np.repeat(np.arange(n), ids.shape[1])
    directed = sparse.csr_matrix((values, (rows, ids.ravel())), shape=(n, n))
    return directed.minimum(directed.T).tocsr()  # kept only where both directions exist: mutual neighbours


def normalized_graph(affinity: sparse.spmatrix) -> sparse.csr_matrix:
    r"""The symmetrically normalised graph :math:`S = D^{-1/2} A D^{-1/2}` (isolated items keep a zero row)."""
    degree = np.asarray(affinity.sum(axis=1)).ravel()
    inverse_sqrt = np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0)
    scale = sparse.diags(inverse_sqrt)
    return (scale @ affinity @ scale).tocsr()


def query_vector(db: np.ndarray, query: np.ndarray, top: np.ndarray, gamma: float = 3.0) -> np.ndarray:
    r"""The query's start vector y: :math:`y_i = \max(0, q^\top d_i)^\gamma` for its top-k items i, 0 elsewhere."""
    y = np.zeros(len(db))
    y[top] = np.maximum(db[top] @ query, 0).astype(np.float64) ** gamma
    return y


def diffusion_system(graph: sparse.spmatrix, alpha: float = 0.99) -> sparse.csr_matrix:
    r"""The matrix :math:`I - \alpha S` of the diffusion, built once per graph and alpha (building it costs
    more than a query's whole solve on a large database)."""
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    return (sparse.identity(graph.shape[0], format="csr") - alpha * graph).tocsr()


def diffuse(graph: sparse.spmatrix, y: np.ndarray, alpha: float = 0.99, iterations: int = 20,
            system: sparse.spmatrix | None = None) -> np.ndarray:
    r"""Solve :math:`(I - \alpha S)\, f = y` by conjugate gradient (the matrix is symmetric positive definite for
    alpha < 1): f ranks the database by how strongly the query's mass reaches each item along the graph.
    `system`: `diffusion_system(graph, alpha)`, to reuse across queries."""
    if system is None:
        system = diffusion_system(graph, alpha)
    if not y.any():
        return np.zeros_like(y)
    f, _ = cg(system, y, x0=y.copy(), maxiter=iterations, rtol=1e-6)
    return f


def diffusion_rerank(db: np.ndarray, queries: np.ndarray, ranks: np.ndarray, k: int = 50, query_k: int = 10,
                     alpha: float = 0.99, gamma: float = 3.0, iterations: int = 20,
                     graph: sparse.spmatrix | None = None) -> np.ndarray:
    """Re-rank every query by diffusion: new ranks (n_db, n_queries).

    k: neighbours per database item in the graph; query_k: the query's top items that start the
    diffusion (from `ranks`); alpha, gamma: as in the paper (0.99, 3). Items the diffusion does not
    reach (f = 0) keep their order from `ranks`, after the reached ones. `graph`: a normalised graph
    from `normalized_graph(affinity_graph(db, k, gamma))` to reuse across calls (built offline once).
    """
    db = np.asarray(db, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    ranks = np.asarray(ranks)
    if query_k < 1:
        raise ValueError(f"query_k must be at least 1, got {query_k}")
    if graph is None:
        graph = normalized_graph(affinity_graph(db, k, gamma))
    n = len(db)
    system = diffusion_system(graph, alpha)
    new_ranks = np.empty_like(ranks)
    for q in range(len(queries)):
        f = diffuse(graph, query_vector(db, queries[q], ranks[:query_k, q], gamma), alpha, iterations, system)
        position = np.empty(n, dtype=np.int64)
        position[ranks[:, q]] = np.arange(n)
        new_ranks[:, q] = np.lexsort((position, -f))
    return new_ranks
