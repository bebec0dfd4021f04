"""Student and instructor copies of the course notebooks (nbgrader's idea, without its server):
`python -m course_lib release --out DIR` writes DIR/student/ (no solution text) and DIR/instructor/.

What marks an exercise, all of it visible as code on GitHub and Colab:
- the stub cell: a `def` whose body raises NotImplementedError (the student writes it);
- check cells: cells that call a `check_*` function on the student's function;
- the solution cell: `show_solution("name")`, whose output is the reference solution;
- optionally, nbgrader's own markers: lines between `### BEGIN SOLUTION` and `### END SOLUTION` in any code cell.

Student copy: solution cells become a note, solution regions become `raise NotImplementedError(...)`, and the
outputs of stub, check and solution cells are cleared; every other cell is kept as it is, outputs included.
Instructor copy: everything, plus each exercise's reference source, unfolded, beside its solution cell.
The references are course_lib's own functions (the library the notebooks use), so what the student copy
removes is the solution *text* of the notebooks: a student who reads the library's source finds them, as
anyone reading the public repository does; the checks refuse an answer that calls them.
"""
from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
STUB_LINE = 'raise NotImplementedError("exercise: replace this line with your code")'
RELEASE_KEY = "course_lib_release"
SOLUTION_CALL = re.compile(r"""\bshow_solution\(\s*["']([^"']+)["']\s*\)""")
CHECK_CALL = re.compile(r"\bcheck_\w+\(")
STUDENT_NOTE = ("**Reference solution of `{name}`**: not in this copy. Write your function above until the check "
                "passes; your instructor releases the reference after the deadline.")
INSTRUCTOR_NOTE = "**Instructor copy: reference solution of `{name}`** (course_lib's own code)\n\n```python\n{source}```"


class ReleaseError(ValueError):
    """A notebook the release cannot cut safely (an unclosed solution region, an unknown exercise)."""


@dataclass
class Exercise:
    """One exercise of a notebook: its name and the indices of its cells."""

    name: str
    solution_cell: int
    stub_cells: list[int] = field(default_factory=list)
    check_cells: list[int] = field(default_factory=list)


def raises_not_implemented(source: str) -> bool:
    """True for a cell with a function whose body raises NotImplementedError (an exercise stub)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Raise) and inner.exc is not None:
                    raised = inner.exc.func if isinstance(inner.exc, ast.Call) else inner.exc
                    if isinstance(raised, ast.Name) and raised.id == "NotImplementedError":
                        return True
    return False


def find_exercises(nb) -> list[Exercise]:
    """Each `show_solution("name")` cell with the stub and check cells since the previous exercise."""
    exercises: list[Exercise] = []
    start = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        match = SOLUTION_CALL.search(cell.source)
        if match is None:
            continue
        exercise = Exercise(match.group(1), i)
        for j in range(start, i):
            source = nb.cells[j].source
            if nb.cells[j].cell_type != "code":
                continue
            if raises_not_implemented(source):
                exercise.stub_cells.append(j)
            elif CHECK_CALL.search(source):
                exercise.check_cells.append(j)
        exercises.append(exercise)
        start = i + 1
    return exercises


def strip_solution_regions(source: str, where: str) -> str:
    """Lines between BEGIN/END SOLUTION markers replaced by one `raise NotImplementedError` line."""
    kept: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN_SOLUTION:
            if inside:
                raise ReleaseError(f"{where}, line {number}: {BEGIN_SOLUTION} inside another solution region")
            inside = True
            kept.append(line[: len(line) - len(line.lstrip())] + STUB_LINE)
        elif marker == END_SOLUTION:
            if not inside:
                raise ReleaseError(f"{where}, line {number}: {END_SOLUTION} without {BEGIN_SOLUTION}")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ReleaseError(f"{where}: {BEGIN_SOLUTION} is never closed by {END_SOLUTION}")
    return "\n".join(kept)


def clear_outputs(cell) -> None:
    cell.outputs = []
    cell.execution_count = None


def reference_source(name: str, where: str) -> str:
    from .exercises import checking

    try:
        return str(checking.show_solution(name))
    except checking.UnknownExerciseError as exc:
        raise ReleaseError(f"{where}: {exc}") from None


def student_copy(nb, where: str = "notebook"):
    """The notebook as students get it: no solution text, exercise cells without outputs."""
    import nbformat

    nb = copy.deepcopy(nb)
    exercises = find_exercises(nb)
    for exercise in exercises:
        reference_source(exercise.name, f"{where}, cell {exercise.solution_cell + 1}")  # an unknown name fails here
        for i in exercise.stub_cells + exercise.check_cells:
            clear_outputs(nb.cells[i])
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (BEGIN_SOLUTION in cell.source or END_SOLUTION in cell.source):
            cell.source = strip_solution_regions(cell.source, f"{where}, cell {i + 1}")
            clear_outputs(cell)
    for exercise in exercises:
        nb.cells[exercise.solution_cell] = nbformat.v4.new_markdown_cell(STUDENT_NOTE.format(name=exercise.name))
    nb.metadata[RELEASE_KEY] = "student"
    return nb


def instructor_copy(nb, where: str = "notebook"):
    """The notebook with everything, and each reference solution unfolded after its solution cell."""
    import nbformat

    nb = copy.deepcopy(nb)
    for exercise in reversed(find_exercises(nb)):
        source = reference_source(exercise.name, f"{where}, cell {exercise.solution_cell + 1}")
        note = nbformat.v4.new_markdown_cell(INSTRUCTOR_NOTE.format(name=exercise.name, source=source))
        nb.cells.insert(exercise.solution_cell + 1, note)
    nb.metadata[RELEASE_KEY] = "instructor"
    return nb


def release(notebooks: list[Path], out: str | Path) -> dict[str, list[Path]]:
    """Write out/student/ and out/instructor/ copies of `notebooks`; `out` must be new or empty."""
    import nbformat

    from .files import atomic_write

    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out}: already exists and is not an empty folder; choose a new one")
    if not notebooks:
        raise ReleaseError("no notebooks to release (give --notebooks FOLDER with NN_*.ipynb files)")
    copies = {"student": [], "instructor": []}
    made = []
    for path in notebooks:  # all cut in memory first: a bad notebook leaves nothing half-written
        nb = nbformat.read(path, as_version=4)
        made.append((path.name, student_copy(nb, path.name), instructor_copy(nb, path.name)))
    for name, student, instructor in made:
        for kind, nb in (("student", student), ("instructor", instructor)):
            target = out / kind / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(target) as f:
                f.write((nbformat.writes(nb) + "\n").encode())
            copies[kind].append(target)
    return copies


def course_notebooks(folder: str | Path) -> list[Path]:
    """The numbered notebooks (NN_name.ipynb) of a folder, in order."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (give --notebooks FOLDER)")
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))
