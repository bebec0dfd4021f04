"""Ranking losses, negative mining and learned whitening against values worked by hand."""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

from course_lib.train import contrastive_loss, hard_negatives, random_negatives, triplet_loss
from course_lib.train.losses import DEFAULT_MARGINS, batch_triplet_loss, contrastive_terms, triplet_hinge
from course_lib.train.mining import similarities_faiss
from course_lib.transforms import learn_whitening

Q = torch.tensor([1.0, 0.0])
P = torch.tensor([0.6, 0.8])       # d(q, p)^2 = 0.16 + 0.64 = 0.8
N = torch.tensor([[0.0, 1.0],      # d = sqrt(2) = 1.414: beyond margin 0.7
                  [0.8, 0.6]])     # d^2 = 0.04 + 0.36 = 0.4, d = 0.632: inside margin 0.7


def test_contrastive_by_hand():
    # 1/2 * 0.8 + 1/2 * max(0, 0.7 - 1.414)^2 + 1/2 * (0.7 - 0.6325)^2
    expected = 0.4 + 0.5 * (0.7 - math.sqrt(0.4)) ** 2
    assert contrastive_loss(Q, P, N, margin=0.7).item() == pytest.approx(expected, rel=1e-6)


def test_contrastive_is_zero_for_identical_positive_and_far_negatives():
    assert contrastive_loss(Q, Q.clone(), -Q[None], margin=0.7).item() == 0


def test_triplet_by_hand():
    # max(0, 0.8 - 2 + 0.1) + max(0, 0.8 - 0.4 + 0.1) = 0 + 0.5
    assert triplet_loss(Q, P, N, margin=0.1).item() == pytest.approx(0.5, rel=1e-6)


def paper_contrastive(d_squared: float, matching: bool, margin: float) -> float:
    """Radenovic, Tolias & Chum, TPAMI 2018, eq. 2 (cirtorch's ContrastiveLoss), for one pair."""
    return 0.5 * d_squared if matching else 0.5 * max(0.0, margin - math.sqrt(d_squared)) ** 2


def paper_triplet(d_ap_squared: float, d_an_squared: float, margin: float) -> float:
    """Wang et al., Deep Ranking, CVPR 2014 (cirtorch's TripletLoss), for one triplet."""
    return max(0.0, margin + d_ap_squared - d_an_squared)


# Squared distances of the fixed points above, by hand: d(Q, P)^2 = 0.8, d(Q, N0)^2 = 2, d(Q, N1)^2 = 0.4.
QP, QN = 0.8, [2.0, 0.4]


@pytest.mark.parametrize("margin", [0.7, 1.5, 0.1])
def test_every_loss_is_the_papers_formula(margin):
    pairs = contrastive_terms(Q.expand(3, 2), torch.stack([P, *N]), torch.tensor([True, False, False]), margin)
    paper_pairs = [paper_contrastive(QP, True, margin)] + [paper_contrastive(d, False, margin) for d in QN]
    assert pairs.tolist() == pytest.approx(paper_pairs, rel=1e-6, abs=1e-7)
    assert contrastive_loss(Q, P, N, margin).item() == pytest.approx(sum(paper_pairs), rel=1e-6, abs=1e-7)

    hinges = triplet_hinge(Q.expand(2, 2), P.expand(2, 2), N, margin)
    paper_hinges = [paper_triplet(QP, d, margin) for d in QN]
    assert hinges.tolist() == pytest.approx(paper_hinges, rel=1e-6, abs=1e-7)
    assert triplet_loss(Q, P, N, margin).item() == pytest.approx(sum(paper_hinges), rel=1e-6, abs=1e-7)

    # A batch Q, P (one object), N1, N0: the hard sampler gives each of the pairs (Q, P), (P, Q) the
    # negative N1 (d(P, N1)^2 = 0.2^2 + 0.2^2 = 0.08); the batch loss is the mean of their hinges.
    batch = torch.stack([Q, P, N[1], N[0]])
    loss, stats = batch_triplet_loss(batch, [0, 0, 1, 2], "hard", margin)
    paper_batch = [paper_triplet(QP, 0.4, margin), paper_triplet(QP, 0.08, margin)]
    assert loss.item() == pytest.approx(sum(paper_batch) / 2, rel=1e-6, abs=1e-7)
    assert stats["triplets"] == 2 and stats["satisfied"] == sum(h == 0 for h in paper_batch) / 2


def test_one_default_margin_per_loss_cirtorchs():
    assert DEFAULT_MARGINS == {"contrastive": 0.7, "triplet": 0.1}
    for loss, margin in [(contrastive_terms, 0.7), (contrastive_loss, 0.7), (triplet_hinge, 0.1),
                         (triplet_loss, 0.1), (batch_triplet_loss, 0.1)]:
        assert inspect.signature(loss).parameters["margin"].default == margin, loss.__name__


def test_losses_have_gradients_and_refuse_bad_shapes():
    q = Q.clone().requires_grad_()
    contrastive_loss(q, P, N).backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()
    q.grad = None
    contrastive_loss(q, Q.clone(), N).backward()  # d(q, p) = 0: no square root of 0 on the gradient's path
    assert torch.isfinite(q.grad).all()
    with pytest.raises(ValueError, match="negatives must be"):
        triplet_loss(Q, P, N[0])
    with pytest.raises(ValueError, match="query and positive"):
        contrastive_loss(Q, torch.ones(3), N)


def test_hard_negatives_by_hand():
    similarity = np.array([[0.9, 0.8, 0.7, 0.6, 0.5],
                           [0.1, 0.2, 0.3, 0.4, 0.5]])
    classes = [0, 1, 1, 2, 3]
    forbidden = [{0}, set()]
    # query 0: skip 0 (its positive), take 1 (class 1), skip 2 (class 1 again), take 3
    # query 1: 4 (class 3), 3 (class 2), 2 (class 1)
    assert hard_negatives(similarity, forbidden, classes, 2) == [[1, 3], [4, 3]]
    assert hard_negatives(similarity, forbidden, classes, 10) == [[1, 3, 4], [4, 3, 2, 0]]


def test_random_negatives_respect_forbidden_and_classes():
    rng = np.random.default_rng(0)
    picks = random_negatives(6, [{0, 1}], [0, 0, 1, 1, 2, 2], 3, rng)[0]
    assert len(picks) == 2 and not {0, 1} & set(picks) and len({p // 2 for p in picks}) == 2


def test_faiss_similarities_equal_matmul():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(7, 8)).astype(np.float32)
    np.testing.assert_allclose(similarities_faiss(a, b), a @ b.T, rtol=1e-5, atol=1e-5)


def _cirtorch_whitenlearn(x, qidxs, pidxs):
    """An independent transcription of the published recipe (columns are descriptors)."""
    X = x.T
    m = X[:, qidxs].mean(axis=1, keepdims=True)
    df = X[:, qidxs] - X[:, pidxs]
    S = df @ df.T / df.shape[1]
    P = np.linalg.inv(np.linalg.cholesky(S))
    df = P @ (X - m)
    eigval, eigvec = np.linalg.eig(df @ df.T)
    order = eigval.argsort()[::-1]
    return m[:, 0], eigvec[:, order].T @ P


def test_learned_whitening_matches_the_published_recipe():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 5)) @ rng.normal(size=(5, 5))
    pairs = np.c_[np.arange(0, 80, 2), np.arange(1, 80, 2)]
    lw = learn_whitening(x, pairs)
    mean, projection = _cirtorch_whitenlearn(x, pairs[:, 0], pairs[:, 1])
    ours = lw.apply(x, renormalise=False)
    theirs = (x - mean) @ projection.T
    # Eigenvector signs are arbitrary: compare inner products, which do not depend on them.
    np.testing.assert_allclose(ours @ ours.T, theirs @ theirs.T, rtol=1e-5, atol=1e-6)
    differences = ours[pairs[:, 0]] - ours[pairs[:, 1]]
    np.testing.assert_allclose(differences.T @ differences / len(pairs), np.eye(5), atol=1e-6)


def test_learned_whitening_needs_shrinkage_with_few_pairs():
    x = np.random.default_rng(3).normal(size=(6, 10))
    with pytest.raises(ValueError, match="singular"):
        learn_whitening(x, [[0, 1], [2, 3]])
    assert learn_whitening(x, [[0, 1], [2, 3]], shrinkage=0.1).apply(x, dims=4).shape == (6, 4)
    with pytest.raises(ValueError, match="pairs name rows"):
        learn_whitening(x, [[0, 6]])
