"""Exercises of notebook 01 (representations): the SPoC centre prior, the R-MAC grid, an integral image and a box."""
from __future__ import annotations

from fractions import Fraction
from typing import Callable

import numpy as np
import torch

from .. import pooling
from .checking import (TOLERANCE, CheckFailure, CheckResult, as_array, call_student, error_bound, finite_array,
                       function_name, register_solutions, rel_error, returned_array, run_check, solution_functions)

# Map sizes (H, W) that every R-MAC grid check covers: square, landscape, portrait, tiny, and the
# sizes of EfficientNet-Lite0 and VGG16 maps of typical images.
GRID_SIZES = ((7, 7), (12, 12), (8, 12), (12, 8), (9, 12), (12, 11), (24, 32), (32, 24), (30, 40),
              (37, 37), (10, 7), (5, 12), (3, 3), (2, 2), (1, 1), (1, 4))


# ---------------------------------------------------------------- exercise 1: the SPoC centre prior


def _prior_variant(height: int, width: int, sigma: float, half_cell: bool = True) -> np.ndarray:
    shift = 0.5 if half_cell else 0.0
    rows = np.arange(height) + shift - height / 2
    cols = np.arange(width) + shift - width / 2
    return np.exp(-(rows[:, None] ** 2 + cols[None, :] ** 2) / (2 * sigma ** 2))


def _center_prior_hint(yours: np.ndarray, height: int, width: int) -> str:
    """Name a common mistake when the student's weights match it (only same-shaped candidates are compared)."""
    shorter = min(height, width)
    variants = {
        "measure distances from the centres of the cells: cell (i, j) sits at (i + 1/2, j + 1/2)":
            _prior_variant(height, width, shorter / 6, half_cell=False),
        "sigma is one third of the distance from the centre to the closest border: min(H, W) / 6, "
        "not min(H, W) / 3": _prior_variant(height, width, shorter / 3),
        "sigma is min(H, W) / 6, not min(H, W) / 2": _prior_variant(height, width, shorter / 2),
    }
    for hint, variant in variants.items():
        if _same(yours, variant):
            return f" Hint: {hint}."
    expected = _prior_variant(height, width, shorter / 6)
    if yours.max() > 0 and _same(yours / yours.max(), expected) and not _same(yours, expected):
        return " Hint: do not rescale the weights; the weight at the centre is exp(0) = 1 (or close to it)."
    if _same(yours, expected.T) or _same(yours.T, expected):
        return " Hint: rows run along the height H, columns along the width W."
    return ""


def _same(yours: np.ndarray, candidate: np.ndarray) -> bool:
    return yours.shape == candidate.shape and rel_error(yours, candidate) < TOLERANCE


def check_center_prior(fn: Callable[[int, int], object], seed: int = 0) -> CheckResult:
    """Check fn(height, width) -> (H, W) centre-prior weights against `pooling.center_prior_weights`."""
    rng = np.random.default_rng(seed)
    sizes = [(7, 7), (9, 12), (12, 9), (8, 12), (1, 1), (2, 5), (24, 32)]
    sizes += [tuple(int(v) for v in rng.integers(1, 40, size=2)) for _ in range(8)]

    def check() -> str:
        worst = 0.0
        for height, width in sizes:
            shown = f"{height}, {width}"
            returned = call_student(fn, (height, width), shown, forbidden=solution_functions("center_prior"))
            yours = returned_array(fn, returned, shown)
            if yours.shape != (height, width):
                hint = (" Hint: rows run along the height H, columns along the width W."
                        if yours.shape == (width, height) else "")
                raise CheckFailure(f"{function_name(fn)}({shown}) returned shape {yours.shape}; expected "
                               f"{(height, width)}, one weight per cell, rows along H.{hint}")
            finite_array(fn, yours, shown)
            expected = as_array(pooling.center_prior_weights(height, width, dtype=torch.float64))
            error = rel_error(yours, expected)
            if not error < TOLERANCE:  # also catches NaN
                i, j = np.unravel_index(np.argmax(np.abs(yours - expected)), yours.shape)
                raise CheckFailure(f"{function_name(fn)}({shown}): rel_error {error:.1e}; largest difference at row {i}, "
                               f"column {j}: yours {yours[i, j]:.4g}, expected {expected[i, j]:.4g}."
                               f"{_center_prior_hint(yours, height, width)}")
            worst = max(worst, error)
        return f"{len(sizes)} map sizes from 1 x 1 to 39 x 39, largest rel_error {error_bound(worst)}"

    return run_check(fn, check)


# ---------------------------------------------------------------- exercise 2: the R-MAC grid


def _reference_rmac_grid(height: int, width: int, L: int = 3) -> list[tuple[int, int, int, int]]:
    """The exercise's reference: the R-MAC regions of scales 1..L, without the whole-map region."""
    return pooling.rmac_regions(height, width, L, include_global=False)


def _overlap_is_ambiguous(height: int, width: int) -> bool:
    """True when two region counts along the longer side are equally close to 40% overlap.

    The reference breaks such exact ties towards fewer regions; a correct solution may break them
    otherwise, so the check leaves these (rare) sizes out.
    """
    short, long = min(height, width), max(height, width)
    if short == long:
        return False
    errors = sorted(abs((short - Fraction(long - short, count - 1)) / short - pooling.RMAC_OVERLAP)
                    for count in pooling.RMAC_LONG_SIDE_STEPS)
    return errors[0] == errors[1]


def _grid_difference(yours: list, expected: list) -> str:
    by_side: dict[int, tuple[int, int]] = {}
    for box in expected:
        by_side.setdefault(box[2], (0, 0))
        by_side[box[2]] = (by_side[box[2]][0], by_side[box[2]][1] + 1)
    for box in yours:
        mine, theirs = by_side.get(box[2], (0, 0))
        by_side[box[2]] = (mine + 1, theirs)
    for side, (mine, theirs) in sorted(by_side.items(), reverse=True):
        if mine != theirs:
            return f"squares of side {side}: you have {mine}, expected {theirs}"
    missing = sorted(set(expected) - set(yours))
    extra = sorted(set(yours) - set(expected))
    if missing or extra:
        return f"missing {missing[:3]}, unexpected {extra[:3]}"
    return "a region is listed twice"


def check_rmac_grid(fn: Callable[[int, int, int], list], seed: int = 0) -> CheckResult:
    """Check fn(height, width, L) -> list of (x, y, w, h) against `pooling.rmac_regions` (order free)."""
    rng = np.random.default_rng(seed)
    sizes = list(GRID_SIZES)
    while len(sizes) < len(GRID_SIZES) + 12:
        size = tuple(int(v) for v in rng.integers(1, 50, size=2))
        if not _overlap_is_ambiguous(*size):
            sizes.append(size)

    def check() -> str:
        cases = 0
        for height, width in sizes:
            for L in (1, 2, 3, 4):
                shown = f"{height}, {width}, L={L}"
                returned = call_student(fn, (height, width, L), shown, forbidden=solution_functions("rmac_grid"))
                yours = _as_boxes(fn, returned, shown)
                expected = _reference_rmac_grid(height, width, L)
                if sorted(yours) != sorted(expected):
                    raise CheckFailure(f"{function_name(fn)}({shown}): {len(yours)} region(s), expected {len(expected)} "
                                   f"(whole-map region not included); {_grid_difference(yours, expected)}")
                cases += 1
        return f"{cases} cases: {len(sizes)} map sizes from 1 x 1 to 49 x 49, L = 1 to 4"

    return run_check(fn, check)


def _as_boxes(fn: Callable, returned, shown: str) -> list[tuple[int, int, int, int]]:
    """The student's regions as (x, y, w, h) tuples of ints, or a CheckFailure saying what came back."""
    problem = f"{function_name(fn)}({shown}) must return a list of (x, y, w, h) tuples of integers; got "
    if returned is None:
        raise CheckFailure(problem + "None (did you forget the `return`?)")
    try:
        boxes = [tuple(box) for box in returned]
    except TypeError:
        raise CheckFailure(problem + f"{type(returned).__name__} {str(returned)[:60]}") from None
    yours = []
    for box in boxes:
        try:
            if any(np.iscomplexobj(v) for v in box):
                raise TypeError("complex numbers")
            values = [float(v) for v in box]
        except (TypeError, ValueError):
            raise CheckFailure(problem + f"the region {str(box)[:60]}") from None
        if len(values) != 4 or not all(np.isfinite(v) and v == int(v) for v in values):
            raise CheckFailure(problem + f"the region {str(box)[:60]}")
        yours.append(tuple(int(v) for v in values))
    return yours


# ---------------------------------------------------------------- exercise 3: integral image and a box


def _reference_integral_image(x: np.ndarray) -> np.ndarray:
    """The exercise's reference: the (H + 1, W + 1) summed-area table of a non-negative 2-D array.

    `pooling.integral_images` with alpha = 1 (a power of 1 changes nothing) on a 1 x 1 x H x W map.
    """
    maps = torch.as_tensor(np.asarray(x, dtype=np.float64))[None, None]
    return pooling.integral_images(maps, alpha=1.0)[0, 0].numpy()


def _reference_box_sum(table: np.ndarray, x: int, y: int, w: int, h: int) -> float:
    """The exercise's reference: the sum of the w x h box at column x, row y, in four look-ups.

    `pooling.box_max_approx` with alpha = 1, where (sum of x^1)^(1/1) is the plain sum.
    """
    tables = torch.as_tensor(np.asarray(table, dtype=np.float64))[None]
    return float(pooling.box_max_approx(tables, [(x, y, w, h)], alpha=1.0)[0, 0])


def _table_hint(yours: np.ndarray, x: np.ndarray) -> str:
    if yours.shape == x.shape and rel_error(yours, x.cumsum(0).cumsum(1)) < TOLERANCE:
        return (" Hint: that is the cumulative sum without the extra zero row and column; pad it so "
                "that table[i, j] is the sum of x[:i, :j].")
    return ""


def _box_hint(yours: float, table: np.ndarray, x: int, y: int, w: int, h: int) -> str:
    """Say "off by one" when the answer is the four-corner formula read one row and column off."""
    for shift in (-1, 1):
        top, left, bottom, right = y + shift, x + shift, y + h + shift, x + w + shift
        try:  # negative indices wrap around, as they would in the student's numpy code
            shifted = table[bottom, right] - table[top, right] - table[bottom, left] + table[top, left]
        except IndexError:
            continue
        if abs(yours - shifted) <= 1e-9 * max(1.0, abs(shifted)):
            return (" Hint: off by one: with the zero row and column, the box's corners are "
                    "table[y, x], table[y, x + w], table[y + h, x] and table[y + h, x + w].")
    return ""


def _box_answer(box_fn: Callable, table: np.ndarray, box: tuple, shown_box: str) -> float:
    returned = call_student(box_fn, (table, *box), shown_box, forbidden=solution_functions("integral_box"))
    yours = returned_array(box_fn, returned, shown_box)
    if yours.size != 1:
        raise CheckFailure(f"{function_name(box_fn)}({shown_box}) must return one number, the box's sum; "
                       f"got an array of shape {yours.shape}")
    return float(yours.item())


def _check_four_lookups(box_fn: Callable, table: np.ndarray, box: tuple, direct: float, shown_box: str) -> None:
    """The method, not only the value: on a table where every entry but the box's four corners is NaN,
    a box sum from four look-ups is still right; one that reads any other entry is not."""
    x, y, w, h = box
    corners_only = np.full_like(table, np.nan)
    for row, column in ((y, x), (y, x + w), (y + h, x), (y + h, x + w)):
        corners_only[row, column] = table[row, column]
    with np.errstate(all="ignore"):
        yours = _box_answer(box_fn, corners_only, box, shown_box)
    if not rel_error(yours, direct) < TOLERANCE:
        raise CheckFailure(f"{function_name(box_fn)}({shown_box}) gives the right sum, but it reads entries of the "
                       f"table other than the box's four corners (given a table that holds only those four, it "
                       f"returned {yours:.6g}). The point of an integral image is that any box costs four "
                       f"look-ups: table[y + h, x + w] - table[y, x + w] - table[y + h, x] + table[y, x]")


def check_integral_box(integral_fn: Callable[[np.ndarray], object],
                       box_fn: Callable[[np.ndarray, int, int, int, int], float], seed: int = 0) -> CheckResult:
    """Check integral_fn(x) -> (H + 1, W + 1) table and box_fn(table, x, y, w, h) -> box sum.

    The boxes are checked on the reference table, so a mistake in one function is not blamed on
    the other; each box sum must equal the sum of its cells taken directly, and must come from the
    box's four corners alone (checked on a table that holds nothing else).
    """
    rng = np.random.default_rng(seed)
    shapes = [(1, 1), (3, 4), (12, 9), (24, 32)] + [tuple(int(v) for v in rng.integers(1, 30, size=2))
                                                    for _ in range(4)]

    if not callable(box_fn):
        return run_check(box_fn, lambda: call_student(box_fn, (), ""))

    def check() -> str:
        worst, n_boxes = 0.0, 0
        for height, width in shapes:
            values = rng.random((height, width))
            shown = f"<{height} x {width} array>"
            returned = call_student(integral_fn, (values.copy(),), shown, forbidden=solution_functions("integral_box"))
            table = returned_array(integral_fn, returned, shown)
            if table.shape != (height + 1, width + 1):
                raise CheckFailure(f"{function_name(integral_fn)}({shown}) returned shape {table.shape}; expected "
                               f"{(height + 1, width + 1)}, with a zero first row and column."
                               f"{_table_hint(table, values)}")
            error = rel_error(table, _reference_integral_image(values))
            if not error < TOLERANCE:
                raise CheckFailure(f"{function_name(integral_fn)}({shown}): rel_error {error:.1e} against the "
                               f"reference table; table[i, j] must be the sum of x[:i, :j]")
            worst = max(worst, error)
            reference_table = _reference_integral_image(values)
            boxes = []
            for _ in range(10):
                w, h = int(rng.integers(1, width + 1)), int(rng.integers(1, height + 1))
                boxes.append((int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h))
            boxes += [(0, 0, width, height), (0, 0, 1, 1), (width - 1, height - 1, 1, 1)]
            for x, y, w, h in boxes:
                shown_box = f"table, x={x}, y={y}, w={w}, h={h}"
                yours_sum = _box_answer(box_fn, reference_table.copy(), (x, y, w, h), shown_box)
                direct = float(values[y:y + h, x:x + w].sum())
                error = rel_error(yours_sum, direct)
                if not error < TOLERANCE:
                    hint = _box_hint(yours_sum, reference_table, x, y, w, h)
                    raise CheckFailure(f"{function_name(box_fn)}({shown_box}) on a {height} x {width} array gave "
                                   f"{yours_sum:.6g}, the box's cells sum to {direct:.6g} "
                                   f"(rel_error {error:.1e}).{hint}")
                worst = max(worst, error)
                n_boxes += 1
                _check_four_lookups(box_fn, reference_table, (x, y, w, h), direct, shown_box)
        return (f"{len(shapes)} arrays and {n_boxes} boxes, each box from its four corners, "
                f"largest rel_error {error_bound(worst)}")

    return run_check(integral_fn, check)


register_solutions({
    "center_prior": (pooling.center_prior_weights,),
    "rmac_grid": (_reference_rmac_grid, pooling.rmac_regions, pooling.long_side_extra_regions,
                  pooling.grid_offsets),
    "integral_box": (_reference_integral_image, _reference_box_sum, pooling.integral_images,
                     pooling.box_max_approx),
})


# What each check is worth when `python -m course_lib grade` grades a submission: check_<name> -> points.
POINTS = {"center_prior": 2, "rmac_grid": 3, "integral_box": 3}
