"""Post-pooling maps of global descriptors: PCA, PCA-whitening with a power on the eigenvalues, and
L2 re-normalisation; learned on one set, applied to another, cached beside the descriptors.

One place for every transform that follows pooling, so notebooks 02, 03 and the CLI share it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import config
from .files import save_npz

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


def save_pca(path: str | Path, pca: PCA) -> None:
    """Write a PCA as .npz (atomically)."""
    save_npz(path, mean=pca.mean, components=pca.components, eigenvalues=pca.eigenvalues)


def load_pca(path: str | Path) -> PCA:
    """Read a PCA written by `save_pca`; a damaged file is a one-line ValueError naming it."""
    try:
        with np.load(path) as z:
            pca = PCA(mean=z["mean"], components=z["components"], eigenvalues=z["eigenvalues"])
    except (OSError, KeyError, ValueError, EOFError) as err:
        raise ValueError(f"{path}: not a saved PCA ({type(err).__name__}: {err})") from None
    if pca.components.shape != (pca.mean.shape[0], pca.eigenvalues.shape[0]):
        raise ValueError(f"{path}: not a saved PCA (components {pca.components.shape} do not match "
                         f"mean {pca.mean.shape} and eigenvalues {pca.eigenvalues.shape})")
    return pca


def transform_cache_path(descriptor_key: str, kind: str = "pca") -> Path:
    """Where a transform learned on descriptors with cache key `descriptor_key` is kept
    (`features.cache_key`): the same key, so new images or settings mean a new fit."""
    name = hashlib.sha256(json.dumps({"descriptors": descriptor_key, "kind": kind}).encode()).hexdigest()[:20]
    return config.home_dir() / "transforms" / kind / f"{name}.npz"


def learned_pca(descriptors: np.ndarray, descriptor_key: str | None = None) -> PCA:
    """`fit_pca` of a learning set's descriptors, read from the cache when `descriptor_key` names them."""
    if descriptor_key is None:
        return fit_pca(descriptors)
    path = transform_cache_path(descriptor_key, "pca")
    if path.exists():
        try:
            pca = load_pca(path)
            if pca.input_dim == np.shape(descriptors)[1]:
                return pca
        except ValueError:
            pass  # a damaged entry is refitted and overwritten below
    pca = fit_pca(descriptors)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_pca(path, pca)
    return pca
