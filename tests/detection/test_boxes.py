"""Tests for course_lib.detection.boxes and the per-positive boxes of mini and of folder datasets."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.datasets import load_dataset
from course_lib.datasets.base import DatasetFormatError
from course_lib.datasets.folder import load_folder
from course_lib.detection import boxes as B


def test_iou_of_known_boxes():
    a = [[0, 0, 10, 10], [0, 0, 10, 10]]
    b = [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]
    iou = B.box_iou(a, b).numpy()
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[0], [1.0, 50 / 150, 0.0])
    np.testing.assert_allclose(B.paired_iou([[0, 0, 2, 2]], [[1, 1, 3, 3]]), [1 / 7])


def test_bad_box_shapes_are_named():
    with pytest.raises(B.BoxError, match="shape"):
        B.box_iou([[1, 2, 3]], [[0, 0, 1, 1]])
    with pytest.raises(B.BoxError, match="same number"):
        B.paired_iou([[0, 0, 1, 1]], [[0, 0, 1, 1], [0, 0, 2, 2]])


def test_anchors_have_the_asked_area_and_ratio():
    anchors = B.anchors_at((50, 40), scales=(32, 64), ratios=(0.5, 1.0, 2.0))
    assert anchors.shape == (6, 4)
    w, h = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    np.testing.assert_allclose((w * h).sqrt().numpy(), [32, 32, 32, 64, 64, 64])
    np.testing.assert_allclose((h / w).numpy(), [0.5, 1, 2, 0.5, 1, 2])
    np.testing.assert_allclose(((anchors[:, 0] + anchors[:, 2]) / 2).numpy(), 50)


def test_anchor_grid_matches_torchvision_anchor_generator():
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList

    generator = AnchorGenerator(sizes=((32, 64),), aspect_ratios=((0.5, 1.0, 2.0),))
    images = ImageList(torch.zeros(1, 3, 64, 96), [(64, 96)])
    theirs = generator(images, [torch.zeros(1, 8, 4, 6)])[0].double()
    ours = B.anchor_grid((4, 6), stride=16, scales=(32, 64), ratios=(0.5, 1.0, 2.0))
    # torchvision puts anchors on the cell's top-left corner and rounds them to whole pixels;
    # ours sit on the cell's centre: the same set, shifted by half a stride, up to rounding.
    def as_sorted(boxes):
        return np.array(sorted(map(tuple, boxes.numpy().round(0))))
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(as_sorted(ours - 8), as_sorted(theirs), atol=1.0)


def test_encode_decode_round_trip_and_known_values():
    anchors = torch.tensor([[0.0, 0.0, 10.0, 20.0], [5.0, 5.0, 15.0, 15.0]], dtype=torch.float64)
    boxes = torch.tensor([[1.0, 2.0, 13.0, 18.0], [0.0, 0.0, 40.0, 10.0]], dtype=torch.float64)
    deltas = B.encode(boxes, anchors)
    np.testing.assert_allclose(deltas[0].numpy(), [(7 - 5) / 10, (10 - 10) / 20, math.log(1.2), math.log(0.8)])
    np.testing.assert_allclose(B.decode(deltas, anchors).numpy(), boxes.numpy(), atol=1e-10)


def test_decode_agrees_with_torchvision_box_coder():
    from torchvision.models.detection._utils import BoxCoder

    rng = np.random.default_rng(0)
    anchors = torch.tensor(np.sort(rng.uniform(0, 100, (20, 2, 2)), axis=1).transpose(0, 2, 1).reshape(20, 4)[:, [0, 2, 1, 3]])
    deltas = torch.tensor(rng.normal(0, 0.5, (20, 4)))
    theirs = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0)).decode_single(deltas, anchors)
    np.testing.assert_allclose(B.decode(deltas, anchors).numpy(), theirs.numpy(), atol=1e-8)


def test_greedy_nms_equals_torchvision():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (60, 2))
    wh = rng.uniform(10, 40, (60, 2))
    boxes = np.c_[xy, xy + wh]
    scores = rng.random(60)
    for threshold in (0.3, 0.5, 0.7):
        assert B.greedy_nms(boxes, scores, threshold).tolist() == B.nms(boxes, scores, threshold).tolist()


def test_match_anchors_labels_positive_negative_and_best():
    anchors = [[0, 0, 10, 10], [0, 0, 9, 10], [50, 50, 60, 60], [100, 100, 110, 130]]
    gt = [[0, 0, 10, 10], [100, 100, 120, 120]]
    labels = B.match_anchors(anchors, gt).tolist()
    assert labels[0] == 0 and labels[1] == 0 and labels[2] == -1
    assert labels[3] == 1   # low IoU, but the best anchor of box 1


# --- per-positive boxes ------------------------------------------------------------------

@pytest.fixture(scope="module")
def mini():
    return load_dataset("mini")


def test_mini_has_a_box_for_every_positive(mini):
    assert mini.positive_boxes is not None
    for q, gnd in enumerate(mini.gnd):
        assert set(mini.positive_boxes[q]) == set(gnd["easy"]) | set(gnd["hard"])


def test_mini_boxes_lie_inside_their_images(mini):
    for boxes in mini.positive_boxes:
        for image_id, (x1, y1, x2, y2) in boxes.items():
            with Image.open(mini.images[image_id]) as img:
                width, height = img.size
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height


def test_mini_box_matches_the_query_object_in_an_easy_view(mini):
    """In an easy view the boxed crop should look like the query's boxed crop (same object)."""
    from course_lib.images import load_image

    def crop(path, box, size=32):
        image = load_image(path).convert("L").crop(tuple(int(v) for v in box)).resize((size, size))
        x = np.asarray(image, dtype=np.float64)
        return (x - x.mean()) / (x.std() + 1e-6)

    correlations = []
    for q, gnd in enumerate(mini.gnd):
        easy = [i for i in gnd["easy"] if i in mini.positive_boxes[q]]
        if easy and mini.bboxes[q] is not None:
            i = easy[0]
            a, b = crop(mini.queries[q], mini.bboxes[q]), crop(mini.images[i], mini.positive_boxes[q][i])
            correlations.append(float((a * b).mean()))
    assert len(correlations) >= 10
    assert np.median(correlations) > 0.5, correlations


def _folder(tmp_path, boxes):
    (tmp_path / "images").mkdir()
    (tmp_path / "queries").mkdir()
    Image.new("RGB", (40, 30)).save(tmp_path / "images" / "a.jpg")
    Image.new("RGB", (40, 30)).save(tmp_path / "images" / "b.jpg")
    Image.new("RGB", (40, 30)).save(tmp_path / "queries" / "q.jpg")
    entry = {"query": "queries/q.jpg", "positives": ["images/a.jpg"]}
    if boxes is not None:
        entry["boxes"] = boxes
    (tmp_path / "ground_truth.json").write_text(json.dumps({"queries": [entry]}))
    return tmp_path


def test_folder_reads_positive_boxes(tmp_path):
    data = load_folder(_folder(tmp_path, {"images/a.jpg": [1, 2, 30, 20]}))
    assert data.positive_boxes == [{0: (1.0, 2.0, 30.0, 20.0)}]


def test_folder_without_boxes_has_none(tmp_path):
    assert load_folder(_folder(tmp_path, None)).positive_boxes is None


@pytest.mark.parametrize("boxes, message", [
    ({"images/b.jpg": [1, 2, 3, 4]}, r"queries\[0\]\.boxes\[\"images/b.jpg\"\]: 'images/b.jpg' is not a positive"),
    ({"images/a.jpg": [1, 2, 3]}, r"queries\[0\]\.boxes\[\"images/a.jpg\"\]: expected \[x1, y1, x2, y2\]"),
    ({"images/a.jpg": [5, 5, 2, 8]}, "is empty"),
    ({"images/a.jpg": [50, 40, 60, 50]}, "outside the 40x30 image"),
    ({"images/zz.jpg": [1, 1, 2, 2]}, "does not exist"),
    ([[1, 2, 3, 4]], r"queries\[0\]\.boxes: expected an object"),
])
def test_folder_box_errors_say_where(tmp_path, boxes, message):
    with pytest.raises(DatasetFormatError, match=message):
        load_folder(_folder(tmp_path, boxes))
