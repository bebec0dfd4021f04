"""Committed notebooks: shared setup cell, fresh outputs, no execution noise.

nbval (run by `pytest` on notebooks/*.ipynb) re-executes every notebook and compares the
cells marked `# NBVAL_CHECK_OUTPUT`; these tests check what nbval cannot see.
"""
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9]*.ipynb"))

_spec = importlib.util.spec_from_file_location("execute_notebooks", NOTEBOOK_DIR / "execute.py")
execute_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute_notebooks)

NOISE = {
    "a machine path": re.compile(r"(/home/|/root/|/work/|/tmp/|/Users/|[A-Z]:\\\\Users)"),
    "a memory address": re.compile(r"\bat 0x[0-9a-fA-F]{6,}"),
    "a progress bar": execute_notebooks.PROGRESS_BAR,
    "a carriage return": re.compile("\r"),
}


def _output_texts(cell):
    for out in cell.get("outputs", []):
        if "text" in out:
            yield out["text"]
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/"):
                yield value if isinstance(value, str) else "".join(value)
        if out.get("output_type") == "error":
            yield "\n".join(out.get("traceback", []))


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS][:1] == ["00_start_here.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_is_the_shared_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    expected = (NOTEBOOK_DIR / "setup_cell.py").read_text().strip()
    assert nb.cells[0].cell_type == "code" and nb.cells[0].source.strip() == expected, (
        f"{path.name}: the first cell must be notebooks/setup_cell.py verbatim")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_fresh(path):
    """Every code cell ran, in order, and was not edited after it ran."""
    nb = nbformat.read(path, as_version=4)
    counts = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        recorded = cell.metadata.get(execute_notebooks.SOURCE_HASH_KEY)
        assert recorded == execute_notebooks.source_hash(cell.source), (
            f"{path.name} cell {i}: edited after its outputs were made; run `python notebooks/execute.py {path.name}`")
        counts.append(cell.execution_count)
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: not executed top to bottom in one run"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_free_of_noise(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"{path.name} cell {i}: committed with an error"
        for text in _output_texts(cell):
            for what, pattern in NOISE.items():
                assert not pattern.search(text), f"{path.name} cell {i}: output holds {what}: {text[:200]!r}"


def test_colab_links_use_the_repository_of_the_setup_cell():
    setup = (NOTEBOOK_DIR / "setup_cell.py").read_text()
    repo = re.search(r'COURSE_REPOSITORY = "https://github.com/([^"]+)"', setup).group(1)
    readme = (ROOT / "README.md").read_text()
    colab_links = re.findall(r"colab.research.google.com/github/([^/]+/[^/]+)/", readme)
    assert colab_links and set(colab_links) == {repo}
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}" in readme, f"README does not link {path.name}"
