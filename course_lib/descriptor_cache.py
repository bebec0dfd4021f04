"""The on-disk cache of global descriptors, torch-free: its keys, its files, and reading them back.

`features.extract_descriptors` writes and reads it; `read_cached` lets a run whose descriptors are all
cached (a warm `evaluate`) answer without importing torch or building the network. An entry is keyed by
everything that determines it: dataset and image contents, backbone, tap, pooling, image size, scales.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import config
from .files import content_hash

CACHE_VERSION = 2  # 2: images keyed by content, not size and time
# A pooling whose values changed since its entries were cached gets a revision here, so that its old entries
# are recomputed and every other method's stay valid. rmac-integral 2: regional sums by one matrix product,
# weak regions no longer rounded to 0.
POOLING_REVISIONS = {"rmac-integral": 2}


@dataclass
class Descriptors:
    """Global descriptors of one dataset, one (N, D) float32 array per method."""

    db: dict[str, np.ndarray]
    queries: dict[str, np.ndarray]

    @property
    def methods(self) -> list[str]:
        return list(self.db)


def _fingerprint(paths) -> str:
    """Hash of the image files' names and contents, so an image edited in place gets a new key even
    with its size and modification time kept (hashing is cheap next to a forward pass). Within one
    process a file is read again only when its status (size, times, inode) changes."""
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{os.fspath(p)}|{content_hash(p)}\n".encode())
    return h.hexdigest()


def cache_key(dataset, backbone_name: str, tap: str, method: str, max_side, scales, amp: bool = False) -> str:
    spec = {
        "version": CACHE_VERSION, "dataset": dataset.name, "backbone": backbone_name, "tap": tap,
        "method": method, "max_side": max_side, "scales": [float(s) for s in scales],
        "db": _fingerprint(dataset.images), "queries": _fingerprint(dataset.queries),
        "bboxes": [list(map(float, b)) if b is not None else None for b in dataset.bboxes],
        "query_ids": dataset.query_ids,
    }
    if amp:  # mixed precision changes descriptors beyond rounding; float32 keys stay as they were
        spec["amp"] = True
    if method in POOLING_REVISIONS:
        spec["revision"] = POOLING_REVISIONS[method]
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def _cache_file(dataset, key: str, cache_dir: Path | None) -> Path:
    return Path(cache_dir or config.descriptors_dir()) / dataset.name / f"{key}.npz"


def _read_cache(path: Path, n_db: int, n_queries: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A cached entry, or None when there is none. An entry that cannot be read (truncated, emptied,
    missing an array, wrong number of rows) is said in one line, deleted, and recomputed."""
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            db, queries = z["db"], z["queries"]
        if db.shape[0] != n_db or queries.shape[0] != n_queries:
            raise ValueError(f"{db.shape[0]} database and {queries.shape[0]} query rows, "
                             f"expected {n_db} and {n_queries}")
    except Exception as err:  # np.load raises many types on damaged files
        warnings.warn(f"{path}: damaged descriptor cache entry ({type(err).__name__}: "
                      f"{str(err).splitlines()[0] if str(err) else ''}); recomputing it", stacklevel=3)
        path.unlink(missing_ok=True)
        return None
    return db, queries


def read_cached(dataset, backbone_name: str, methods: Sequence[str], max_side, scales=(1.0,),
                cache_dir: Path | None = None) -> Descriptors | None:
    """The descriptors of `methods` if every one is in the cache, else None.

    Only plain pooling names ("gem", "rmac", ...) on the backbone's last conv map are looked up here (their
    tap is known without building the network, `names.DEFAULT_CONV_TAPS`); any other method answers None
    and the caller extracts as usual. The keys are the ones `extract_descriptors` writes (float32, no AMP).
    """
    from .names import DEFAULT_CONV_TAPS, POOLING_NAMES

    tap = DEFAULT_CONV_TAPS.get(backbone_name)
    if tap is None or not methods or any(m not in POOLING_NAMES for m in methods):
        return None
    db, queries = {}, {}
    for m in methods:
        key = cache_key(dataset, backbone_name, tap, m, max_side, scales)
        found = _read_cache(_cache_file(dataset, key, cache_dir), len(dataset.images), len(dataset.queries))
        if found is None:
            return None
        db[m], queries[m] = found
    return Descriptors(db=db, queries=queries)
