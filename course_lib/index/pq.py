"""Product quantisation from scratch, as the notebook teaches it: split a vector into M sub-vectors,
replace each by the nearest of K centroids of its subspace (one byte when K = 256), and compare a
query with coded vectors by the asymmetric distance (the query stays exact, looked up in tables).

Codebooks are learned with faiss's k-means (a library does the clustering); encoding, decoding and
the distance tables are written out here. `zoo` builds the same thing with faiss for real use.
"""
from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np


@dataclass(frozen=True)
class ProductQuantizer:
    """M codebooks of K centroids each, (M, K, D / M) float32: codebook m quantises coordinates
    m * D/M ... (m + 1) * D/M - 1."""

    codebooks: np.ndarray

    @property
    def n_subspaces(self) -> int:
        return int(self.codebooks.shape[0])

    @property
    def n_centroids(self) -> int:
        return int(self.codebooks.shape[1])

    @property
    def dim(self) -> int:
        return int(self.codebooks.shape[0] * self.codebooks.shape[2])

    @property
    def bytes_per_vector(self) -> float:
        """Size of one code: M sub-codes of log2(K) bits each."""
        return self.n_subspaces * np.log2(self.n_centroids) / 8


def check_codebooks(codebooks: np.ndarray, dim: int | None = None) -> np.ndarray:
    """codebooks as float32 (M, K, D/M); a ValueError says what is wrong, e.g. a dimension mismatch."""
    codebooks = np.asarray(codebooks, dtype=np.float32)
    if codebooks.ndim != 3:
        raise ValueError(f"codebooks must be (M, K, D/M), got shape {codebooks.shape}")
    if dim is not None and codebooks.shape[0] * codebooks.shape[2] != dim:
        raise ValueError(f"codebooks of shape {codebooks.shape} quantise {codebooks.shape[0] * codebooks.shape[2]}-D "
                         f"vectors, the vectors are {dim}-D")
    return codebooks


def split(x: np.ndarray, n_subspaces: int) -> np.ndarray:
    """(N, D) -> (M, N, D/M): the sub-vectors of every vector, subspace first."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] % n_subspaces:
        raise ValueError(f"vectors of shape {x.shape} cannot be split into {n_subspaces} equal sub-vectors")
    return x.reshape(x.shape[0], n_subspaces, -1).transpose(1, 0, 2)


def train_pq(x: np.ndarray, n_subspaces: int, n_bits: int = 8, iterations: int = 25, seed: int = 0
             ) -> ProductQuantizer:
    """Learn one k-means codebook of 2**n_bits centroids per subspace on the (N, D) learning vectors."""
    parts = split(x, n_subspaces)
    k = 2 ** n_bits
    if parts.shape[1] < k:
        raise ValueError(f"{parts.shape[1]} learning vectors cannot train {k} centroids per subspace; "
                         f"use n_bits <= {int(np.log2(max(parts.shape[1], 1)))} or more vectors")
    codebooks = []
    for m, part in enumerate(parts):
        # min_points_per_centroid=1: only silences faiss's warning about few points per centroid (it goes to
        # the process's stderr and would differ between runs of a notebook); the clustering is the same.
        kmeans = faiss.Kmeans(part.shape[1], k, niter=iterations, seed=seed + m, verbose=False,
                              min_points_per_centroid=1)
        kmeans.train(np.ascontiguousarray(part))
        codebooks.append(kmeans.centroids)
    return ProductQuantizer(np.stack(codebooks).astype(np.float32))


def encode(x: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """(N, D) vectors -> (N, M) codes: per subspace, the index of the nearest centroid (uint8 for K <= 256)."""
    codebooks = check_codebooks(codebooks, np.shape(x)[-1])
    parts = split(x, codebooks.shape[0])
    # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 is the same for every centroid, so it drops out.
    scores = -2 * parts @ codebooks.transpose(0, 2, 1) + (codebooks ** 2).sum(axis=2)[:, None, :]
    codes = scores.argmin(axis=2).T
    return codes.astype(np.uint8 if codebooks.shape[1] <= 256 else np.int64)


def decode(codes: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """(N, M) codes -> (N, D) reconstructions: each sub-code replaced by its centroid, concatenated."""
    codebooks = check_codebooks(codebooks)
    codes = np.asarray(codes, dtype=np.int64)
    return np.concatenate([codebooks[m][codes[:, m]] for m in range(codebooks.shape[0])], axis=1)


def distance_tables(query: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """(M, K) squared distances between each sub-vector of one query and every centroid of its subspace."""
    codebooks = check_codebooks(codebooks, np.shape(query)[-1])
    parts = split(np.reshape(query, (1, -1)), codebooks.shape[0])[:, 0, :]  # (M, D/M)
    return ((codebooks - parts[:, None, :]) ** 2).sum(axis=2)


def asymmetric_distances(query: np.ndarray, codes: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """Squared distance from an exact query (D,) to each coded vector (N, M): the sum over subspaces of
    table lookups, M additions per vector instead of D multiply-adds (ADC, Jegou et al., TPAMI 2011)."""
    tables = distance_tables(query, codebooks)
    codes = np.asarray(codes, dtype=np.int64)
    return tables[np.arange(tables.shape[0]), codes].sum(axis=1)
