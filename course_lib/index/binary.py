"""Binary codes: the signs of random projections (locality-sensitive hashing of the angle), packed
8 bits a byte and compared by Hamming distance: the simplest compression after PCA."""
from __future__ import annotations

import numpy as np


def random_projection(dim: int, n_bits: int, seed: int = 0) -> np.ndarray:
    """(dim, n_bits) Gaussian directions: two vectors at angle t disagree on a bit with probability t / pi."""
    return np.random.default_rng(seed).standard_normal((dim, n_bits)).astype(np.float32)


def binary_codes(x: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """(N, D) vectors -> (N, n_bits / 8) uint8: the sign of each projection, 1 bit each, packed."""
    bits = np.asarray(x, dtype=np.float32) @ projection > 0
    return np.packbits(bits, axis=1)


def hamming_distances(query_code: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Number of differing bits between one packed code (B,) and each of (N, B)."""
    return np.unpackbits(np.bitwise_xor(codes, query_code[None, :]), axis=1).sum(axis=1)
