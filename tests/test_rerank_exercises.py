"""Notebook 05's self-checks pass the references and answer a battery of wrong answers with one message."""
import numpy as np
import pytest
import torch

from course_lib.exercises import ranking, show_solution
from course_lib.rerank import average_query_expansion, homography_inliers
from course_lib.train.ranking_losses import triplet_hinge


def not_implemented(*_):
    raise NotImplementedError


def crashes(*_):
    raise IndexError("oops")


def sq(x):
    return (x ** 2).sum(1)


WRONG_TRIPLET = [not_implemented, crashes, lambda *a: None, lambda *a: "loss",
                 lambda a, p, n, m: torch.relu(m + sq(a - p) - sq(a - n)).mean(),
                 lambda a, p, n, m: m + sq(a - p) - sq(a - n),
                 lambda a, p, n, m: torch.relu(m + (a - p).norm(dim=1) - (a - n).norm(dim=1)),
                 lambda a, p, n, m: torch.relu(m + sq(a - n) - sq(a - p)),
                 lambda a, p, n, m: torch.relu(sq(a - p) - sq(a - n)),
                 lambda a, p, n, m: torch.full((len(a),), float("nan"))]
WRONG_AQE = [not_implemented, crashes, lambda *a: None,
             lambda db, q, r, k: q + db[r[:k].T].sum(1),
             lambda db, q, r, k: db[r[:k].T].sum(1),
             lambda db, q, r, k: q,
             lambda db, q, r, k: q[:1],
             lambda db, q, r, k: q * np.nan]
WRONG_INLIERS = [not_implemented, crashes, lambda *a: None, lambda *a: "3", lambda *a: 2.5,
                 lambda h, s, t, th: len(s),
                 lambda h, s, t, th: homography_inliers(h, s, t, th),
                 lambda h, s, t, th: homography_inliers(h, s, t, th * th).sum()]


@pytest.mark.parametrize("check, reference", [(ranking.check_triplet_loss, triplet_hinge),
                                               (ranking.check_aqe, average_query_expansion),
                                               (ranking.check_homography_inliers,
                                                lambda h, s, t, th: homography_inliers(h, s, t, th).sum())])
def test_references_pass(check, reference):
    result = check(reference)
    assert result.passed, result.message


@pytest.mark.parametrize("check, wrong", [(ranking.check_triplet_loss, w) for w in WRONG_TRIPLET]
                         + [(ranking.check_aqe, w) for w in WRONG_AQE]
                         + [(ranking.check_homography_inliers, w) for w in WRONG_INLIERS])
def test_wrong_answers_fail_with_one_message(check, wrong):
    result = check(wrong)
    assert not result.passed and result.message and "Traceback" not in result.message


def test_solutions_are_registered():
    for name in ("triplet_loss", "aqe", "homography_inliers"):
        assert "def " in str(show_solution(name))
