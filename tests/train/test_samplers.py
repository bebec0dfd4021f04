"""Triplet samplers and ranking losses on hand-made batches."""
import math

import pytest
import torch

from course_lib.train.losses import batch_triplet_loss, triplet_hinge
from course_lib.train.samplers import (
    SAMPLERS,
    distance_weights,
    pair_distances,
    positive_pairs,
    sample_triplets,
)

# One anchor class {0, 1} on a line, negatives at known distances from item 0 (d(a, p) = 1).
POINTS = torch.tensor([[0.0], [1.0], [0.5], [1.1], [1.15], [3.0]])
LABELS = torch.tensor([0, 0, 1, 2, 3, 4])


def negatives_of_item0(strategy, margin=0.2, seed=0, repeats=30):
    chosen = set()
    for r in range(repeats):
        a, _, n = sample_triplets(POINTS, LABELS, strategy, margin, torch.Generator().manual_seed(seed + r))
        chosen |= {int(n[i]) for i in range(len(a)) if a[i] == 0}
    return chosen


def test_pairs_and_distances():
    a, p = positive_pairs(LABELS)
    assert sorted(zip(a.tolist(), p.tolist())) == [(0, 1), (1, 0)]
    d = pair_distances(POINTS)
    assert d[0, 5] == pytest.approx(3.0) and torch.all(d.diagonal() == 0)


def test_hard_picks_the_closest_negative():
    assert negatives_of_item0("hard") == {2}


def test_semi_hard_picks_within_the_margin_beyond_the_positive():
    # squared distances from item 0: positive 1, negatives 0.25, 1.21, 1.3225, 9
    assert negatives_of_item0("semi-hard", margin=0.35) == {3, 4}      # 1 < d^2 < 1.35
    assert negatives_of_item0("semi-hard", margin=0.25) == {3}
    # nothing within the margin: the closest negative beyond the positive
    assert negatives_of_item0("semi-hard", margin=0.2) == {3}


def test_random_reaches_every_negative_and_never_a_positive():
    assert negatives_of_item0("random", repeats=200) == {2, 3, 4, 5}


def test_distance_weighted_draws_away_from_the_crowded_distance():
    rng = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(64, 32, generator=rng), dim=1)
    labels = torch.arange(64) // 4
    _, _, n = sample_triplets(x, labels, "distance-weighted", 0.1, generator=torch.Generator().manual_seed(1))
    d = pair_distances(x)
    a, _ = positive_pairs(labels)
    picked = d[a, n]
    # Random negatives crowd near sqrt(2) in 32 dimensions; distance weighting draws nearer ones, and
    # none beyond the cutoff where the loss would be zero.
    every_negative = d[labels[:, None] != labels[None, :]]
    assert picked.max() <= 1.4 + 1e-4 and picked.mean() < every_negative.mean() - 0.1
    w = distance_weights(torch.tensor([0.5, 1.0, 1.3, 1.5]), dim=32)
    assert w[0] > w[1] > w[2] > 0 and w[3] == 0


def test_bad_inputs_say_what():
    with pytest.raises(ValueError, match="unknown sampler 'hardest'; valid samplers: random, hard"):
        sample_triplets(POINTS, LABELS, "hardest", 0.1)
    with pytest.raises(ValueError, match="at least one negative"):
        sample_triplets(POINTS[:2], LABELS[:2], "hard", 0.1)


def test_excluded_items_are_never_negatives_and_lonely_anchors_are_dropped():
    excluded = torch.zeros(6, 6, dtype=torch.bool)
    excluded[0, 2] = excluded[0, 3] = True             # items 2 and 3 also show item 0's object
    a, _, n = sample_triplets(POINTS, LABELS, "hard", 0.1, excluded=excluded)
    assert int(n[a == 0][0]) == 4 and int(n[a == 1][0]) == 3
    excluded[:, 2:] = True                              # nobody may be a negative: no triplet at all
    a, p, n = sample_triplets(POINTS, LABELS, "random", 0.1, excluded=excluded)
    assert len(a) == len(p) == len(n) == 0
    with pytest.raises(ValueError, match=r"excluded must be \(6, 6\)"):
        sample_triplets(POINTS, LABELS, "hard", 0.1, excluded=torch.zeros(2, 2, dtype=torch.bool))


def test_triplet_hinge_by_hand():
    a, p, n = torch.tensor([[0.0, 0]]), torch.tensor([[1.0, 0]]), torch.tensor([[0.0, 2]])
    assert triplet_hinge(a, p, n, margin=0.5).item() == 0                     # 0.5 + 1 - 4 < 0
    assert triplet_hinge(a, p, n, margin=3.5).item() == pytest.approx(0.5)    # 3.5 + 1 - 4


@pytest.mark.parametrize("strategy", SAMPLERS)
def test_batch_loss_has_gradients_and_counts_satisfied_triplets(strategy):
    x = torch.nn.functional.normalize(torch.randn(16, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    x.requires_grad_(True)
    loss, stats = batch_triplet_loss(x, torch.arange(16) // 4, strategy, margin=0.2,
                                     generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert stats["triplets"] == 16 * 3 and 0 <= stats["satisfied"] <= 1 and math.isfinite(loss.item())
    assert x.grad is not None
