"""`train-detector`: a tiny COCO folder (real pip photos with pasted objects) trains, checkpoints, resumes exactly;
bad COCO files and bad arguments give one-line errors and leave the user's files as they were."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from course_lib.commands import main
from course_lib.detection import coco, detector, scenes
from course_lib.detection.checkpoint import FORMAT, load_detector, read_detector_sidecar, trained_detector
from course_lib.train.checkpoint import CheckpointError

FAST = ["--batch-size", "2", "--image-size", "160", "--quiet"]


@pytest.fixture(scope="module")
def coco_folder(tmp_path_factory):
    """Four offline training scenes written as a COCO folder (PNG images, annotations.json)."""
    made = scenes.make_scenes(4, "train", seed=3)
    return coco.write_coco(made, tmp_path_factory.mktemp("coco") / "data", scenes.class_names()), made


def copy_of(folder, tmp_path):
    target = tmp_path / "data"
    shutil.copytree(folder, target)
    return target


def test_write_then_read_coco_gives_back_the_scenes(coco_folder):
    folder, made = coco_folder
    items, names = coco.read_coco(folder)
    assert names == scenes.class_names()
    assert len(items) == len(made)
    for item, scene in zip(items, made):
        assert item["size"] == scene.image.size
        np.testing.assert_allclose(item["boxes"], scene.boxes, atol=1e-4)
        np.testing.assert_array_equal(item["labels"], scene.labels)
    loaded, _ = coco.load_coco_scenes(folder, max_side=160)
    assert max(loaded[0].image.size) == 160
    np.testing.assert_allclose(loaded[0].boxes, made[0].boxes * 0.5, atol=1e-3)


def _edit(key, n, field, value):
    def change(data):
        if value is KeyError:
            del data[key][n][field]
        else:
            data[key][n][field] = value
    return change


BAD = {
    "negative width": (_edit("annotations", 0, "bbox", [10, 10, -5, 20]), "annotations[0] (id 1) bbox"),
    "three numbers": (_edit("annotations", 1, "bbox", [1, 2, 3]), "annotations[1] (id 2) bbox must be four"),
    "NaN box": (_edit("annotations", 0, "bbox", [1, 2, "nan", 4]), "annotations[0] (id 1) bbox must be four"),
    "box outside": (_edit("annotations", 0, "bbox", [300, 200, 100, 100]), "leaves the 320x240 image"),
    "unknown image": (_edit("annotations", 0, "image_id", 99), "image_id 99, which is not in images"),
    "unknown category": (_edit("annotations", 0, "category_id", 7), "category_id 7, which is not in categories"),
    "missing file": (_edit("images", 1, "file_name", "nope.png"), "images[1] file_name 'nope.png': no such file"),
    "escaping path": (_edit("images", 0, "file_name", "../annotations.json"), "must lie inside images/"),
    "no file name": (_edit("images", 2, "file_name", KeyError), "images[2] (id 3) has no \"file_name\""),
    "wrong size": (_edit("images", 0, "width", 640), "images[0] (scene_0000.png) says 640x240 but the file is 320x240"),
    "repeated id": (_edit("images", 1, "id", 1), "images repeat the id 1"),
    "no category name": (_edit("categories", 0, "name", ""), "categories[0] (id 1) has no \"name\""),
    "no categories": (lambda data: data.update(categories=[]), "\"categories\" is empty"),
    "annotations not a list": (lambda data: data.update(annotations={}), "needs a list \"annotations\""),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_coco_entries_are_named_in_one_line(coco_folder, tmp_path, case):
    folder = copy_of(coco_folder[0], tmp_path)
    data = json.loads((folder / "annotations.json").read_text())
    change, expected = BAD[case]
    change(data)
    (folder / "annotations.json").write_text(json.dumps(data))
    with pytest.raises(coco.CocoFormatError) as error:
        coco.read_coco(folder)
    message = str(error.value)
    assert "\n" not in message and "annotations.json" in message and expected in message, message


@pytest.mark.parametrize("text, expected", [("{", "not valid JSON"), ("[]", "the top level must be an object"),
                                            (b"\xff\xfe", "not UTF-8")])
def test_unreadable_annotations_file(coco_folder, tmp_path, text, expected):
    folder = copy_of(coco_folder[0], tmp_path)
    target = folder / "annotations.json"
    target.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(coco.CocoFormatError, match=expected):
        coco.read_coco(folder)


def test_bad_coco_folder_through_the_command_line(coco_folder, tmp_path, capsys):
    folder = copy_of(coco_folder[0], tmp_path)
    data = json.loads((folder / "annotations.json").read_text())
    data["annotations"][2]["bbox"] = [0, 0, 0, 10]
    (folder / "annotations.json").write_text(json.dumps(data))
    assert main(["train-detector", str(folder), "--out", str(tmp_path / "run"), *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "annotations[2] (id 3) bbox [0, 0, 0, 10] has no area" in err[0]
    assert not (tmp_path / "run" / "last.pt").exists()
    assert main(["train-detector", str(tmp_path / "absent"), "--out", str(tmp_path / "run"), *FAST]) == 2
    assert "neither 'scenes' nor a folder" in capsys.readouterr().err


def test_trains_checkpoints_and_resumes_exactly(coco_folder, tmp_path, capsys):
    folder, _ = coco_folder
    resumed, straight = tmp_path / "resumed", tmp_path / "straight"
    assert main(["train-detector", str(folder), "--out", str(resumed), "--epochs", "1", *FAST]) == 0
    first = read_detector_sidecar(resumed / "last.pt")
    assert first["format"] == FORMAT and first["epoch"] == 1 and first["step"] == 2
    assert first["network"]["class_names"] == scenes.class_names() and first["network"]["max_size"] == 160
    state = torch.load(resumed / "last.pt", map_location="cpu", weights_only=True)
    assert set(state) == {"weights", "optimizer", "rng"}
    assert not any(k.startswith("backbone.backbone.") for k in state["weights"])

    before = (resumed / "last.pt").read_bytes()
    assert main(["train-detector", str(folder), "--out", str(resumed), "--epochs", "2", *FAST]) == 2
    assert "add --resume" in capsys.readouterr().err
    assert (resumed / "last.pt").read_bytes() == before       # nothing overwritten
    assert main(["train-detector", str(folder), "--out", str(resumed), "--epochs", "2", "--lr", "0.02", "--resume",
                 *FAST]) == 2
    assert "other settings (lr)" in capsys.readouterr().err

    assert main(["train-detector", str(folder), "--out", str(resumed), "--epochs", "2", "--resume", *FAST]) == 0
    assert main(["train-detector", str(folder), "--out", str(straight), "--epochs", "2", *FAST]) == 0
    out = capsys.readouterr().out
    assert "checkpoint:" in out
    a = torch.load(resumed / "last.pt", map_location="cpu", weights_only=True)["weights"]
    b = torch.load(straight / "last.pt", map_location="cpu", weights_only=True)["weights"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)   # resuming changes nothing
    assert not all(torch.equal(a[k], state["weights"][k]) for k in a)          # the second epoch moved weights

    model, record, _ = load_detector(resumed / "last.pt")
    assert record["epoch"] == 2 and len(record["history"]) == 2
    found = detector.detect(model, [coco.load_coco_scenes(folder, 160)[0][0].tensor()], score_threshold=0.0)
    assert set(found[0]) == {"boxes", "labels", "scores"}


def test_nan_stops_without_touching_the_good_checkpoint(coco_folder, tmp_path, capsys, monkeypatch):
    from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN

    folder, _ = coco_folder
    run = tmp_path / "run"
    assert main(["train-detector", str(folder), "--out", str(run), "--epochs", "1", *FAST]) == 0
    good = (run / "last.pt").read_bytes(), (run / "last.json").read_bytes()
    capsys.readouterr()
    original = GeneralizedRCNN.forward

    def nan_losses(self, images, targets=None):
        out = original(self, images, targets)
        return {k: v * float("nan") for k, v in out.items()} if self.training else out

    monkeypatch.setattr(GeneralizedRCNN, "forward", nan_losses)
    assert main(["train-detector", str(folder), "--out", str(run), "--epochs", "3", "--resume", *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "epoch 2: loss became nan at step 3" in err[0] and "checkpoint of epoch 1" in err[0] and "is kept" in err[0]
    assert ((run / "last.pt").read_bytes(), (run / "last.json").read_bytes()) == good


def test_damaged_or_foreign_checkpoints_are_one_line_errors(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="description last.json is missing"):
        load_detector(path)
    (tmp_path / "last.json").write_text(json.dumps({"format": "course_lib.retrieval-checkpoint/1"}))
    with pytest.raises(CheckpointError, match="not a course_lib detector checkpoint"):
        load_detector(path)


def test_the_notebook_cache_is_a_detector_checkpoint(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_LIB_HOME", str(tmp_path))
    made = scenes.make_scenes(2, "train")
    model, record = trained_detector(made, len(scenes.CLASSES) + 1, steps=1, batch_size=2, progress=False,
                                     class_names=scenes.class_names())
    assert not record["cached"]
    files = list((tmp_path / "detection").glob("detector-*.pt"))
    assert len(files) == 1 and files[0].with_suffix(".json").is_file()
    again, cached = trained_detector(made, len(scenes.CLASSES) + 1, steps=1, batch_size=2, progress=False,
                                     class_names=scenes.class_names())
    assert cached["cached"] and cached["losses"] == record["losses"]
    for key, value in detector.trainable_state(model).items():
        assert torch.equal(value, detector.trainable_state(again)[key])
    _, sidecar, _ = load_detector(files[0])        # what a student hands to the command line
    assert sidecar["network"]["class_names"] == scenes.class_names()
