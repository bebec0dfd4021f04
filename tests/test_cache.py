"""Every cache of the kit follows one rule: keys by content (an image edited in place with its size and time kept is
computed again), and a damaged entry (garbage, or sound but of the wrong shape) is said in one warning and healed."""
import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from course_lib import cache
from course_lib.datasets import load_folder
from course_lib.files import content_hash
from course_lib.models import load_backbone

SIDE = 128


@pytest.fixture(scope="module")
def backbone():
    return load_backbone()


def photo(name: str) -> Image.Image:
    import skimage.data as sd

    return Image.fromarray(getattr(sd, name)()).convert("RGB").resize((SIDE, SIDE * 3 // 4))


def save_stored(image: Image.Image, path) -> None:
    """PNG without compression: the file's size depends on the image's size only, not on its content."""
    image.save(path, compress_level=0)


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_HOME", str(tmp_path / "home"))
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "queries").mkdir()
    for name, picture in (("a", "astronaut"), ("b", "coffee"), ("c", "chelsea")):
        save_stored(photo(picture), root / f"images/{name}.png")
    save_stored(photo("astronaut"), root / "queries/q.png")
    truth = {"queries": [{"query": "queries/q.png", "bbox": [10, 10, 100, 80], "positives": ["images/a.png"],
                          "boxes": {"images/a.png": [20, 10, 110, 90]}}]}
    (root / "ground_truth.json").write_text(json.dumps(truth))
    return root


def edit_in_place(path) -> None:
    """New content, the same size and modification time: what a key by size and time cannot see."""
    status = os.stat(path)
    save_stored(photo("rocket"), path)
    assert os.stat(path).st_size == status.st_size
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def descriptors(root, backbone):
    from course_lib.features import extract_descriptors

    found = extract_descriptors(load_folder(root), backbone, ["gem"], max_side=SIDE, progress=False)
    return [found.db["gem"], found.queries["gem"]]


def trunk_maps(root, backbone):
    from course_lib.models.retrieval import RetrievalNet
    from course_lib.train.frozen import FrozenMaps

    names = backbone.stage_names
    net = RetrievalNet(backbone, train_from=names[names.index(backbone.default_conv) - 1])
    dataset = load_folder(root)
    maps = FrozenMaps(net, SIDE)
    maps.add(dataset.images)
    return [maps.get(p).numpy() for p in dataset.images]


def localization(root, backbone):
    from course_lib.detection.evaluate import MapStore, compare_localizers, positive_pairs

    dataset = load_folder(root)
    table = compare_localizers(MapStore(dataset, backbone, max_side=SIDE), positive_pairs(dataset), ("refine",))
    return [table[["iou", "score", "x1", "y1", "x2", "y2"]].to_numpy(float)]


def regions(root, backbone):
    from course_lib.detection.region_search import dataset_regions

    db, queries = dataset_regions(load_folder(root), backbone, max_side=SIDE, L=1)
    return [*db, *queries]


def local_features(root, backbone):
    from course_lib.rerank.spatial import cached_orb_features

    found = cached_orb_features(load_folder(root).images, max_side=SIDE, n_keypoints=50)
    return [f.keypoints for f in found] + [f.descriptors for f in found]


CACHES = {"descriptors": descriptors, "trunk_maps": trunk_maps, "detection": localization, "regions": regions,
          "local_features": local_features}


def same(first, second) -> bool:
    return len(first) == len(second) and all(a.shape == b.shape and np.allclose(a, b, rtol=1e-6, atol=0)
                                             for a, b in zip(first, second))


def entries(kind: str) -> list:
    return sorted(p for p in cache.cache_folder(kind).rglob("*") if p.is_file())


def wrong_shape(path) -> None:
    """Rewrite a sound entry in its own format with its values in the wrong shape."""
    if path.suffix == ".npz":
        arrays = cache.ARRAYS.read(path)
        cache.ARRAYS.write(path, {name: array.reshape(-1) for name, array in arrays.items()})
    elif path.suffix == ".pt":
        cache.TENSOR.write(path, cache.TENSOR.read(path).reshape(-1))
    else:
        table = pd.read_csv(path)
        cache.TABLE.write(path, table.drop(columns=table.columns[-1]))


def garbage(path) -> None:
    path.write_bytes(b"\x00damaged\xff" * 7)


def test_every_cache_lies_in_a_folder_of_its_kind(folder, backbone):
    for kind, run in CACHES.items():
        run(folder, backbone)
        assert entries(kind), kind
    with pytest.raises(ValueError, match="unknown cache kind 'nothing'; kinds: descriptors"):
        cache.cache_folder("nothing")


@pytest.mark.parametrize("kind", CACHES)
def test_an_image_edited_in_place_with_its_size_and_time_kept_is_computed_again(kind, folder, backbone,
                                                                                 monkeypatch, tmp_path):
    run = CACHES[kind]
    before = run(folder, backbone)
    edit_in_place(folder / "images/a.png")
    after = run(folder, backbone)
    assert not same(before, after)
    monkeypatch.setenv("COURSE_LIB_HOME", str(tmp_path / "empty home"))
    assert same(after, run(folder, backbone))


@pytest.mark.parametrize("damage", [garbage, wrong_shape])
@pytest.mark.parametrize("kind", CACHES)
def test_a_damaged_entry_is_said_in_one_line_and_healed(kind, damage, folder, backbone):
    run = CACHES[kind]
    first = run(folder, backbone)
    for entry in entries(kind):
        damage(entry)
    with pytest.warns(UserWarning, match="damaged .*cache entry") as said:
        assert same(first, run(folder, backbone))
    assert all("\n" not in str(w.message) for w in said)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert same(first, run(folder, backbone))   # healed: read back without a word


def test_read_or_compute_reads_heals_and_survives_an_unwritable_folder(tmp_path):
    path = tmp_path / "entry.npz"
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3.0)}

    def check(arrays):
        cache.expect(arrays["x"].shape == (3,), f"shape {arrays['x'].shape}")

    assert cache.read_or_compute(path, compute, cache.ARRAYS, check)["x"].tolist() == [0, 1, 2]
    assert cache.read_or_compute(path, compute, cache.ARRAYS, check)["x"].tolist() == [0, 1, 2] and len(calls) == 1
    cache.ARRAYS.write(path, {"x": np.zeros(4)})
    with pytest.warns(UserWarning, match=r"entry.npz: damaged cache entry \(ValueError: shape \(4,\)\)"):
        cache.read_or_compute(path, compute, cache.ARRAYS, check)
    blocked = tmp_path / "a file" / "entry.npz"
    blocked.parent.write_text("not a folder")
    with pytest.warns(UserWarning, match="not written"):
        assert cache.read_or_compute(blocked, compute, cache.ARRAYS, check)["x"].tolist() == [0, 1, 2]


def test_content_keys_follow_the_bytes_not_the_name(tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    save_stored(photo("coffee"), first)
    save_stored(photo("coffee"), second)
    assert cache.images_fingerprint([first]) != cache.images_fingerprint([second])   # the name is part of a list
    assert cache.content_key([content_hash(first)]) == cache.content_key([content_hash(second)])
    key = cache.images_fingerprint([first])
    edit_in_place(first)
    assert cache.images_fingerprint([first]) != key
    assert cache.content_key({"n": np.int64(3)}) == cache.content_key({"n": "3"})   # numpy values: by their str


def test_a_tensor_entry_that_holds_no_tensor_is_damaged(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"not": "a tensor"}, path)
    with pytest.warns(UserWarning, match="TypeError: holds a dict, not a tensor"):
        assert cache.read_entry(path, cache.TENSOR) is None
    assert not path.exists()
