"""Grading handed-in notebooks (`python -m course_lib grade`): each submission's exercise cells, and the cells
they need, run in a fresh kernel with a time limit; the self-checks are called on the student's functions;
the result is a gradebook (one row per student and check) and a feedback file per submission folder.

What is graded comes from the course notebooks themselves: each check cell's `check_<name>(my_a, my_b)`
names the check and the student's functions; what a check is worth is `exercises.POINTS[name]`.
A submission is never trusted to say so (a student may have edited or deleted the check cells).
"""
from __future__ import annotations

import ast
import csv
import io
import math
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .notebook_cells import names_of, needed_cells
from .release import find_exercises, parse_cell

DEFAULT_TIMEOUT = 60
"""Seconds for a submission's own cells, and again for each check (a function that never returns costs its own
exercise only)."""
IMPORT_SECONDS = 300  # importing the checks (torch, torchvision) is the grader's time, not the student's
GRADE_MIMETYPE = "application/vnd.course-lib.grade+json"
GRADEBOOK_COLUMNS = ("student", "name", "notebook", "exercise", "passed", "points", "max_points", "feedback")
_GRADER = "_course_lib_grading"  # the grader's one name in the student's namespace
_TIMED_OUT = "CellTimeoutError"


class GradingError(ValueError):
    """Grading cannot start: no course notebook with checks, nothing submitted, a check without points."""


@dataclass(frozen=True)
class GradedCheck:
    """One check a course notebook calls: check_<name>(*functions) on the student's functions, worth `points`."""

    name: str
    functions: tuple[str, ...]
    points: int


@dataclass(frozen=True)
class Outcome:
    """A check's result on one submitted notebook."""

    check: GradedCheck
    passed: bool
    message: str

    @property
    def points(self) -> int:
        return self.check.points if self.passed else 0


@dataclass(frozen=True)
class Submission:
    """A folder of the submissions and whom it grades: its student, a team's members, or (not on the roster)
    whoever its name says."""

    folder: Path
    students: tuple[str, ...]
    on_roster: bool


def graded_checks(nb, where: str = "notebook") -> list[GradedCheck]:
    """The checks that a course notebook's check cells call, with the names of the student's functions."""
    from .exercises import POINTS

    checks: dict[str, GradedCheck] = {}
    for exercise in find_exercises(nb, where):
        for i in exercise.check_cells:
            tree = parse_cell(nb.cells[i].source)
            for node in ast.walk(tree) if tree is not None else ():
                if not isinstance(node, ast.Call):
                    continue
                called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if not called.startswith("check_"):
                    continue
                name = called[len("check_"):]
                if name not in POINTS:
                    raise GradingError(f"{where}, cell {i + 1}: {called} has no points; add {name!r} to the POINTS "
                                       f"of its module in course_lib/exercises/")
                functions = tuple(arg.id for arg in node.args if isinstance(arg, ast.Name))
                checks.setdefault(name, GradedCheck(name, functions, POINTS[name]))
    return list(checks.values())


# ---------------------------------------------------------------- inside the student's kernel


def report_check(name: str, function_names: tuple[str, ...], namespace: dict) -> None:
    """Run in the student's kernel: call check_<name> on the student's functions and display the result
    under GRADE_MIMETYPE, where the grader reads it."""
    from IPython.display import display

    from . import exercises

    missing = [f for f in function_names if not callable(namespace.get(f))]
    if missing:
        result = {"passed": False, "message": f"{', '.join(missing)}: not defined when the notebook's cells ran"}
    else:
        outcome = getattr(exercises, f"check_{name}")(*(namespace[f] for f in function_names))
        result = {"passed": bool(outcome), "message": str(outcome)}
    display({GRADE_MIMETYPE: result}, raw=True)


# ---------------------------------------------------------------- one submitted notebook


def _defining_cells(nb, names: set[str]) -> tuple[list[int], list[str]]:
    """(code cells that bind one of `names`, notes on cells that are not valid Python)."""
    defining, unparsable = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            if names_of(cell.source)[1] & names:
                defining.append(i)
        except SyntaxError as error:
            unparsable.append(f"cell {i + 1} is not valid Python ({error.msg}, line {error.lineno})")
    return defining, unparsable


def _error_line(error: BaseException) -> str:
    """`Name: message` on one line: a cell's error as the kernel names it, else the exception itself."""
    name = getattr(error, "ename", "") or type(error).__name__
    text = " ".join(str(getattr(error, "evalue", error)).split())[:200]
    return f"{name}: {text}" if text else name


def grade_notebook(path: Path, checks: list[GradedCheck], timeout: float = DEFAULT_TIMEOUT) -> list[Outcome]:
    """Run `path`'s cells that define the checked functions (and the cells they need) in a fresh kernel, then
    each check; every failure, hang or missing function becomes a failed Outcome that says why."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # a damaged upload in any way: this notebook fails, the class goes on
        return [Outcome(c, False, f"{path.name} cannot be read as a notebook ({_error_line(error)})") for c in checks]
    wanted = {f for check in checks for f in check.functions}
    defining, problems = _defining_cells(nb, wanted)
    student_cells = needed_cells(nb, defining)
    # The grader's imports come first: the time limit then counts the student's code, not loading torch.
    run = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import course_lib.exercises\nimport course_lib.grading as {_GRADER}")])
    run.cells += [nbformat.v4.new_code_cell(nb.cells[i].source) for i in student_cells]
    run.cells += [nbformat.v4.new_code_cell(f"{_GRADER}.report_check({c.name!r}, {c.functions!r}, globals())")
                  for c in checks]
    results: dict[str, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="grading-") as folder:
        client = NotebookClient(run, kernel_name="python3", interrupt_on_timeout=True, shutdown_kernel="immediate",
                                error_on_timeout={"ename": _TIMED_OUT, "evalue": "", "traceback": []},
                                resources={"metadata": {"path": folder}})

        def execute(index: int, seconds: float) -> None:
            client.timeout = max(1, math.ceil(seconds))
            client.execute_cell(run.cells[index], index)

        try:
            with client.setup_kernel():
                try:
                    execute(0, max(timeout, IMPORT_SECONDS))
                except CellExecutionError as error:  # the same for every student: stop the class here
                    raise GradingError(f"the python3 kernel cannot import the checks ({_error_line(error)}); "
                                       f"install course_lib where that kernel runs") from None
                deadline = time.monotonic() + timeout
                for index, cell_number in enumerate(student_cells, start=1):
                    try:
                        execute(index, deadline - time.monotonic())
                    except CellExecutionError as error:
                        if error.ename == _TIMED_OUT:
                            problems.append(f"cell {cell_number + 1} was stopped: the notebook's cells ran out of "
                                            f"their {timeout:g} s")
                            break
                        problems.append(f"cell {cell_number + 1} raised {_error_line(error)}")
                for offset, check in enumerate(checks, start=len(student_cells) + 1):
                    try:
                        execute(offset, timeout)
                        results[check.name] = _read_result(check, run.cells[offset])
                    except CellExecutionError as error:
                        why = (f"did not return within {timeout:g} s (an endless loop?)" if error.ename == _TIMED_OUT
                               else f"stopped the check: {_error_line(error)}")
                        results[check.name] = Outcome(check, False, f"{', '.join(check.functions)} {why}")
        except (DeadKernelError, RuntimeError) as error:  # the kernel died (os._exit, memory) or never started
            problems.append(f"the kernel stopped ({_error_line(error)})")
    bound = set().union(*(names_of(nb.cells[i].source)[1] for i in defining))
    return [_explained(results.get(c.name) or Outcome(c, False, "not run"), bound, problems)
            for c in checks]


def _read_result(check: GradedCheck, cell) -> Outcome:
    for output in cell.outputs:
        result = output.get("data", {}).get(GRADE_MIMETYPE)
        if result is not None:
            return Outcome(check, bool(result["passed"]), str(result["message"]))
    return Outcome(check, False, "the check gave no result")


def _explained(outcome: Outcome, bound: set[str], problems: list[str]) -> Outcome:
    """The outcome with what went wrong in the notebook's cells (a passed check keeps its points); a function
    that no cell defines (not in `bound`, the names the defining cells bind) is said so instead of the
    kernel's 'not defined'."""
    message = outcome.message
    never = [f for f in outcome.check.functions if f not in bound]
    if never and not outcome.passed:
        message = f"no cell of the notebook defines {', '.join(never)} (deleted, or renamed?)"
    return Outcome(outcome.check, outcome.passed, message + (f" ({'; '.join(problems)})" if problems else ""))


# ---------------------------------------------------------------- a class


@dataclass
class Roster:
    """Who should hand in: student id -> name (students.csv), team -> member ids (teams.csv)."""

    names: dict[str, str]
    teams: dict[str, tuple[str, ...]]


def load_roster(data_dir: str | Path | None = None) -> Roster:
    """The roster and teams of `data_dir` (default data/course), read and checked by the schedule's loader."""
    from .schedule import load_course_data

    data = load_course_data(data_dir)
    teams: dict[str, list[str]] = {}
    for row in data.teams.itertuples():
        teams.setdefault(row.team, []).append(row.student_id)
    return Roster(dict(zip(data.roster.student_id, data.roster.name)),
                  {team: tuple(dict.fromkeys(members)) for team, members in teams.items()})


def find_submissions(folder: str | Path, roster: Roster) -> list[Submission]:
    """Each sub-folder of `folder`: a student id (graded for that student), a team (graded for its members who
    have no folder of their own), or neither (graded under the folder's name, `on_roster` False)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of submissions")
    folders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    own = {p.name for p in folders if p.name in roster.names}
    submissions = []
    for path in folders:
        if path.name in roster.names:
            submissions.append(Submission(path, (path.name,), True))
        elif path.name in roster.teams:
            submissions.append(Submission(path, tuple(m for m in roster.teams[path.name] if m not in own), True))
        else:
            submissions.append(Submission(path, (path.name,), False))
    return submissions


def submitted_file(folder: Path, notebook: str) -> Path | str:
    """The file of `folder` that hands in `notebook`: its own name, or one name ending with it (Colab saves
    "Copy of 00_start_here.ipynb"); else why there is none."""
    exact = folder / notebook
    if exact.is_file():
        return exact
    candidates = sorted(p for p in folder.glob("*.ipynb") if p.name.endswith(notebook))
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        return f"several files could be {notebook} ({', '.join(p.name for p in candidates)}): keep one"
    return f"{notebook} not handed in"


@dataclass
class Gradebook:
    """Every graded check of every student: outcomes by (folder, notebook), and who each folder grades."""

    submissions: list[Submission]
    missing: list[str]  # roster students with no folder of their own or of their team
    checks: dict[str, list[GradedCheck]]  # course notebook -> its checks, for the notebooks graded
    outcomes: dict[tuple[str, str], list[Outcome]]
    names: dict[str, str]
    seconds: list[float]  # wall time of each notebook run

    def rows(self) -> list[dict[str, object]]:
        rows = []
        for submission in self.submissions:
            for notebook in self.checks:
                for outcome in self.outcomes[submission.folder.name, notebook]:
                    rows += [_row(student, self.names.get(student, ""), notebook, outcome)
                             for student in submission.students]
        for student in self.missing:
            for notebook, checks in self.checks.items():
                rows += [_row(student, self.names[student], notebook, Outcome(c, False, "no submission folder"))
                         for c in checks]
        return sorted(rows, key=lambda r: (r["student"], r["notebook"]))


def _row(student: str, name: str, notebook: str, outcome: Outcome) -> dict[str, object]:
    return {"student": student, "name": name, "notebook": notebook, "exercise": outcome.check.name,
            "passed": "yes" if outcome.passed else "no", "points": outcome.points,
            "max_points": outcome.check.points, "feedback": " ".join(outcome.message.split())}


def grade_class(submissions_dir: str | Path, course_notebooks: list[Path], roster: Roster,
                timeout: float = DEFAULT_TIMEOUT, jobs: int = 1, progress: bool = True) -> Gradebook:
    """Grade every folder of `submissions_dir` on the course notebooks that any folder handed in."""
    import nbformat
    from tqdm.auto import tqdm

    all_checks = {p.name: graded_checks(nbformat.read(p, as_version=4), p.name) for p in course_notebooks}
    all_checks = {name: checks for name, checks in all_checks.items() if checks}
    if not all_checks:
        raise GradingError("no course notebook with checks (give --notebooks FOLDER with the NN_*.ipynb files)")
    submissions = find_submissions(submissions_dir, roster)
    found = {(s.folder.name, nb): submitted_file(s.folder, nb) for s in submissions for nb in all_checks}
    checks = {nb: c for nb, c in all_checks.items() if any(isinstance(found[s.folder.name, nb], Path)
                                                            for s in submissions)}
    if not checks:
        raise GradingError(f"{submissions_dir}: no folder holds a course notebook ({', '.join(all_checks)})")
    outcomes = {key: [Outcome(c, False, why) for c in checks[key[1]]]
                for key, why in found.items() if key[1] in checks and isinstance(why, str)}
    runs = [key for key in found if key[1] in checks and key not in outcomes]
    seconds: list[float] = []

    def grade(key: tuple[str, str]) -> list[Outcome]:
        start = time.perf_counter()
        graded = grade_notebook(found[key], checks[key[1]], timeout)
        seconds.append(time.perf_counter() - start)
        return graded

    with ThreadPoolExecutor(max_workers=jobs) as pool, tqdm(total=len(runs), desc="grading", unit="notebook",
                                                             disable=not progress) as bar:
        for key, graded in zip(runs, pool.map(grade, runs)):
            outcomes[key] = graded
            bar.update()
    covered = {student for s in submissions for student in s.students}
    return Gradebook(submissions, [s for s in roster.names if s not in covered], checks, outcomes, roster.names,
                     seconds)


def write_gradebook(book: Gradebook, target: str | Path) -> None:
    from .files import atomic_write

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=GRADEBOOK_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(book.rows())
    with atomic_write(target) as f:
        f.write(text.getvalue().encode())


def feedback_markdown(book: Gradebook, who: str, folder: str | None) -> str:
    """The feedback of one folder (or of a roster student without one): each check's message, as the check
    says it in the notebook, with the points."""
    rows = [r for r in book.rows() if r["student"] == who]
    name = book.names.get(who, "")
    title = f"{name} ({who})" if name else who
    if folder is not None and folder != who:
        title = f"team {folder}: " + ", ".join(book.names.get(s, s) for s in _students_of(book, folder))
    total, best = sum(int(r["points"]) for r in rows), sum(int(r["max_points"]) for r in rows)
    lines = [f"# Feedback for {title}", "", f"**{total} / {best} points.**"]
    for notebook in book.checks:
        mine = [r for r in rows if r["notebook"] == notebook]
        lines += ["", f"## {notebook}: {sum(int(r['points']) for r in mine)} / "
                      f"{sum(int(r['max_points']) for r in mine)}", ""]
        lines += [f"- {'passed' if r['passed'] == 'yes' else 'not passed'}: **{r['exercise']}** "
                  f"({r['points']} / {r['max_points']}): {r['feedback']}" for r in mine]
    return "\n".join(lines) + "\n"


def _students_of(book: Gradebook, folder: str) -> tuple[str, ...]:
    return next(s.students for s in book.submissions if s.folder.name == folder)


def write_feedback(book: Gradebook, folder: str | Path) -> list[Path]:
    """One markdown file per submission folder, and one per roster student without a submission."""
    from .files import atomic_write

    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    whom = [(s.folder.name, s.students[0]) for s in book.submissions if s.students]
    whom += [(student, student) for student in book.missing]
    for name, student in whom:
        target = folder / f"{name}.md"
        with atomic_write(target) as f:
            f.write(feedback_markdown(book, student, name).encode())
        written.append(target)
    return written
