"""Exercises of notebook 05 (ranking): the triplet hinge with a margin, average query expansion, and
counting the inliers of a homography on given matches."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..rerank.expansion import average_query_expansion
from ..rerank.spatial import homography_inliers
from ..train.losses import triplet_hinge
from ..transforms import l2_normalise
from .checking import (
    TOLERANCE,
    CheckFailure,
    CheckResult,
    call_student,
    error_bound,
    function_name,
    register_solutions,
    rel_error,
    returned_array,
    run_check,
    solution_functions,
)


def _finite(fn, yours: np.ndarray, shown: str) -> None:
    if not np.all(np.isfinite(yours)):
        raise CheckFailure(f"{function_name(fn)}({shown}) returned NaN or infinite values")


# ---------------------------------------------------------------- exercise 1: triplet loss with a margin


def _triplet_hint(yours, a, p, n, margin) -> str:
    d_ap, d_an = ((a - p) ** 2).sum(1), ((a - n) ** 2).sum(1)
    variants = {
        "use squared Euclidean distances, ||a - p||^2, not distances": torch.relu(margin + d_ap.sqrt() - d_an.sqrt()),
        "clip at zero: a triplet already satisfied by the margin costs nothing (max(0, .))": margin + d_ap - d_an,
        "the positive's distance adds to the loss and the negative's subtracts": torch.relu(margin + d_an - d_ap),
        "the margin g is added inside the max": torch.relu(d_ap - d_an),
    }
    for hint, variant in variants.items():
        if yours.shape == tuple(variant.shape) and rel_error(yours, variant) < TOLERANCE:
            return f" Hint: {hint}."
    if yours.shape == () or yours.size == 1:
        return " Hint: return one loss per triplet (shape (T,)), not their mean."
    return ""


def check_triplet_loss(fn: Callable, seed: int = 0) -> CheckResult:
    """Check fn(anchor, positive, negative, margin) -> (T,) per-triplet losses against `triplet_hinge`."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for t, d, margin in [(1, 2, 0.5), (7, 3, 0.2), (16, 8, 0.1), (5, 32, 1.0), (9, 4, 0.0)]:
        a, p, n = (torch.nn.functional.normalize(torch.randn(t, d, generator=generator, dtype=torch.float64), dim=1)
                   for _ in range(3))
        cases.append((a, p, n, margin))
    a = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    cases.append((a, torch.tensor([[1.0, 0.0]], dtype=torch.float64), torch.tensor([[0.0, 2.0]], dtype=torch.float64),
                  0.5))  # satisfied: exactly zero loss

    def check() -> str:
        worst = 0.0
        for a, p, n, margin in cases:
            shown = f"anchor {tuple(a.shape)}, positive, negative, margin={margin}"
            yours = returned_array(fn, call_student(fn, (a.clone(), p.clone(), n.clone(), margin), shown,
                                                       solution_functions("triplet_loss")), shown)
            expected = triplet_hinge(a, p, n, margin).numpy()
            _finite(fn, yours, shown)
            if yours.shape != expected.shape:
                raise CheckFailure(f"{function_name(fn)}({shown}) returned shape {yours.shape}; expected "
                                   f"{expected.shape}, one loss per triplet.{_triplet_hint(yours, a, p, n, margin)}")
            error = rel_error(yours, expected)
            if not error < TOLERANCE:
                i = int(np.argmax(np.abs(np.nan_to_num(yours - expected))))
                raise CheckFailure(f"{function_name(fn)}({shown}): rel_error {error:.1e}; triplet {i}: yours "
                                   f"{yours[i]:.4g}, expected {expected[i]:.4g}.{_triplet_hint(yours, a, p, n, margin)}")
            worst = max(worst, error)
        return f"{len(cases)} batches, margins 0 to 1, satisfied triplets included; largest rel_error {error_bound(worst)}"

    return run_check(fn, check)


# ---------------------------------------------------------------- exercise 2: average query expansion


def _aqe_hint(yours, db, queries, ranks, k) -> str:
    variants = {
        "include the query itself in the sum": l2_normalise(db[ranks[:k].T].sum(axis=1)),
        "normalise the result to unit length": queries + db[ranks[:k].T].sum(axis=1),
        "use the top k of the list, not k + 1": l2_normalise(queries + db[ranks[:k + 1].T].sum(axis=1)),
    }
    for hint, variant in variants.items():
        if yours.shape == variant.shape and rel_error(yours, variant) < 1e-4:
            return f" Hint: {hint}."
    return " Hint: column j of ranks is query j's list, best first: its top k are ranks[:k, j]."


def check_aqe(fn: Callable, seed: int = 0) -> CheckResult:
    """Check fn(db, queries, ranks, k) -> (n_queries, D) expanded queries against `average_query_expansion`."""
    rng = np.random.default_rng(seed)
    cases = []
    for n_db, n_q, d, k in [(6, 1, 2, 2), (30, 4, 8, 3), (50, 7, 16, 1), (40, 5, 8, 0), (100, 10, 32, 10)]:
        db = l2_normalise(rng.normal(size=(n_db, d)))
        queries = l2_normalise(rng.normal(size=(n_q, d)))
        ranks = np.argsort(-(db @ queries.T), axis=0)
        cases.append((db, queries, ranks, k))

    def check() -> str:
        worst = 0.0
        for db, queries, ranks, k in cases:
            shown = f"db {db.shape}, queries {queries.shape}, ranks {ranks.shape}, k={k}"
            yours = returned_array(fn, call_student(fn, (db.copy(), queries.copy(), ranks.copy(), k), shown,
                                                       solution_functions("aqe")), shown)
            expected = average_query_expansion(db, queries, ranks, k).astype(np.float64)
            _finite(fn, yours, shown)
            if yours.shape != expected.shape:
                raise CheckFailure(f"{function_name(fn)}({shown}) returned shape {yours.shape}; expected "
                                   f"{expected.shape}, one expanded query per row")
            error = rel_error(yours, expected)
            if not error < 1e-4:  # float32 descriptors
                raise CheckFailure(f"{function_name(fn)}({shown}): rel_error {error:.1e}."
                                   f"{_aqe_hint(yours, db, queries, ranks, k)}")
            worst = max(worst, error)
        return f"{len(cases)} cases, k from 0 to 10; largest rel_error {error_bound(worst)}"

    return run_check(fn, check)


# ---------------------------------------------------------------- exercise 3: inliers of a homography


def _inlier_hint(yours: int, h, source, target, threshold) -> str:
    projected = np.column_stack([source, np.ones(len(source))]) @ h.T
    no_division = np.linalg.norm(projected[:, :2] - target, axis=1) < threshold
    squared = ((projected[:, :2] / projected[:, 2:3] - target) ** 2).sum(1) < threshold
    transposed = np.column_stack([source, np.ones(len(source))]) @ h
    with np.errstate(divide="ignore", invalid="ignore"):
        wrong_side = np.linalg.norm(transposed[:, :2] / transposed[:, 2:3] - target, axis=1) < threshold
    if yours == int(no_division.sum()):
        return " Hint: divide the first two homogeneous coordinates by the third before comparing."
    if yours == int(squared.sum()):
        return " Hint: compare the distance in pixels, not its square, with the threshold."
    if yours == int(wrong_side.sum()):
        return " Hint: points are columns: H @ [x, y, 1], i.e. rows times H transposed."
    return ""


def check_homography_inliers(fn: Callable, seed: int = 0) -> CheckResult:
    """Check fn(H, source, target, threshold) -> the number of matches H maps within threshold pixels."""
    rng = np.random.default_rng(seed)
    cases = []
    for m, threshold in [(4, 3.0), (20, 5.0), (60, 2.0), (100, 8.0)]:
        h = np.array([[1.1, 0.05, 12.0], [-0.08, 0.95, -7.0], [2e-4, -1e-4, 1.0]]) + rng.normal(0, 1e-3, (3, 3)) * [
            [1, 1, 10], [1, 1, 10], [1e-2, 1e-2, 0]]
        source = rng.uniform(0, 400, size=(m, 2))
        projected = np.column_stack([source, np.ones(m)]) @ h.T
        target = projected[:, :2] / projected[:, 2:3] + rng.normal(0, threshold * 0.4, size=(m, 2))
        wrong = rng.random(m) < 0.4
        target[wrong] = rng.uniform(0, 400, size=(int(wrong.sum()), 2))
        cases.append((h, source, target, threshold))

    def check() -> str:
        for h, source, target, threshold in cases:
            shown = f"H, source {source.shape}, target {target.shape}, threshold={threshold}"
            returned = call_student(fn, (h.copy(), source.copy(), target.copy(), threshold), shown,
                                    solution_functions("homography_inliers"))
            try:
                yours = int(np.asarray(returned).item())
                if float(np.asarray(returned).item()) != yours:
                    raise ValueError
            except (TypeError, ValueError):
                raise CheckFailure(f"{function_name(fn)}({shown}) must return one whole number (a count); got "
                                   f"{str(returned)[:60]}") from None
            expected = int(homography_inliers(h, source, target, threshold).sum())
            if yours != expected:
                raise CheckFailure(f"{function_name(fn)}({shown}) returned {yours}; expected {expected} of "
                                   f"{len(source)}.{_inlier_hint(yours, h, source, target, threshold)}")
        return f"{len(cases)} sets of matches (4 to 100, about 40% wrong), thresholds 2 to 8 pixels"

    return run_check(fn, check)


register_solutions({
    "triplet_loss": (triplet_hinge,),
    "aqe": (average_query_expansion,),
    "homography_inliers": (homography_inliers,),
})


# What each check is worth when `python -m course_lib grade` grades a submission: check_<name> -> points.
POINTS = {"triplet_loss": 2, "aqe": 2, "homography_inliers": 3}
