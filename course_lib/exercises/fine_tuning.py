"""Exercises of notebook 02 (fine-tuning): the contrastive loss, one round of hard-negative selection,
learned whitening from matching pairs."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .. import transforms
from ..train import losses, mining
from .checking import (TOLERANCE, CheckFailure, CheckResult, call_student, error_bound, finite_array, function_name,
                       register_solutions, rel_error, returned_array, run_check, solution_functions)

register_solutions({
    "contrastive_loss": (losses.contrastive_terms, losses.contrastive_loss),
    "hard_negatives": (mining.hard_negatives,),
    "learned_whitening": (transforms.learn_whitening,),
})


def _unit_rows(rng, n: int, d: int) -> torch.Tensor:
    x = torch.as_tensor(rng.normal(size=(n, d)), dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def check_contrastive_loss(fn: Callable, seed: int = 0) -> CheckResult:
    """Check fn(query (D,), positive (D,), negatives (N, D), margin) -> scalar against `losses.contrastive_loss`."""
    rng = np.random.default_rng(seed)

    def check() -> str:
        worst = 0.0
        cases = [(8, 3, 0.7), (16, 5, 0.7), (4, 1, 1.2), (32, 10, 0.5)]
        for d, n, margin in cases:
            q, p = _unit_rows(rng, 1, d)[0], _unit_rows(rng, 1, d)[0]
            negatives = _unit_rows(rng, n, d)
            negatives[0] = (q + 0.1 * negatives[0]) / (q + 0.1 * negatives[0]).norm()  # one inside the margin
            shown = f"query ({d},), positive ({d},), negatives ({n}, {d}), margin={margin}"
            value = returned_array(fn, call_student(fn, (q.clone(), p.clone(), negatives.clone(), margin), shown,
                                                    solution_functions("contrastive_loss")), shown)
            if value.size != 1:
                raise CheckFailure(f"{function_name(fn)}({shown}) must return one number (the loss of the tuple), "
                                   f"got an array of shape {value.shape}")
            value = finite_array(fn, value.reshape(()), shown)
            expected = float(losses.contrastive_loss(q, p, negatives, margin))
            err = rel_error(value, expected)
            if err > TOLERANCE:
                pull = float(0.5 * (q - p).pow(2).sum())
                hint = (" Hint: a negative beyond the margin adds nothing: clamp margin - distance at 0."
                        if abs(float(value) - pull - 0.5 * ((margin - (negatives - q).norm(dim=1)) ** 2).sum()) < 1e-9
                        else " Hint: distances are Euclidean, d = ||a - b||; the positive term is 1/2 d(q, p)^2, "
                             "the negative term 1/2 max(0, margin - d(q, n))^2, summed over negatives.")
                raise CheckFailure(f"{function_name(fn)}({shown}) returned {float(value):.6f}, expected "
                                   f"{expected:.6f}.{hint}")
            worst = max(worst, err)
        return f"{len(cases)} tuples, largest relative error {error_bound(worst)}."

    return run_check(fn, check)


def check_hard_negatives(fn: Callable, seed: int = 0) -> CheckResult:
    """Check fn(similarity (Q, P), forbidden list of sets, pool_classes (P,), n) -> list of lists of pool ids."""
    rng = np.random.default_rng(seed)

    def check() -> str:
        for trial in range(4):
            n_queries, n_pool = int(rng.integers(2, 6)), int(rng.integers(8, 20))
            similarity = rng.uniform(-1, 1, size=(n_queries, n_pool)).round(4)
            classes = [int(c) for c in rng.integers(0, max(3, n_pool // 2), size=n_pool)]
            forbidden = [set(int(i) for i in rng.choice(n_pool, size=2, replace=False)) for _ in range(n_queries)]
            n = int(rng.integers(2, 4))
            shown = f"similarity ({n_queries}, {n_pool}), forbidden, pool_classes, n={n}"
            got = call_student(fn, (similarity.copy(), [set(f) for f in forbidden], list(classes), n), shown,
                               solution_functions("hard_negatives"))
            expected = mining.hard_negatives(similarity, forbidden, classes, n)
            try:
                got = [[int(i) for i in row] for row in got]
            except (TypeError, ValueError):
                raise CheckFailure(f"{function_name(fn)}({shown}) must return one list of pool ids per query") from None
            if len(got) != n_queries:
                raise CheckFailure(f"{function_name(fn)}({shown}) returned {len(got)} lists; expected one per query "
                                   f"({n_queries})")
            for q, (mine, ref) in enumerate(zip(got, expected)):
                if mine != ref:
                    hint = ""
                    if set(mine) & forbidden[q]:
                        hint = " Hint: a forbidden id (a positive or junk image) is never a negative."
                    elif len({classes[i] for i in mine}) < len(mine):
                        hint = " Hint: take at most one negative per class."
                    elif sorted(mine) == sorted(ref):
                        hint = " Hint: list them hardest (most similar) first."
                    raise CheckFailure(f"{function_name(fn)}({shown}): query {q} got {mine}, expected {ref}.{hint}")
        return "4 random similarity matrices, every query's negatives as the reference picks them."

    return run_check(fn, check)


def check_learned_whitening(fn: Callable, seed: int = 0) -> CheckResult:
    """Check fn(descriptors (N, D), pairs (P, 2)) -> (mean (D,), projection (D, D)) against
    `transforms.learn_whitening` (compared through inner products, which do not depend on eigenvector signs)."""
    rng = np.random.default_rng(seed)

    def check() -> str:
        worst = 0.0
        for n, d in ((60, 4), (120, 8)):
            x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
            pairs = np.c_[np.arange(0, n, 2), np.arange(1, n, 2)]
            shown = f"descriptors ({n}, {d}), pairs ({len(pairs)}, 2)"
            got = call_student(fn, (x.copy(), pairs.copy()), shown, solution_functions("learned_whitening"))
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise CheckFailure(f"{function_name(fn)}({shown}) must return (mean, projection)")
            mean = finite_array(fn, returned_array(fn, got[0], shown), shown)
            projection = finite_array(fn, returned_array(fn, got[1], shown), shown)
            if mean.shape != (d,) or projection.shape != (d, d):
                raise CheckFailure(f"{function_name(fn)}({shown}) returned mean {mean.shape} and projection "
                                   f"{projection.shape}; expected ({d},) and ({d}, {d})")
            ref = transforms.learn_whitening(x, pairs)
            yours = (x - mean) @ projection
            theirs = ref.apply(x, renormalise=False).astype(np.float64)
            err = rel_error(yours @ yours.T, theirs @ theirs.T)
            if err > 1e-4:
                diff = yours[pairs[:, 0]] - yours[pairs[:, 1]]
                isotropic = np.allclose(diff.T @ diff / len(pairs), np.eye(d), atol=1e-4)
                hint = (" Hint: the pair differences are whitened; now rotate by the eigenvectors of the whitened "
                        "descriptors' scatter, largest eigenvalue first." if isotropic else
                        " Hint: whiten with the covariance of the pair differences x_i - x_j, "
                        "S = mean of (x_i - x_j)(x_i - x_j)^T, e.g. W = inverse of its Cholesky factor.")
                raise CheckFailure(f"{function_name(fn)}({shown}): projected descriptors differ from the reference "
                                   f"(relative error {error_bound(err)}).{hint}")
            worst = max(worst, err)
        return f"2 learning sets, inner products of whitened descriptors within {error_bound(worst)}."

    return run_check(fn, check)


# What each check is worth when `python -m course_lib grade` grades a submission: check_<name> -> points.
POINTS = {"contrastive_loss": 2, "hard_negatives": 3, "learned_whitening": 3}
