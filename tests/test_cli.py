"""The command line end to end: a folder dataset evaluates, --json is complete, mistakes are one line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from support import write_folder_dataset


def run_cli(*args, home):
    env = {**os.environ, "COURSE_LIB_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "course_lib", *args], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder_dataset(tmp_path_factory.mktemp("my_dataset"))


def test_folder_dataset_evaluates_with_json(folder, tmp_path):
    out = tmp_path / "results.json"
    r = run_cli("evaluate", str(folder), "--pooling", "gem", "--pooling", "mac", "--image-size", "224",
                "--json", str(out), "--quiet", home=tmp_path / "home")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].split() == ["map", "mp@1", "mp@5", "mp@10"] and [l.split()[0] for l in lines[2:]] == ["gem", "mac"]
    result = json.loads(out.read_text())
    assert result["dataset"] == folder.name and result["backbone"] == "efficientnet-lite0"
    assert [r["method"] for r in result["results"]] == ["gem", "mac"]
    for row in result["results"]:
        assert set(row) >= {"method", "map", "mp@1", "mp@5", "mp@10", "per_query_ap"}
        assert len(row["per_query_ap"]) == 4
        assert 0.5 < row["map"] <= 1.0  # the views of one photo do find each other
        assert row["map"] == pytest.approx(np.mean(row["per_query_ap"]))
    assert any((tmp_path / "home" / "descriptors").rglob("*.npz")), "descriptors are cached"


@pytest.mark.parametrize("args, message", [
    (["evaluate", "no_such_dataset"], "unknown dataset 'no_such_dataset'"),
    (["evaluate", "roxford5k", "--no-download"], "roxford5k is not in"),
    (["evaluate", "mini", "--pooling", "max"], "invalid choice: 'max'"),
    (["evaluate", "mini", "--image-size", "8"], "argument --image-size: 8: must be from 32 to 4096 pixels"),
    (["evaluate", "mini", "--json", "no/such/folder/r.json"], "folder no/such/folder does not exist"),
])
def test_mistakes_end_with_one_line_and_status_2(args, message, tmp_path):
    r = run_cli(*args, home=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_bad_ground_truth_names_where(folder, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "images").symlink_to(folder / "images")
    (broken / "ground_truth.json").write_text('{"queries": [{"query": "images/views/coffee_0.jpg", '
                                              '"positives": ["images/views/nope.jpg"]}]}')
    r = run_cli("evaluate", str(broken), home=tmp_path / "home")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "queries[0].positives[0]" in r.stderr and "nope.jpg" in r.stderr


# --- argument validation and one-line messages, in process (the subprocess table is tests/test_bad_inputs.py)

@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "-inf", "1e9", "4.01", "half", ""])
def test_scale_factor_refuses_what_cannot_resize(text):
    import argparse

    from course_lib.cli import scale_factor

    with pytest.raises(argparse.ArgumentTypeError, match="greater than 0 and at most 4"):
        scale_factor(text)


@pytest.mark.parametrize("text, value", [("1", 1.0), ("0.707", 0.707), ("4", 4.0), ("1e-1", 0.1)])
def test_scale_factor_accepts_finite_positive_factors(text, value):
    from course_lib.cli import scale_factor

    assert scale_factor(text) == value


def test_device_name_accepts_cpu_and_refuses_what_is_not_here():
    import argparse

    import torch

    from course_lib.cli import device_name

    assert device_name("cpu") == "cpu"
    for bad in ("garbage", "meta", "cuda:99", "cuda:-1x"):
        with pytest.raises(argparse.ArgumentTypeError):
            device_name(bad)
    if not torch.cuda.is_available():
        with pytest.raises(argparse.ArgumentTypeError, match="no usable CUDA GPU"):
            device_name("cuda")


def test_one_line_folds_multi_line_messages_and_names_the_file():
    from course_lib.cli import one_line

    assert one_line(ValueError("first\nsecond\n  third")) == "first second third"
    assert one_line(FileNotFoundError(2, "No such file or directory", "a/b.json")) == "a/b.json: No such file or directory"
    assert one_line(OSError(28, "No space left on device")) == "No space left on device"
    assert one_line(KeyError()) == "KeyError"
