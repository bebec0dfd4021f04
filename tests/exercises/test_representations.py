"""Tests of course_lib.exercises: each check passes a student's own correct code, answers every wrong
answer (shape, dtype, NaN, exception, None, list, the library's own answer) with one message and never
a traceback, names common mistakes, and the solutions are the library's own code, revealed folded."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from course_lib import evaluation, exercises, pooling
from course_lib.exercises import (
    CheckResult, UnknownExerciseError, check_average_precision, check_center_prior, check_integral_box,
    check_rmac_grid, rel_error, show_solution,
)
from course_lib.exercises.checking import SOLUTIONS


def not_implemented(*args):
    raise NotImplementedError


def crashes(*args):
    raise IndexError("index 99 is out of bounds")


# ---------------------------------------------------------------- students' correct answers, written from the text


def student_prior(height, width):
    sigma = min(height, width) / 6
    i, j = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.exp(-((i + 0.5 - height / 2) ** 2 + (j + 0.5 - width / 2) ** 2) / (2 * sigma ** 2))


def student_grid(height, width, L=3):
    """The rule of exercise 2, written from its four steps."""
    short, long = min(height, width), max(height, width)
    extra = 0
    if short != long:
        overlaps = {b: abs((short - (long - short) / (b - 1)) / short - 0.4) for b in range(2, 8)}
        extra = min(overlaps, key=lambda b: (overlaps[b], b)) - 1

    def starts(n, length, side):
        return [0] if n == 1 else [i * (length - side) // (n - 1) for i in range(n)]

    boxes = []
    for level in range(1, L + 1):
        side = 2 * short // (level + 1)
        if side == 0:
            break
        n_h = level + (extra if height > width else 0)
        n_w = level + (extra if width > height else 0)
        boxes += [(x, y, side, side) for y in starts(n_h, height, side) for x in starts(n_w, width, side)]
    return boxes


def student_table(x):
    return np.pad(np.asarray(x, dtype=np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))


def student_box(table, x, y, w, h):
    return table[y + h, x + w] - table[y, x + w] - table[y + h, x] + table[y, x]


def student_ap(positions, n_positives):
    total = 0.0
    for j, r in enumerate(positions):
        before = 1.0 if r == 0 else j / r
        total += (before + (j + 1) / (r + 1)) / 2
    return total / n_positives


# ---------------------------------------------------------------- every check, every kind of wrong answer


def center_prior_check(fn):
    return check_center_prior(fn)


def rmac_grid_check(fn):
    return check_rmac_grid(fn)


def integral_table_check(fn):
    return check_integral_box(fn, student_box)


def integral_box_check(fn):
    return check_integral_box(student_table, fn)


def average_precision_check(fn):
    return check_average_precision(fn)


CHECKS = {
    "center_prior": (center_prior_check, student_prior),
    "rmac_grid": (rmac_grid_check, student_grid),
    "integral_table": (integral_table_check, student_table),
    "integral_box": (integral_box_check, student_box),
    "average_precision": (average_precision_check, student_ap),
}

WRONG_ANSWERS = {
    "not implemented": (not_implemented, "not implemented yet"),
    "an exception": (crashes, "raised IndexError: index 99 is out of bounds"),
    "None": (lambda *a: None, "None"),
    "a string": (lambda *a: "0.5", ""),
    "a dict": (lambda *a: {"a": 1}, ""),
    "NaN": (lambda *a: np.full((3, 5), np.nan), ""),
    "a non-square array": (lambda *a: np.ones((2, 7)), ""),
    "a 3-D array": (lambda *a: np.ones((2, 3, 4)), ""),
    "a complex array": (lambda *a: np.ones((3, 3), dtype=complex), ""),
    "an integer array": (lambda *a: np.ones((4, 6), dtype=np.int64), ""),
    "a ragged list": (lambda *a: [[1, 2], [3]], ""),
    "a flat list": (lambda *a: [0.1, 0.2, 0.3], ""),
    "a torch tensor of the wrong shape": (lambda *a: torch.ones(5, 2), ""),
    "a generator": (lambda *a: (i for i in range(3)), ""),
    "not a function": (np.ones((3, 3)), "pass the function itself"),
}


@pytest.mark.parametrize("check_name", list(CHECKS))
def test_each_check_passes_a_correct_student_answer(check_name):
    check, correct = CHECKS[check_name]
    result = check(correct)
    assert isinstance(result, CheckResult) and result.passed, result.message
    assert "passed" in str(result)


@pytest.mark.parametrize("answer_name", list(WRONG_ANSWERS))
@pytest.mark.parametrize("check_name", list(CHECKS))
def test_each_check_answers_any_wrong_answer_with_one_message(check_name, answer_name):
    check, _ = CHECKS[check_name]
    wrong, expected_text = WRONG_ANSWERS[answer_name]
    result = check(wrong)
    assert isinstance(result, CheckResult) and not result.passed
    message = str(result)
    assert message and "Traceback" not in message and "\n" not in message
    assert "could not compare" not in message, message  # foreseen, so answered precisely
    assert expected_text in message, message


@pytest.mark.parametrize("check_name", ["center_prior", "integral_table"])
def test_shape_mistakes_on_non_square_maps_are_answered_not_crashed(check_name):
    """The issue's crash: a transposed answer on a non-square map broke the hint's broadcasting."""
    check, correct = CHECKS[check_name]
    result = check(lambda *args: np.asarray(correct(*args)).T)
    assert not result and "shape" in result.message


def test_a_checker_bug_still_gives_one_message(monkeypatch):
    monkeypatch.setattr(exercises.representations, "_center_prior_hint", crashes)
    result = check_center_prior(lambda h, w: student_prior(h, w) * 2)
    assert not result and "could not compare" in result.message and "IndexError" in result.message


# ---------------------------------------------------------------- importing the answer is not writing it


@pytest.mark.parametrize("check_name, answer", [
    ("center_prior", pooling.center_prior_weights),
    ("center_prior", lambda h, w: pooling.center_prior_weights(h, w).numpy()),
    ("rmac_grid", lambda h, w, L: pooling.rmac_regions(h, w, L, include_global=False)),
    ("rmac_grid", lambda h, w, L: SOLUTIONS["rmac_grid"][0](h, w, L)),
    ("integral_table", lambda x: SOLUTIONS["integral_box"][0](x)),
    ("integral_box", lambda t, x, y, w, h: SOLUTIONS["integral_box"][1](t, x, y, w, h)),
    ("average_precision", evaluation.compute_ap),
])
def test_calling_the_library_answer_fails(check_name, answer):
    check, _ = CHECKS[check_name]
    result = check(answer)
    assert not result and "the library's own answer" in result.message


def test_references_are_not_offered_by_the_package():
    public = set(dir(exercises)) | set(exercises.__all__)
    assert not any(name.startswith("reference") for name in public)
    for module in (exercises.representations, exercises.start_here):
        assert not [n for n in dir(module) if n.startswith("reference")]
    assert "SOLUTIONS" not in exercises.__all__


# ---------------------------------------------------------------- common mistakes get a hint


def numpy_prior(height, width, sigma=None, half_cell=True):
    sigma = min(height, width) / 6 if sigma is None else sigma
    shift = 0.5 if half_cell else 0.0
    rows = np.arange(height) + shift - height / 2
    cols = np.arange(width) + shift - width / 2
    return np.exp(-(rows[:, None] ** 2 + cols[None, :] ** 2) / (2 * sigma ** 2))


@pytest.mark.parametrize("mistake, hint", [
    (lambda h, w: numpy_prior(h, w, sigma=min(h, w) / 3), "min(H, W) / 6, not min(H, W) / 3"),
    (lambda h, w: numpy_prior(h, w, half_cell=False), "centres of the cells"),
    (lambda h, w: numpy_prior(h, w) / numpy_prior(h, w).sum(), "do not rescale"),
    (lambda h, w: numpy_prior(w, h), "rows run along the height H"),
])
def test_center_prior_check_names_common_mistakes(mistake, hint):
    result = check_center_prior(mistake)
    assert not result and hint in result.message


def test_rmac_grid_check_says_which_squares_differ():
    result = check_rmac_grid(lambda h, w, L: student_grid(h, w, L)[1:])
    assert not result and "region(s), expected" in result.message
    fractional = check_rmac_grid(lambda h, w, L: [(0.5, 0, 1, 1)])
    assert not fractional and "tuples of integers" in fractional.message


def test_integral_check_catches_a_missing_zero_row_and_off_by_one():
    no_pad = check_integral_box(lambda x: np.cumsum(np.cumsum(x, 0), 1), student_box)
    assert not no_pad and "zero first row and column" in no_pad.message and "Hint" in no_pad.message

    def off_by_one(table, x, y, w, h):
        return table[y + h - 1, x + w - 1] - table[y - 1, x + w - 1] - table[y + h - 1, x - 1] + table[y - 1, x - 1]

    result = check_integral_box(student_table, off_by_one)
    assert not result and "off by one" in result.message


def test_integral_check_insists_on_four_lookups():
    """A box sum that undoes the table and adds the cells has the right value and the wrong method."""
    def sum_of_cells(table, x, y, w, h):
        return np.diff(np.diff(table, axis=0), axis=1)[y:y + h, x:x + w].sum()

    def sum_of_rows(table, x, y, w, h):
        return sum(table[row + 1, x + w] - table[row + 1, x] - table[row, x + w] + table[row, x]
                   for row in range(y, y + h))

    assert rel_error(sum_of_cells(student_table(np.ones((3, 3))), 0, 0, 2, 2), 4.0) < 1e-12
    for fn in (sum_of_cells, sum_of_rows):
        result = check_integral_box(student_table, fn)
        assert not result and "four corners" in result.message, result.message


def test_average_precision_check_names_the_stepwise_ap():
    def stepwise(positions, n_positives):
        return sum((j + 1) / (r + 1) for j, r in enumerate(positions)) / n_positives

    result = check_average_precision(stepwise)
    assert not result and "step-wise AP" in result.message


# ---------------------------------------------------------------- machinery


def test_error_bound_is_the_next_power_of_ten():
    assert exercises.checking.error_bound(0.0) == "0"
    assert exercises.checking.error_bound(5.0e-7) == "< 1e-06"
    assert exercises.checking.error_bound(2.7e-14) == "< 1e-13"


def test_rel_error_as_in_cs231n():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0], [3.0]) == pytest.approx(0.5)  # |1 - 3| / (1 + 3)
    assert rel_error(torch.tensor([0.0]), np.array([0.0])) == 0.0  # the 1e-8 floor avoids 0 / 0
    assert rel_error([], []) == 0.0


@pytest.mark.parametrize("name", list(SOLUTIONS))
def test_solutions_are_the_library_source(name):
    solution = show_solution(name)
    for fn in SOLUTIONS[name]:
        assert inspect.getsource(fn) in solution.source
        assert f"# {fn.__module__}.{fn.__qualname__}" in solution.source
    html = solution._repr_html_()
    assert html.startswith("<details>") and "click to reveal" in html and "&lt;" not in html.split("<pre>")[0]
    assert repr(solution) == str(solution) == solution.source


def test_every_exercise_has_a_solution():
    assert {"center_prior", "rmac_grid", "integral_box", "average_precision"} <= set(SOLUTIONS)


def test_unknown_exercise_is_a_one_line_error_listing_the_names():
    with pytest.raises(UnknownExerciseError, match=r"no exercise 'gem'; exercises: .*center_prior, rmac_grid"):
        show_solution("gem")
