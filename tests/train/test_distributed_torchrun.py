"""The real shell command `torchrun --nproc_per_node 2 -m course_lib train mini-train ...` on the CPU (gloo):
it trains, writes one checkpoint, and only the first process (rank 0) writes or reports."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.train import load_checkpoint


def torchrun() -> list[str]:
    found = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    return [found] if found else [sys.executable, "-m", "torch.distributed.run"]


def test_torchrun_two_processes_write_one_checkpoint_from_rank_0(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "COURSE_LIB_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}
    command = [*torchrun(), "--standalone", "--nproc_per_node", "2", "-m", "course_lib", "train", "mini-train",
               "--epochs", "1", "--tuples", "4", "--negatives", "2", "--image-size", "64", "--out", str(out),
               "--quiet", "--device", "cpu"]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    # One report (rank 0's), one checkpoint and its sidecar, no temporary file left behind.
    assert done.stdout.count("checkpoint:") == 1 and done.stdout.count("val mAP") == 1
    assert done.stderr.count("2 processes") == 1
    assert sorted(p.name for p in out.iterdir()) == ["last.json", "last.pt"]
    record = json.loads((out / "last.json").read_text())
    assert record["processes"] == 2 and record["written_by_rank"] == 0 and record["epoch"] == 1
    net, _ = load_checkpoint(out / "last.pt")
    assert net.p != pytest.approx(3.0, abs=1e-6)
