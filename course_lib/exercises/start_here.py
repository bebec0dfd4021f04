"""Exercise of notebook 00 (start here): average precision of one ranked list, by the trapezoid rule
of the Oxford and revisited Oxford/Paris protocols (`evaluation.compute_ap`)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import evaluation
from .checking import (TOLERANCE, CheckFailure, CheckResult, call_student, error_bound, function_name,
                       register_solutions, rel_error, returned_array, run_check, solution_functions)


def _cases(seed: int) -> list[tuple[list[int], int]]:
    """(positions of the retrieved positives, number of positives) pairs: hand-picked corners first."""
    cases = [([0], 1), ([0, 2], 2), ([1], 1), ([], 3), ([0, 1, 2], 3), ([3, 7], 4), ([0, 1, 2, 3, 9], 5),
             ([5], 1), ([0, 4, 5], 10)]
    rng = np.random.default_rng(seed)
    for _ in range(25):
        n_positives = int(rng.integers(1, 12))
        found = int(rng.integers(0, n_positives + 1))
        cases.append((sorted(int(p) for p in rng.choice(60, size=found, replace=False)), n_positives))
    return cases


def _stepwise_ap(positions: list[int], n_positives: int) -> float:
    """The step-wise AP of scikit-learn: only the precision right after each positive."""
    return float(sum((j + 1) / (p + 1) for j, p in enumerate(positions)) / n_positives)


def _hint(yours: float, positions: list[int], n_positives: int) -> str:
    if abs(yours - _stepwise_ap(positions, n_positives)) < 1e-9:
        return (" Hint: that is the step-wise AP (precision right after each positive only); the protocol "
                "averages the precision just before and just after each positive (a trapezoid).")
    if positions and abs(yours - _trapezoid_over_found(positions)) < 1e-9:
        return " Hint: divide by the number of positives in the ground truth, not by the number retrieved."
    if positions and positions[0] > 0:
        read_one_based = evaluation.compute_ap(np.asarray(positions, dtype=np.int64) - 1, n_positives)
        if abs(yours - read_one_based) < 1e-9:
            return " Hint: positions are 0-based: the first result has position 0."
    return ""


def _trapezoid_over_found(positions: list[int]) -> float:
    return evaluation.compute_ap(np.asarray(positions, dtype=np.int64), len(positions))


def check_average_precision(fn: Callable[[list[int], int], float], seed: int = 0) -> CheckResult:
    """Check fn(ranks_of_positives, n_positives) -> AP against `evaluation.compute_ap`."""
    cases = _cases(seed)

    def check() -> str:
        worst = 0.0
        for positions, n_positives in cases:
            shown = f"{positions}, {n_positives}"
            returned = call_student(fn, (list(positions), n_positives), shown,
                                    forbidden=solution_functions("average_precision"))
            yours = returned_array(fn, returned, shown)
            if yours.size != 1:
                raise CheckFailure(f"{function_name(fn)}({shown}) must return one number, the AP; got an array of "
                               f"shape {yours.shape}")
            value = float(yours.item())
            expected = evaluation.compute_ap(np.asarray(positions, dtype=np.int64), n_positives)
            error = abs(value - expected)
            if not error < TOLERANCE:  # also catches NaN
                raise CheckFailure(f"{function_name(fn)}({shown}) returned {value:.6g}, expected {expected:.6g}."
                               f"{_hint(value, positions, n_positives)}")
            worst = max(worst, rel_error(value, expected))
        return f"{len(cases)} ranked lists, largest rel_error {error_bound(worst)}"

    return run_check(fn, check)


register_solutions({"average_precision": (evaluation.compute_ap,)})


# What each check is worth when `python -m course_lib grade` grades a submission: check_<name> -> points.
POINTS = {"average_precision": 2}
