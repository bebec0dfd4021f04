"""The `search` subcommand: top results with boxes (global and --regions), a figure, one-line errors."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from course_lib.commands import main
from course_lib.datasets import load_dataset


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    """Five mini views (two of the cat, three others) as a folder dataset; the cat query with its box."""
    mini = load_dataset("mini")
    cat = mini.extra["query_names"].index("cat's face")
    cats = sorted(mini.gnd[cat]["easy"])[:2]
    others = [i for i in range(len(mini)) if i not in set(mini.gnd[cat]["easy"]) | set(mini.gnd[cat]["hard"])
              | set(mini.gnd[cat]["junk"])][:3]
    folder = tmp_path_factory.mktemp("search") / "data"
    (folder / "images").mkdir(parents=True)
    (folder / "queries").mkdir()
    names = []
    for i in cats + others:
        shutil.copy(mini.images[i], folder / "images" / mini.images[i].name)
        names.append(f"images/{mini.images[i].name}")
    shutil.copy(mini.queries[cat], folder / "queries" / "cat.jpg")
    (folder / "ground_truth.json").write_text(json.dumps({"queries": [
        {"query": "queries/cat.jpg", "bbox": list(mini.bboxes[cat]), "positives": names[:2]}]}))
    return folder, mini.bboxes[cat], names[:2]


@pytest.mark.parametrize("regions", [False, True])
def test_search_prints_ranked_results_with_boxes(small_folder, capsys, tmp_path, regions):
    folder, bbox, positives = small_folder
    figure = tmp_path / "results.png"
    args = ["search", str(folder), "--query", str(folder / "queries" / "cat.jpg"), "--bbox", *map(str, bbox),
            "--top", "3", "--image-size", "256", "--show", str(figure)] + (["--regions"] if regions else [])
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[2:5]]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert {rows[0][-1], rows[1][-1]} == set(positives)        # both cat views first
    for row in rows:
        x1, y1, x2, y2 = map(float, row[2:6])
        assert x2 > x1 and y2 > y1
    assert figure.stat().st_size > 0


@pytest.mark.parametrize("extra, message", [
    (["--bbox", "10", "10", "5", "20"], "--bbox 10 10 5 20 is empty or outside"),
    (["--top", "0"], "argument --top: 0: must be at least 1"),
    (["--show", "/nonexistent-folder/x.png"], "does not exist"),
])
def test_search_errors_are_one_line(small_folder, capsys, extra, message):
    folder, _, _ = small_folder
    assert main(["search", str(folder), "--query", str(folder / "queries" / "cat.jpg"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_search_missing_query_file(small_folder, capsys):
    folder, _, _ = small_folder
    assert main(["search", str(folder), "--query", str(folder / "nothing.jpg")]) == 2
    assert "nothing.jpg" in capsys.readouterr().err


def test_evaluate_localize_needs_per_positive_boxes(small_folder, capsys):
    folder, _, _ = small_folder
    assert main(["evaluate", str(folder), "--pooling", "gem", "--image-size", "128", "--localize", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "gives no boxes of the object in its positives" in err and "\n" not in err


def test_evaluate_localize_prints_located_share(small_folder, capsys, tmp_path):
    folder, _, positives = small_folder
    with_boxes = tmp_path / "data"
    shutil.copytree(folder, with_boxes)
    truth = json.loads((folder / "ground_truth.json").read_text())
    truth["queries"][0]["boxes"] = {positives[0]: [0, 0, 100, 100]}
    (with_boxes / "ground_truth.json").write_text(json.dumps(truth))
    assert main(["evaluate", str(with_boxes), "--pooling", "gem", "--image-size", "128", "--localize", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "localization of the query in 1 positives" in out and "refine" in out


@pytest.fixture(scope="module")
def untrained_detector(tmp_path_factory):
    """A real torchvision Faster R-CNN on the offline backbone, saved as a `train-detector` checkpoint before
    any training: its boxes are arbitrary but real detections, enough to follow them through the search."""
    import torch

    from course_lib.detection import detector, scenes
    from course_lib.detection.checkpoint import save_detector

    torch.manual_seed(0)
    model = detector.build_detector(len(scenes.CLASSES) + 1)
    path = tmp_path_factory.mktemp("detector") / "last.pt"
    save_detector(path, model, scenes.class_names(), {"epoch": 0})
    return path


def test_search_regions_proposed_by_a_detector(small_folder, untrained_detector, capsys):
    from course_lib.detection.checkpoint import load_detector
    from course_lib.detection.region_search import detector_boxes
    from course_lib.images import image_size

    folder, bbox, _ = small_folder
    assert main(["search", str(folder), "--query", str(folder / "queries" / "cat.jpg"), "--bbox", *map(str, bbox),
                 "--regions", "--detector", str(untrained_detector), "--min-score", "0", "--top", "5",
                 "--image-size", "256"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "detector last.pt + whole images" in lines[0]
    model = load_detector(untrained_detector)[0]
    images = sorted((folder / "images").iterdir())
    expected = sum(1 + len(detector_boxes(model, image, 256, score_threshold=0)) for image in images)
    assert f"best of {expected} regions" in lines[0]  # every detection of every image is in the index
    for line in lines[2:7]:
        *_, x1, y1, x2, y2, name = line.split()
        box = [float(v) for v in (x1, y1, x2, y2)]
        width, height = image_size(folder / name)
        found = detector_boxes(model, folder / name, 256, score_threshold=0)
        candidates = [[0, 0, width, height], *found.tolist()]
        assert any(max(abs(a - b) for a, b in zip(box, c)) <= 0.5 for c in candidates)  # printed to 0 decimals


def test_detector_boxes_are_class_agnostic_in_file_pixels(monkeypatch, untrained_detector):
    import torch

    from course_lib.detection import detector
    from course_lib.detection.checkpoint import load_detector
    from course_lib.detection.region_search import detector_boxes
    from course_lib.images import image_size

    mini = load_dataset("mini")
    path = mini.images[0]
    width, height = image_size(path)
    model = load_detector(untrained_detector)[0]
    seen = {}

    def fake_detect(model, images, score_threshold):  # two classes on one object, one other object, one beyond the edge
        seen["shape"] = images[0].shape
        return [{"boxes": torch.tensor([[10.0, 10, 50, 50], [11, 11, 50, 50], [60, 20, 90, 40], [80, 80, 9999, 9999]]),
                 "scores": torch.tensor([0.9, 0.8, 0.7, 0.6]), "labels": torch.tensor([1, 2, 1, 3])}]

    monkeypatch.setattr(detector, "detect", fake_detect)
    boxes = detector_boxes(model, path, max_side=100, max_boxes=2)
    sx, sy = width / seen["shape"][2], height / seen["shape"][1]
    assert max(seen["shape"][1:]) == 100 and boxes.shape == (2, 4)   # the duplicate is suppressed, the best 2 kept
    np.testing.assert_allclose(boxes, [[10 * sx, 10 * sy, 50 * sx, 50 * sy], [60 * sx, 20 * sy, 90 * sx, 40 * sy]],
                               rtol=1e-5)
    assert detector_boxes(model, path, max_side=100)[-1].tolist() == pytest.approx([80 * sx, 80 * sy, width, height])


@pytest.mark.parametrize("extra, message", [
    (["--detector", "x.pt"], "--detector proposes the regions of --regions: add --regions"),
    (["--regions", "--detector", "absent.pt"], "checkpoint absent.pt: no such file"),
    (["--regions", "--min-score", "2"], "argument --min-score: '2': give a finite number at least 0 and at most 1"),
])
def test_search_detector_errors_are_one_line(small_folder, capsys, extra, message):
    folder, _, _ = small_folder
    assert main(["search", str(folder), "--query", str(folder / "queries" / "cat.jpg"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


@pytest.mark.parametrize("regions", [False, True])
def test_search_shows_its_progress_unless_quiet(small_folder, capsys, regions):
    folder, bbox, _ = small_folder
    args = ["search", str(folder), "--query", str(folder / "queries" / "cat.jpg"), "--top", "2",
            "--image-size", "224"] + (["--regions"] if regions else [])
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "5/5" in err and "img" in err, err  # the whole database is worked through, with a bar that says so
    assert main([*args, "--quiet"]) == 0
    assert capsys.readouterr().err == ""
