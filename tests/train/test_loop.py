"""The training loop on tiny settings: p moves, checkpoints reload, --resume continues, NaN stops cleanly,
and the CLI trains and evaluates end to end."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch

from support import first_photo
from course_lib.datasets import load_dataset, mini_train
from course_lib.models import load_backbone
from course_lib.train import CheckpointError, TrainingDiverged, TrainSettings, load_checkpoint, train
from course_lib.train import loop
from course_lib.train.frozen import describe_dataset

TINY = dict(epochs=2, tuples_per_epoch=4, negatives=2, batch_tuples=2, max_side=64, lr=1e-2)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    path = tmp_path_factory.mktemp("home")
    old = os.environ.get("COURSE_LIB_HOME")
    os.environ["COURSE_LIB_HOME"] = str(path)
    yield path
    if old is None:
        del os.environ["COURSE_LIB_HOME"]
    else:
        os.environ["COURSE_LIB_HOME"] = old


@pytest.fixture(scope="module")
def data(home):
    full = load_dataset("mini-train")
    return first_photo(mini_train.split(full, "train"), 3), first_photo(mini_train.split(full, "val"), 2)


@pytest.fixture(scope="module")
def backbone():
    return load_backbone()


def test_training_moves_p_and_writes_a_checkpoint_that_reloads(data, backbone, tmp_path):
    result = train(*data, TrainSettings(**TINY), backbone=backbone, out_dir=tmp_path, progress=False)
    assert [row["epoch"] for row in result.history] == [0, 1, 2]
    assert result.history[-1]["p"] != pytest.approx(3.0, abs=1e-4)
    assert all(0 <= row["val_map"] <= 1 for row in result.history)
    net, record = load_checkpoint(tmp_path / "last.pt", backbone=backbone)
    assert record["epoch"] == 2 and record["training"]["loss"] == "contrastive"
    assert net.p == pytest.approx(result.net.p)
    val = data[1]
    a = describe_dataset(result.net, val, 64).db["gem-ft"]
    b = describe_dataset(net, val, 64).db["gem-ft"]
    assert abs(a - b).max() < 1e-5
    # The backbone the networks were made from is untouched by training.
    assert torch.equal(backbone.stages[-3][0].weight, load_backbone().stages[-3][0].weight)


def test_resume_continues_where_it_stopped(data, backbone, tmp_path):
    straight = train(*data, TrainSettings(**TINY), backbone=backbone, progress=False)
    train(*data, TrainSettings(**{**TINY, "epochs": 1}), backbone=backbone, out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        train(*data, TrainSettings(**{**TINY, "lr": 0.5}), backbone=backbone, out_dir=tmp_path, resume=True,
              progress=False)
    resumed = train(*data, TrainSettings(**TINY), backbone=backbone, out_dir=tmp_path, resume=True, progress=False)
    assert [r["epoch"] for r in resumed.history] == [0, 1, 2]
    assert resumed.history[2]["loss"] == pytest.approx(straight.history[2]["loss"], rel=1e-4)


def test_nan_loss_stops_naming_epoch_and_step_and_keeps_the_checkpoint(data, backbone, tmp_path, monkeypatch):
    train(*data, TrainSettings(**{**TINY, "epochs": 1}), backbone=backbone, out_dir=tmp_path, progress=False)
    good = (tmp_path / "last.pt").read_bytes(), (tmp_path / "last.json").read_bytes()
    monkeypatch.setitem(loop.LOSSES, "contrastive", lambda q, p, n, margin: (q * float("nan")).sum())
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 1.*epoch 1.*kept"):
        train(*data, TrainSettings(**TINY), backbone=backbone, out_dir=tmp_path, resume=True, progress=False)
    assert ((tmp_path / "last.pt").read_bytes(), (tmp_path / "last.json").read_bytes()) == good


def test_damaged_or_missing_checkpoints_are_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="missing beside it"):
        load_checkpoint(tmp_path / "bad.pt")


def write_folder(dataset, root):
    """A dataset as a folder in the kit's own format (images/, queries/, ground_truth.json)."""
    (root / "images").mkdir(parents=True)
    (root / "queries").mkdir()
    for path in dataset.images:
        shutil.copy(path, root / "images" / path.name)
    entries = []
    for query, g in zip(dataset.queries, dataset.gnd):
        shutil.copy(query, root / "queries" / query.name)
        entries.append({"query": f"queries/{query.name}",
                        **{level: [f"images/{dataset.images[i].name}" for i in g[level]]
                           for level in ("easy", "hard", "junk")}})
    (root / "ground_truth.json").write_text(json.dumps({"queries": entries}))
    return root


def test_cli_trains_then_evaluates_the_checkpoint(data, home, tmp_path):
    env = {**os.environ, "COURSE_LIB_HOME": str(home)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "course_lib", *args], capture_output=True, text=True,
                              env=env, timeout=600)

    train_dir, val_dir = write_folder(data[0], tmp_path / "train"), write_folder(data[1], tmp_path / "val")
    out = tmp_path / "run"
    args = ["train", str(train_dir), "--val", str(val_dir), "--epochs", "1", "--tuples", "2", "--negatives", "2",
            "--image-size", "64", "--out", str(out), "--quiet"]
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    assert "val mAP" in done.stdout and (out / "last.pt").is_file() and (out / "last.json").is_file()
    again = cli(*args)
    assert again.returncode == 2 and "--resume" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    ev = cli("evaluate", str(val_dir), "--checkpoint", str(out / "last.pt"), "--image-size", "64", "--quiet")
    assert ev.returncode == 0, ev.stderr
    assert "gem-ft" in ev.stdout
    missing = cli("evaluate", str(val_dir), "--checkpoint", str(tmp_path / "nothing.pt"), "--quiet")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    pooled = cli("evaluate", str(val_dir), "--checkpoint", str(out / "last.pt"), "--image-size", "64", "--quiet",
                 "--pooling", "mac", "--pooling", "gem", "--scales", "1", "0.5", "--json", str(tmp_path / "r.json"))
    assert pooled.returncode == 0, pooled.stderr
    written = json.loads((tmp_path / "r.json").read_text())
    assert [row["method"] for row in written["results"]] == ["mac", "gem"] and written["scales"] == [1, 0.5]
    assert "-ft-" in written["backbone"]  # the fine-tuned network's descriptors, not the pretrained one's


def test_evaluate_checkpoint_hands_pooling_and_scales_to_the_one_extraction_road(data, backbone, home, tmp_path,
                                                                                  monkeypatch):
    from course_lib import experiment
    from course_lib.commands import main

    train(*data, TrainSettings(**dict(TINY, epochs=1)), backbone=backbone, out_dir=tmp_path, progress=False)
    seen = {}

    def fake_run(dataset, network, methods, max_side, scales, progress, rerank):
        seen.update(network=network, methods=methods, max_side=max_side, scales=scales)
        return []

    monkeypatch.setattr(experiment, "run", fake_run)
    monkeypatch.setattr(experiment, "results_table", lambda rows: pd.DataFrame())
    assert main(["evaluate", "mini", "--checkpoint", str(tmp_path / "last.pt"), "--pooling", "rmac",
                 "--scales", "1", "0.707", "--image-size", "96", "--quiet"]) == 0
    assert seen["methods"] == ["rmac"] and seen["scales"] == [1.0, 0.707] and seen["max_side"] == 96
    assert seen["network"].name.startswith(f"{backbone.name}-ft-")
    assert main(["evaluate", "mini", "--checkpoint", str(tmp_path / "last.pt"), "--quiet"]) == 0
    assert seen["methods"] == ["gem-ft"]  # without --pooling: the network's own GeM and whitening
    assert main(["evaluate", "mini", "--checkpoint", str(tmp_path / "last.pt"), "--backbone", "resnet50"]) == 2


def test_a_fine_tuned_network_as_a_backbone_gives_its_own_descriptors_at_every_scale(data, backbone, tmp_path):
    from course_lib.features import describe_images

    train(*data, TrainSettings(**dict(TINY, epochs=1, whitening_dim=16)), backbone=backbone, out_dir=tmp_path,
          progress=False)
    net, _ = load_checkpoint(tmp_path / "last.pt", backbone=backbone)
    val = data[1]
    frozen_road = describe_dataset(net, val, 64).db["gem-ft"]
    as_backbone = net.as_backbone()
    one_road = describe_images(val.images, as_backbone, ["gem-ft", "gem"], 64, progress=False)
    torch.testing.assert_close(torch.from_numpy(one_road["gem-ft"]), torch.from_numpy(frozen_road), atol=1e-5, rtol=0)
    assert one_road["gem"].shape[1] == net.gem_input_dim != one_road["gem-ft"].shape[1]  # pooled before whitening
    two_scales = describe_images(val.images, as_backbone, ["gem-ft"], 64, scales=(1.0, 0.5), progress=False)["gem-ft"]
    half = describe_images(val.images, as_backbone, ["gem-ft"], 64, scales=(0.5,), progress=False)["gem-ft"]
    summed = one_road["gem-ft"] + half
    expected = summed / (summed ** 2).sum(axis=1, keepdims=True) ** 0.5
    assert abs(two_scales - one_road["gem-ft"]).max() > 1e-3
    torch.testing.assert_close(torch.from_numpy(two_scales), torch.from_numpy(expected), atol=1e-5, rtol=0)


SAMPLED = dict(TINY, loss="triplet", objects_per_batch=2, views_per_object=3, margin=0.3)


@pytest.mark.parametrize("sampler", ["random", "semi-hard"])
def test_per_batch_sampling_trains_and_counts_satisfied_triplets(data, backbone, sampler, tmp_path):
    result = train(*data, TrainSettings(**SAMPLED, sampler=sampler), backbone=backbone, out_dir=tmp_path,
                   progress=False)
    assert [row["epoch"] for row in result.history] == [0, 1, 2]
    for row in result.history[1:]:
        assert 0 <= row["satisfied"] <= 1 and row["triplets"] > 0 and row["loss"] >= 0
        assert -1 <= row["negative_similarity"] <= 1
    assert result.history[-1]["p"] != pytest.approx(3.0, abs=1e-4)
    _, record = load_checkpoint(tmp_path / "last.pt", backbone=backbone)
    assert record["training"]["sampler"] == sampler and record["written_by_rank"] == 0


def test_per_batch_sampling_equals_the_hinge_over_the_triplets_it_sampled(data, backbone, monkeypatch):
    """The loss the loop reports is the mean hinge of the triplets `sample_triplets` returned."""
    seen = []
    real = loop.sample_triplets

    def spy(d, labels, strategy, margin, generator, excluded):
        a, p, n = real(d, labels, strategy, margin, generator, excluded)
        hinge = torch.relu(margin + ((d[a] - d[p]) ** 2).sum(1) - ((d[a] - d[n]) ** 2).sum(1))
        seen.append(float(hinge.detach().mean()))
        assert not excluded[a, n].any()          # never a negative that shows the anchor's object
        return a, p, n

    monkeypatch.setattr(loop, "sample_triplets", spy)
    result = train(*data, TrainSettings(**{**SAMPLED, "epochs": 1}, sampler="hard"), backbone=backbone,
                   progress=False)
    assert result.history[1]["loss"] == pytest.approx(sum(seen) / len(seen), rel=1e-5)


def test_sampler_settings_are_checked():
    with pytest.raises(ValueError, match="trains the triplet loss"):
        TrainSettings(sampler="hard")
    with pytest.raises(ValueError, match="choose one of random, hard, semi-hard, distance-weighted"):
        TrainSettings(loss="triplet", sampler="hardest")
    with pytest.raises(ValueError, match="two objects and two views"):
        TrainSettings(loss="triplet", sampler="hard", objects_per_batch=1)


def test_classification_retraining_learns_the_training_objects_and_saves_only_the_network(data, backbone, tmp_path):
    settings = TrainSettings(**{**TINY, "epochs": 8, "lr": 3e-3}, loss="classification", objects_per_batch=3,
                             views_per_object=6)
    result = train(*data, settings, backbone=backbone, out_dir=tmp_path, progress=False)
    trained = result.history[1:]
    assert all(0 <= row["accuracy"] <= 1 for row in trained)
    # One batch per epoch, so single epochs are noisy: the last three together are below the first.
    assert sum(row["loss"] for row in trained[-3:]) / 3 < trained[0]["loss"]
    net, record = load_checkpoint(tmp_path / "last.pt", backbone=backbone)   # no classifier weights in it
    assert record["training"]["loss"] == "classification" and net.p == pytest.approx(result.net.p)
    with pytest.raises(ValueError, match="samples no triplets"):
        TrainSettings(loss="classification", sampler="hard")


def test_cli_sampler_with_the_contrastive_loss_is_a_one_line_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "course_lib", "train", "mini-train", "--sampler", "hard", "--loss",
                           "contrastive", "--out", str(tmp_path / "run")], check=False, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and "trains the triplet loss" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_train_cached_keys_by_the_images_content(data, tmp_path, monkeypatch):
    """An image edited in place (same size, same times) is new data: the cached run is not reused."""
    train_set, val_set = data
    copies = tmp_path / "copies"
    shutil.copytree(os.path.dirname(train_set.images[0]), copies)
    edited = dataclasses.replace(train_set, images=[str(copies / os.path.basename(p)) for p in train_set.images])
    folders = []
    monkeypatch.setattr(loop, "train", lambda *args, out_dir, **kw: folders.append(out_dir))
    monkeypatch.setenv("COURSE_LIB_HOME", str(tmp_path / "home"))
    loop.train_cached(edited, val_set, TrainSettings(**TINY), progress=False)
    image = copies / os.path.basename(train_set.images[0])
    before = os.stat(image)
    pixels = bytearray(image.read_bytes())
    pixels[-3] ^= 0xFF  # one byte of the JPEG data, same size
    image.write_bytes(bytes(pixels))
    os.utime(image, ns=(before.st_atime_ns, before.st_mtime_ns))
    loop.train_cached(edited, val_set, TrainSettings(**TINY), progress=False)
    assert len(folders) == 2 and folders[0] != folders[1]
