"""notebooks/execute.py --device: executed copies elsewhere and a timing table naming the device."""
from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import nbformat
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("execute_notebooks", REPO / "notebooks" / "execute.py")
execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute)


def write_notebook(path: Path, *sources: str) -> bytes:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)
    return path.read_bytes()


def timings(out: Path) -> list[dict[str, str]]:
    with open(out / "timings.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_cpu_run_writes_a_copy_and_a_timing_row(tmp_path):
    source = tmp_path / "01_tiny.ipynb"
    before = write_notebook(source, "import torch\nprint('gpu visible:', torch.cuda.is_available())")
    out = tmp_path / "out"
    assert execute.main(["--device", "cpu", "--out", str(out), str(source)]) == 0
    assert source.read_bytes() == before  # the notebook given is never rewritten
    executed = nbformat.read(out / source.name, as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "gpu visible: False\n"  # cpu hides the GPU from the kernel
    [row] = timings(out)
    assert row["notebook"] == source.name and row["device"] == "cpu" and row["status"] == "ok"
    assert "CPU" in row["device_name"] and float(row["seconds"]) >= 0 and row["torch"]


def test_a_failing_notebook_is_a_row_not_a_crash(tmp_path):
    good, bad = tmp_path / "00_good.ipynb", tmp_path / "01_bad.ipynb"
    write_notebook(good, "print('fine')")
    write_notebook(bad, "raise ValueError('broken on purpose')")
    out = tmp_path / "out"
    assert execute.main(["--device", "cpu", "--out", str(out), str(good), str(bad)]) == 1
    rows = {row["notebook"]: row["status"] for row in timings(out)}
    assert rows["00_good.ipynb"] == "ok" and "broken on purpose" in rows["01_bad.ipynb"]
    assert (out / "01_bad.ipynb").is_file()


@pytest.mark.parametrize("args, message", [
    (["--device", "tpu"], "use cpu, cuda or cuda:N"),
    (["--out", "x"], "--out goes with --device"),
    (["--device", "cpu", "--out", "{folder}"], "the committed ones are never replaced"),
    (["--device", "cpu", "{folder}/absent.ipynb"], "no such notebook"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, args, message):
    source = tmp_path / "00_x.ipynb"
    before = write_notebook(source, "print(1)")
    args = [a.format(folder=tmp_path) for a in args] + ([str(source)] if "absent" not in " ".join(args) else [])
    with pytest.raises(SystemExit, match=message):
        execute.main(args)
    assert source.read_bytes() == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_says_so(tmp_path):
    source = tmp_path / "00_x.ipynb"
    write_notebook(source, "print(1)")
    with pytest.raises(SystemExit, match="torch sees no GPU"):
        execute.main(["--device", "cuda", "--out", str(tmp_path / "out"), str(source)])
    assert not (tmp_path / "out").exists()
