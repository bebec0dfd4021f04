"""Notebook 05's self-checks pass the references and answer a battery of wrong answers with one message."""
import numpy as np
import pytest
import torch

from course_lib.exercises import ranking, show_solution
from course_lib.rerank import average_query_expansion, homography_inliers
from course_lib.train.losses import triplet_hinge


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


def my_triplet_loss(a, p, n, margin):
    return torch.clamp(margin + ((a - p) ** 2).sum(1) - ((a - n) ** 2).sum(1), min=0)


def my_aqe(db, queries, ranks, k):
    expanded = queries + db[ranks[:k].T].sum(axis=1)
    return expanded / np.linalg.norm(expanded, axis=1, keepdims=True)


def my_inliers(h, source, target, threshold):
    mapped = np.c_[source, np.ones(len(source))] @ h.T
    return int((np.linalg.norm(mapped[:, :2] / mapped[:, 2:] - target, axis=1) < threshold).sum())


@pytest.mark.parametrize("check, answer", [(ranking.check_triplet_loss, my_triplet_loss),
                                           (ranking.check_aqe, my_aqe),
                                           (ranking.check_homography_inliers, my_inliers)])
def test_correct_answers_pass(check, answer):
    result = check(answer)
    assert result.passed, result.message


@pytest.mark.parametrize("check, library", [(ranking.check_triplet_loss, triplet_hinge),
                                            (ranking.check_aqe, average_query_expansion),
                                            (ranking.check_homography_inliers,
                                             lambda h, s, t, th: homography_inliers(h, s, t, th).sum())])
def test_the_library_answer_is_not_an_answer(check, library):
    result = check(library)
    assert not result.passed and "the library's own answer" in result.message


@pytest.mark.parametrize("check, wrong", [(ranking.check_triplet_loss, w) for w in WRONG_TRIPLET]
                         + [(ranking.check_aqe, w) for w in WRONG_AQE]
                         + [(ranking.check_homography_inliers, w) for w in WRONG_INLIERS])
def test_wrong_answers_fail_with_one_message(check, wrong):
    result = check(wrong)
    assert not result.passed and result.message and "Traceback" not in result.message


def test_solutions_are_registered():
    for name in ("triplet_loss", "aqe", "homography_inliers"):
        assert "def " in str(show_solution(name))
