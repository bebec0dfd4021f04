"""Tests for course_lib.datasets.mini: the embedded benchmark builds fast, the same every time, from wheel files."""
from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import json
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_lib.datasets import mini
from course_lib.images import image_size, load_image

REPO = Path(__file__).resolve().parents[2]

# sha256 of ground_truth.json + views.json built with seed 0, per MINI_VERSION. If the
# builder's plan or labels change, bump MINI_VERSION (so cached builds are rebuilt) and
# record the new digest here. (JPEG bytes are left out: they depend on the Pillow build.)
PLAN_SHA256 = {
    2: "0254615955bf44fac846ea129de73717bdc3a927aad34f249a85ac233daa40ea",
    3: "2aa966d2dece7652ce0d75454c94e2f4c84f75959f7d7bb6dc547bf2f8ebb3b4",  # + per-positive boxes, same images
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, float]:
    start = time.perf_counter()
    folder = mini.build_mini(tmp_path_factory.mktemp("first") / "mini")
    return folder, time.perf_counter() - start


@pytest.fixture(scope="module")
def ground_truth(built) -> dict:
    return json.loads((built[0] / "ground_truth.json").read_text())


def file_digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the build -----------------------------------------------------------------------------

def test_builds_in_under_30_seconds(built):
    assert built[1] < 30, f"building mini took {built[1]:.1f} s"


def test_two_builds_are_byte_identical(built, tmp_path):
    again = mini.build_mini(tmp_path / "mini")
    first, second = file_digests(built[0]), file_digests(again)
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_another_seed_gives_another_benchmark(built, tmp_path):
    views = mini.plan_database(mini.load_source_photos(), seed=1)
    recorded = json.loads((built[0] / "views.json").read_text())
    windows_seed0 = sorted(tuple(map(tuple, record["window"])) for record in recorded.values())
    windows_seed1 = sorted(tuple((round(float(x), 1), round(float(y), 1)) for x, y in v.quad) for v in views)
    assert windows_seed0 != windows_seed1


def test_plan_matches_the_recorded_digest_for_this_version(built):
    digest = hashlib.sha256((built[0] / "ground_truth.json").read_bytes() +
                            (built[0] / "views.json").read_bytes()).hexdigest()
    expected = PLAN_SHA256.get(mini.MINI_VERSION)
    assert digest == expected, (f"mini's ground truth or views changed (sha256 {digest}): bump MINI_VERSION "
                                f"and record the new digest in PLAN_SHA256")


def test_sizes_are_in_the_intended_range(built, ground_truth):
    n_database = len(list((built[0] / "images").iterdir()))
    assert 15 <= len(ground_truth["queries"]) <= 25
    assert 150 <= n_database <= 250
    info = json.loads((built[0] / "build_info.json").read_text())
    assert info == {"mini_version": mini.MINI_VERSION, "seed": 0,
                    "queries": len(ground_truth["queries"]), "database": n_database}


def test_every_image_is_a_jpeg_of_at_most_640_pixels(built):
    files = sorted((built[0] / "images").iterdir()) + sorted((built[0] / "queries").iterdir())
    for path in files:
        with Image.open(path) as img:
            assert img.format == "JPEG" and img.mode == "RGB", path.name
            assert max(img.size) <= mini.MAX_SIDE, path.name


# --- the ground truth ----------------------------------------------------------------------

def test_listed_files_exist_in_the_right_folders(built, ground_truth):
    root = built[0]
    database = {str(p.relative_to(root)) for p in (root / "images").iterdir()}
    queries = {str(p.relative_to(root)) for p in (root / "queries").iterdir()}
    assert {q["query"] for q in ground_truth["queries"]} == queries
    for q in ground_truth["queries"]:
        assert q["query"].startswith("queries/")
        for level in ("easy", "hard", "junk"):
            assert set(q[level]) <= database, (q["name"], level)


def test_every_query_has_a_positive_and_levels_do_not_overlap(ground_truth):
    for q in ground_truth["queries"]:
        easy, hard, junk = set(q["easy"]), set(q["hard"]), set(q["junk"])
        assert easy or hard, q["name"]
        assert not (easy & hard) and not (easy & junk) and not (hard & junk), q["name"]


def test_query_boxes_lie_inside_the_query_images(built, ground_truth):
    for q in ground_truth["queries"]:
        width, height = image_size(built[0] / q["query"])
        x1, y1, x2, y2 = q["bbox"]
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, q["name"]


def test_query_box_shows_the_boxed_object_of_the_source_photo(built, ground_truth):
    """The query crop must be the hand-drawn object box of the source photo (up to mild lighting)."""
    photos = mini.load_source_photos()
    objects = {obj.name: obj for obj in mini.OBJECTS}
    for q in ground_truth["queries"]:
        obj = objects[q["name"]]
        crop = np.asarray(load_image(built[0] / q["query"], bbox=q["bbox"]).convert("L"), dtype=float)
        source = photos[obj.query_photo].crop(tuple(round(v) for v in obj.boxes[obj.query_photo]))
        source = np.asarray(source.convert("L").resize((crop.shape[1], crop.shape[0])), dtype=float)
        correlation = np.corrcoef(crop.ravel(), source.ravel())[0, 1]
        assert correlation > 0.9, (q["name"], correlation)


def test_positives_and_junk_come_from_photos_that_hold_the_object(built, ground_truth):
    views = json.loads((built[0] / "views.json").read_text())
    objects = {obj.name: obj for obj in mini.OBJECTS}
    for q in ground_truth["queries"]:
        photos = set(objects[q["name"]].boxes)
        for level in ("easy", "hard", "junk"):
            assert {views[path]["photo"] for path in q[level]} <= photos, (q["name"], level)


def test_every_view_made_for_a_query_as_near_view_is_its_easy_positive(built, ground_truth):
    views = json.loads((built[0] / "views.json").read_text())
    for q in ground_truth["queries"]:
        near = {path for path, v in views.items() if v["made_for"] == q["name"] and v["recipe"] == "near view"}
        assert len(near) == 3 and near <= set(q["easy"]), q["name"]


def test_hard_cases_of_every_kind_are_present(built, ground_truth):
    views = json.loads((built[0] / "views.json").read_text())
    hard_recipes = {views[path]["recipe"] for q in ground_truth["queries"] for path in q["hard"]}
    assert {"strong perspective and rotation", "heavy occlusion", "strong lighting change"} <= hard_recipes
    assert hard_recipes & {"zoomed out", "zoomed in on part"}
    assert sum(len(q["junk"]) for q in ground_truth["queries"]) >= len(ground_truth["queries"])


def test_database_holds_negatives_from_the_query_photos_and_pure_distractors(built, ground_truth):
    views = json.loads((built[0] / "views.json").read_text())
    objects = {obj.name: obj for obj in mini.OBJECTS}
    same_photo_negatives = 0
    for q in ground_truth["queries"]:
        listed = set(q["easy"]) | set(q["hard"]) | set(q["junk"])
        same_photo_negatives += sum(1 for path, v in views.items()
                                    if v["photo"] in objects[q["name"]].boxes and path not in listed)
    assert same_photo_negatives >= len(ground_truth["queries"])
    assert sum(v["recipe"] == "distractor" for v in views.values()) == \
        len(mini.DISTRACTOR_PHOTOS) * mini.VIEWS_PER_DISTRACTOR_PHOTO


# --- the labelling rule ----------------------------------------------------------------------

def straight_view(x1, y1, x2, y2, size=(100, 100), **kwargs) -> mini.View:
    """A view of the photo window (x1, y1)-(x2, y2), without rotation or perspective."""
    quad = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=float)
    return mini.View("photo", quad, size, "test", None, **kwargs)


def test_homography_maps_the_window_corners_onto_the_view_corners():
    quad = mini.window((200, 150), 120, 80, rotation=25, perspective=0.3, near_side="top")
    h = mini.homography(quad, mini.rect_corners(64, 48))
    assert np.allclose(mini.apply_homography(h, quad), [[0, 0], [64, 0], [64, 48], [0, 48]])


def test_label_rule_on_hand_made_views():
    box, query_size = (20, 20, 60, 60), (40, 40)
    whole = straight_view(0, 0, 100, 100)
    seen = mini.visibility(whole, box, query_size)
    assert seen.visible == 1 and seen.scale == pytest.approx(1) and seen.coverage == pytest.approx(0.16)
    assert mini.label(whole, seen) == "easy"

    half = straight_view(40, 0, 140, 100)            # the right half of the box is in view
    assert mini.visibility(half, box, query_size).visible == pytest.approx(0.5)
    assert mini.label(half, mini.visibility(half, box, query_size)) == "hard"

    sliver = straight_view(56, 0, 156, 100)          # 4 of 40 columns: 10% visible
    assert mini.label(sliver, mini.visibility(sliver, box, query_size)) == "junk"

    elsewhere = straight_view(70, 0, 170, 100)
    assert mini.label(elsewhere, mini.visibility(elsewhere, box, query_size)) is None

    small = straight_view(0, 0, 100, 100, size=(30, 30))   # object 3.3x smaller than in the query
    assert mini.label(small, mini.visibility(small, box, query_size)) == "hard"

    tilted = straight_view(0, 0, 100, 100, rotation=25.0)
    assert mini.label(tilted, mini.visibility(tilted, box, query_size)) == "hard"

    dark = straight_view(0, 0, 100, 100, lighting=mini.Lighting("night", gamma=2.4, strong=True))
    assert mini.label(dark, mini.visibility(dark, box, query_size)) == "hard"


def test_occluder_hides_part_of_the_object():
    box, query_size = (20, 20, 60, 60), (40, 40)
    view = straight_view(0, 0, 100, 100)
    view.occluder = mini.Occluder((0, 0, 44, 100), "other", np.zeros((4, 2)))   # hides 24 of 40 columns
    seen = mini.visibility(view, box, query_size)
    assert seen.visible == pytest.approx(0.4, abs=1 / 24)   # measured on a 24 x 24 grid of points
    assert mini.label(view, seen) == "hard"


# --- sources -----------------------------------------------------------------------------------

def record_sha256(dist: metadata.Distribution, path: str) -> str | None:
    """The sha256 that the wheel's RECORD lists for `path`, as hex (None if RECORD has none)."""
    for f in dist.files or []:
        if str(f) == path and f.hash is not None:
            assert f.hash.mode == "sha256"
            return base64.urlsafe_b64decode(f.hash.value + "==").hex()
    return None


def test_every_source_photo_is_a_file_of_an_installed_wheel(ground_truth):
    used = ground_truth["sources"]
    assert {s["key"] for s in used} >= {p for obj in mini.OBJECTS for p in obj.boxes}
    for source in used:
        dist = metadata.distribution(source["package"])
        on_disk = Path(dist.locate_file(source["path"])).resolve()
        package_root = Path(dist.locate_file("")).resolve()
        assert on_disk.is_file() and package_root in on_disk.parents
        assert source["path"] in {str(f) for f in dist.files}, "not part of the wheel: fetched at run time?"
        actual = hashlib.sha256(on_disk.read_bytes()).hexdigest()
        assert actual == source["sha256"], source["path"]
        assert record_sha256(dist, source["path"]) in (None, actual)


def test_missing_source_file_is_a_clear_error():
    ghost = mini.SourcePhoto("ghost", "scikit-image", "skimage/data/not_a_photo.png", "", "", "", "", "")
    with pytest.raises(mini.MiniBuildError, match=r"skimage/data/not_a_photo\.png.*scikit-image"):
        ghost.locate()
    absent = mini.SourcePhoto("ghost", "no-such-distribution-xyz", "x/y.png", "", "", "", "", "")
    with pytest.raises(mini.MiniBuildError, match="not installed"):
        absent.locate()


def test_credits_file_in_data_is_the_module_table():
    with open(REPO / "data" / "mini_sources.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    expected = []
    for source in mini.SOURCES:
        fields = dataclasses.asdict(source)
        fields["package"] = fields.pop("distribution")
        expected.append(fields)
    assert rows == expected


def test_sources_file_lists_every_source_with_its_license(built, ground_truth):
    text = (built[0] / "SOURCES.md").read_text()
    for source in ground_truth["sources"]:
        assert source["path"] in text and source["license"] in text and source["credit"] in text
        assert source["license"] and source["credit"] and source["documented_in"]


# --- atomic, careful writing ------------------------------------------------------------------

def test_existing_build_is_reused_and_nothing_is_left_behind(built):
    folder = built[0]
    before = file_digests(folder)
    start = time.perf_counter()
    assert mini.build_mini(folder) == folder
    assert time.perf_counter() - start < 1
    assert file_digests(folder) == before
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]   # no staging folder left


def test_a_folder_that_is_not_a_build_is_never_overwritten(tmp_path):
    precious = tmp_path / "mini"
    precious.mkdir()
    (precious / "thesis.tex").write_text("months of work")
    with pytest.raises(mini.MiniBuildError, match=r"exists and is not a mini"):
        mini.build_mini(precious)
    assert (precious / "thesis.tex").read_text() == "months of work"


def test_failed_build_leaves_no_target_and_no_staging_folder(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(mini.build, "_database_names", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        mini.build_mini(tmp_path / "mini")
    assert list(tmp_path.iterdir()) == []
