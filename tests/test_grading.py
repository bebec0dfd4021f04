"""`grade`: a class of 30 submission folders made from the student copies (right, partly wrong, crashing, endless,
deleted, renamed, unparsable, damaged), one roster student without a folder, a team and a stranger folder,
graded in real kernels into a gradebook and feedback files; and the parts it is built from."""
from __future__ import annotations

import contextlib
import csv
import inspect
import io
import time
from pathlib import Path

import nbformat
import pytest

from course_lib import evaluation, exercises, grading, release
from course_lib.commands import main
from course_lib.notebook_cells import needed_cells

REPO = Path(__file__).resolve().parents[1]
GRADED = ("00_start_here.ipynb", "05_ranking.ipynb")
TIMEOUT = 8  # seconds for a notebook's own cells and for each check: what an endless student costs

# notebook 00: the reference solution written out as the student's function (a copy, not a call of the library's)
RIGHT_AP = ("import numpy as np\nfrom course_lib.evaluation import EvaluationInputError\n\n"
            + inspect.getsource(evaluation.compute_ap).replace("def compute_ap(", "def my_average_precision("))
STEPWISE_AP = ("def my_average_precision(ranks_of_positives, n_positives):\n"
               "    return sum((j + 1) / (p + 1) for j, p in enumerate(ranks_of_positives)) / n_positives\n")
OVER_FOUND_AP = RIGHT_AP.replace("/ 2) / n_positives)", "/ 2) / max(len(positions), 1))")
RAISING_AP = "def my_average_precision(ranks_of_positives, n_positives):\n    return 1 / 0\n"
ENDLESS_AP = "def my_average_precision(ranks_of_positives, n_positives):\n    while True:\n        pass\n"
HANGING_CELL = RIGHT_AP + "\nwhile True:  # left running by mistake\n    pass\n"
RENAMED_AP = RIGHT_AP.replace("def my_average_precision(", "def my_ap(")
UNPARSABLE_AP = "def my_average_precision(ranks_of_positives, n_positives)\n    return 0.5\n"

# notebook 05
RIGHT_TRIPLET = ("import torch\n\ndef my_triplet_loss(anchor, positive, negative, margin):\n"
                 "    gap = ((anchor - positive) ** 2).sum(1) - ((anchor - negative) ** 2).sum(1)\n"
                 "    return torch.relu(margin + gap)\n")
RIGHT_AQE = ("import numpy as np\n\ndef my_aqe(db, queries, ranks, k):\n"
             "    expanded = queries + db[ranks[:k].T].sum(axis=1)\n"
             "    return expanded / np.linalg.norm(expanded, axis=1, keepdims=True)\n")
WRONG_AQE = ("import numpy as np\n\ndef my_aqe(db, queries, ranks, k):\n    expanded = db[ranks[:k].T].sum(axis=1)\n"
             "    return expanded / np.linalg.norm(expanded, axis=1, keepdims=True)\n")
RIGHT_INLIERS = ("import numpy as np\n\ndef my_inlier_count(H, source, target, threshold):\n"
                 "    projected = np.column_stack([source, np.ones(len(source))]) @ np.asarray(H, float).T\n"
                 "    with np.errstate(divide='ignore', invalid='ignore'):\n"
                 "        error = np.linalg.norm(projected[:, :2] / projected[:, 2:3] - target, axis=1)\n"
                 "    return int((np.nan_to_num(error, nan=np.inf) < threshold).sum())\n")


def the_class() -> dict[str, dict[str, object]]:
    """folder -> {notebook: answers by exercise (None: the stub as released; "deleted": the cell removed) or bytes}."""
    right = {"average_precision": RIGHT_AP}
    folders: dict[str, dict[str, object]] = {f"s{i:02d}": {GRADED[0]: right} for i in range(1, 13)}
    folders.update({f"s{i:02d}": {GRADED[0]: {"average_precision": STEPWISE_AP}} for i in range(13, 17)})
    folders.update({
        "s17": {GRADED[0]: {"average_precision": OVER_FOUND_AP}},
        "s18": {GRADED[0]: {"average_precision": OVER_FOUND_AP}},
        "s19": {GRADED[0]: {"average_precision": RAISING_AP}},
        "s20": {GRADED[0]: {"average_precision": RAISING_AP}},
        "s21": {GRADED[0]: {"average_precision": ENDLESS_AP}},
        "s22": {GRADED[0]: {"average_precision": HANGING_CELL}},
        "s23": {GRADED[0]: {"average_precision": "deleted"}},
        "s24": {GRADED[0]: {"average_precision": None}},
        "s25": {GRADED[0]: {"average_precision": RENAMED_AP}},
        "s26": {GRADED[0]: {"average_precision": UNPARSABLE_AP}},
        "s27": {"Copy of " + GRADED[0]: right},  # as Colab names a saved copy
        "s28": {GRADED[0]: b"{ not a notebook"},
        "team-a": {GRADED[0]: right},
        "zz-stranger": {GRADED[0]: right},
    })
    folders["s01"][GRADED[1]] = {"triplet_loss": RIGHT_TRIPLET, "aqe": RIGHT_AQE, "homography_inliers": RIGHT_INLIERS}
    folders["s13"][GRADED[1]] = {"triplet_loss": RIGHT_TRIPLET, "aqe": WRONG_AQE, "homography_inliers": "deleted"}
    return folders


def write_submission(student_copy, course_nb, answers, target: Path) -> None:
    if isinstance(answers, bytes):
        target.write_bytes(answers)
        return
    nb = nbformat.from_dict(student_copy)
    stubs = {e.name: e.stub_cells[0] for e in release.find_exercises(course_nb)}
    for exercise, answer in answers.items():
        if answer is not None:
            nb.cells[stubs[exercise]].source = "" if answer == "deleted" else answer
    nb.cells = [c for c in nb.cells if c.source != "" or c.cell_type != "code"]
    nbformat.write(nb, target)


def write_course_data(data: Path) -> Path:
    """students.csv with s01..s31, teams.csv with team-a (s30, s31), no paper claims."""
    data.mkdir()
    (data / "students.csv").write_text("student_id,name\n" + "".join(f"s{i:02d},Student {i}\n" for i in range(1, 32)))
    (data / "teams.csv").write_text("team,student_id,declared_at\nteam-a,s30,2024-09-10T10:00\n"
                                    "team-a,s31,2024-09-10T10:00\n")
    (data / "paper_claims.csv").write_text("student_id,paper_id,declared_at\n")
    return data


def grade_command(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["grade", *args])
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded by the command line: (gradebook rows, feedback folder, stdout, stderr, seconds)."""
    root = tmp_path_factory.mktemp("grading")
    course = [REPO / "notebooks" / name for name in GRADED]
    release.release(course, root / "release")
    copies = {p.name: nbformat.read(root / "release" / "student" / p.name, as_version=4) for p in course}
    sources = {p.name: nbformat.read(p, as_version=4) for p in course}
    for folder, notebooks in the_class().items():
        (root / "in" / folder).mkdir(parents=True)
        for name, answers in notebooks.items():
            original = name.removeprefix("Copy of ")
            write_submission(copies[original], sources[original], answers, root / "in" / folder / name)
    data = write_course_data(root / "data")
    start = time.perf_counter()
    status, out, err = grade_command(str(root / "in"), "--out", str(root / "grades.csv"), "--data", str(data),
                                     "--notebooks", str(REPO / "notebooks"), "--timeout", str(TIMEOUT), "--jobs", "2")
    seconds = time.perf_counter() - start
    assert status == 0, err
    with open(root / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return rows, root / "feedback", out, err, seconds


def row(rows, student, exercise):
    (found,) = [r for r in rows if r["student"] == student and r["exercise"] == exercise]
    return found


def test_every_student_has_a_row_per_check_and_the_right_answers_get_the_points(graded):
    rows, _, stdout, _, seconds = graded
    print(f"class of 30 folders graded in {seconds:.0f} s: {stdout}")
    assert list(rows[0]) == list(grading.GRADEBOOK_COLUMNS)
    students = {f"s{i:02d}" for i in range(1, 32)} | {"zz-stranger"}
    assert {r["student"] for r in rows} == students
    assert len(rows) == len(students) * 4  # average_precision, then triplet_loss, aqe, homography_inliers
    passed = {r["student"] for r in rows if r["exercise"] == "average_precision" and r["passed"] == "yes"}
    # s22's notebook hangs after defining a right function: the hang is stopped, the function graded
    assert passed == {f"s{i:02d}" for i in range(1, 13)} | {"s22", "s27", "s30", "s31", "zz-stranger"}
    assert all(r["points"] == ("2" if r["passed"] == "yes" else "0") and r["max_points"] == "2"
               for r in rows if r["exercise"] == "average_precision")
    assert [row(rows, "s01", e)["points"] for e in ("triplet_loss", "aqe", "homography_inliers")] == ["2", "2", "3"]
    assert row(rows, "s30", "average_precision")["name"] == "Student 30"


@pytest.mark.parametrize("student, exercise, reason", [
    ("s13", "average_precision", "Hint: that is the step-wise AP"),
    ("s17", "average_precision", "Hint: divide by the number of positives in the ground truth"),
    ("s19", "average_precision", "raised ZeroDivisionError: division by zero"),
    ("s21", "average_precision", f"my_average_precision did not return within {TIMEOUT} s"),
    ("s22", "average_precision", f"was stopped: the notebook's cells ran out of their {TIMEOUT} s"),
    ("s23", "average_precision", "no cell of the notebook defines my_average_precision"),
    ("s24", "average_precision", "not implemented yet"),
    ("s25", "average_precision", "no cell of the notebook defines my_average_precision"),
    ("s26", "average_precision", "is not valid Python"),
    ("s28", "average_precision", "00_start_here.ipynb cannot be read as a notebook"),
    ("s29", "average_precision", "no submission folder"),
    ("s13", "triplet_loss", "my_triplet_loss: passed"),
    ("s13", "aqe", "Hint: include the query itself in the sum"),
    ("s13", "homography_inliers", "no cell of the notebook defines my_inlier_count"),
    ("s02", "aqe", "05_ranking.ipynb not handed in"),
])
def test_each_failure_says_why(graded, student, exercise, reason):
    found = row(graded[0], student, exercise)
    assert reason in found["feedback"], found
    assert found["passed"] == ("yes" if student == "s22" or "passed" in reason else "no")


def test_feedback_files_carry_the_checks_own_hints(graded):
    rows, feedback, _, stderr, _ = graded
    names = sorted(p.name for p in feedback.iterdir())
    assert len(names) == 31 and "team-a.md" in names and "s29.md" in names and "s30.md" not in names
    stepwise = {}
    exec(STEPWISE_AP, stepwise)  # noqa: S102 - the student's answer, checked as the notebook checks it
    interactive = str(exercises.check_average_precision(stepwise["my_average_precision"]))
    text = (feedback / "s13.md").read_text()
    assert text.startswith("# Feedback for Student 13 (s13)") and "**2 / 9 points.**" in text
    assert interactive in text and "## 05_ranking.ipynb: 2 / 7" in text
    assert (feedback / "team-a.md").read_text().startswith("# Feedback for team team-a: Student 30, Student 31")
    assert "zz-stranger: not a student id" in stderr


def test_every_check_of_the_course_has_points_and_its_functions():
    called = {}
    for path in release.course_notebooks(REPO / "notebooks"):
        for check in grading.graded_checks(nbformat.read(path, as_version=4)):
            assert check.functions and all(f.startswith("my_") for f in check.functions), check
            called[check.name] = check
    assert set(called) == set(exercises.POINTS)
    assert called["integral_box"].functions == ("my_integral_image", "my_box_sum")


def test_a_check_without_points_is_named():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("def my_f():\n    raise NotImplementedError"),
                                         nbformat.v4.new_code_cell("check_unknown(my_f)"),
                                         nbformat.v4.new_code_cell('show_solution("average_precision")')])
    with pytest.raises(grading.GradingError, match="07_x.ipynb, cell 2: check_unknown has no points"):
        grading.graded_checks(nb, "07_x.ipynb")


def test_the_slice_skips_unparsable_cells_and_what_nobody_needs():
    cells = ["import course_lib", "import numpy as np", "slow = sum(range(10**9))", "def broken(:",
             "%time x = 1\ndef my_f(a):\n    return np.sum(a)", "after = 1"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in cells])
    assert needed_cells(nb, [4]) == [0, 1, 4]


def test_a_submission_file_is_found_by_its_name_or_a_copy_of_it(tmp_path):
    assert grading.submitted_file(tmp_path, "00_a.ipynb") == "00_a.ipynb not handed in"
    (tmp_path / "Copy of 00_a.ipynb").write_text("{}")
    assert grading.submitted_file(tmp_path, "00_a.ipynb") == tmp_path / "Copy of 00_a.ipynb"
    (tmp_path / "00_a (1) 00_a.ipynb").write_text("{}")
    assert "several files could be 00_a.ipynb" in grading.submitted_file(tmp_path, "00_a.ipynb")
    (tmp_path / "00_a.ipynb").write_text("{}")
    assert grading.submitted_file(tmp_path, "00_a.ipynb") == tmp_path / "00_a.ipynb"


def test_nothing_to_grade_and_a_bad_time_limit_are_said_in_one_line(tmp_path):
    (tmp_path / "in" / "s01").mkdir(parents=True)
    (tmp_path / "in" / "s01" / "notes.txt").write_text("no notebook here")
    data = write_course_data(tmp_path / "data")
    common = ("--out", str(tmp_path / "grades.csv"), "--data", str(data), "--notebooks", str(REPO / "notebooks"))
    status, _, err = grade_command(str(tmp_path / "in"), *common)
    assert status == 2 and err.count("\n") == 1 and "no folder holds a course notebook" in err
    status, _, err = grade_command(str(tmp_path / "in"), *common, "--timeout", "0")
    assert status == 2 and "--timeout" in err and "at least 1 seconds" in err
    assert not (tmp_path / "grades.csv").exists()
