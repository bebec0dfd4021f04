"""The small-object query set: mini's queries judged only on positives where the object covers a small part of
the view (from mini's per-view boxes), and the paired comparison table built on it."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from course_lib.datasets import load_dataset
from course_lib.detection.evaluate import small_object_subset, small_object_table
from course_lib.images import image_size


@pytest.fixture(scope="module")
def mini():
    return load_dataset("mini")


def area_share(dataset, i, box):
    width, height = image_size(dataset.images[i])
    return (box[2] - box[0]) * (box[3] - box[1]) / (width * height)


def test_only_small_positives_count_and_the_rest_become_junk(mini):
    small = small_object_subset(mini, 0.15)
    kept = small.extra["source_queries"]
    assert 0 < len(kept) < mini.n_queries and small.n_queries == len(kept)
    for q, source in enumerate(kept):
        positives = set(small.gnd[q]["easy"]) | set(small.gnd[q]["hard"])
        assert positives and positives == set(small.positive_boxes[q])
        for i in positives:
            assert area_share(mini, i, mini.positive_boxes[source][i]) < 0.15
        original = set(mini.gnd[source]["easy"]) | set(mini.gnd[source]["hard"])
        assert original - positives <= set(small.gnd[q]["junk"])       # large views are neither right nor wrong
        assert set(mini.gnd[source]["junk"]) <= set(small.gnd[q]["junk"])
        assert small.queries[q] == mini.queries[source] and small.bboxes[q] == mini.bboxes[source]
    dropped = set(range(mini.n_queries)) - set(kept)
    for q in dropped:
        assert all(area_share(mini, i, b) >= 0.15 for i, b in mini.positive_boxes[q].items())
    assert len(small_object_subset(mini, 0.3).queries) >= len(kept)


def test_small_object_table_rewards_the_ranking_that_finds_small_views(mini):
    small = small_object_subset(mini, 0.15)
    n = len(mini)
    plain = np.tile(np.arange(n)[:, None], (1, mini.n_queries))
    finds_small = plain.copy()
    for q, source in enumerate(small.extra["source_queries"]):
        first = sorted(small.positive_boxes[q])
        finds_small[:, source] = first + [i for i in range(n) if i not in set(first)]
    table = small_object_table(mini, {"oracle": finds_small, "plain": plain}, [("oracle", "plain")], areas=(0.15,))
    row = table.iloc[0]
    assert row["queries"] == small.n_queries and row["mAP A"] == 100.0
    assert row["difference"] > 0 and row["low"] <= row["difference"] <= row["high"]


@pytest.mark.parametrize("area", [0, -0.1, 1.5])
def test_bad_area_is_refused(mini, area):
    with pytest.raises(ValueError, match="max_area"):
        small_object_subset(mini, area)


def test_a_dataset_without_boxes_says_so(mini):
    with pytest.raises(ValueError, match="gives no boxes"):
        small_object_subset(dataclasses.replace(mini, positive_boxes=None))
