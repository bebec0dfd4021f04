"""The `search` subcommand: top results with boxes (global and --regions), a figure, one-line errors."""
from __future__ import annotations

import json
import shutil

import pytest

from course_lib.cli import main
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
    (["--top", "0"], "--top must be at least 1"),
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
