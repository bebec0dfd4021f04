"""A table of bad inputs run through the real command line, as a careless or unlucky user makes them.

Each row prepares real files in its own folder, runs `python -m course_lib ...` as a subprocess and
asserts: a non-zero exit, exactly one line on stderr that names the culprit, no traceback, and
nothing the user had (every file, folder and link in the row's folder outside the kit's cache)
changed or lost. The rows run a few at a time, in one module fixture, because each subprocess
imports torch. Below the table: the stuck states that heal (a damaged descriptor cache, an edited
image, a build killed mid-way), also through real subprocesses.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import skimage.data
from PIL import Image
from support import make_zip

HOME = "home"  # each row's COURSE_LIB_HOME, inside its folder; the kit may write there, the user's files are elsewhere
PORTAL = b"<!DOCTYPE html><html><head><title>Hotel Wi-Fi</title></head><body>Log in to continue</body></html>\n"


def cli(*args: str, home: Path, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    environment = {**os.environ, "COURSE_LIB_HOME": str(home), **(env or {})}
    return subprocess.run([sys.executable, "-m", "course_lib", *args], capture_output=True, text=True,
                          env=environment, cwd=cwd, timeout=timeout)


# --------------------------------------------------------------------------- what a user has on disk

def photo(name: str, side: int = 96) -> Image.Image:
    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB").resize((side, side))


def make_dataset(root: Path, images: dict[str, bytes | None] | None = None, ground_truth=None) -> Path:
    """A small dataset folder in the documented format: three photos, one query with one positive."""
    (root / "images").mkdir(parents=True)
    for name in ("astronaut", "coffee", "chelsea"):
        photo(name).save(root / "images" / f"{name}.jpg", quality=90)
    for name, data in (images or {}).items():
        (root / "images" / name).write_bytes(data)
    if ground_truth is None:
        ground_truth = {"queries": [{"query": "images/coffee.jpg", "positives": ["images/astronaut.jpg"]}]}
    text = ground_truth if isinstance(ground_truth, (str, bytes)) else json.dumps(ground_truth)
    (root / "ground_truth.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    return root


def png_bytes(cut: float | None = None) -> bytes:
    path_bytes = _encode(photo("rocket", 160), "PNG")
    return path_bytes if cut is None else path_bytes[: int(len(path_bytes) * cut)]


def _encode(image: Image.Image, fmt: str) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def place_download(home: Path, relative: str, data: bytes) -> None:
    """A file put by hand where the kit expects a download (downloads are off in these rows)."""
    path = home / "datasets" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def snapshot(root: Path) -> dict[str, tuple]:
    """Everything the user has under `root` (the kit's cache excluded): type, mode, link target, content hash."""
    seen = {}
    for current, dirs, files in os.walk(root):
        if Path(current) == root and HOME in dirs:
            dirs.remove(HOME)
        for name in dirs + files:
            path = Path(current, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                seen[str(path)] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                seen[str(path)] = ("file", stat.S_IMODE(st.st_mode), hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                seen[str(path)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))
    return seen


# --------------------------------------------------------------------------- the table

@dataclass
class Row:
    """One bad input: `prepare(folder)` makes the files and returns the CLI arguments; `culprit` must be
    named on stderr (the text "{dir}" stands for the row's folder)."""

    name: str
    prepare: Callable[[Path], list[str]]
    culprit: str
    env: Callable[[Path], dict] = field(default=lambda folder: {})
    skip: str | None = None


def args(*values: str) -> Callable[[Path], list[str]]:
    return lambda folder: list(values)


EVALUATE_DATA = ("evaluate", "data", "--pooling", "gem", "--image-size", "64", "--quiet")
CHECK_DATA = ("check", "data", "--quiet")


def dataset_row(name, culprit, images=None, ground_truth=None, extra=(), command=EVALUATE_DATA):
    def prepare(folder):
        make_dataset(folder / "data", images, ground_truth)
        return [*command, *extra]
    return Row(name, prepare, culprit)


def with_files(files: dict[str, bytes | str], argv: list[str], links: dict[str, str] | None = None):
    def prepare(folder):
        for name, data in files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data if isinstance(data, bytes) else data.encode())
        for name, target in (links or {}).items():
            (folder / name).symlink_to(target)
        return list(argv)
    return prepare


def make_fifo_dataset(folder):
    make_dataset(folder / "data")
    os.mkfifo(folder / "data" / "ground_truth.json.fifo")
    return ["evaluate", "data", "--json", "data/ground_truth.json.fifo/r.json"]


def placed(relative: str, data: bytes, argv: list[str], trust: bytes | None = None):
    def prepare(folder):
        place_download(folder / HOME, relative, data)
        if trust is not None:
            (folder / HOME / "datasets" / "trusted_sha256.json").write_bytes(trust)
        return list(argv)
    return prepare


def class_files(declared_at: str):
    return with_files({"class/students.csv": "student_id,name\n20161000,Ada Lovelace\n",
                       "class/teams.csv": f"team,student_id,declared_at\nt1,20161000,{declared_at}\n",
                       "class/paper_claims.csv": "student_id,paper_id,declared_at\n"},
                      ["schedule", "--assign", "--data", "class"])


GOOD_ZIP = make_zip({"ukbench/full/ukbench00000.jpg": _encode(photo("coffee"), "JPEG")})
UKB_URL = "https://archive.org/download/ukbench/ukbench.zip"
NO_GPU = None
try:
    import torch

    NO_GPU = None if not torch.cuda.is_available() else "this machine has a GPU"
except ImportError:  # pragma: no cover
    pass

ROWS = [
    # --- arguments
    Row("no command", args(), "the following arguments are required: COMMAND"),
    Row("unknown command", args("frobnicate"), "invalid choice: 'frobnicate'"),
    Row("no dataset", args("evaluate"), "the following arguments are required: dataset"),
    Row("unknown option", args("evaluate", "mini", "--frobnicate"), "unrecognized arguments: --frobnicate"),
    Row("unknown pooling", args("evaluate", "mini", "--pooling", "max"), "invalid choice: 'max'"),
    Row("unknown backbone", args("evaluate", "mini", "--backbone", "vgg99"), "invalid choice: 'vgg99'"),
    Row("image size too small", args("evaluate", "mini", "--image-size", "8"), "argument --image-size: 8: must be from 32 to 4096 pixels"),
    Row("image size not a number", args("evaluate", "mini", "--image-size", "big"), "argument --image-size: 'big' is not a whole number"),
    Row("scale zero", args("evaluate", "mini", "--scales", "0"), "'0' is not a valid scale"),
    Row("scale negative", args("evaluate", "mini", "--scales", "1", "-0.5"), "'-0.5' is not a valid scale"),
    Row("scale nan", args("evaluate", "mini", "--scales", "nan"), "'nan' is not a valid scale"),
    Row("scale inf", args("evaluate", "mini", "--scales", "inf"), "'inf' is not a valid scale"),
    Row("scale huge", args("evaluate", "mini", "--scales", "1e9"), "'1e9' is not a valid scale"),
    Row("scale not a number", args("evaluate", "mini", "--scales", "half"), "'half' is not a valid scale"),
    Row("device garbage", args("evaluate", "mini", "--device", "garbage"), "'garbage' is not a device"),
    Row("device cuda without GPU", args("evaluate", "mini", "--device", "cuda"), "'cuda': this machine has no",
        skip=NO_GPU),
    Row("device cuda:7", args("evaluate", "mini", "--device", "cuda:7"), "'cuda:7'"),
    Row("device meta", args("evaluate", "mini", "--device", "meta"), "'meta' is not supported"),
    # --- datasets: names, folders, ground truth, images
    Row("unknown dataset", args("evaluate", "no_such_dataset"), "unknown dataset 'no_such_dataset'"),
    Row("dataset is a file", with_files({"notes.txt": "my notes"}, ["evaluate", "notes.txt"]), "'notes.txt' is a file"),
    Row("registered dataset, downloads off", args("evaluate", "roxford5k", "--no-download"), "roxford5k is not in"),
    Row("folder without images/", with_files({"data/ground_truth.json": "{}"}, ["evaluate", "data"]),
        "no images/ folder"),
    Row("folder without ground truth", with_files({"data/images/a.jpg": _encode(photo("coffee"), "JPEG")},
                                                  ["evaluate", "data"]), "no ground_truth.json"),
    Row("empty images/", with_files({"data/ground_truth.json": '{"queries": []}', "data/images/.keep": ""},
                                    ["evaluate", "data"]), "no images"),
    dataset_row("ground truth not JSON", "invalid JSON at line 1", ground_truth="{'queries': oops"),
    dataset_row("ground truth nested without end", "JSON nested too deeply", ground_truth="[" * 200_000),
    dataset_row("ground truth not UTF-8", "not UTF-8", ground_truth=b'{"queries": "\xff\xfe"}'),
    dataset_row("ground truth without queries", "\"queries\" list", ground_truth={"query": []}),
    dataset_row("positive that does not exist", "queries[0].positives[0]",
                ground_truth={"queries": [{"query": "images/coffee.jpg", "positives": ["images/nope.jpg"]}]}),
    dataset_row("path climbing out", "points outside the dataset folder",
                ground_truth={"queries": [{"query": "images/coffee.jpg", "positives": ["../../etc/passwd"]}]}),
    dataset_row("box outside the image", "queries[0].bbox",
                ground_truth={"queries": [{"query": "images/coffee.jpg", "bbox": [500, 500, 600, 600],
                                           "positives": ["images/astronaut.jpg"]}]}),
    dataset_row("box with NaN", "queries[0].bbox",
                ground_truth='{"queries": [{"query": "images/coffee.jpg", "bbox": [0, 0, NaN, 10], '
                             '"positives": ["images/astronaut.jpg"]}]}'),
    dataset_row("query is a truncated PNG", "cut.png",
                images={"cut.png": png_bytes(cut=0.02)},
                ground_truth={"queries": [{"query": "images/cut.png", "positives": ["images/astronaut.jpg"]}]}),
    dataset_row("database image is a truncated PNG", "cut.png", images={"cut.png": png_bytes(cut=0.5)}),
    dataset_row("database image is text named .jpg", "notes.jpg", images={"notes.jpg": b"my holiday notes\n"}),
    dataset_row("database image is an empty file", "empty.jpg", images={"empty.jpg": b""}),
    dataset_row("check: an image that does not decode", "images/broken.jpg: not a readable image",
                images={"broken.jpg": b"x\n"}, command=CHECK_DATA),
    dataset_row("check: a truncated image, --decode", "images/cut.png: cannot decode image data",
                images={"cut.png": png_bytes(cut=0.5)}, extra=("--decode",), command=CHECK_DATA),
    dataset_row("check: a box beyond its image",
                "queries[0].bbox: [10, 10, 5000, 20] reaches beyond the 96x96 image",
                ground_truth={"queries": [{"query": "images/coffee.jpg", "bbox": [10, 10, 5000, 20],
                                           "positives": ["images/astronaut.jpg"]}]}, command=CHECK_DATA),
    # --- files placed by hand where downloads go (downloads off), and the trust record
    Row("captive portal page placed as the archive",
        placed("downloads/ukbench.zip", PORTAL, ["evaluate", "ukbench", "--no-download"]), "web page"),
    Row("truncated archive placed by hand",
        placed("downloads/ukbench.zip", GOOD_ZIP[:40], ["evaluate", "ukbench", "--no-download"]),
        "not a readable archive"),
    Row("malformed entry in the trust record",
        placed("downloads/ukbench.zip", GOOD_ZIP, ["evaluate", "ukbench", "--no-download"],
               trust=json.dumps({UKB_URL: {"sha256": "not-a-hash"}}).encode()), f"malformed entry '{UKB_URL}'"),
    Row("trust record not JSON", placed("downloads/ukbench.zip", GOOD_ZIP, ["datasets"], trust=b"{oops"),
        "trusted_sha256.json: unreadable checksum record"),
    Row("trust record a list", placed("downloads/ukbench.zip", GOOD_ZIP, ["datasets"], trust=b"[1, 2]"),
        "trusted_sha256.json: the checksum record must be a JSON object"),
    # --- where results and caches go
    Row("--json in a missing folder", args("evaluate", "mini", "--json", "no/such/folder/r.json"),
        "folder no/such/folder does not exist"),
    Row("--json is a folder", with_files({"out/.keep": ""}, ["evaluate", "mini", "--json", "out"]),
        "--json out: is a folder"),
    Row("--json in a folder that cannot be written", args("evaluate", "mini", "--json", "/proc/results.json"),
        "--json /proc/results.json: folder /proc is not writable"),
    Row("--json is a symlink loop", with_files({}, ["evaluate", "mini", "--json", "loop.json"],
                                               links={"loop.json": "loop.json"}), "--json loop.json: symbolic link loop"),
    Row("--json under a FIFO", make_fifo_dataset, "ground_truth.json.fifo"),
    Row("COURSE_LIB_HOME is a file", with_files({"home-file": "not a folder"}, ["evaluate", "mini"]),
        "is a file, not a folder", env=lambda folder: {"COURSE_LIB_HOME": str(folder / "home-file")}),
    Row("COURSE_LIB_HOME under a file", with_files({"home-file": "not a folder"}, ["evaluate", "mini"]),
        "cannot be written", env=lambda folder: {"COURSE_LIB_HOME": str(folder / "home-file" / "cache")}),
    Row("COURSE_LIB_HOME cannot be written", args("evaluate", "mini"), "/proc/course_lib",
        env=lambda folder: {"COURSE_LIB_HOME": "/proc/course_lib"}),
    # --- schedule
    Row("schedule: unreadable --now", args("schedule", "--now", "tomorrow"), "cannot read 'tomorrow'"),
    Row("schedule: missing schedule file", args("schedule", "--schedule", "mine.md"), "mine.md"),
    Row("schedule: --ics onto someone's file", with_files({"notes.ics": "my own notes\n"}, ["schedule", "--ics", "notes.ics"]),
        "notes.ics exists and is not a calendar written by course_lib"),
    Row("schedule: --ics onto a full device", args("schedule", "--ics", "/dev/full"),
        "/dev/full: cannot be written (No space left on device)"),
    Row("schedule: --ics is a folder", with_files({"cal/.keep": ""}, ["schedule", "--ics", "cal"]), "cal is a folder"),
    Row("schedule: --ics in a missing folder", args("schedule", "--ics", "no/such/cal.ics"), "no/such"),
    Row("schedule: --ics is a symlink loop", with_files({}, ["schedule", "--ics", "loop.ics"], links={"loop.ics": "loop.ics"}),
        "loop.ics"),
    Row("schedule: --rebase without --output", args("schedule", "--rebase", "2017-03-02"), "--rebase needs --output"),
    Row("schedule: --rebase without --term", args("schedule", "--rebase", "2027-03-01", "--output", "new.md"),
        "--rebase needs --term"),
    Row("schedule: --rebase to a bad date",
        args("schedule", "--rebase", "2017-02-30", "--term", "Spring 2017", "--output", "new.md"), "2017-02-30"),
    Row("schedule: --rebase onto an existing file",
        with_files({"new.md": "my draft\n"},
                   ["schedule", "--rebase", "2017-03-02", "--term", "Spring 2017", "--output", "new.md"]),
        "new.md exists"),
    Row("schedule: --holiday outside the new term",
        args("schedule", "--rebase", "2027-03-01", "--term", "Spring 2027", "--holiday", "2026-12-25",
             "--output", "new.md"), "holiday 2026-12-25 is outside the new term"),
    Row("schedule: declared_at 'now'", class_files("now"), "teams.csv:2: bad declared_at 'now'"),
    Row("schedule: declared_at a year", class_files("2016"), "teams.csv:2: bad declared_at '2016'"),
    Row("schedule: declared_at US style", class_files("10/02/2016 9:15 PM"), "bad declared_at '10/02/2016 9:15 PM'"),
    Row("schedule: class data folder missing", args("schedule", "--assign", "--data", "nowhere"), "nowhere"),
]


def run_row(row: Row, folder: Path) -> dict:
    folder.mkdir()
    argv = row.prepare(folder)
    before = snapshot(folder)
    result = cli(*argv, home=folder / HOME, cwd=folder, env=row.env(folder))
    return {"result": result, "before": before, "after": snapshot(folder), "folder": folder}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    todo = [(row, root / f"row{i:02d}") for i, row in enumerate(ROWS) if row.skip is None]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda job: run_row(*job), todo))
    return {row.name: outcome for (row, _), outcome in zip(todo, results)}


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_bad_input_is_one_line_and_changes_nothing(row, outcomes):
    if row.skip:
        pytest.skip(row.skip)
    outcome = outcomes[row.name]
    result = outcome["result"]
    lines = result.stderr.splitlines()
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert row.culprit.replace("{dir}", str(outcome["folder"])) in lines[0], lines[0]
    assert outcome["after"] == outcome["before"], "the user's files changed"
    leftovers = [p for p in outcome["folder"].rglob("*") if p.name.endswith(".part") or ".building-" in p.name]
    assert leftovers == []


# --------------------------------------------------------------------------- stuck states that heal

@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("heal")
    return make_dataset(root / "data")


def evaluate(dataset: Path, home: Path, *extra: str) -> subprocess.CompletedProcess:
    return cli("evaluate", str(dataset), "--pooling", "gem", "--image-size", "64", "--quiet", *extra,
               home=home, cwd=dataset.parent)


@pytest.mark.parametrize("damage", ["truncated", "empty", "missing key", "wrong rows"])
def test_damaged_descriptor_cache_is_said_once_discarded_and_recomputed(dataset, tmp_path, damage):
    home = tmp_path / "home"
    first = evaluate(dataset, home, "--json", str(tmp_path / "first.json"))
    assert first.returncode == 0, first.stderr
    (entry,) = (home / "descriptors").rglob("*.npz")
    data = entry.read_bytes()
    if damage == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "missing key":
        np.savez(entry.with_suffix(""), db=np.zeros((3, 4), np.float32))  # no "queries"
    else:
        np.savez(entry.with_suffix(""), db=np.zeros((2, 4), np.float32), queries=np.zeros((1, 4), np.float32))
    for attempt in range(2):
        again = evaluate(dataset, home, "--json", str(tmp_path / f"again{attempt}.json"))
        assert again.returncode == 0, again.stderr
        if attempt == 0:  # said once, in one line naming the entry; then healed
            assert again.stderr.count("\n") == 1 and entry.name in again.stderr
            assert "damaged descriptor cache entry" in again.stderr
        else:
            assert again.stderr == ""
        assert json.loads((tmp_path / f"again{attempt}.json").read_text()) == json.loads(
            (tmp_path / "first.json").read_text())


def test_image_edited_in_place_with_same_size_and_time_is_recomputed(tmp_path):
    """An uncompressed image edited in place keeps its size; the time is put back as `touch -r` would."""
    data = make_dataset(tmp_path / "data", ground_truth={"queries": [
        {"query": "images/coffee.jpg", "positives": ["images/astronaut.jpg", "images/edited.ppm"]}]})
    target = data / "images" / "edited.ppm"
    photo("coffee").save(target)
    home = tmp_path / "home"
    assert evaluate(data, home, "--json", str(tmp_path / "before.json")).returncode == 0
    st = target.stat()
    photo("rocket").save(target)  # same format and dimensions: the same number of bytes
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert evaluate(data, home, "--json", str(tmp_path / "after.json")).returncode == 0
    entries = sorted((home / "descriptors").rglob("*.npz"), key=lambda p: p.stat().st_mtime_ns)
    assert len(entries) == 2  # a new key: the old entry is not reused
    with np.load(entries[0]) as old, np.load(entries[1]) as new:
        changed = [i for i in range(len(old["db"])) if not np.allclose(old["db"][i], new["db"][i])]
    assert changed == [3]  # images are sorted: astronaut, chelsea, coffee, edited.ppm; only the edited one moved


def test_json_output_is_valid_json_even_with_nan(tmp_path):
    """A query without positives has an undefined AP (NaN): the file must still be valid JSON."""
    data = make_dataset(tmp_path / "data", ground_truth={"queries": [
        {"query": "images/coffee.jpg", "positives": ["images/astronaut.jpg"]},
        {"query": "images/chelsea.jpg", "positives": []}]})
    r = evaluate(data, tmp_path / "home", "--json", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text)


def test_json_through_symlink_and_to_dev_null(tmp_path):
    data = make_dataset(tmp_path / "data")
    real = tmp_path / "results" / "latest.json"
    real.parent.mkdir()
    (tmp_path / "link.json").symlink_to(real)
    assert evaluate(data, tmp_path / "home", "--json", str(tmp_path / "link.json")).returncode == 0
    assert (tmp_path / "link.json").is_symlink() and json.loads(real.read_text())["results"]
    before = os.stat("/dev/null")
    assert evaluate(data, tmp_path / "home", "--json", "/dev/null").returncode == 0
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_fifo_and_link_loop_in_the_images_are_skipped_with_a_warning(tmp_path):
    data = make_dataset(tmp_path / "data")
    os.mkfifo(data / "images" / "pipe.jpg")
    (data / "images" / "loop.jpg").symlink_to(data / "images" / "loop.jpg")
    r = evaluate(data, tmp_path / "home")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(line.split("skipped ")[1].split(":")[0] for line in r.stderr.splitlines()) == [
        "images/loop.jpg", "images/pipe.jpg"]


def test_build_killed_midway_is_cleaned_by_the_next_build(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "COURSE_LIB_HOME": str(home)}
    builder = subprocess.Popen([sys.executable, "-m", "course_lib", "evaluate", "mini", "--quiet"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list((home / "datasets").glob(".mini-v*.building-*/images/*.jpg")):
            assert builder.poll() is None and time.monotonic() < deadline, "the build never started"
            time.sleep(0.2)
    finally:
        os.killpg(builder.pid, signal.SIGKILL)
        builder.wait()
    (left,) = list((home / "datasets").glob(".mini-v*.building-*"))
    # The next build finds the folder unlocked (its builder is dead), removes it and builds.
    from course_lib.datasets import mini

    target = home / "datasets" / left.name.split(".building-")[0].lstrip(".")
    with pytest.warns(UserWarning, match="removed 1 unfinished mini build"):
        mini.build_mini(target)
    assert not left.exists() and (target / "build_info.json").is_file()
    assert list((home / "datasets").glob(".mini-v*.building-*")) == []


def test_build_in_progress_is_left_alone(tmp_path):
    from course_lib.datasets import mini

    target = tmp_path / "mini-v9"
    running = tmp_path / ".mini-v9.building-abc"
    running.mkdir()
    with open(running / mini.BUILD_LOCK, "wb") as lock:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)  # another process building right now
        assert mini.remove_stale_builds(target) == []
        assert running.exists()
    with pytest.warns(UserWarning, match="removed 1 unfinished mini build"):
        assert mini.remove_stale_builds(target) == [running]
    assert not running.exists()
