"""Spatial verification at scale: local features cached by image content, RANSAC fits in worker processes
giving the same inlier counts (and the same re-ranked lists) as one process."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from course_lib.datasets import load_dataset
from course_lib.rerank import spatial


@pytest.fixture(scope="module")
def mini_features(tmp_path_factory):
    mini = load_dataset("mini")
    cache = tmp_path_factory.mktemp("local_features")
    cat = mini.extra["query_names"].index("cat's face")
    ids = sorted(mini.gnd[cat]["easy"])[:4] + list(range(6))
    database = spatial.cached_orb_features([mini.images[i] for i in ids], cache_dir=cache)
    query = spatial.cached_orb_features([mini.queries[cat]], bboxes=[mini.bboxes[cat]], cache_dir=cache)[0]
    return query, database


def test_worker_processes_give_the_same_counts_and_lists(mini_features):
    query, database = mini_features
    serial = spatial.verified_inliers(query, database)
    assert serial.max() >= 8                               # real matches among the cat's views
    with spatial.verification_pool(2) as pool:
        parallel = spatial.verified_inliers(query, database, pool=pool)
    np.testing.assert_array_equal(serial, parallel)
    ranks = np.arange(len(database))[::-1, None].copy()
    one = spatial.spatial_rerank(ranks, [query], lambda ids: [database[i] for i in ids], top_k=len(database))
    two = spatial.spatial_rerank(ranks, [query], lambda ids: [database[i] for i in ids], top_k=len(database),
                                 workers=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_bad_workers_and_model_are_refused(mini_features):
    query, database = mini_features
    with pytest.raises(ValueError, match="workers must be at least 1"):
        spatial.verification_pool(0)
    with pytest.raises(ValueError, match="model must be one of"):
        spatial.verified_inliers(query, database, model="similarity")


def test_features_are_cached_by_content(tmp_path, monkeypatch):
    mini = load_dataset("mini")
    cache = tmp_path / "cache"
    first, second = tmp_path / "a.jpg", tmp_path / "b.jpg"
    shutil.copy(mini.images[0], first)
    calls = []
    real = spatial.orb_features
    monkeypatch.setattr(spatial, "orb_features", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    original = spatial.cached_orb_features([first], cache_dir=cache)[0]
    shutil.copy(first, second)                      # same bytes, another name: read from the cache
    again = spatial.cached_orb_features([second], cache_dir=cache)[0]
    assert calls == [first]
    np.testing.assert_array_equal(original.keypoints, again.keypoints)
    np.testing.assert_array_equal(original.descriptors, again.descriptors)
    shutil.copy(mini.images[1], first)              # edited in place: extracted again
    spatial.cached_orb_features([first], cache_dir=cache)
    assert calls == [first, first]
    for damaged in cache.glob("*.npz"):
        damaged.write_bytes(b"damaged")
    healed = spatial.cached_orb_features([second], cache_dir=cache)[0]   # a damaged entry is extracted again
    np.testing.assert_array_equal(healed.descriptors, original.descriptors)
