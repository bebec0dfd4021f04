"""`release`: the student copy holds no solution text and its self-checks answer the stubs with a message;
the instructor copy holds everything."""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib import release
from course_lib.exercises import checking

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = release.course_notebooks(REPO / "notebooks")
_spec = importlib.util.spec_from_file_location("notebook_slice", REPO / "tests" / "browser" / "notebook_slice.py")
notebook_slice = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(notebook_slice)
_spec = importlib.util.spec_from_file_location("execute_notebooks", REPO / "notebooks" / "execute.py")
execute_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute_notebooks)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "out"
    release.release(NOTEBOOKS, out)
    return out


def notebook_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_every_notebook_with_exercises_is_found_and_cut():
    names = []
    for path in NOTEBOOKS:
        exercises = release.find_exercises(nbformat.read(path, as_version=4))
        for exercise in exercises:
            assert exercise.stub_cells and exercise.check_cells, f"{path.name}: {exercise}"
        names += [e.name for e in exercises]
    assert len(names) >= 15 and set(names) <= set(checking.SOLUTIONS)


def test_student_copy_has_no_solution_text_and_instructor_copy_has_it(released):
    student = {p.name: notebook_text(p) for p in (released / "student").glob("*.ipynb")}
    instructor = {p.name: notebook_text(p) for p in (released / "instructor").glob("*.ipynb")}
    assert sorted(student) == sorted(instructor) == [p.name for p in NOTEBOOKS]
    found_in_instructor = 0
    for name, lines in release.reference_lines().items():
        for line in lines:
            encoded = json.dumps(line)[1:-1]  # as the line appears inside the notebook's JSON
            leaks = [nb for nb, text in student.items() if encoded in text]
            assert not leaks, f"reference of {name!r} in the student copy of {leaks}: {line}"
            found_in_instructor += any(encoded in text for text in instructor.values())
    assert found_in_instructor == sum(len(lines) for lines in release.reference_lines().values())
    assert not any("show_solution(" in text for text in student.values())


def test_student_copy_keeps_other_cells_and_clears_exercise_outputs(released):
    for path in NOTEBOOKS:
        source = nbformat.read(path, as_version=4)
        student = nbformat.read(released / "student" / path.name, as_version=4)
        assert len(student.cells) == len(source.cells)
        exercise_cells = {i for e in release.find_exercises(source) for i in [e.solution_cell, *e.stub_cells,
                                                                               *e.check_cells]}
        for i, (before, after) in enumerate(zip(source.cells, student.cells)):
            if i in exercise_cells:
                assert after.get("outputs", []) == [], f"{path.name} cell {i}: outputs kept"
            else:
                assert after == before, f"{path.name} cell {i} changed"


def test_self_checks_answer_the_student_stubs_with_a_message(released):
    """Every exercise's check cell, run on the student's stub, returns a failed CheckResult that says
    what to do (run in this process: the stubs and checks need no data)."""
    for path in (released / "student").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for exercise in release.find_exercises(nbformat.read(REPO / "notebooks" / path.name, as_version=4)):
            cut = notebook_slice.cells_needed(nb, exercise.stub_cells + exercise.check_cells)
            namespace: dict = {}
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                for cell in cut.cells:
                    value = exec_cell(cell.source, namespace)
                    if isinstance(value, checking.CheckResult):
                        print(value)
            assert "not implemented yet" in printed.getvalue(), f"{path.name} {exercise.name}: {printed.getvalue()}"
            assert "passed" not in printed.getvalue()


def exec_cell(source: str, namespace: dict):
    """Run a cell like a kernel does: the value of a last bare expression is returned."""
    import ast

    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<cell>", "exec"), namespace)  # noqa: S102 - running a notebook cell is the point
    if last is not None:
        return eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
    return None


def test_student_notebook_runs_in_a_kernel(released):
    """Notebook 00's student copy, cut to its setup and exercise cells, runs in a real kernel without an error."""
    path = released / "student" / "00_start_here.ipynb"
    source = nbformat.read(REPO / "notebooks" / path.name, as_version=4)
    targets = [i for e in release.find_exercises(source) for i in e.stub_cells + e.check_cells]
    cut = notebook_slice.cells_needed(nbformat.read(path, as_version=4), targets)
    NotebookClient(cut, timeout=300, kernel_name="python3").execute()
    outputs = "".join(o.get("text", "") for cell in cut.cells for o in cell.outputs)
    assert "not implemented yet" in outputs


def test_solution_regions_become_stubs():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "def area(w, h):\n    ### BEGIN SOLUTION\n    return w * h\n    ### END SOLUTION\n")])
    student = release.student_copy(nb)
    assert student.cells[0].source == f"def area(w, h):\n    {release.STUB_LINE}"
    assert release.instructor_copy(nb).cells[0].source == nb.cells[0].source


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "line 2: ### END SOLUTION without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "line 2"),
])
def test_broken_solution_regions_are_named(source, message):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("intro"), nbformat.v4.new_code_cell(source)])
    with pytest.raises(release.ReleaseError, match=message) as error:
        release.student_copy(nb, "07_x.ipynb")
    assert "07_x.ipynb, cell 2" in str(error.value)


def test_unknown_exercise_is_named():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('show_solution("no_such")')])
    with pytest.raises(release.ReleaseError, match="cell 1: no exercise 'no_such'"):
        release.student_copy(nb, "07_x.ipynb")


def run_cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "course_lib", "release", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def test_cli_refuses_a_folder_in_use_and_a_missing_notebook_folder(tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "mine.txt").write_text("keep")
    result = run_cli("--out", str(used), "--notebooks", str(REPO / "notebooks"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "not an empty folder" in result.stderr
    assert sorted(p.name for p in used.iterdir()) == ["mine.txt"]
    result = run_cli("--out", str(tmp_path / "new"), "--notebooks", str(tmp_path / "absent"))
    assert result.returncode == 2 and "absent: no such folder" in result.stderr
    assert not (tmp_path / "new").exists()


def test_cli_writes_both_copies(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "00_start_here.ipynb").write_bytes((REPO / "notebooks" / "00_start_here.ipynb").read_bytes())
    result = run_cli("--out", str(tmp_path / "out"), "--notebooks", str(folder))
    assert result.returncode == 0, result.stderr
    assert "wrote 1 student and 1 instructor notebooks" in result.stdout
    for kind in ("student", "instructor"):
        nb = nbformat.read(tmp_path / "out" / kind / "00_start_here.ipynb", as_version=4)
        assert nb.metadata[release.RELEASE_KEY] == kind


def test_notebook_slice_keeps_what_the_targets_need_and_nothing_else():
    cells = ["import math\nSETUP = 1",                  # 0: the setup cell, always kept
             "import numpy as np\ndata = np.arange(3)",  # 1: binds data (needed)
             "slow = sum(range(10**9))",                 # 2: nobody reads slow
             "data[0] = 7\nconfig = {}",                 # 3: changes data (needed)
             "def f(x):\n    return x + data.sum()",    # 4: binds f; its parameter x is local
             "print(f(1))"]                              # 5: the target
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in cells])
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("text"))
    cut = notebook_slice.cells_needed(nb, [6])
    assert [c.source for c in cut.cells] == [cells[0], cells[1], cells[3], cells[4], cells[5]]


@pytest.mark.parametrize("cells", [
    ['show_solution("iou")'],
    ['exercises.show_solution(name="iou")'],
    ['course_lib.exercises.show_solution(\n    "iou")'],
    ["from course_lib.exercises import show_solution as reveal", '%matplotlib inline\nreveal("iou")'],
    ["from course_lib import exercises", "answer = exercises.show_solution\nanswer('iou')"],
])
def test_every_form_of_show_solution_call_is_recognised(cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    assert release.solution_calls(nb) == {len(cells) - 1: ["iou"]}
    assert [e.name for e in release.find_exercises(nb)] == ["iou"]


def test_cells_that_only_mention_show_solution_are_not_solution_cells():
    sources = ["# show_solution('iou') reveals it", "print('show_solution(\"iou\")')", "!echo show_solution"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    assert release.solution_calls(nb) == {}


def test_a_solution_cell_must_name_its_exercise_literally():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("name = 'iou'\nshow_solution(name)")])
    with pytest.raises(release.ReleaseError, match="cell 1: a solution cell calls show_solution once"):
        release.student_copy(nb, "07_x.ipynb")


def executed_exercise() -> nbformat.NotebookNode:
    """A stub, its check and its solution cell, with the outputs they have after a run."""
    solution = nbformat.v4.new_output("display_data", data={
        "text/html": checking.show_solution("iou")._repr_html_(), "text/plain": "Solution(...)"})
    cells = [nbformat.v4.new_code_cell("def my_iou(a, b):\n    raise NotImplementedError", execution_count=1),
             nbformat.v4.new_code_cell("check_iou(my_iou)", execution_count=2,
                                       outputs=[nbformat.v4.new_output("stream", text="not implemented yet\n")]),
             nbformat.v4.new_code_cell('from course_lib import exercises as ex\nex.show_solution(name="iou")',
                                       execution_count=3, outputs=[solution])]
    return nbformat.v4.new_notebook(cells=cells)


def test_execute_keeps_no_solution_output_and_the_check_outputs(tmp_path):
    nb = executed_exercise()
    execute_notebooks.clean(nb)
    assert nb.cells[2].outputs == [] and nb.cells[2].execution_count == 3
    assert nb.cells[1].outputs[0]["text"] == "not implemented yet\n"
    path = tmp_path / "04_x.ipynb"
    nbformat.write(executed_exercise(), path)
    assert execute_notebooks.main(["--strip-solutions", str(path)]) == 0
    stripped = nbformat.read(path, as_version=4)
    assert "Reference solution of exercise" not in path.read_text() and stripped.cells[1].outputs
    # Stripping records no source hash (unlike a run): a cell edited since its run still reads as stale.
    assert execute_notebooks.SOURCE_HASH_KEY not in stripped.cells[2].metadata


def test_student_copy_is_refused_while_an_output_shows_a_reference():
    nb = executed_exercise()
    nb.cells.insert(0, nbformat.v4.new_code_cell("print(inspect.getsource(iou))", outputs=[nbformat.v4.new_output(
        "stream", text=checking.show_solution("iou").source)]))
    with pytest.raises(release.ReleaseError, match=r"07_x.ipynb \(student copy\), cell 1: its output shows the "
                                                   r"reference solution of 'iou'"):
        release.student_copy(nb, "07_x.ipynb")
    assert release.student_copy(executed_exercise(), "07_x.ipynb")  # the solution cell's own output is cut


def test_hidden_tests_and_mark_scheme_cells_stay_out_of_the_student_copy():
    graded = "assert my_iou(a, a) == 1\n### BEGIN HIDDEN TESTS\nassert my_iou(a, b) == 0\n### END HIDDEN TESTS\nok = 1"
    scheme = nbformat.v4.new_markdown_cell("# MARK SCHEME\n2 points for the union")
    tagged = nbformat.v4.new_code_cell("points = {'iou': 2}", metadata={"tags": ["mark-scheme"]})
    nb = executed_exercise()
    nb.cells += [nbformat.v4.new_code_cell(graded), scheme, tagged]
    student = release.student_copy(nb, "07_x.ipynb")
    assert student.cells[-1].source == "assert my_iou(a, a) == 1\nok = 1"
    assert not any("MARK SCHEME" in c.source or "points" in c.source for c in student.cells)
    instructor = release.instructor_copy(nb, "07_x.ipynb")
    assert graded in [c.source for c in instructor.cells] and instructor.cells[-1].source == tagged.source
    with pytest.raises(release.ReleaseError, match="HIDDEN TESTS is never closed"):
        release.student_copy(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            "### BEGIN HIDDEN TESTS\nx = 1")]), "07_x.ipynb")


def test_cli_warns_about_each_notebook_it_skips(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "00_start_here.ipynb").write_bytes((REPO / "notebooks" / "00_start_here.ipynb").read_bytes())
    for name in ("scratch.ipynb", "1_intro.ipynb"):
        nbformat.write(nbformat.v4.new_notebook(), folder / name)
    result = run_cli("--out", str(tmp_path / "out"), "--notebooks", str(folder))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: 1_intro.ipynb: skipped (a course notebook is named NN_name.ipynb)",
        "warning: scratch.ipynb: skipped (a course notebook is named NN_name.ipynb)"]
