"""retrieval-SfM-120k through the real manifest and download layer, served by a local HTTP server: a tiny
db pickled as cirtorch's (a dict of lists) and real pip photos packed in cirtorch's CID layout."""
from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import pytest
from PIL import Image
from support import local_manifest, make_tar_gz

from course_lib.datasets import DatasetFormatError, load_dataset, mini_train, rsfm
from course_lib.datasets.tuples import tuple_pairs
from course_lib.train.mining import hard_negatives, random_negatives

TRAIN_CIDS = [f"{i:02x}a1b2c3d4e5f6{i:02x}" for i in range(6)]
VAL_CIDS = [f"{i + 16:02x}f0e1d2c3b4a5{i:02x}" for i in range(4)]
DB = {"train": {"cids": TRAIN_CIDS, "cluster": [0, 0, 1, 1, 2, 2], "qidxs": [0, 2, 0, 4], "pidxs": [1, 3, 1, 5]},
      "val": {"cids": VAL_CIDS, "cluster": [7, 7, 8, 8], "qidxs": [0], "pidxs": [1]}}


def photo_jpeg(source, size=96) -> bytes:
    image = mini_train.load_photo(source)
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rsfm-site")
    photos = [photo_jpeg(source) for source in mini_train.SOURCES]
    members = {}
    for k, cid in enumerate(TRAIN_CIDS + VAL_CIDS):
        members[os.path.relpath(rsfm.cid_path(Path("."), cid))] = photos[k % len(photos)]
    (folder / "ims.tar.gz").write_bytes(make_tar_gz(members))
    (folder / "retrieval-SfM-120k.pkl").write_bytes(pickle.dumps(DB, protocol=2))
    return folder


@pytest.fixture(scope="module")
def loaded(server, tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    spec = local_manifest("rsfm120k", server.url)
    return load_dataset("rsfm120k", root=root, manifest=spec, progress=False), root, spec


def test_download_extract_and_read_into_queries_with_positives(loaded, server):
    ds, root, spec = loaded
    assert len(ds.images) == 10 and all(p.is_file() for p in ds.images)
    assert ds.images[3] == root / "retrieval-SfM-120k" / "ims" / TRAIN_CIDS[3][-2:] / TRAIN_CIDS[3][-4:-2] / \
        TRAIN_CIDS[3][-6:-4] / TRAIN_CIDS[3]
    Image.open(ds.images[0]).verify()
    # Train queries 0, 2, 4 (query 0 twice in the db: one query with its positives merged), val query 6.
    assert [q.name for q in ds.queries] == [TRAIN_CIDS[0], TRAIN_CIDS[2], TRAIN_CIDS[4], VAL_CIDS[0]]
    assert ds.gnd == [{"easy": [1], "hard": [], "junk": []}, {"easy": [3], "hard": [], "junk": []},
                      {"easy": [5], "hard": [], "junk": []}, {"easy": [7], "hard": [], "junk": []}]
    assert ds.extra["query_class"] == [0, 1, 2, 7] and ds.extra["split"] == ["train"] * 3 + ["val"]
    # Checksums: none published, both recorded at the first download; a second load asks the server nothing.
    trusted = json.loads((root / "trusted_sha256.json").read_text())
    assert set(trusted) == {entry["url"] for entry in spec["files"]}
    before = server.requests
    again = load_dataset("rsfm120k", root=root, manifest=spec, download=False)
    assert again.images == ds.images and server.requests == before


def test_splits_keep_their_own_images_and_subsets_keep_the_positives(loaded):
    ds, _, _ = loaded
    train, val = rsfm.split(ds, "train"), rsfm.split(ds, "val")
    assert len(train.images) == 6 and len(val.images) == 4 and val.gnd == [{"easy": [1], "hard": [], "junk": []}]
    small = rsfm.split(ds, "train", max_queries=2, pool_size=3, seed=1)
    assert len(small.queries) == 2 and len(small.images) == 3
    for query, g in zip(small.queries, small.gnd):
        assert small.images[g["easy"][0]].name == TRAIN_CIDS[TRAIN_CIDS.index(query.name) + 1]
    with pytest.raises(ValueError, match="split must be"):
        rsfm.split(ds, "test")


def test_tuples_never_take_a_negative_from_the_query_cluster(loaded):
    import numpy as np

    pairs = tuple_pairs(rsfm.split(loaded[0], "train"))
    assert pairs.query_class == [0, 1, 2] and pairs.pool_classes == [0, 0, 1, 1, 2, 2]
    similarity = np.ones((3, 6), dtype=np.float32)     # every image equally hard: only the rules decide
    chosen = hard_negatives(similarity, pairs.forbidden, pairs.pool_classes, 5, pairs.query_class)
    random_chosen = random_negatives(6, pairs.forbidden, pairs.pool_classes, 5, np.random.default_rng(0),
                                     pairs.query_class)
    for q, (picks, random_picks) in enumerate(zip(chosen, random_chosen)):
        for picked in (picks, random_picks):
            classes = [pairs.pool_classes[i] for i in picked]
            assert len(picked) == 2 and pairs.query_class[q] not in classes and len(set(classes)) == 2


def test_the_db_unpickler_refuses_any_class(tmp_path):
    import numpy as np

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo never",))

    for payload, named in ((Evil(), "system"), ({"train": np.arange(3)}, "numpy")):
        path = tmp_path / "db.pkl"
        path.write_bytes(pickle.dumps(payload))
        with pytest.raises(DatasetFormatError, match=f"refusing to unpickle .*{named}") as err:
            rsfm.read_db(path)
        assert "\n" not in str(err.value)
    path.write_bytes(pickle.dumps({"train": DB["train"], "val": {**DB["val"], "pidxs": [9]}}))
    with pytest.raises(DatasetFormatError, match="pair index 9 outside its 4 images"):
        rsfm.read_db(path)
    path.write_bytes(pickle.dumps({"train": DB["train"]}))
    with pytest.raises(DatasetFormatError, match="'train' and 'val'"):
        rsfm.read_db(path)


def test_the_training_loop_runs_on_it(loaded, tmp_path, monkeypatch):
    from course_lib.train import TrainSettings, train

    monkeypatch.setenv("COURSE_LIB_HOME", str(tmp_path))
    ds = loaded[0]
    result = train(rsfm.split(ds, "train"), rsfm.split(ds, "val"),
                   TrainSettings(epochs=1, negatives=1, max_side=64, lr=1e-2), progress=False)
    assert len(result.history) == 2 and result.history[1]["loss"] >= 0
