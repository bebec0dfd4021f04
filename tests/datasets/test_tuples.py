"""The training set mini-train and the training tuples built on it."""
from __future__ import annotations

import hashlib

import pytest

from course_lib.datasets import load_dataset, mini, mini_train


@pytest.fixture(scope="module")
def train_set(tmp_path_factory):
    return load_dataset("mini-train", root=tmp_path_factory.mktemp("datasets"))


def test_mini_and_mini_train_share_no_source_photo():
    def digest(source):
        return hashlib.sha256(source.locate().read_bytes()).hexdigest()

    assert not {s.path for s in mini.SOURCES} & {s.path for s in mini_train.SOURCES}
    assert not {digest(s) for s in mini.SOURCES} & {digest(s) for s in mini_train.SOURCES}


def test_sources_file_credits_mini_train_and_each_of_its_photos(train_set):
    text = (train_set.root / "SOURCES.md").read_text()
    assert text.startswith("# Sources of the mini-train training set (version ")
    for source in mini_train.SOURCES:
        assert source.path in text and source.credit in text and source.license in text


def test_every_view_comes_from_a_training_photo(train_set):
    assert set(train_set.extra["image_photo"]) <= {s.key for s in mini_train.SOURCES}
    assert not set(train_set.extra["image_photo"]) & {s.key for s in mini.SOURCES}


def test_mini_train_is_a_retrieval_dataset_with_positives(train_set):
    assert train_set.protocol == "revisited"
    assert train_set.n_queries == sum(c * r for c, r in mini_train.GRIDS.values())
    for q, g in enumerate(train_set.gnd):
        assert g["easy"] or g["hard"], f"query {q} has no positive"
        assert not set(g["easy"]) & set(g["hard"])


def test_splits_are_photo_disjoint(train_set):
    train, val = mini_train.split(train_set, "train"), mini_train.split(train_set, "val")
    assert train.n_queries + val.n_queries == train_set.n_queries
    assert not set(train.images) & set(val.images)
    assert set(val.extra["image_photo"]) == set(mini_train.VALIDATION_PHOTOS)
    for g in val.gnd:
        assert all(0 <= i < len(val.images) for k in ("easy", "hard", "junk") for i in g[k])
    with pytest.raises(ValueError, match="split must be"):
        mini_train.split(train_set, "test")


def test_build_is_reproducible(tmp_path, train_set):
    again = mini_train.build_mini_train(tmp_path / "again")
    first = train_set.root
    for rel in ("ground_truth.json", "views.json", "queries/q00.jpg", "images/aero_000.jpg"):
        assert (again / rel).read_bytes() == (first / rel).read_bytes(), rel


def test_object_views_batches_hold_each_object_once_and_exclude_shared_views(train_set):
    import numpy as np

    from course_lib.datasets.tuples import object_views

    objects = object_views(train_set)
    assert len(objects) == sum(1 for g in train_set.gnd if g["easy"] or g["hard"])
    rng = np.random.default_rng(0)
    batches = objects.batches(4, rng)
    assert sorted(o for b in batches for o in b) == list(range(len(objects)))
    assert all(len(b) >= 2 for b in batches)
    batch = objects.batch(batches[0], 3, rng)
    labels, excluded = batch["labels"], batch["excluded"]
    assert len(batch["paths"]) == len(labels) == 3 * len(batches[0])
    for i, a in enumerate(labels):
        assert not excluded[i, labels == a].any()            # same object: a positive, never excluded
    # A view made for one object that also shows a neighbour is excluded as the neighbour's negative.
    o, other = next((o, p) for o in range(len(objects)) for p in range(len(objects))
                    if p != o and {i for i in objects.image_ids[p] if i >= 0} & objects.forbidden[o])
    batch = objects.batch([o, other], 20, rng)
    shared = [j for j, i in enumerate(batch["image_ids"]) if batch["labels"][j] == other and i in objects.forbidden[o]]
    assert shared and batch["excluded"][np.flatnonzero(batch["labels"] == o)[0], shared].all()
