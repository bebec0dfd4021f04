"""Exercises of notebook 03 (dimension reduction and indexing): PCA learned on another set and
renormalised, PQ encoding with the asymmetric distance, choosing nprobe for a target recall."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..index import pq, zoo
from ..transforms import PCA, fit_pca
from .checking import (
    CheckFailure,
    CheckResult,
    call_student,
    error_bound,
    finite_array,
    function_name,
    register_solutions,
    rel_error,
    returned_array,
    run_check,
    solution_functions,
)

TOLERANCE = 1e-4  # float32 projections of unit vectors agree to about 1e-6


def spectrum_data(n: int, dim: int, seed: int) -> np.ndarray:
    """L2-normalised vectors with a decaying spectrum and distinct eigenvalues (so eigenvectors are defined)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)) * np.geomspace(3, 0.05, dim) + rng.normal(size=dim)
    x = x @ np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _shape_check(fn, yours: np.ndarray, expected_shape: tuple, shown: str, hint: str = "") -> None:
    if yours.shape != expected_shape:
        raise CheckFailure(f"{function_name(fn)}({shown}) returned shape {yours.shape}; expected {expected_shape}.{hint}")


# ---------------------------------------------------------------- exercise 1: PCA learned elsewhere


def _reference_pca_project(learn: np.ndarray, x: np.ndarray, dims: int) -> np.ndarray:
    return fit_pca(learn).apply(x, dims)


def check_pca_projection(fn: Callable[[np.ndarray, np.ndarray, int], object]) -> CheckResult:
    """Check fn(learn (N, D), x (M, D), dims) -> (M, dims): PCA fitted on `learn`, applied to x, L2-normalised.

    An eigenvector's sign is arbitrary, so each output column may be flipped as a whole."""
    cases = [(200, 16, 4), (150, 32, 8), (60, 20, 20), (300, 12, 1)]

    def check() -> str:
        worst = 0.0
        for i, (n, dim, dims) in enumerate(cases):
            learn, x = spectrum_data(n, dim, seed=i), spectrum_data(25, dim, seed=100 + i)
            shown = f"learn {learn.shape}, x {x.shape}, dims={dims}"
            yours = returned_array(fn, call_student(fn, (learn.copy(), x.copy(), dims), shown,
                                                    forbidden=solution_functions("pca_projection")), shown)
            hint = (" Hint: project onto the first dims eigenvectors, (x - mean) @ V[:, :dims]."
                    if yours.shape == (x.shape[0], dim) else "")
            _shape_check(fn, yours, (x.shape[0], dims), shown, hint)
            finite_array(fn, yours, shown)
            expected = _reference_pca_project(learn, x, dims).astype(np.float64)
            norms = np.linalg.norm(yours, axis=1)
            if not np.allclose(norms, 1, atol=1e-3):
                raise CheckFailure(f"{function_name(fn)}({shown}): rows have lengths {norms.min():.3g}..{norms.max():.3g}; "
                                   f"L2-normalise each projected row again (length 1)")
            signs = np.where((yours * expected).sum(axis=0) < 0, -1.0, 1.0)
            error = rel_error(yours * signs, expected)
            if not error < TOLERANCE:
                hint = ""
                centred_on_x = fit_pca(learn).components[:, :dims]
                other = (x - x.mean(axis=0)) @ centred_on_x
                other /= np.linalg.norm(other, axis=1, keepdims=True)
                if rel_error(np.abs(yours), np.abs(other)) < TOLERANCE:
                    hint = " Hint: subtract the mean of the LEARNING set, not the mean of x."
                raise CheckFailure(f"{function_name(fn)}({shown}): rel_error {error:.1e} against the reference (up to "
                                   f"the sign of each column).{hint or ' Are the eigenvectors sorted largest first?'}")
            worst = max(worst, error)
        return f"{len(cases)} cases, rel_error {error_bound(worst)} (columns up to sign)."

    return run_check(fn, check)


# ---------------------------------------------------------------- exercise 2: PQ encoding and ADC


def check_pq_encode(fn: Callable[[np.ndarray, np.ndarray], object]) -> CheckResult:
    """Check fn(x (N, D), codebooks (M, K, D/M)) -> (N, M) integer codes, the nearest centroid per subspace."""
    rng = np.random.default_rng(0)
    cases = [(rng.normal(size=(30, 8)), rng.normal(size=(2, 16, 4))),
             (rng.normal(size=(20, 12)), rng.normal(size=(4, 8, 3))),
             (rng.normal(size=(5, 6)), rng.normal(size=(6, 256, 1)))]

    def check() -> str:
        for x, codebooks in cases:
            x, codebooks = x.astype(np.float32), codebooks.astype(np.float32)
            shown = f"x {x.shape}, codebooks {codebooks.shape}"
            yours = returned_array(fn, call_student(fn, (x.copy(), codebooks.copy()), shown,
                                                    forbidden=solution_functions("pq")), shown)
            _shape_check(fn, yours, (x.shape[0], codebooks.shape[0]), shown,
                         " One code per vector and subspace: (N, M).")
            finite_array(fn, yours, shown)
            expected = pq.encode(x, codebooks)
            wrong = np.argwhere(yours != expected)
            if wrong.size:
                n, m = wrong[0]
                raise CheckFailure(f"{function_name(fn)}({shown}): vector {n}, subspace {m}: code {yours[n, m]:g}, "
                                   f"expected {expected[n, m]} (the index of the nearest centroid of that subspace)")
        return f"{len(cases)} cases, every code equal."

    return run_check(fn, check)


def check_asymmetric_distance(fn: Callable[[np.ndarray, np.ndarray, np.ndarray], object]) -> CheckResult:
    """Check fn(query (D,), codes (N, M), codebooks (M, K, D/M)) -> (N,) squared distances by table lookup."""
    rng = np.random.default_rng(1)
    cases = []
    for n, m, k, sub in ((40, 2, 16, 4), (25, 4, 8, 3), (10, 8, 256, 2)):
        cases.append((rng.normal(size=m * sub).astype(np.float32), rng.integers(0, k, size=(n, m)).astype(np.uint8),
                      rng.normal(size=(m, k, sub)).astype(np.float32)))

    def check() -> str:
        worst = 0.0
        for query, codes, codebooks in cases:
            shown = f"query {query.shape}, codes {codes.shape}, codebooks {codebooks.shape}"
            yours = returned_array(fn, call_student(fn, (query.copy(), codes.copy(), codebooks.copy()), shown,
                                                    forbidden=solution_functions("pq")), shown)
            _shape_check(fn, yours, (codes.shape[0],), shown, " One distance per coded vector.")
            finite_array(fn, yours, shown)
            expected = pq.asymmetric_distances(query, codes, codebooks)
            error = rel_error(yours, expected)
            if not error < TOLERANCE:
                hint = (" Hint: squared distances (no square root)."
                        if rel_error(yours, np.sqrt(expected)) < TOLERANCE else "")
                raise CheckFailure(f"{function_name(fn)}({shown}): rel_error {error:.1e}.{hint}")
            worst = max(worst, error)
        return f"{len(cases)} cases, rel_error {error_bound(worst)}."

    return run_check(fn, check)


# ---------------------------------------------------------------- exercise 3: nprobe for a target recall


def check_choose_nprobe(fn: Callable[[pd.DataFrame, float], object]) -> CheckResult:
    """Check fn(table, target) -> the smallest nprobe whose recall@10 reaches target (None if none does),
    on sweep tables like `index.zoo.sweep` returns (columns nprobe, recall@10, ms_per_query)."""
    tables = [pd.DataFrame({"nprobe": [1, 2, 4, 8, 16], "recall@10": [0.41, 0.62, 0.81, 0.93, 0.99],
                            "ms_per_query": [0.1, 0.15, 0.3, 0.5, 0.9]}),
              pd.DataFrame({"nprobe": [32, 8, 16, 1], "recall@10": [1.0, 0.9, 0.95, 0.5],
                            "ms_per_query": [2.0, 0.6, 1.1, 0.1]})]
    cases = [(0, 0.9), (0, 0.93), (0, 0.5), (0, 0.995), (1, 0.9), (1, 0.92), (1, 0.2)]

    def check() -> str:
        for t, target in cases:
            table = tables[t]
            shown = f"table {t}, target={target}"
            yours = call_student(fn, (table.copy(), target), shown, forbidden=solution_functions("choose_nprobe"))
            expected = zoo.smallest_knob_for_recall(table, "nprobe", target)
            if expected is None:
                if yours is not None:
                    raise CheckFailure(f"{function_name(fn)}({shown}) returned {yours!r}; no nprobe in the table reaches "
                                       f"{target}: return None")
                continue
            if isinstance(yours, bool) or not isinstance(yours, (int, np.integer)):
                raise CheckFailure(f"{function_name(fn)}({shown}) returned {yours!r} ({type(yours).__name__}); "
                                   f"expected a whole number (an nprobe value from the table)")
            if int(yours) != expected:
                hint = (" Hint: the rows are not sorted by nprobe; look for the smallest value that reaches the target."
                        if t == 1 else " Hint: reaching means recall@10 >= target.")
                raise CheckFailure(f"{function_name(fn)}({shown}) returned {yours}, expected {expected}.{hint}")
        return f"{len(cases)} cases on 2 tables, unreachable targets included."

    return run_check(fn, check)


register_solutions({
    "pca_projection": (_reference_pca_project, fit_pca, PCA.apply),
    "pq": (pq.encode, pq.distance_tables, pq.asymmetric_distances),
    "choose_nprobe": (zoo.smallest_knob_for_recall,),
})


# What each check is worth when `python -m course_lib grade` grades a submission: check_<name> -> points.
POINTS = {"pca_projection": 2, "pq_encode": 2, "asymmetric_distance": 2, "choose_nprobe": 2}
