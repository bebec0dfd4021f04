"""Tests of course_lib.exercises: the checks pass the reference, catch real mistakes with a useful
message, never crash on a broken student function, and the solutions are the library's own code."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from course_lib import exercises, pooling
from course_lib.exercises import (
    CheckResult, UnknownExerciseError, check_center_prior, check_integral_box, check_rmac_grid, rel_error,
    show_solution,
)
from course_lib.exercises.representations import reference_box_sum, reference_integral_image, reference_rmac_grid


def not_implemented(*args):
    raise NotImplementedError


def test_error_bound_is_the_next_power_of_ten():
    assert exercises.checking.error_bound(0.0) == "0"
    assert exercises.checking.error_bound(5.0e-7) == "< 1e-06"
    assert exercises.checking.error_bound(2.7e-14) == "< 1e-13"


def test_rel_error_as_in_cs231n():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0], [3.0]) == pytest.approx(0.5)  # |1 - 3| / (1 + 3)
    assert rel_error(torch.tensor([0.0]), np.array([0.0])) == 0.0  # the 1e-8 floor avoids 0 / 0
    assert rel_error([], []) == 0.0


# ---------------------------------------------------------------- exercise 1


def test_center_prior_check_passes_the_reference_and_a_numpy_solution():
    def numpy_prior(height, width):
        sigma = min(height, width) / 6
        i, j = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        return np.exp(-((i - (height - 1) / 2) ** 2 + (j - (width - 1) / 2) ** 2) / (2 * sigma ** 2))

    for fn in (pooling.center_prior_weights, numpy_prior):
        result = check_center_prior(fn)
        assert isinstance(result, CheckResult) and result.passed, result.message
        assert str(result).startswith(f"{fn.__name__}: passed")


@pytest.mark.parametrize("mistake, hint", [
    (lambda h, w: pooling.center_prior_weights(h, w, sigma=min(h, w) / 3), "min(H, W) / 6, not min(H, W) / 3"),
    (lambda h, w: np.exp(-((np.arange(h)[:, None] - h / 2) ** 2 + (np.arange(w)[None] - w / 2) ** 2)
                         / (2 * (min(h, w) / 6) ** 2)), "centres of the cells"),
    (lambda h, w: pooling.center_prior_weights(h, w) / pooling.center_prior_weights(h, w).sum(),
     "do not rescale"),
])
def test_center_prior_check_names_common_mistakes(mistake, hint):
    result = check_center_prior(mistake)
    assert not result and "rel_error" in result.message and hint in result.message


def test_center_prior_check_reports_shape_errors_exceptions_and_missing_code():
    transposed = check_center_prior(lambda h, w: pooling.center_prior_weights(w, h))
    assert not transposed and "returned shape (12, 9); expected (9, 12)" in transposed.message
    crashing = check_center_prior(lambda h, w: 1 / 0)
    assert not crashing and "raised ZeroDivisionError" in crashing.message
    missing = check_center_prior(not_implemented)
    assert not missing and "not implemented yet" in missing.message
    text = check_center_prior(lambda h, w: "weights")
    assert not text and "must return numbers" in text.message


# ---------------------------------------------------------------- exercise 2


def test_rmac_grid_reference_is_the_library_grid_without_the_whole_map():
    assert reference_rmac_grid(24, 32, 3) == pooling.rmac_regions(24, 32, 3)[1:]
    assert len(reference_rmac_grid(24, 32, 3)) == 20  # the count worked out in the lecture notes


def test_rmac_grid_check_passes_the_reference_in_any_order_and_with_lists():
    assert check_rmac_grid(reference_rmac_grid)
    assert check_rmac_grid(lambda h, w, L: [list(box) for box in reversed(reference_rmac_grid(h, w, L))])


def test_rmac_grid_check_catches_a_wrong_side_and_a_missing_extra_region():
    def side_off_by_one(h, w, L):
        return [(x, y, s + 1, s + 1) for x, y, s, _ in reference_rmac_grid(h, w, L)]

    result = check_rmac_grid(side_off_by_one)
    assert not result and "squares of side" in result.message

    def no_extra_regions(height, width, L):  # forgets the extra positions along the longer side
        regions = []
        for level in range(1, L + 1):
            side = 2 * min(height, width) // (level + 1)
            if side == 0:
                break
            steps = [0] if level == 1 else [i * (max(height, width) - side) // (level - 1) for i in range(level)]
            short_steps = [0] if level == 1 else [i * (min(height, width) - side) // (level - 1)
                                                  for i in range(level)]
            xs, ys = (steps, short_steps) if width >= height else (short_steps, steps)
            regions += [(x, y, side, side) for y in ys for x in xs]
        return regions

    result = check_rmac_grid(no_extra_regions)
    assert not result and "(8, 12, L=1): 1 region(s), expected 2" in result.message
    assert not check_rmac_grid(lambda h, w, L: None)
    assert "list of (x, y, w, h)" in check_rmac_grid(lambda h, w, L: [(1, 2)]).message


def test_ambiguous_overlap_sizes_are_exactly_the_ties():
    assert exercises.representations._overlap_is_ambiguous(5, 9)  # 2 regions overlap 20%, 3 overlap 60%: both 0.2 away
    assert not exercises.representations._overlap_is_ambiguous(24, 32)
    assert not exercises.representations._overlap_is_ambiguous(7, 7)


# ---------------------------------------------------------------- exercise 3


def test_integral_box_references_are_summed_area_tables_and_box_sums():
    x = np.arange(12, dtype=float).reshape(3, 4)
    table = reference_integral_image(x)
    assert table.shape == (4, 5) and (table[0] == 0).all() and (table[:, 0] == 0).all()
    assert table[2, 3] == x[:2, :3].sum() == 18
    assert reference_box_sum(table, 1, 1, 2, 2) == x[1:3, 1:3].sum() == 5 + 6 + 9 + 10


def test_integral_box_check_passes_references_and_a_numpy_solution():
    def numpy_table(x):
        return np.pad(x.cumsum(0).cumsum(1), ((1, 0), (1, 0)))

    def numpy_box(t, x, y, w, h):
        return t[y + h, x + w] - t[y, x + w] - t[y + h, x] + t[y, x]

    assert check_integral_box(reference_integral_image, reference_box_sum)
    assert check_integral_box(numpy_table, numpy_box)
    assert check_integral_box(lambda x: torch.from_numpy(numpy_table(x)), numpy_box)


def test_integral_box_check_names_the_unpadded_table_and_the_off_by_one_box():
    unpadded = check_integral_box(lambda x: x.cumsum(0).cumsum(1), reference_box_sum)
    assert not unpadded and "without the extra zero row and column" in unpadded.message

    def shifted_box(t, x, y, w, h):  # corners read one row and column too early
        return t[y + h - 1, x + w - 1] - t[y - 1, x + w - 1] - t[y + h - 1, x - 1] + t[y - 1, x - 1]

    off_by_one = check_integral_box(reference_integral_image, shifted_box)
    assert not off_by_one and "rel_error" in off_by_one.message and "off by one" in off_by_one.message
    assert "must return one number" in check_integral_box(reference_integral_image,
                                                          lambda t, x, y, w, h: t).message
    assert "not implemented yet" in check_integral_box(not_implemented, not_implemented).message


# ---------------------------------------------------------------- solutions


@pytest.mark.parametrize("name", list(exercises.SOLUTIONS))
def test_solutions_are_the_library_source(name):
    solution = show_solution(name)
    for fn in exercises.SOLUTIONS[name]:
        assert inspect.getsource(fn) in solution.source
        assert f"# {fn.__module__}.{fn.__qualname__}" in solution.source
    html = solution._repr_html_()
    assert html.startswith("<details>") and "click to reveal" in html and "&lt;" not in html.split("<pre>")[0]
    assert repr(solution) == str(solution) == solution.source


def test_unknown_exercise_is_a_one_line_error_listing_the_names():
    with pytest.raises(UnknownExerciseError, match=r"no exercise 'gem'; exercises: center_prior, rmac_grid"):
        show_solution("gem")
