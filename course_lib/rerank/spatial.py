"""Spatial verification of the top of a ranked list: ORB local features (scikit-image), matches, and a
geometric model fitted by RANSAC (skimage.measure.ransac); the number of inliers re-ranks the top k.

Fischler & Bolles, "Random Sample Consensus", CACM 1981; Philbin et al., "Object retrieval with large
vocabularies and fast spatial matching", CVPR 2007 (re-ranking the shortlist by inliers); ORB: Rublee
et al., ICCV 2011.
"""
from __future__ import annotations

import contextlib
import functools
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from skimage.feature import ORB
from skimage.measure import ransac
from skimage.transform import AffineTransform, ProjectiveTransform

from ..cache import ARRAYS, box_spec, cache_folder, content_key, expect, read_or_compute
from ..files import content_hash
from ..images import load_image

MODELS = {"affine": (AffineTransform, 3), "homography": (ProjectiveTransform, 4)}
FEATURES_VERSION = 2  # 2: keyed by the image's content, not its name, size and time
ORB_BITS = 256  # bits of an ORB descriptor


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoints (n, 2) as (x, y) pixels of the image as decoded, and their binary descriptors (n, 256)."""

    keypoints: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return len(self.keypoints)


def orb_features(path, max_side: int = 512, n_keypoints: int = 500, bbox=None) -> LocalFeatures:
    """ORB keypoints and descriptors of one image (grey, longer side at most max_side; cropped to bbox)."""
    grey = np.asarray(load_image(path, max_side=max_side, bbox=bbox).convert("L"), dtype=np.float64) / 255
    orb = ORB(n_keypoints=n_keypoints, fast_threshold=0.05)
    try:
        orb.detect_and_extract(grey)
    except RuntimeError:  # too few corners (a flat image): no features rather than an error
        return LocalFeatures(np.zeros((0, 2)), np.zeros((0, ORB_BITS), dtype=bool))
    return LocalFeatures(orb.keypoints[:, ::-1].astype(np.float64), orb.descriptors.astype(bool))


def cached_orb_features(paths: Sequence, max_side: int = 512, n_keypoints: int = 500, bboxes=None,
                        cache_dir: Path | None = None) -> list[LocalFeatures]:
    """`orb_features` of many images, cached on disk per image under the kit's cache folder, keyed by the
    image's content (sha256), the crop and the settings: extracted once, whatever the file is called or
    wherever it lies, and again when the image is edited in place."""
    folder = Path(cache_dir) if cache_dir is not None else cache_folder("local_features")
    bboxes = [None] * len(paths) if bboxes is None else list(bboxes)
    found = []
    for path, bbox in zip(paths, bboxes):
        name = content_key([FEATURES_VERSION, content_hash(path), max_side, n_keypoints, box_spec(bbox)], 24)
        stored = read_or_compute(folder / f"orb-{name}{ARRAYS.suffix}",
                                 functools.partial(_packed_orb_features, path, max_side, n_keypoints, bbox),
                                 ARRAYS, _check_packed_features, "local feature cache entry")
        found.append(LocalFeatures(stored["keypoints"],
                                   np.unpackbits(stored["packed"], axis=1).astype(bool)[:, :ORB_BITS]))
    return found


def _packed_orb_features(path, max_side: int, n_keypoints: int, bbox) -> dict[str, np.ndarray]:
    """`orb_features` as the cache keeps them: keypoints, and descriptors packed 8 bits to a byte."""
    features = orb_features(path, max_side, n_keypoints, bbox)
    return {"keypoints": features.keypoints, "packed": np.packbits(features.descriptors, axis=1)}


def _check_packed_features(stored) -> None:
    keypoints, packed = stored["keypoints"], stored["packed"]
    expect(keypoints.ndim == 2 and keypoints.shape[1] == 2 and packed.shape == (len(keypoints), ORB_BITS // 8)
           and packed.dtype == np.uint8, f"keypoints {keypoints.shape} and packed descriptors {packed.shape} "
           f"{packed.dtype}, expected (n, 2) and (n, {ORB_BITS // 8}) uint8")


def match_features(a: LocalFeatures, b: LocalFeatures, max_ratio: float = 0.8) -> np.ndarray:
    """Mutual nearest neighbours by Hamming distance that pass Lowe's ratio test: (m, 2) index pairs.

    faiss's binary flat index does the Hamming search (the descriptors packed 8 bits to a byte).
    """
    if len(a) < 2 or len(b) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    packed_a, packed_b = np.packbits(a.descriptors, axis=1), np.packbits(b.descriptors, axis=1)
    forward_distances, forward = _binary_search(packed_b, packed_a, 2)
    _, backward = _binary_search(packed_a, packed_b, 1)
    rows = np.arange(len(a))
    nearest = forward[:, 0]
    mutual = backward[nearest, 0] == rows
    distinct = forward_distances[:, 0] < max_ratio * np.maximum(forward_distances[:, 1], 1)
    keep = mutual & distinct
    return np.column_stack([rows[keep], nearest[keep]]).astype(np.int64)


def _binary_search(database: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Hamming k-NN with faiss on one thread: a few hundred descriptors are searched in well under a
    millisecond, while starting OpenMP threads for them costs far more (40x slower measured on 2 cores)."""
    index = faiss.IndexBinaryFlat(database.shape[1] * 8)
    index.add(database)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, k)
    finally:
        faiss.omp_set_num_threads(threads)


def homography_inliers(homography: np.ndarray, source: np.ndarray, target: np.ndarray,
                       threshold: float = 5.0) -> np.ndarray:
    r"""Which matches a homography explains: :math:`\lVert \pi(H \tilde s) - t \rVert < \text{threshold}` pixels,
    where :math:`\tilde s` is the source point in homogeneous coordinates and :math:`\pi` divides by the last one.

    source, target: (m, 2) matched (x, y) points. Returns a boolean mask (m,). Points that H sends to
    infinity (last coordinate 0) are outliers.
    """
    homography = np.asarray(homography, dtype=np.float64)
    source = np.asarray(source, dtype=np.float64).reshape(-1, 2)
    target = np.asarray(target, dtype=np.float64).reshape(-1, 2)
    projected = np.column_stack([source, np.ones(len(source))]) @ homography.T
    with np.errstate(divide="ignore", invalid="ignore"):
        mapped = projected[:, :2] / projected[:, 2:3]
        error = np.linalg.norm(mapped - target, axis=1)
    return np.nan_to_num(error, nan=np.inf) < threshold


def count_inliers(source: np.ndarray, target: np.ndarray, model: str = "affine", threshold: float = 5.0,
                  max_trials: int = 200, seed: int = 0) -> int:
    """Fit `model` ("affine" or "homography") to matched points by RANSAC; the number of inliers (0 when
    there are too few matches to fit it)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    transform, min_samples = MODELS[model]
    if len(source) <= min_samples:
        return 0
    fitted, inliers = ransac((np.asarray(source, np.float64), np.asarray(target, np.float64)), transform,
                             min_samples=min_samples, residual_threshold=threshold, max_trials=max_trials, rng=seed)
    return 0 if fitted is None or inliers is None else int(inliers.sum())


def verified_inliers(query: LocalFeatures, candidates: Sequence[LocalFeatures], model: str = "affine",
                     threshold: float = 5.0, max_trials: int = 200, pool: Executor | None = None) -> np.ndarray:
    """Inlier count of the query against each candidate image: (len(candidates),) integers.

    Matching runs here (faiss, fast); the RANSAC fits, most of the cost, run in `pool` when one is given
    (see `verification_pool`), with the same counts: every fit is seeded the same way wherever it runs.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    counts = np.zeros(len(candidates), dtype=np.int64)
    jobs = []
    for i, candidate in enumerate(candidates):
        pairs = match_features(query, candidate)
        if len(pairs) > MODELS[model][1]:  # fewer matches than a model needs: 0 inliers, nothing to fit
            jobs.append((i, query.keypoints[pairs[:, 0]], candidate.keypoints[pairs[:, 1]]))
    if not jobs:
        return counts
    fit = functools.partial(count_inliers, model=model, threshold=threshold, max_trials=max_trials)
    sources, targets = [job[1] for job in jobs], [job[2] for job in jobs]
    found = pool.map(fit, sources, targets) if pool is not None else map(fit, sources, targets)
    counts[[job[0] for job in jobs]] = list(found)
    return counts


def verification_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for the RANSAC fits of `verified_inliers` (started by forkserver, not fork: a forked
    copy of a process that already runs torch or OpenMP threads can hang). Starting costs about a second."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))


def spatial_rerank(ranks: np.ndarray, query_features: Sequence[LocalFeatures],
                   database_features: Callable[[Sequence[int]], Sequence[LocalFeatures]], top_k: int = 100,
                   model: str = "affine", min_inliers: int = 8, threshold: float = 5.0,
                   max_trials: int = 200, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank the top_k of every query by inlier count; below it the list is unchanged.

    Candidates with at least min_inliers inliers move to the front, most inliers first; the others keep
    their order after them (ties keep the original order too). database_features(ids) returns the
    features of those database images (so only what the shortlists need is computed). workers > 1 fits
    the RANSAC models in that many processes (same result; worth it for long shortlists and many queries).
    Returns (new ranks (n_db, n_queries), inlier counts (top_k, n_queries) in the original order).
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    ranks = np.array(ranks, copy=True)
    top_k = min(top_k, len(ranks))
    counts = np.zeros((top_k, ranks.shape[1]), dtype=np.int64)
    with verification_pool(workers) if workers > 1 else contextlib.nullcontext() as pool:
        for q in range(ranks.shape[1]):
            shortlist = ranks[:top_k, q]
            inliers = verified_inliers(query_features[q], database_features(shortlist), model, threshold,
                                       max_trials, pool)
            counts[:, q] = inliers
            score = np.where(inliers >= min_inliers, inliers, 0)
            ranks[:top_k, q] = shortlist[np.argsort(-score, kind="stable")]
    return ranks, counts
