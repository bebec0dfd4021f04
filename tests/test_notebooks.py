"""Committed notebooks: shared setup cell pinned to a commit, fresh outputs, no execution noise, nothing read
from beside the notebook, links that work wherever the notebook is opened (tests/test_colab.py runs them there).

nbval (run by `pytest` on notebooks/*.ipynb) re-executes every notebook and compares the
cells marked `# NBVAL_CHECK_OUTPUT`; these tests check what nbval cannot see.
"""
import importlib.util
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from course_lib import resources

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


PIN = re.compile(r'^COURSE_REF = "([0-9a-f]{40})"$', re.MULTILINE)
REPOSITORY = re.search(r'COURSE_REPOSITORY = "([^"]+)"', (NOTEBOOK_DIR / "setup_cell.py").read_text()).group(1)
LINK = re.compile(r"\]\(([^)\s]+)\)|(?:href|src)=[\"']([^\"']+)[\"']")
PARENT_FOLDER = re.compile(r"""["']\.\.(?:[/\\\\"'])|\bos\.pardir\b""")
PACKAGED_READ = re.compile(r"""resources\.(?:read_csv|path)\(\s*["']([^"']+)["']""")


def _sources(nb, cell_type):
    return [(i, cell.source) for i, cell in enumerate(nb.cells) if cell.cell_type == cell_type]


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
def test_first_cell_is_the_shared_setup_cell_pinned_to_a_commit(path):
    nb = nbformat.read(path, as_version=4)
    source = nb.cells[0].source if nb.cells[0].cell_type == "code" else ""
    pin = PIN.search(source)
    assert pin, f"{path.name}: the setup cell pins no commit (COURSE_REF); run `python notebooks/execute.py`"
    assert source.strip() == execute_notebooks.setup_cell(pin.group(1)), (
        f"{path.name}: the first cell must be notebooks/setup_cell.py verbatim, COURSE_REF apart")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_reads_beside_or_above_itself(path):
    """On Colab and in a handout a notebook is alone in its folder: what it reads ships with course_lib."""
    nb = nbformat.read(path, as_version=4)
    for i, source in _sources(nb, "code"):
        assert not PARENT_FOLDER.search(source), f"{path.name} cell {i}: reads from a parent folder"
        for name in PACKAGED_READ.findall(source):
            assert resources.path(name).is_file(), f"{path.name} cell {i}: {name} does not ship with course_lib"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_links_that_leave_the_notebook_are_absolute_and_lead_somewhere(path):
    """Relative links are dead on Colab and in a handout; a link into the repository names a file it has."""
    nb = nbformat.read(path, as_version=4)
    for i, source in _sources(nb, "markdown"):
        for target in (a or b for a, b in LINK.findall(source)):
            assert re.match(r"(https?:|#|attachment:|mailto:)", target), f"{path.name} cell {i}: relative link {target}"
            inside = re.match(re.escape(REPOSITORY) + r"/(?:blob|tree)/main/([^#?]+)", target)
            if inside:
                assert (ROOT / inside.group(1)).exists(), f"{path.name} cell {i}: {target} leads nowhere"


def test_execute_pins_the_commit_that_holds_the_kit(tmp_path):
    """In place, notebooks/execute.py pins HEAD, and only when HEAD holds the kit as it is, the files that
    course_lib/course_files links to included."""
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    (tmp_path / "course_lib" / "course_files").mkdir(parents=True)
    (tmp_path / "course_lib" / "course_files" / "schedule.md").symlink_to("../../schedule.md")
    for name in ("schedule.md", "pyproject.toml", "README.md"):
        (tmp_path / name).write_text("v1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "kit")
    (tmp_path / "README.md").write_text("not part of the kit\n")
    assert execute_notebooks.kit_commit(tmp_path) == git("rev-parse", "HEAD")
    (tmp_path / "schedule.md").write_text("v2\n")
    with pytest.raises(SystemExit, match="uncommitted changes .*schedule.md"):
        execute_notebooks.kit_commit(tmp_path)
    assert PIN.search(execute_notebooks.setup_cell("0" * 40))


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_show_no_reference_solution(path):
    """Students read the committed notebooks on GitHub and Colab: no solution cell keeps its output, and no
    output anywhere shows a line of a reference solution (the instructor copy from `release` has them)."""
    from course_lib import release

    nb = nbformat.read(path, as_version=4)
    assert [i for i in release.solution_calls(nb) if nb.cells[i].outputs] == []
    release.refuse_reference_in_outputs(nb, path.name)
