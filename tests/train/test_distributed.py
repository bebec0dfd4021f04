"""Two gloo processes on the CPU (DistributedDataParallel) take the same training steps as one process over
the same global batch, with tuples mined per epoch and with per-batch triplet sampling."""
from __future__ import annotations

import json
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from support import first_photo
from course_lib.datasets import load_dataset, mini_train
from course_lib.train import TrainSettings, train

SETTINGS = dict(epochs=2, tuples_per_epoch=4, negatives=2, batch_tuples=4, max_side=64, lr=1e-2)
SAMPLED = dict(epochs=2, loss="triplet", sampler="semi-hard", objects_per_batch=2, views_per_object=3, margin=0.3,
               max_side=64, lr=1e-2)


def tiny_data():
    full = load_dataset("mini-train")
    return first_photo(mini_train.split(full, "train"), 3), first_photo(mini_train.split(full, "val"), 2)


def _worker(rank: int, size: int, store: str, out: str, home: str, settings: dict) -> None:
    os.environ["COURSE_LIB_HOME"] = home
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=size)
    try:
        result = train(*tiny_data(), TrainSettings(**settings), progress=False)
        if rank == 0:
            with open(out, "w") as f:
                json.dump(result.history, f)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("settings", [SETTINGS, SAMPLED], ids=["mined-tuples", "per-batch-sampler"])
def test_two_gloo_processes_match_one_process(tmp_path, monkeypatch, settings):
    home = tmp_path / "home"
    monkeypatch.setenv("COURSE_LIB_HOME", str(home))
    single = train(*tiny_data(), TrainSettings(**settings), progress=False).history
    out = tmp_path / "history.json"
    mp.spawn(_worker, args=(2, str(tmp_path / "store"), str(out), str(home), settings), nprocs=2, join=True)
    double = json.loads(out.read_text())
    assert len(double) == len(single) == 3
    for one, two in zip(single[1:], double[1:]):
        assert two["loss"] == pytest.approx(one["loss"], rel=1e-4, abs=1e-6)
        assert two["p"] == pytest.approx(one["p"], rel=1e-5)
