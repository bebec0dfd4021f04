"""Tests for localization (exhaustive vs refine), the offline detection scenes, the detector wrapper and COCO AP."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.detection import boxes, detector, localize, scenes, speed
from course_lib.detection.average_precision import coco_ap


def planted_map(height=12, width=16, box=(5, 3, 4, 5), channels=32, seed=0):
    """A random weak map with an object planted in box (x, y, w, h): a different pair of strong channels
    at each of its four corners, so that only a box holding all four corners matches the query fully."""
    generator = torch.Generator().manual_seed(seed)
    maps = torch.rand(channels, height, width, generator=generator) * 0.2
    x, y, w, h = box
    corners = [(y, x), (y, x + w - 1), (y + h - 1, x), (y + h - 1, x + w - 1)]
    for part, (row, col) in enumerate(corners):
        maps[2 * part:2 * part + 2, row, col] = 3.0
    pattern = torch.zeros(channels)
    pattern[:8] = 3.0
    return maps, pattern


def test_all_boxes_counts_every_box():
    assert len(localize.all_boxes(3, 4)) == (3 * 4 // 2) * (4 * 5 // 2)
    assert len(localize.all_boxes(12, 16)) == 78 * 136


@pytest.mark.parametrize("box", [(5, 3, 4, 5), (0, 0, 3, 3), (10, 6, 6, 6)])
def test_exhaustive_and_refine_find_a_planted_object(box):
    maps, pattern = planted_map(box=box)
    query = torch.nn.functional.normalize(pattern.double(), dim=0)
    size = (16 * 32, 12 * 32)
    truth = localize.cells_to_box(box, (12, 16), size)
    exhaustive = localize.localize_exhaustive(maps, query, size)
    refined = localize.localize_refine(maps, query, size)
    assert boxes.paired_iou([exhaustive.box], [truth])[0] > 0.6
    assert boxes.paired_iou([refined.box], [truth])[0] > 0.6
    assert refined.evaluations * 10 <= exhaustive.evaluations
    assert refined.score <= exhaustive.score + 1e-12


def test_neighbours_stay_inside_the_map():
    for cells in [(0, 0, 1, 1), (3, 2, 4, 4), (0, 0, 8, 6)]:
        for x, y, w, h in localize.neighbours(cells, 6, 8):
            assert 0 <= x and 0 <= y and w >= 1 and h >= 1 and x + w <= 8 and y + h <= 6


def test_localize_rejects_unknown_method():
    maps, pattern = planted_map()
    with pytest.raises(ValueError, match="refine"):
        localize.localize(maps, pattern.double(), (10, 10), method="fast")


@pytest.fixture(scope="module")
def few_scenes():
    return scenes.make_scenes(6, "train", seed=3), scenes.make_scenes(4, "held-out", seed=3)


def test_scenes_are_deterministic_and_boxes_inside(few_scenes):
    train, held_out = few_scenes
    again = scenes.make_scenes(6, "train", seed=3)
    for a, b in zip(train, again):
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
        assert np.array_equal(a.boxes, b.boxes)
    for scene in train + held_out:
        width, height = scene.image.size
        assert len(scene.boxes) >= 1 and len(scene.boxes) == len(scene.labels)
        assert (scene.boxes[:, 0] >= 0).all() and (scene.boxes[:, 2] <= width).all()
        assert (scene.boxes[:, 1] >= 0).all() and (scene.boxes[:, 3] <= height).all()
        assert set(scene.labels.tolist()) <= set(range(1, len(scenes.CLASSES) + 1))


def test_training_and_held_out_backgrounds_are_disjoint(few_scenes):
    train, held_out = few_scenes
    assert not set(scenes.TRAIN_BACKGROUNDS) & set(scenes.HELD_OUT_BACKGROUNDS)
    assert {s.background for s in train} <= set(scenes.TRAIN_BACKGROUNDS)
    assert {s.background for s in held_out} <= set(scenes.HELD_OUT_BACKGROUNDS)
    manifest = scenes.manifest()
    assert all(len(s["sha256"]) == 64 for s in manifest["objects"] + manifest["held_out_backgrounds"])


def test_coco_ap_of_perfect_and_of_no_detections(few_scenes):
    _, held_out = few_scenes
    perfect = [{"boxes": torch.as_tensor(s.boxes), "labels": torch.as_tensor(s.labels),
                "scores": torch.ones(len(s.boxes))} for s in held_out]
    assert coco_ap(held_out, perfect, scenes.class_names())["AP@0.5"] == pytest.approx(1.0)
    shifted = [{**p, "boxes": p["boxes"] + 1000} for p in perfect]
    assert coco_ap(held_out, shifted, scenes.class_names())["AP@0.5"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="one detection dict per scene"):
        coco_ap(held_out, perfect[:-1], scenes.class_names())


def test_detector_trains_only_its_head_and_the_loss_moves(few_scenes):
    train, _ = few_scenes
    torch.manual_seed(0)
    model = detector.build_detector(len(scenes.CLASSES) + 1)
    frozen = {k: v.clone() for k, v in model.backbone.backbone.state_dict().items()}
    head_before = model.roi_heads.box_predictor.cls_score.weight.detach().clone()
    history = detector.train_detector(model, train, steps=3, batch_size=2, progress=False)
    assert len(history) == 3 and all(np.isfinite(h["total"]) for h in history)
    for key, value in model.backbone.backbone.state_dict().items():
        assert torch.equal(value, frozen[key]), key
    assert not torch.equal(head_before, model.roi_heads.box_predictor.cls_score.weight)
    assert "backbone.backbone.stem" not in " ".join(detector.trainable_state(model))
    found = detector.detect(model, [train[0].tensor()], score_threshold=0.0)
    assert set(found[0]) == {"boxes", "labels", "scores"}


def test_pipeline_costs_table(few_scenes):
    train, _ = few_scenes
    model = detector.build_detector(len(scenes.CLASSES) + 1).eval()
    image = train[0].tensor()
    proposals = boxes.clip_boxes(boxes.anchor_grid((3, 4), 64, (64,), (1.0,)), 320, 240).float()
    table = speed.pipeline_costs(model, image, proposals, rcnn_proposals=3, repeats=1)
    assert list(table.index) == ["R-CNN style", "Fast R-CNN style", "Faster R-CNN"]
    assert (table["seconds per image"] > 0).all()
    assert table["R-CNN time"].iloc[0].startswith("scaled from 3")


def test_region_search_returns_the_image_and_box_of_a_planted_object():
    from course_lib.detection import region_search

    generator = torch.Generator().manual_seed(1)
    maps = {i: torch.rand(32, 12, 16, generator=generator) * 0.2 for i in range(5)}
    for part, (row, col) in enumerate([(0, 0), (0, 7), (5, 0), (5, 7)]):   # image 3: object in cells x 0-7, y 0-5
        maps[3][2 * part:2 * part + 2, row, col] = 3.0
    sizes = {i: (512, 384) for i in maps}
    regions = region_search.build_region_index(maps.__getitem__, sizes, list(maps))
    query = np.zeros(32, dtype=np.float32)
    query[:8] = 1 / np.sqrt(8)
    results = region_search.search_regions(regions, query, k=3)
    assert [r[0] for r in results][:1] == [3] and len(results) == 3
    assert boxes.paired_iou([results[0][2]], [[0, 0, 256, 192]])[0] >= 0.5
    assert len({r[0] for r in results}) == 3


def test_region_ranking_covers_every_image_and_located_share_counts_hits():
    from types import SimpleNamespace

    from course_lib.detection import region_search

    generator = torch.Generator().manual_seed(2)
    maps = {i: torch.rand(32, 12, 16, generator=generator) * 0.2 for i in range(4)}
    for part, (row, col) in enumerate([(0, 0), (0, 7), (5, 0), (5, 7)]):
        maps[1][2 * part:2 * part + 2, row, col] = 3.0
    regions = region_search.build_region_index(maps.__getitem__, {i: (512, 384) for i in maps}, [0, 1, 2, 3])
    query = np.zeros((1, 32), dtype=np.float32)
    query[0, :8] = 1 / np.sqrt(8)
    ranks, best = region_search.region_ranking(regions, query, n_database=5)
    assert ranks.shape == (5, 1) and sorted(ranks[:, 0].tolist()) == [0, 1, 2, 3, 4] and ranks[0, 0] == 1
    dataset = SimpleNamespace(positive_boxes=[{1: (0, 0, 256, 192), 2: (300, 200, 500, 380)}])
    share, count = region_search.located_share(dataset, best)
    assert count == 2 and share == pytest.approx(0.5)


def test_the_cached_detector_is_keyed_by_its_scenes_content():
    from course_lib.detection.checkpoint import scenes_fingerprint

    some = scenes.make_scenes(2, "held-out")
    assert scenes_fingerprint(some) == scenes_fingerprint(scenes.make_scenes(2, "held-out"))
    changed = np.asarray(some[0].image).copy()
    changed[0, 0, 0] ^= 1
    other = [dataclasses.replace(some[0], image=Image.fromarray(changed)), some[1]]
    assert scenes_fingerprint(other) != scenes_fingerprint(some)
