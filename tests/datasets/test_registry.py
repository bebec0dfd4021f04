"""course_lib.datasets end to end: tiny copies of each real dataset's published layout, served as
archives by an HTTP server on 127.0.0.1 and loaded through the real manifests; custom folders with
every validation error; the registry, the mini cache and the restricted gnd unpickler."""
from __future__ import annotations

import io
import json
import logging
import os
import pickle
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import StaticServer, local_manifest, make_tar_gz, make_zip, unused_port
from course_lib import datasets
from course_lib.datasets import registry
from course_lib.evaluation import revisited_split
from course_lib.datasets import (DATASETS, DatasetFormatError, DatasetNotAvailable, RetrievalDataset,
                                 describe_registry, load_dataset, load_folder, load_manifest, read_gnd_pickle)


# ------------------------------------------------------------------------------------------------
# helpers: small real images, archives, a static HTTP server
# ------------------------------------------------------------------------------------------------

def jpeg_bytes(color=(200, 30, 30), size=(8, 6), marker=False) -> bytes:
    image = Image.new("RGB", size, color)
    if marker:  # a white 2x2 block in the top-left corner, to check orientation
        for x in range(2):
            for y in range(2):
                image.putpixel((x, y), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def gnd_pickle(content: dict, numpy_module: str | None = None) -> bytes:
    """The revisited ground truth as the publishers pickled it (protocol 2, numpy arrays)."""
    data = pickle.dumps(content, protocol=2)
    if numpy_module:  # pretend an older numpy wrote it (numpy.core instead of numpy._core)
        data = data.replace(b"numpy._core.multiarray", numpy_module.encode())
    return data


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Fake copies of every real dataset's files, in their published formats and names."""
    folder = tmp_path_factory.mktemp("site")
    red, blue = jpeg_bytes((200, 30, 30)), jpeg_bytes((30, 30, 200))

    oxford = ["all_souls_000001", "all_souls_000002", "ashmolean_000003", "oxford_000004", "radcliffe_camera_000005"]
    (folder / "oxbuild_images-v1.tgz").write_bytes(make_tar_gz({f"oxbuild_images/{n}.jpg": red for n in oxford}))
    (folder / "gnd_roxford5k.pkl").write_bytes(gnd_pickle({
        "imlist": oxford[1:], "qimlist": ["all_souls_000001"],
        "gnd": [{"bbx": np.array([1.5, 1.0, 6.0, 5.0]), "easy": np.array([0]), "hard": np.array([3]),
                 "junk": np.array([1], dtype=np.int64)}]}, numpy_module="numpy.core.multiarray"))
    (folder / "gt_files_170407.tgz").write_bytes(make_tar_gz({
        "all_souls_1_query.txt": b"oxc1_all_souls_000001 1.5 1.0 6.0 5.0\n",
        "all_souls_1_good.txt": b"all_souls_000001\nall_souls_000002\n",
        "all_souls_1_ok.txt": b"radcliffe_camera_000005\n",
        "all_souls_1_junk.txt": b"ashmolean_000003\n"}))

    # Paris: one listed-corrupted file really is an HTML page, another listed one decodes fine.
    html = b"<html><body>302 Found</body></html>"
    (folder / "paris_1-v1.tgz").write_bytes(make_tar_gz({
        "paris/defense/paris_defense_000000.jpg": blue, "paris/defense/paris_defense_000001.jpg": blue,
        "paris/louvre/paris_louvre_000136.jpg": html}))
    (folder / "paris_2-v1.tgz").write_bytes(make_tar_gz({
        "paris/eiffel/paris_eiffel_000000.jpg": blue, "paris/pantheon/paris_pantheon_000284.jpg": blue}))
    paris_imlist = ["paris_defense_000001", "paris_louvre_000136", "paris_eiffel_000000", "paris_pantheon_000284"]
    (folder / "gnd_rparis6k.pkl").write_bytes(gnd_pickle({
        "imlist": paris_imlist, "qimlist": ["paris_defense_000000"],
        "gnd": [{"bbx": [0.0, 0.0, 4.0, 4.0], "easy": [0, 1], "hard": [3], "junk": [2]}]}))
    (folder / "paris_120310.tgz").write_bytes(make_tar_gz({
        "paris/defense_1_query.txt": b"paris_defense_000000 0 0 4 4\n",
        "paris/defense_1_good.txt": b"paris_defense_000001\nparis_louvre_000136\n",
        "paris/defense_1_ok.txt": b"",
        "paris/defense_1_junk.txt": b"paris_eiffel_000000\n"}))

    # Holidays: 100600.jpg is in the published rotation list (90 degrees clockwise).
    (folder / "jpg1.tar.gz").write_bytes(make_tar_gz({
        "jpg/100000.jpg": red, "jpg/100001.jpg": red, "jpg/100100.jpg": blue, "jpg/100101.jpg": blue,
        "jpg/100102.jpg": blue}))
    (folder / "jpg2.tar.gz").write_bytes(make_tar_gz({
        "jpg/100600.jpg": jpeg_bytes(size=(8, 6), marker=True), "jpg/100601.jpg": red}))

    (folder / "ukbench.zip").write_bytes(make_zip({
        **{f"full/ukbench{i:05d}.jpg": (red if i < 4 else blue) for i in range(8)},
        "thumbnails/ukbench00000.th.jpg": red, "overview.html": b"<html></html>"}))
    return folder


# ------------------------------------------------------------------------------------------------
# real datasets, end to end over HTTP
# ------------------------------------------------------------------------------------------------

def test_roxford5k_end_to_end(server, tmp_path):
    spec = local_manifest("roxford5k", server.url)
    ds = load_dataset("roxford5k", root=tmp_path, manifest=spec, progress=False)
    assert [p.stem for p in ds.images] == ["all_souls_000002", "ashmolean_000003", "oxford_000004",
                                           "radcliffe_camera_000005"]
    assert all(p.is_file() for p in ds.images) and ds.queries[0].name == "all_souls_000001.jpg"
    assert ds.bboxes == [(1.5, 1.0, 6.0, 5.0)]
    assert ds.gnd == [{"easy": [0], "hard": [3], "junk": [1]}]
    assert ds.protocol == "revisited" and ds.query_ids is None
    assert "Radenovic" in ds.citation and ds.extra["homepage"].startswith("http")
    assert revisited_split(ds.gnd, "hard") == [{"ok": [3], "junk": [1, 0]}]
    # Archives are removed once extracted; the trust record keeps their hashes.
    assert not (tmp_path / "downloads" / "oxbuild_images-v1.tgz").exists()
    trusted = json.loads((tmp_path / "trusted_sha256.json").read_text())
    assert set(trusted) == {entry["url"] for entry in spec["files"]}

    # Second load: nothing downloaded again, even with downloads off.
    before = server.requests
    again = load_dataset("roxford5k", root=tmp_path, manifest=spec, download=False)
    assert again.images == ds.images and server.requests == before


def test_oxford5k_reads_the_original_ground_truth(server, tmp_path):
    ds = load_dataset("oxford5k", root=tmp_path, manifest=local_manifest("oxford5k", server.url), progress=False)
    names = [p.stem for p in ds.images]
    assert len(names) == 5 and ds.protocol == "oxford"
    assert ds.extra["query_names"] == ["all_souls_1"]
    assert ds.queries[0].stem == "all_souls_000001" and ds.bboxes == [(1.5, 1.0, 6.0, 5.0)]
    good_and_ok = [names.index(n) for n in ("all_souls_000001", "all_souls_000002", "radcliffe_camera_000005")]
    assert ds.gnd == [{"easy": good_and_ok, "hard": [], "junk": [names.index("ashmolean_000003")]}]


def test_oxford5k_shares_the_images_already_extracted_for_roxford5k(server, tmp_path):
    load_dataset("roxford5k", root=tmp_path, manifest=local_manifest("roxford5k", server.url), progress=False)
    before = server.requests
    load_dataset("oxford5k", root=tmp_path, manifest=local_manifest("oxford5k", server.url), progress=False)
    assert server.requests == before + 1  # only the ground-truth archive


def test_rparis6k_skips_corrupted_images_and_renumbers(server, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="course_lib.datasets"):
        ds = load_dataset("rparis6k", root=tmp_path, manifest=local_manifest("rparis6k", server.url),
                          progress=False)
    # imlist: defense_000001, louvre_000136 (an HTML page: skipped), eiffel, pantheon_000284 (listed, decodes)
    assert [p.stem for p in ds.images] == ["paris_defense_000001", "paris_eiffel_000000", "paris_pantheon_000284"]
    assert ds.gnd == [{"easy": [0], "hard": [2], "junk": [1]}]
    assert "skipped 1 known corrupted images" in caplog.text and "paris_louvre_000136" in caplog.text
    assert "paris_pantheon_000284 is listed as corrupted but decodes fine; kept" in caplog.text
    assert ds.extra["notes"] == ["skipped 1 known corrupted images"]


def test_paris6k_drops_ground_truth_entries_of_corrupted_images(server, tmp_path):
    ds = load_dataset("paris6k", root=tmp_path, manifest=local_manifest("paris6k", server.url), progress=False)
    names = [p.stem for p in ds.images]
    assert "paris_louvre_000136" not in names and len(names) == 4
    assert ds.gnd == [{"easy": [names.index("paris_defense_000001")], "hard": [],
                       "junk": [names.index("paris_eiffel_000000")]}]


def test_holidays_groups_queries_and_rotates_upright(server, tmp_path):
    ds = load_dataset("holidays", root=tmp_path, manifest=local_manifest("holidays", server.url), progress=False)
    stems = [p.stem for p in ds.images]
    assert stems == ["100000", "100001", "100100", "100101", "100102", "100600", "100601"]
    assert ds.query_ids == [0, 2, 5] and [p.stem for p in ds.queries] == ["100000", "100100", "100600"]
    assert ds.gnd == [{"easy": [1], "hard": [], "junk": []}, {"easy": [3, 4], "hard": [], "junk": []},
                      {"easy": [6], "hard": [], "junk": []}]
    assert ds.protocol == "holidays" and ds.extra["rotated_upright"] == ["100600.jpg"]
    with Image.open(ds.images[5]) as turned:
        assert turned.size == (6, 8)  # was 8x6: turned by 90 degrees
        pixels = turned.convert("RGB")
        # clockwise: the white top-left corner block moves to the top-right corner
        assert min(pixels.getpixel((5, 0))) > 200 and max(pixels.getpixel((0, 0))[1:]) < 120
    with Image.open(ds.images[6]) as untouched:
        assert untouched.size == (8, 6)


def test_ukbench_every_image_is_a_query(server, tmp_path):
    ds = load_dataset("ukbench", root=tmp_path, manifest=local_manifest("ukbench", server.url), progress=False)
    assert [p.name for p in ds.images] == [f"ukbench{i:05d}.jpg" for i in range(8)]  # no thumbnails
    assert ds.query_ids == list(range(8)) and ds.queries == ds.images
    assert ds.gnd[0] == {"easy": [1, 2, 3], "hard": [], "junk": []}
    assert ds.gnd[6] == {"easy": [4, 5, 7], "hard": [], "junk": []}
    assert ds.summary() == "ukbench: 8 database images, 8 queries (database images), ukbench protocol"


def test_offline_missing_dataset_is_one_sentence(tmp_path):
    dead = unused_port()
    spec = local_manifest("roxford5k", lambda name: f"http://127.0.0.1:{dead}/{name}")
    with pytest.raises(DatasetNotAvailable) as err:
        load_dataset("roxford5k", root=tmp_path, manifest=spec, progress=False)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("roxford5k is not available: cannot reach 127.0.0.1 (no network?): "
                              "download oxbuild_images-v1.tgz manually from")
    assert str(tmp_path / "downloads") in message


def test_downloads_off_and_missing_says_how_to_proceed(tmp_path):
    with pytest.raises(DatasetNotAvailable, match=r"downloads are off \(download=False, or --no-download\): "
                                                  r"allow them, or put ukbench.zip"):
        load_dataset("ukbench", root=tmp_path, download=False)


def test_archive_placed_by_hand_is_used_offline(site, tmp_path):
    dead = unused_port()
    spec = local_manifest("ukbench", lambda name: f"http://127.0.0.1:{dead}/{name}")
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "ukbench.zip").write_bytes((site / "ukbench.zip").read_bytes())
    ds = load_dataset("ukbench", root=tmp_path, manifest=spec, progress=False)
    assert len(ds) == 8
    assert json.loads((tmp_path / "trusted_sha256.json").read_text())  # recorded at first use


def test_damaged_first_download_is_not_trusted(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "ukbench.zip").write_bytes(b"PK\x03\x04" + b"cut short: the rest of the zip never arrived")
    server = StaticServer(site)
    try:
        spec = local_manifest("ukbench", server.url)
        cache = tmp_path / "cache"
        with pytest.raises(DatasetNotAvailable, match="not a readable archive.*run again to download it anew"):
            load_dataset("ukbench", root=cache, manifest=spec, progress=False)
        assert not (cache / "downloads" / "ukbench.zip").exists()
        assert not (cache / "trusted_sha256.json").exists()  # recorded only once an archive extracts
    finally:
        server.close()


def test_corrupt_cache_is_reported(server, tmp_path):
    spec = local_manifest("roxford5k", server.url)
    ds = load_dataset("roxford5k", root=tmp_path, manifest=spec, progress=False)
    ds.images[2].unlink()
    with pytest.raises(DatasetNotAvailable, match="image 'oxford_000004' named in gnd_roxford5k.pkl is missing"):
        load_dataset("roxford5k", root=tmp_path, manifest=spec, download=False)
    (tmp_path / "roxford5k" / "gnd_roxford5k.pkl").write_bytes(b"tampered")
    with pytest.raises(DatasetNotAvailable, match="sha256 mismatch .*recorded at its first download"):
        load_dataset("roxford5k", root=tmp_path, manifest=spec, download=False)


# ------------------------------------------------------------------------------------------------
# manifests and registry
# ------------------------------------------------------------------------------------------------

def test_every_registered_dataset_has_an_honest_manifest():
    names = {p.stem for p in datasets.MANIFEST_DIR.glob("*.json")}
    assert names == set(DATASETS) - {"mini", "mini-train"}  # both built from pip photos, no manifest
    for name in names:
        spec = load_manifest(name)
        assert spec["name"] == name and spec["citation"] and spec["license"] and spec["homepage"]
        for entry in spec["files"]:
            assert entry["url"].split(":")[0] in ("http", "https", "ftp")
            # A published checksum or size must say where it comes from; none is invented.
            if entry["sha256"] is not None or entry["size"] is not None:
                assert entry.get("checksum_source")
            if entry["sha256"] is None:
                assert "trust on first use" in spec["checksums"]
    assert len(load_manifest("holidays")["rotate_clockwise"]) == 228
    assert len(load_manifest("rparis6k")["corrupted_images"]) == 20


def test_registry_lists_every_dataset_and_what_is_here(server, tmp_path):
    load_dataset("ukbench", root=tmp_path, manifest=local_manifest("ukbench", server.url), progress=False)
    text = describe_registry(tmp_path)
    lines = text.splitlines()[1:]
    assert [line.split()[0] for line in lines] == list(DATASETS)
    assert "here" in lines[list(DATASETS).index("ukbench")]
    assert "downloads on first use" in lines[list(DATASETS).index("holidays")]


def test_unknown_name_lists_the_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'roxford': choose one of mini, mini-train, roxford5k"):
        load_dataset("roxford", root=tmp_path)
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        load_dataset(str(tmp_path / "a.txt"), root=tmp_path)


def test_manifest_for_another_dataset_is_refused(server, tmp_path):
    with pytest.raises(ValueError, match="the manifest given is for 'ukbench', not 'holidays'"):
        load_dataset("holidays", root=tmp_path, manifest=local_manifest("ukbench", server.url))


def test_mini_is_built_once_into_a_versioned_cache_folder(tmp_path, monkeypatch):
    calls = []

    def build_mini(target):
        target = Path(target)
        calls.append(target)
        if target.exists():
            return target
        (target / "images").mkdir(parents=True)
        (target / "queries").mkdir()
        (target / "images" / "a_000.jpg").write_bytes(jpeg_bytes())
        (target / "images" / "b_000.jpg").write_bytes(jpeg_bytes())
        (target / "queries" / "q00.jpg").write_bytes(jpeg_bytes())
        (target / "ground_truth.json").write_text(json.dumps({"queries": [
            {"query": "queries/q00.jpg", "name": "red square", "bbox": [0, 0, 4, 4],
             "easy": ["images/a_000.jpg"], "hard": [], "junk": ["images/b_000.jpg"]}], "sources": []}))
        return target

    monkeypatch.setattr(registry, "mini", types.SimpleNamespace(MINI_VERSION=7, build_mini=build_mini))
    ds = load_dataset("mini", root=tmp_path)
    assert ds.name == "mini" and ds.protocol == "revisited" and ds.root == (tmp_path / "mini-v7").resolve()
    assert ds.gnd == [{"easy": [0], "hard": [], "junk": [1]}] and ds.extra["query_names"] == ["red square"]
    load_dataset("mini", root=tmp_path)
    assert calls == [tmp_path / "mini-v7"] * 2


def test_revisited_split_of_a_dataset_ground_truth():
    ds = RetrievalDataset(name="t", root=Path("."), images=[], queries=[], bboxes=[],
                          gnd=[{"easy": [1], "hard": [2], "junk": [3]}, {"easy": [4], "hard": [], "junk": []}])
    assert revisited_split(ds.gnd, "easy") == [{"ok": [1], "junk": [3, 2]}, {"ok": [4], "junk": []}]
    assert revisited_split(ds.gnd, "medium") == [{"ok": [1, 2], "junk": [3]}, {"ok": [4], "junk": []}]
    assert revisited_split(ds.gnd, "hard") == [{"ok": [2], "junk": [3, 1]}, {"ok": [], "junk": [4]}]
    with pytest.raises(ValueError, match="level must be one of"):
        revisited_split(ds.gnd, "extreme")


# ------------------------------------------------------------------------------------------------
# the restricted unpickler
# ------------------------------------------------------------------------------------------------

class _Exploit:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_gnd_pickle_that_would_run_code_is_refused(tmp_path):
    evil = tmp_path / "gnd_evil.pkl"
    evil.write_bytes(pickle.dumps({"imlist": [], "qimlist": [], "gnd": [_Exploit(tmp_path / "pwned")]}))
    with pytest.raises(DatasetFormatError, match=r"refusing to unpickle (posix|nt)\.system"):
        read_gnd_pickle(evil)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_gnd_pickle_with_numpy_arrays_loads(tmp_path, protocol):
    path = tmp_path / "gnd.pkl"
    path.write_bytes(pickle.dumps({"imlist": ["a"], "qimlist": ["q"],
                                   "gnd": [{"easy": np.arange(3), "bbx": np.float64(2.5)}]}, protocol=protocol))
    content = read_gnd_pickle(path)
    assert content["gnd"][0]["easy"].tolist() == [0, 1, 2] and content["gnd"][0]["bbx"] == 2.5


# ------------------------------------------------------------------------------------------------
# custom folders
# ------------------------------------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "my_data"
    (root / "images" / "sub").mkdir(parents=True)
    (root / "queries").mkdir()
    for rel in ("images/a.jpg", "images/b.jpg", "images/sub/c.jpg", "queries/q1.jpg", "queries/q2.jpg"):
        (root / rel).write_bytes(jpeg_bytes())
    Image.new("L", (8, 6)).save(root / "images" / "sub" / "d.png")
    (root / "images" / "notes.txt").write_text("not an image")
    (root / "images" / ".hidden.jpg").write_bytes(jpeg_bytes())
    write_gt(root, [{"query": "queries/q1.jpg", "bbox": [1, 1, 5, 4], "positives": ["images/a.jpg"],
                     "junk": ["images/sub/c.jpg"]},
                    {"query": "queries/q2.jpg", "positives": ["images/b.jpg", "images/sub/d.png"]}])
    return root


def write_gt(root: Path, queries) -> None:
    (root / "ground_truth.json").write_text(json.dumps({"queries": queries}, indent=1))


def test_custom_folder_loads(folder):
    ds = load_dataset(str(folder))
    assert [p.relative_to(folder.resolve()).as_posix() for p in ds.images] == [
        "images/a.jpg", "images/b.jpg", "images/sub/c.jpg", "images/sub/d.png"]
    assert ds.name == "my_data" and ds.protocol == "custom" and ds.query_ids is None
    assert [p.name for p in ds.queries] == ["q1.jpg", "q2.jpg"]
    assert ds.bboxes == [(1.0, 1.0, 5.0, 4.0), None]
    assert ds.gnd == [{"easy": [0], "hard": [], "junk": [2]}, {"easy": [1, 3], "hard": [], "junk": []}]
    assert ds.summary() == "my_data: 4 database images, 2 queries, custom protocol"


def test_custom_folder_with_easy_hard_is_revisited(folder):
    write_gt(folder, [{"query": "queries/q1.jpg", "easy": ["images/a.jpg"], "hard": ["images/b.jpg"]}])
    ds = load_folder(folder)
    assert ds.protocol == "revisited" and ds.gnd == [{"easy": [0], "hard": [1], "junk": []}]


def test_custom_folder_with_database_queries_excludes_them(folder, caplog):
    write_gt(folder, [{"query": "images/a.jpg", "positives": ["images/a.jpg", "images/b.jpg"]},
                      {"query": "images/sub/c.jpg", "positives": ["images/sub/d.png"]}])
    with caplog.at_level(logging.WARNING, logger="course_lib.datasets"):
        ds = load_folder(folder)
    assert ds.query_ids == [0, 2] and ds.gnd[0] == {"easy": [1], "hard": [], "junk": []}
    assert "queries[0].positives lists the query itself; ignored" in caplog.text
    assert "2 images in queries/ are not used by any query" in caplog.text


def test_query_without_positives_is_allowed_but_warned(folder, caplog):
    write_gt(folder, [{"query": "queries/q1.jpg", "positives": []},
                      {"query": "queries/q2.jpg", "positives": ["images/a.jpg"]}])
    with caplog.at_level(logging.WARNING, logger="course_lib.datasets"):
        ds = load_folder(folder)
    assert ds.gnd[0]["easy"] == []
    assert "queries[0] (queries/q1.jpg) has no positives; it is left out of the mean AP" in caplog.text


Q = "queries/q1.jpg"
BAD_GROUND_TRUTH = [
    ({"query": Q, "positives": ["images/a.jpg", "images/x.jpg"]},
     "queries[0].positives[1]: 'images/x.jpg' does not exist"),
    ({"query": Q, "positives": ["queries/q2.jpg"]},
     "queries[0].positives[0]: 'queries/q2.jpg' is not in images/ (positives and junk must be database images)"),
    ({"query": Q, "positives": ["images/notes.txt"]}, "queries[0].positives[0]: 'images/notes.txt' is not an image"),
    ({"query": Q, "positives": ["images/a.jpg", "images/./a.jpg"]},
     "queries[0].positives[1]: 'images/./a.jpg' is listed twice (also positives[0])"),
    ({"query": Q, "positives": ["images/a.jpg"], "junk": ["images/a.jpg"]},
     "queries[0].junk[0]: 'images/a.jpg' is also in positives"),
    ({"query": Q, "easy": ["images/a.jpg"], "hard": ["images/a.jpg"]},
     "queries[0].hard[0]: 'images/a.jpg' is also in easy"),
    ({"query": Q, "positives": "images/a.jpg"},
     'queries[0].positives: expected a list of image paths, got "images/a.jpg"'),
    ({"query": Q, "positives": ["../outside.jpg"]}, "queries[0].positives[0]: '../outside.jpg' points outside"),
    ({"query": Q, "positives": ["/etc/passwd"]}, "queries[0].positives[0]: '/etc/passwd' must be relative"),
    ({"query": "queries/nope.jpg", "positives": []}, "queries[0].query: 'queries/nope.jpg' does not exist"),
    ({"query": "images/notes.txt", "positives": []}, "queries[0].query: 'images/notes.txt' is not an image file"),
    ({"query": 3, "positives": []}, "queries[0].query: expected a path relative to the dataset folder, got 3"),
    ({"positives": ["images/a.jpg"]}, 'queries[0]: missing "query"'),
    ({"query": Q}, 'queries[0]: missing "positives" (or "easy"/"hard")'),
    ({"query": Q, "positives": [], "easy": []}, 'queries[0]: give either "positives" or "easy"/"hard", not both'),
    ({"query": Q, "positive": []}, "queries[0]: unknown key 'positive' (allowed: query, name, bbox"),
    ({"query": Q, "positives": [], "name": 7}, "queries[0].name: expected a string, got 7"),
    ({"query": Q, "positives": [], "bbox": [1, 2, 3]}, "queries[0].bbox: expected [x1, y1, x2, y2] (4 numbers)"),
    ({"query": Q, "positives": [], "bbox": [1, 2, "3", 4]}, "queries[0].bbox: expected [x1, y1, x2, y2]"),
    ({"query": Q, "positives": [], "bbox": [1, 2, True, 4]}, "queries[0].bbox: expected [x1, y1, x2, y2]"),
    ({"query": Q, "positives": [], "bbox": [5, 1, 2, 4]}, "queries[0].bbox: [5, 1, 2, 4] is empty: it needs x2 > x1"),
    ({"query": Q, "positives": [], "bbox": [10, 1, 20, 4]},
     "queries[0].bbox: [10, 1, 20, 4] lies outside the 8x6 image queries/q1.jpg"),
    ({"query": Q, "positives": [], "bbox": [1, 1, 5000, 4]},
     "queries[0].bbox: [1, 1, 5000, 4] reaches beyond the 8x6 image queries/q1.jpg (x2 = 5000 > 8)"),
    ({"query": Q, "positives": [], "bbox": [-2, 1, 5, 4]},
     "queries[0].bbox: [-2, 1, 5, 4] reaches beyond the 8x6 image queries/q1.jpg (x1 = -2 < 0)"),
    ({"query": Q, "positives": ["images/a.jpg"], "boxes": {"images/a.jpg": [0, 0, 8, 7]}},
     'queries[0].boxes["images/a.jpg"]: [0, 0, 8, 7] reaches beyond the 8x6 image images/a.jpg (y2 = 7 > 6)'),
    ("queries/q1.jpg", 'queries[0]: expected an object with "query" and "positives", got "queries/q1.jpg"'),
]


@pytest.mark.parametrize("entry, message", BAD_GROUND_TRUTH, ids=[m.split(":")[1][:40] for _, m in BAD_GROUND_TRUTH])
def test_custom_folder_errors_say_what_and_where(folder, entry, message):
    write_gt(folder, [entry])
    with pytest.raises(DatasetFormatError) as err:
        load_folder(folder)
    assert str(err.value).startswith(f"{folder / 'ground_truth.json'}: {message}")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("queries, message", [
    ([{"query": Q, "positives": ["images/a.jpg"]}, {"query": "queries/q2.jpg", "easy": ["images/b.jpg"]}],
     'queries[1]: uses "easy/hard" but queries[0] uses "positives"; use one style per file'),
    ([{"query": Q, "positives": []}, {"query": "images/a.jpg", "positives": []}],
     "queries[1].query: 'images/a.jpg' is a database image (in images/), unlike queries[0]"),
    ([{"query": Q, "bbox": [1, 1, 5, 4], "positives": []}, {"query": Q, "bbox": [1, 1, 5, 4], "positives": []}],
     "queries[1]: repeats queries[0] (same image and box)"),
])
def test_custom_folder_errors_across_queries(folder, queries, message):
    write_gt(folder, queries)
    with pytest.raises(DatasetFormatError, match=re_escape(message)):
        load_folder(folder)


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_same_query_image_with_two_boxes_is_fine(folder):
    write_gt(folder, [{"query": Q, "bbox": [0, 0, 4, 4], "positives": ["images/a.jpg"]},
                      {"query": Q, "bbox": [4, 2, 8, 6], "positives": ["images/b.jpg"]}])
    assert load_folder(folder).n_queries == 2


def test_invalid_json_gives_line_and_column(folder):
    (folder / "ground_truth.json").write_text('{"queries": [\n  {"query": "queries/q1.jpg",\n   "positives": [}\n]}')
    with pytest.raises(DatasetFormatError, match=r"ground_truth.json: invalid JSON at line 3, column 18: Expecting"):
        load_folder(folder)


@pytest.mark.parametrize("content, message", [
    ('["queries/q1.jpg"]', 'expected an object with a "queries" list at the top level'),
    ('{"queries": []}', '"queries" is empty'),
])
def test_ground_truth_top_level_errors(folder, content, message):
    (folder / "ground_truth.json").write_text(content)
    with pytest.raises(DatasetFormatError, match=re_escape(message)):
        load_folder(folder)


def test_unreadable_query_image_is_named(folder):
    (folder / "queries" / "q1.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DatasetFormatError, match=r"queries\[0\]\.query: .*q1\.jpg: not a readable image"):
        load_folder(folder)


def test_folder_layout_errors(tmp_path):
    with pytest.raises(DatasetFormatError, match="no such folder"):
        load_folder(tmp_path / "absent")
    with pytest.raises(DatasetFormatError, match="no images/ folder"):
        load_folder(tmp_path)
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetFormatError, match="no ground_truth.json"):
        load_folder(tmp_path)
    write_gt(tmp_path, [])
    with pytest.raises(DatasetFormatError, match="images: no images"):
        load_folder(tmp_path)


# ------------------------------------------------------------------------------------------------
# `check DIR`: every image opened, boxes against image sizes, one line, nothing written
# ------------------------------------------------------------------------------------------------

def noisy_jpeg(size=(64, 48)) -> bytes:
    """A photo-like JPEG whose pixel data is most of the file (a truncation keeps the header whole)."""
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def check(*argv) -> int:
    from course_lib.commands import main

    return main(["check", *map(str, argv)])


def test_check_says_ok_for_a_good_folder(folder, capsys):
    assert check(folder, "--quiet") == 0
    assert capsys.readouterr().out.startswith("ok: my_data: 4 database images, 2 queries")


def test_check_names_a_database_image_that_does_not_open(folder, capsys, tmp_path):
    (folder / "images" / "broken.jpg").write_text("x\n")
    before = files_of(tmp_path)
    assert check(folder) == 2  # with its progress bar: the error is the last line
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("error: ") and "images/broken.jpg: not a readable image" in error, error
    assert files_of(tmp_path) == before


def test_check_counts_the_other_images_that_do_not_open(folder, capsys):
    for name in ("broken.jpg", "empty.jpg", "notes.png"):
        (folder / "images" / name).write_bytes(b"" if name == "empty.jpg" else b"x\n")
    assert check(folder, "--quiet") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "images/broken.jpg" in err and "2 more images fail the same way" in err, err


def test_check_decode_finds_a_truncated_image_that_headers_miss(folder, capsys):
    data = noisy_jpeg()
    (folder / "images" / "cut.jpg").write_bytes(data[: len(data) // 2])
    assert check(folder, "--quiet") == 0  # the header is whole: the cheap pass cannot tell
    capsys.readouterr()
    assert check(folder, "--quiet", "--decode") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "images/cut.jpg: cannot decode image data" in err, err


def test_check_names_a_box_beyond_its_query(tmp_path, capsys):
    root = tmp_path / "d"
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (451, 300)).save(root / "images" / "q.jpg")
    Image.new("RGB", (40, 30)).save(root / "images" / "b.jpg")
    write_gt(root, [{"query": "images/q.jpg", "bbox": [10, 10, 5000, 20], "positives": ["images/b.jpg"]}])
    before = files_of(tmp_path)
    assert check(root) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "queries[0].bbox: [10, 10, 5000, 20] reaches beyond the 451x300 image images/q.jpg" in err
    assert files_of(tmp_path) == before
