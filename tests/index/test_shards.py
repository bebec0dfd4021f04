"""Sharded extraction: resumable after SIGKILL, two torchrun processes equal one, the index built from shards."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import pytest

from course_lib.index import zoo
from course_lib.index.shards import (
    QUERIES,
    build_from_shards,
    iter_shards,
    load_method,
    read_manifest,
    shard_name,
    shard_ranges,
    shards_of_rank,
    training_sample,
    write_shards,
)

IMAGE_SIZE = "48"
SHARD_SIZE = "25"  # mini's 217 images -> 9 shards


def test_ranges_and_ranks_cover_every_item_once():
    assert shard_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert shard_ranges(0, 4) == []
    with pytest.raises(ValueError, match="at least 1"):
        shard_ranges(10, 0)
    for world in (1, 2, 3):
        taken = sorted(n for rank in range(world) for n in shards_of_rank(7, rank, world))
        assert taken == list(range(7))


def vectors(start: int, stop: int, dim: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(start)
    x = rng.standard_normal((stop - start, dim)).astype(np.float32)
    return {"v": x / np.linalg.norm(x, axis=1, keepdims=True)}


def write(folder, n=50, shard_size=8, make=vectors, **settings):
    ids = [f"img{i:03d}.jpg" for i in range(n)]
    return write_shards(folder, {"dataset": "toy", **settings}, ids, shard_size, make, ["v"])


def test_write_read_and_resume_recomputes_only_what_is_missing_or_damaged(tmp_path):
    manifest = write(tmp_path / "s")
    assert manifest["complete"] and manifest["n_shards"] == 7 and {s["rank"] for s in manifest["shards"]} == {0}
    full = load_method(tmp_path / "s", "v")
    assert np.array_equal(full, np.concatenate([vectors(a, b)["v"] for a, b in shard_ranges(50, 8)]))
    (tmp_path / "s" / shard_name(2)).unlink()
    (tmp_path / "s" / shard_name(4)).write_bytes(b"half a file")
    (tmp_path / "s" / ".shard-00005.npz.abc.part").write_bytes(b"left by a killed run")
    calls = []
    write(tmp_path / "s", make=lambda a, b: calls.append(a) or vectors(a, b))
    assert calls == [16, 32]
    assert np.array_equal(load_method(tmp_path / "s", "v"), full)
    assert not list((tmp_path / "s").glob(".*.part"))


def test_other_settings_and_foreign_folders_are_refused_untouched(tmp_path):
    write(tmp_path / "s")
    before = {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir()}
    with pytest.raises(ValueError, match="other settings.*nothing is overwritten"):
        write(tmp_path / "s", max_side=64)
    assert {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir()} == before
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="not empty and holds no manifest.json"):
        write(tmp_path / "mine")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        write(tmp_path / "f")


def test_unfinished_folder_cannot_be_indexed(tmp_path):
    def fail_at_third(a, b):
        if a == 16:
            raise KeyboardInterrupt
        return vectors(a, b)

    with pytest.raises(KeyboardInterrupt):
        write(tmp_path / "s", make=fail_at_third)
    with pytest.raises(ValueError, match="not finished.*again"):
        next(iter_shards(tmp_path / "s", "v"))


def test_index_from_shards_holds_every_vector_in_order(tmp_path):
    write(tmp_path / "s", n=300, shard_size=64)
    db = load_method(tmp_path / "s", "v")
    flat = build_from_shards(tmp_path / "s", "Flat", "v")
    assert flat.ntotal == 300
    queries = db[:5]
    assert np.array_equal(flat.search(queries, 3)[1], zoo.build("Flat", db).search(queries, 3)[1])
    ivf = build_from_shards(tmp_path / "s", "IVF4,Flat", "v", n_train=200)
    zoo.set_knobs(ivf, nprobe=4)
    assert np.array_equal(ivf.search(queries, 1)[1][:, 0], np.arange(5))
    sample = training_sample(tmp_path / "s", "v", 40, seed=1)
    assert sample.shape == (40, 16) and len({row.tobytes() for row in sample}) == 40
    with pytest.raises(ValueError, match="no 'gem' descriptors"):
        build_from_shards(tmp_path / "s", "Flat", "gem")


# ------------------------------------------------------------------------------------------------
# The command line, for real: a killed run, torchrun with two processes, the index built from shards
# ------------------------------------------------------------------------------------------------

def cli_env(home: Path) -> dict:
    # One thread everywhere, as torchrun gives each process: then the descriptors are bit-identical.
    return {**os.environ, "COURSE_LIB_HOME": str(home), "OMP_NUM_THREADS": "1"}


def extract_command(out: Path) -> list[str]:
    return ["-m", "course_lib", "extract", "mini", "--out", str(out), "--image-size", IMAGE_SIZE,
            "--shard-size", SHARD_SIZE]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted single-process run."""
    home = Path(os.environ.get("COURSE_LIB_HOME") or tmp_path_factory.mktemp("home"))
    out = tmp_path_factory.mktemp("reference") / "shards"
    done = subprocess.run([sys.executable, *extract_command(out), "--quiet"], env=cli_env(home),
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return home, out


def same_descriptors(a: Path, b: Path) -> None:
    assert np.array_equal(load_method(a, "gem"), load_method(b, "gem"))
    with np.load(a / QUERIES) as queries_a, np.load(b / QUERIES) as queries_b:
        assert np.array_equal(queries_a["gem"], queries_b["gem"])
    ma, mb = read_manifest(a), read_manifest(b)
    assert ma["image_ids"] == mb["image_ids"] and ma["key"] == mb["key"]
    assert [s["file"] for s in ma["shards"]] == [s["file"] for s in mb["shards"]]


def test_killed_run_resumes_to_the_same_output(reference, tmp_path):
    home, ref = reference
    out = tmp_path / "shards"
    proc = subprocess.Popen([sys.executable, *extract_command(out), "--quiet"], env=cli_env(home),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / shard_name(0)
    deadline = time.monotonic() + 300
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.exists(), "no shard appeared before the run ended"
    written = sorted(p.name for p in out.glob("shard-*.npz"))
    assert len(written) < 9, "the run finished before it could be killed"
    assert not read_manifest(out)["complete"]
    kept = {name: (out / name).stat().st_mtime_ns for name in written}
    again = subprocess.run([sys.executable, *extract_command(out)], env=cli_env(home), capture_output=True, check=False,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{len(written)} already complete and skipped" in again.stderr
    assert {name: (out / name).stat().st_mtime_ns for name in written} == kept  # not written again
    assert not list(out.glob(".*.part"))
    same_descriptors(out, ref)


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_torchrun_two_processes_equal_one(reference, tmp_path):
    home, ref = reference
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    out = tmp_path / "shards"
    done = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", *extract_command(out)],
                          env=cli_env(home), capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    manifest = read_manifest(out)
    assert manifest["world_size"] == 2 and manifest["complete"]
    assert {s["rank"] for s in manifest["shards"]} == {0, 1}
    assert [s["rank"] for s in manifest["shards"]] == [n % 2 for n in range(9)]
    same_descriptors(out, ref)


def test_index_build_command_writes_a_loadable_index_and_reports_peak_memory(reference, tmp_path):
    home, ref = reference
    out = tmp_path / "mini.faiss"
    done = subprocess.run([sys.executable, "-m", "course_lib", "index", "build", str(ref), "--index", "IVF4,Flat",
                           "--out", str(out)], env=cli_env(home), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "217 vectors" in done.stdout and "peak memory" in done.stdout
    index = faiss.read_index(str(out))
    assert index.ntotal == 217
    bad = subprocess.run([sys.executable, "-m", "course_lib", "index", "build", str(tmp_path), "--index", "Flat",
                          "--out", str(tmp_path / "x.faiss")], env=cli_env(home), capture_output=True, text=True,
                         timeout=300, check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "no manifest.json" in bad.stderr
    json.loads((ref / "manifest.json").read_text())


def test_extract_refuses_a_file_or_a_foreign_folder_in_one_line_before_any_work(tmp_path, capsys):
    from course_lib.commands import main

    (tmp_path / "file").write_text("mine")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "notes.txt").write_text("mine")
    for out, reason in (("file", "is a file"), ("folder", "holds no manifest.json")):
        assert main(["extract", "nonexistent-dataset", "--out", str(tmp_path / out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and reason in err[0]
    assert (tmp_path / "file").read_text() == "mine" and (tmp_path / "folder" / "notes.txt").read_text() == "mine"
    assert main(["extract", "mini", "--out", str(tmp_path / "x"), "--shard-size", "0"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("out, message", [("", "is a folder; give a file name"),
                                          ("missing/index.faiss", "does not exist")])
def test_index_build_refuses_a_bad_out_before_reading_any_shard(tmp_path, capsys, out, message):
    from course_lib.commands import main

    assert main(["index", "build", str(tmp_path / "no-shards-here"), "--index", "Flat",
                 "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "no-shards-here" not in err
