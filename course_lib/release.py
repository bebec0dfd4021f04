"""Student and instructor copies of the course notebooks (nbgrader's idea, without its server):
`python -m course_lib release --out DIR` writes DIR/student/ (no solution text) and DIR/instructor/.

What marks an exercise, all of it visible as code on GitHub and Colab:
- the stub cell: a `def` whose body raises NotImplementedError (the student writes it);
- check cells: cells that call a `check_*` function on the student's function;
- the solution cell: a call of `show_solution` (under any name or module path: `solution_calls`), whose
  output is the reference solution;
- optionally, nbgrader's own markers: lines between `### BEGIN SOLUTION` and `### END SOLUTION` in any code
  cell, hidden tests between `### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS`, and mark-scheme cells
  (first line `# MARK SCHEME`, or the cell tag `mark-scheme`).

Student copy: solution cells become a note, solution regions become `raise NotImplementedError(...)`, hidden
tests and mark-scheme cells are left out, and the outputs of stub, check and solution cells are cleared; every
other cell is kept as it is, outputs included. A student copy whose outputs still show a line of a reference
solution is refused. Instructor copy: everything, plus each exercise's reference source, unfolded, beside its
solution cell. The references are course_lib's own functions (the library the notebooks use), so what the
student copy removes is the solution *text* of the notebooks: a student who reads the library's source finds
them, as anyone reading the public repository does; the checks refuse an answer that calls them.
"""
from __future__ import annotations

import ast
import copy
import html
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"
END_HIDDEN_TESTS = "### END HIDDEN TESTS"
MARK_SCHEME_LINE = "# MARK SCHEME"
MARK_SCHEME_TAG = "mark-scheme"
STUB_LINE = 'raise NotImplementedError("exercise: replace this line with your code")'
RELEASE_KEY = "course_lib_release"
SOLUTION_FUNCTION = "show_solution"
COURSE_NOTEBOOK = "[0-9][0-9]_*.ipynb"
CHECK_CALL = re.compile(r"\bcheck_\w+\(")
STUDENT_NOTE = ("**Reference solution of `{name}`**: not in this copy. Write your function above until the check "
                "passes; your instructor releases the reference after the deadline.")
# The same words as the folded solution a notebook shows, so one search finds a solution in any build.
INSTRUCTOR_NOTE = ("**Reference solution of exercise `{name}`** (instructor copy; course_lib's own code)\n\n"
                   "```python\n{source}```")


class ReleaseError(ValueError):
    """A notebook the release cannot cut safely (an unclosed solution region, an unknown exercise)."""


@dataclass
class Exercise:
    """One exercise of a notebook: its name and the indices of its cells."""

    name: str
    solution_cell: int
    stub_cells: list[int] = field(default_factory=list)
    check_cells: list[int] = field(default_factory=list)


def parse_cell(source: str) -> ast.Module | None:
    """A code cell as Python, its IPython lines (`%pip ...`, `!ls`) blanked; None for a cell that is not Python."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def solution_function_names(nb) -> set[str]:
    """The names a notebook calls show_solution by: its own, and each alias an import or assignment gives it."""
    names = {SOLUTION_FUNCTION}
    for cell in nb.cells:
        tree = parse_cell(cell.source) if cell.cell_type == "code" else None
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.ImportFrom):
                names |= {alias.asname or alias.name for alias in node.names if alias.name == SOLUTION_FUNCTION}
            elif isinstance(node, ast.Assign) and is_solution_function(node.value, names):
                names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def is_solution_function(node: ast.expr, names: set[str]) -> bool:
    """`show_solution`, an alias of it, or `any.module.show_solution`."""
    return ((isinstance(node, ast.Name) and node.id in names)
            or (isinstance(node, ast.Attribute) and node.attr == SOLUTION_FUNCTION))


def exercise_named(call: ast.Call) -> str | None:
    """The exercise a show_solution call names as a literal string (first argument or name=...), else None."""
    arguments = call.args[:1] + [k.value for k in call.keywords if k.arg == "name"]
    for argument in arguments:
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            return argument.value
    return None


def solution_calls(nb) -> dict[int, list[str | None]]:
    """Cell index -> the exercises its show_solution calls name (None where the name is not a literal string),
    for every code cell that calls show_solution in any form: `show_solution("x")`,
    `exercises.show_solution(name="x")`, `course_lib.exercises.show_solution(...)`, an alias of it."""
    names = solution_function_names(nb)
    found: dict[int, list[str | None]] = {}
    for i, cell in enumerate(nb.cells):
        tree = parse_cell(cell.source) if cell.cell_type == "code" else None
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and is_solution_function(node.func, names)] if tree else []
        if calls:
            found[i] = [exercise_named(call) for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset))]
    return found


def raises_not_implemented(source: str) -> bool:
    """True for a cell with a function whose body raises NotImplementedError (an exercise stub)."""
    tree = parse_cell(source)
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Raise) and inner.exc is not None:
                    raised = inner.exc.func if isinstance(inner.exc, ast.Call) else inner.exc
                    if isinstance(raised, ast.Name) and raised.id == "NotImplementedError":
                        return True
    return False


def find_exercises(nb, where: str = "notebook") -> list[Exercise]:
    """Each show_solution cell with the stub and check cells since the previous exercise."""
    exercises: list[Exercise] = []
    start = 0
    for i, names in sorted(solution_calls(nb).items()):
        if len(names) != 1 or names[0] is None:
            raise ReleaseError(f"{where}, cell {i + 1}: a solution cell calls show_solution once, with the "
                               f"exercise's name as a literal string (show_solution(\"name\"))")
        exercise = Exercise(names[0], i)
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


def strip_regions(source: str, where: str, begin: str, end: str, replacement: str | None) -> str:
    """Lines between the `begin` and `end` marker lines (markers included) replaced by one `replacement` line
    at the marker's indent, or dropped when replacement is None."""
    kept: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == begin:
            if inside:
                raise ReleaseError(f"{where}, line {number}: {begin} inside another region")
            inside = True
            if replacement is not None:
                kept.append(line[: len(line) - len(line.lstrip())] + replacement)
        elif marker == end:
            if not inside:
                raise ReleaseError(f"{where}, line {number}: {end} without {begin}")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ReleaseError(f"{where}: {begin} is never closed by {end}")
    return "\n".join(kept)


def is_mark_scheme(cell) -> bool:
    """A cell for graders only: its first line is `# MARK SCHEME`, or it is tagged `mark-scheme`."""
    first = cell.source.lstrip().split("\n", 1)[0].strip()
    return first.upper() == MARK_SCHEME_LINE or MARK_SCHEME_TAG in cell.metadata.get("tags", [])


def clear_outputs(cell) -> None:
    cell.outputs = []
    cell.execution_count = None


def reference_source(name: str, where: str) -> str:
    from .exercises import checking

    try:
        return str(checking.show_solution(name))
    except checking.UnknownExerciseError as exc:
        raise ReleaseError(f"{where}: {exc}") from None


def reference_lines() -> dict[str, list[str]]:
    """Exercise name -> the lines of its reference functions' source telling enough to give the answer away
    (code of 25 characters or more; no signature, decorator, comment or docstring line)."""
    from .exercises import checking

    lines = {}
    for name, functions in checking.SOLUTIONS.items():
        lines[name] = [line.strip() for fn in functions for line in inspect.getsource(fn).splitlines()
                       if len(line.strip()) >= 25 and not line.strip().startswith(("#", "def ", "@"))
                       and '"""' not in line]
    return lines


def output_texts(cell):
    """Every text the outputs of a cell show: streams, text data of any type (HTML, plain, LaTeX), tracebacks."""
    for output in cell.get("outputs", []):
        if "text" in output:
            yield output["text"]
        for value in output.get("data", {}).values():
            if isinstance(value, str):
                yield value
        if "traceback" in output:
            yield "\n".join(output["traceback"])


def refuse_reference_in_outputs(nb, where: str) -> None:
    """A ReleaseError if any output of `nb` shows a line of a reference solution (as text or HTML-escaped)."""
    shown = [(i, text) for i, cell in enumerate(nb.cells) for text in output_texts(cell)]
    for name, lines in reference_lines().items():
        for line in lines:
            for i, text in shown:
                if line in text or html.escape(line) in text or html.escape(line, quote=False) in text:
                    raise ReleaseError(f"{where}, cell {i + 1}: its output shows the reference solution of "
                                       f"{name!r} ({line!r}); clear that output before releasing")


def student_copy(nb, where: str = "notebook"):
    """The notebook as students get it: no solution text, hidden tests or mark scheme, exercise cells
    without outputs. Raises ReleaseError if an output still shows a reference solution."""
    import nbformat

    nb = copy.deepcopy(nb)
    exercises = find_exercises(nb, where)
    for exercise in exercises:
        reference_source(exercise.name, f"{where}, cell {exercise.solution_cell + 1}")  # an unknown name fails here
        for i in exercise.stub_cells + exercise.check_cells:
            clear_outputs(nb.cells[i])
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for begin, end, replacement in ((BEGIN_SOLUTION, END_SOLUTION, STUB_LINE),
                                        (BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS, None)):
            if begin in cell.source or end in cell.source:
                cell.source = strip_regions(cell.source, f"{where}, cell {i + 1}", begin, end, replacement)
                clear_outputs(cell)
    for exercise in exercises:
        nb.cells[exercise.solution_cell] = nbformat.v4.new_markdown_cell(STUDENT_NOTE.format(name=exercise.name))
    nb.cells = [cell for cell in nb.cells if not is_mark_scheme(cell)]
    refuse_reference_in_outputs(nb, f"{where} (student copy)")
    nb.metadata[RELEASE_KEY] = "student"
    return nb


def instructor_copy(nb, where: str = "notebook"):
    """The notebook with everything, and each reference solution unfolded after its solution cell."""
    import nbformat

    nb = copy.deepcopy(nb)
    for exercise in reversed(find_exercises(nb, where)):
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
    return sorted(folder.glob(COURSE_NOTEBOOK))


def skipped_notebooks(folder: str | Path) -> list[Path]:
    """The notebooks of a folder that are not course notebooks (not named NN_name.ipynb), so not released."""
    folder = Path(folder).expanduser()
    return sorted(p for p in folder.glob("*.ipynb") if not p.match(COURSE_NOTEBOOK))
