"""The on-disk cache of global descriptors, torch-free: its keys, its files, and reading them back.

`features.extract_descriptors` writes and reads it; `read_cached` lets a run whose descriptors are all
cached (a warm `evaluate`) answer without importing torch or building the network. An entry is keyed by
everything that determines it: dataset and image contents, backbone, tap, pooling, image size, scales.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import names
from .cache import ARRAYS, cache_folder, content_key, dataset_spec, expect, read_entry

CACHE_VERSION = 2  # 2: images keyed by content, not size and time
DESCRIPTOR_ENTRY = "descriptor cache entry"


@dataclass
class Descriptors:
    """Global descriptors of one dataset, one (N, D) float32 array per method."""

    db: dict[str, np.ndarray]
    queries: dict[str, np.ndarray]

    @property
    def methods(self) -> list[str]:
        return list(self.db)


def cache_key(dataset, backbone_name: str, tap: str, method: str, max_side, scales, amp: bool = False) -> str:
    spec = {
        "version": CACHE_VERSION, "dataset": dataset.name, "backbone": backbone_name, "tap": tap,
        "method": method, "max_side": max_side, "scales": [float(s) for s in scales],
        **dataset_spec(dataset),
        "query_ids": dataset.query_ids,
    }
    if amp:  # mixed precision changes descriptors beyond rounding; float32 keys stay as they were
        spec["amp"] = True
    if method in names.POOLING_REVISIONS:
        spec["revision"] = names.POOLING_REVISIONS[method]
    return content_key(spec)


def cache_file(dataset, key: str, cache_dir: Path | None = None) -> Path:
    """Where the entry of `key` lies: under `cache_dir`, by default the "descriptors" cache folder."""
    return Path(cache_dir or cache_folder("descriptors")) / dataset.name / f"{key}{ARRAYS.suffix}"


def read_descriptors(path: Path, n_db: int, n_queries: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The (database, queries) descriptors cached at `path`, or None when there are none; a damaged entry
    (truncated, emptied, missing an array, wrong number of rows) is said in one line, deleted: None."""
    def check(arrays) -> None:
        db, queries = arrays["db"], arrays["queries"]
        expect(db.ndim == 2 and queries.ndim == 2 and db.shape[0] == n_db and queries.shape[0] == n_queries,
               f"database {db.shape} and queries {queries.shape}, expected {n_db} and {n_queries} rows")

    arrays = read_entry(path, ARRAYS, check, DESCRIPTOR_ENTRY)
    return None if arrays is None else (arrays["db"], arrays["queries"])


def read_cached(dataset, backbone_name: str, methods: Sequence[str], max_side, scales=(1.0,),
                cache_dir: Path | None = None) -> Descriptors | None:
    """The descriptors of `methods` if every one is in the cache, else None.

    Only plain pooling names ("gem", "rmac", ...) on the backbone's last conv map are looked up here (their
    tap is known without building the network, `names.DEFAULT_CONV_TAPS`); any other method answers None
    and the caller extracts as usual. The keys are the ones `extract_descriptors` writes (float32, no AMP).
    """
    tap = names.DEFAULT_CONV_TAPS.get(backbone_name)
    if tap is None or not methods or any(m not in names.POOLING_NAMES for m in methods):
        return None
    db, queries = {}, {}
    for m in methods:
        key = cache_key(dataset, backbone_name, tap, m, max_side, scales)
        found = read_descriptors(cache_file(dataset, key, cache_dir), len(dataset.images), len(dataset.queries))
        if found is None:
            return None
        db[m], queries[m] = found
    return Descriptors(db=db, queries=queries)
