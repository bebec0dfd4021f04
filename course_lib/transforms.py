"""Post-pooling maps of global descriptors: PCA, PCA-whitening with a power on the eigenvalues, and
L2 re-normalisation; learned on one set, applied to another, cached beside the descriptors.

One place for every transform that follows pooling, so notebooks 02, 03 and the CLI share it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import ARRAYS, cache_folder, content_key, expect, read_or_compute
from .descriptor_cache import Descriptors

EPSILON = 1e-9  # floor under an eigenvalue before it divides: a zero-variance direction stays finite


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero), float32: the inner product becomes the cosine."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class PCA:
    """A PCA learned on a set of descriptors: their mean, the eigenvectors of their covariance
    (columns, largest eigenvalue first) and the eigenvalues.

    `apply` projects onto the first `dims` eigenvectors; with `whiten` each coordinate is divided by
    eigenvalue ** (power / 2): power 1 is full whitening (unit variance on the learning set), a power
    below 1 the softer variant of Jegou & Chum (ECCV 2012) that amplifies weak directions less.
    """

    mean: np.ndarray         # (D,)
    components: np.ndarray   # (D, rank)
    eigenvalues: np.ndarray  # (rank,)

    @property
    def input_dim(self) -> int:
        return int(self.mean.shape[0])

    @property
    def rank(self) -> int:
        """How many directions the learning set determines: at most (learning vectors - 1) and D."""
        return int(self.eigenvalues.shape[0])

    def explained_variance(self) -> np.ndarray:
        """Share of the total variance kept by the first k components, for k = 1 .. rank."""
        return np.cumsum(self.eigenvalues) / self.eigenvalues.sum()

    def apply(self, x: np.ndarray, dims: int | None = None, whiten: bool = False, power: float = 1.0,
              renormalise: bool = True) -> np.ndarray:
        """(N, D) descriptors -> (N, dims) projected (and whitened), L2-normalised again unless told not to.

        dims: how many components (default all `rank`); power: see the class (used with `whiten`).
        """
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"descriptors must be (N, {self.input_dim}) to apply this PCA, got shape {x.shape}")
        dims = self.rank if dims is None else int(dims)
        if not 1 <= dims <= self.rank:
            raise ValueError(f"dims {dims}: this PCA has {self.rank} components (learned on too few vectors "
                             f"for more); choose 1..{self.rank}")
        if not 0 <= power <= 1:
            raise ValueError(f"power {power}: must be between 0 (no whitening) and 1 (full whitening)")
        projected = (x.astype(np.float64) - self.mean) @ self.components[:, :dims]
        if whiten:
            projected /= np.maximum(self.eigenvalues[:dims], EPSILON) ** (power / 2)
        return l2_normalise(projected) if renormalise else projected.astype(np.float32)


def fit_pca(x: np.ndarray) -> PCA:
    """PCA of (N, D) descriptors from scratch: centre, covariance, its eigen-decomposition.

    The covariance is (1/N) X_c^T X_c; its eigenvectors come from the SVD of the centred data
    (X_c = U S V^T gives eigenvectors V and eigenvalues S^2 / N), which is cheaper than forming the
    D x D matrix when N < D and numerically safer. Only the N - 1 directions with variance are kept.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"PCA needs at least 2 descriptors as an (N, D) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("PCA: the descriptors contain NaN or infinite values")
    mean = x.mean(axis=0)
    _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    eigenvalues = singular ** 2 / x.shape[0]
    keep = eigenvalues > eigenvalues[0] * 1e-10 if eigenvalues[0] > 0 else np.zeros_like(eigenvalues, bool)
    keep[min(x.shape[0] - 1, x.shape[1]):] = False
    if not keep.any():
        raise ValueError("PCA: all descriptors are equal, there is no direction of variance to learn")
    components = vt[keep].T
    # An eigenvector's sign is arbitrary; fix it (largest coordinate positive) so results reproduce.
    signs = np.sign(components[np.argmax(np.abs(components), axis=0), np.arange(components.shape[1])])
    return PCA(mean=mean, components=components * signs, eigenvalues=eigenvalues[keep])


def transform_cache_path(descriptor_key: str, kind: str = "pca") -> Path:
    """Where a transform learned on descriptors with cache key `descriptor_key` is kept
    (`descriptor_cache.cache_key`, which keys by the images' content): the same key, so new images or
    settings mean a new fit."""
    return cache_folder("transforms") / kind / f"{content_key({'descriptors': descriptor_key, 'kind': kind})}.npz"


def learned_pca(descriptors: np.ndarray, descriptor_key: str | None = None) -> PCA:
    """`fit_pca` of a learning set's descriptors, read from the cache when `descriptor_key` names them
    (a damaged entry, or one of another dimension, is said in one line and refitted)."""
    if descriptor_key is None:
        return fit_pca(descriptors)
    dim = np.shape(descriptors)[1]

    def check(arrays) -> None:
        expect({"mean", "components", "eigenvalues"} <= set(arrays), "not a saved PCA")
        expect(arrays["mean"].shape == (dim,) and arrays["components"].shape == (dim, len(arrays["eigenvalues"])),
               f"not a PCA of {dim}-D descriptors")

    def fit() -> dict[str, np.ndarray]:
        pca = fit_pca(descriptors)
        return {"mean": pca.mean, "components": pca.components, "eigenvalues": pca.eigenvalues}

    arrays = read_or_compute(transform_cache_path(descriptor_key, "pca"), fit, ARRAYS, check, what="PCA cache entry")
    return PCA(mean=arrays["mean"], components=arrays["components"], eigenvalues=arrays["eigenvalues"])


# --- PCA learned on an independent set, applied to every method of a dataset --------------------------

LEARNING_PARTNERS = {"mini": "mini-train", "roxford5k": "rparis6k", "rparis6k": "roxford5k",
                     "oxford5k": "paris6k", "paris6k": "oxford5k"}
"""Where a projection for each dataset is learned: a set with no image in common (the field learns on
Paris for Oxford and vice versa; offline, mini-train's photos are disjoint from mini's)."""


def learning_partner(dataset_name: str) -> str:
    """The documented independent learning set of a dataset; a ValueError when it has none."""
    try:
        return LEARNING_PARTNERS[dataset_name]
    except KeyError:
        raise ValueError(f"dataset {dataset_name}: no documented independent set to learn the projection on; "
                         f"name one with --learn-on (learning on the evaluation set itself inflates the scores)"
                         ) from None


def reduce_descriptors(descriptors, learn_descriptors, dims: int | None = None, whiten: bool = False,
                       power: float = 1.0, learn_keys: dict[str, str] | None = None):
    """Every method's descriptors (a descriptor_cache.Descriptors) projected by a PCA learned on the same method's
    descriptors of the learning set (database and queries together); a new Descriptors.

    learn_keys: method -> cache key of the learning descriptors, so each PCA is fitted once.
    """

    db, queries = {}, {}
    for method in descriptors.methods:
        learn = np.concatenate([learn_descriptors.db[method], learn_descriptors.queries[method]])
        pca = learned_pca(learn, (learn_keys or {}).get(method))
        if dims is not None and dims > pca.rank:
            raise ValueError(f"--pca {dims}: the learning set's {len(learn)} descriptors determine only "
                             f"{pca.rank} directions; choose at most {pca.rank} or learn on a larger set")
        db[method] = pca.apply(descriptors.db[method], dims, whiten, power)
        queries[method] = pca.apply(descriptors.queries[method], dims, whiten, power)
    return Descriptors(db=db, queries=queries)

# --- learned whitening (Lw) from matching pairs: notebook 02 ---------------------------------------

@dataclass(frozen=True)
class LearnedWhitening:
    """The supervised whitening of Radenovic, Tolias & Chum (TPAMI 2018, sec. 3.4; Mikolajczyk & Matas,
    ICCV 2007): x -> projection^T (x - mean), rows ordered by variance after whitening."""

    mean: np.ndarray        # (D,)
    projection: np.ndarray  # (D, D): columns are the output directions, most variance first

    @property
    def input_dim(self) -> int:
        return int(self.mean.shape[0])

    def apply(self, x: np.ndarray, dims: int | None = None, renormalise: bool = True) -> np.ndarray:
        """(N, D) descriptors -> (N, dims) whitened, L2-normalised again unless told not to."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"descriptors must be (N, {self.input_dim}) to apply this whitening, got shape {x.shape}")
        dims = self.projection.shape[1] if dims is None else int(dims)
        if not 1 <= dims <= self.projection.shape[1]:
            raise ValueError(f"dims {dims}: choose 1..{self.projection.shape[1]}")
        projected = (x.astype(np.float64) - self.mean) @ self.projection[:, :dims]
        return l2_normalise(projected) if renormalise else projected.astype(np.float32)


def learn_whitening(descriptors: np.ndarray, pairs, shrinkage: float = 0.0) -> LearnedWhitening:
    """Learned whitening from matching pairs (i, j) of rows of `descriptors` (N, D).

    1. mean m of the first images of the pairs; intra-pair covariance S_w = mean of (x_i - x_j)(x_i - x_j)^T;
    2. whiten it: W = L^-1 with S_w = L L^T (Cholesky), so matching pairs become isotropic;
    3. rotate by the eigenvectors of the whitened covariance of all descriptors (largest first),
       so that keeping the first k outputs keeps what differs most between non-matching images.
    shrinkage: S_w -> (1 - a) S_w + a * trace(S_w) / D * I. Needed when there are fewer pairs than
    dimensions (S_w is singular then); 0 is the published method.
    """
    x = np.asarray(descriptors, dtype=np.float64)
    pairs = np.asarray(pairs, dtype=np.int64)
    if x.ndim != 2:
        raise ValueError(f"descriptors must be an (N, D) array, got shape {x.shape}")
    if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) == 0:
        raise ValueError(f"pairs must be a (P, 2) array of row ids, got shape {pairs.shape}")
    if pairs.min() < 0 or pairs.max() >= len(x):
        raise ValueError(f"pairs name rows outside 0..{len(x) - 1}")
    if not 0 <= shrinkage <= 1:
        raise ValueError(f"shrinkage {shrinkage}: must be between 0 and 1")
    dim = x.shape[1]
    mean = x[pairs[:, 0]].mean(axis=0)
    differences = x[pairs[:, 0]] - x[pairs[:, 1]]
    within = differences.T @ differences / len(pairs)
    within = (1 - shrinkage) * within + shrinkage * np.trace(within) / dim * np.eye(dim)
    try:
        whiten = np.linalg.inv(np.linalg.cholesky(within))
    except np.linalg.LinAlgError:
        raise ValueError(f"learned whitening: the covariance of {len(pairs)} pair differences in {dim} dimensions "
                         f"is singular; use more pairs than dimensions, reduce the dimension first (PCA), "
                         f"or set shrinkage > 0") from None
    whitened = (x - mean) @ whiten.T
    eigenvalues, eigenvectors = np.linalg.eigh(whitened.T @ whitened)
    order = np.argsort(eigenvalues)[::-1]
    rotation = eigenvectors[:, order]
    return LearnedWhitening(mean=mean, projection=whiten.T @ rotation)
