"""Notebook 02's self-checks: right answers pass, any wrong answer is one message, never a traceback."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.exercises import fine_tuning as ex
from course_lib.exercises import show_solution


def good_contrastive(q, p, n, margin):
    d = torch.sqrt(((n - q) ** 2).sum(dim=1))
    return 0.5 * ((q - p) ** 2).sum() + 0.5 * (torch.clamp(margin - d, min=0) ** 2).sum()


def good_hard_negatives(similarity, forbidden, classes, n):
    out = []
    for q, row in enumerate(similarity):
        picks, seen = [], set()
        for i in np.argsort(-row, kind="stable"):
            if int(i) in forbidden[q] or classes[i] in seen:
                continue
            picks.append(int(i))
            seen.add(classes[i])
            if len(picks) == n:
                break
        out.append(picks)
    return out


def good_whitening(x, pairs):
    m = x[pairs[:, 0]].mean(axis=0)
    diff = x[pairs[:, 0]] - x[pairs[:, 1]]
    w = np.linalg.inv(np.linalg.cholesky(diff.T @ diff / len(pairs)))
    y = (x - m) @ w.T
    vals, vecs = np.linalg.eigh(y.T @ y)
    return m, w.T @ vecs[:, ::-1]


def test_right_answers_pass():
    assert ex.check_contrastive_loss(good_contrastive)
    assert ex.check_hard_negatives(good_hard_negatives)
    assert ex.check_learned_whitening(good_whitening)


def not_yet(*args):
    raise NotImplementedError


WRONG_CONTRASTIVE = [
    not_yet, lambda q, p, n, m: None, lambda q, p, n, m: torch.zeros(3),
    lambda q, p, n, m: float("nan"), lambda q, p, n, m: 1 / 0, "not a function",
    lambda q, p, n, m: 0.5 * ((q - p) ** 2).sum() + 0.5 * ((m - (n - q).norm(dim=1)) ** 2).sum(),  # no clamp
    lambda q, p, n, m: ((q - p) ** 2).sum(),
]
WRONG_NEGATIVES = [
    not_yet, lambda s, f, c, n: None, lambda s, f, c, n: [[0]],
    lambda s, f, c, n: [list(np.argsort(-r)[:n]) for r in s],       # ignores forbidden and classes
    lambda s, f, c, n: [list(np.argsort(r)[:n]) for r in s],        # easiest first
    lambda s, f, c, n: "abc",
]
WRONG_WHITENING = [
    not_yet, lambda x, p: None, lambda x, p: (x.mean(0), np.eye(x.shape[1])),
    lambda x, p: (x.mean(0),), lambda x, p: (np.zeros(3), np.zeros((3, 3))),
    lambda x, p: (x.mean(0), np.full((x.shape[1], x.shape[1]), np.nan)),
]


@pytest.mark.parametrize("check, wrong", [(ex.check_contrastive_loss, w) for w in WRONG_CONTRASTIVE]
                         + [(ex.check_hard_negatives, w) for w in WRONG_NEGATIVES]
                         + [(ex.check_learned_whitening, w) for w in WRONG_WHITENING])
def test_wrong_answers_fail_with_one_message(check, wrong):
    result = check(wrong)
    assert not result and str(result) and "Traceback" not in str(result)


def test_importing_the_answer_is_refused():
    from course_lib.train import losses

    result = ex.check_contrastive_loss(losses.contrastive_loss)
    assert not result and "write the computation yourself" in str(result)


def test_solutions_are_shown_not_exported():
    assert "def contrastive_loss" in str(show_solution("contrastive_loss"))
    assert "def learn_whitening" in str(show_solution("learned_whitening"))
    import course_lib.exercises as exercises
    assert not hasattr(exercises, "contrastive_loss") and not hasattr(exercises, "learn_whitening")
