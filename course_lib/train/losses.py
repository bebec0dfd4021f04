"""Ranking losses for training a retrieval network, written out for students to read: per pair, per
triplet, per tuple and per batch, one convention throughout, the papers'.

Descriptors are L2-normalised; d(a, b) = ||a - b|| is the Euclidean distance (d^2 = 2 - 2 cos(a, b)).

- contrastive (Radenovic, Tolias & Chum, TPAMI 2018, eq. 2; cirtorch's ContrastiveLoss): a matching
  pair costs 1/2 d^2, a non-matching one 1/2 max(0, m - d)^2;
- triplet (Wang et al., "Learning Fine-grained Image Similarity with Deep Ranking", CVPR 2014;
  cirtorch's TripletLoss): max(0, m + d(a, p)^2 - d(a, n)^2), the hinge on squared distances.

A tuple (query, positive, negatives 1 .. N) is the sum of its pairs or of its triplets (q, p, n_i).
Default margins are cirtorch's, the ones `loop.TrainSettings` trains with when given none.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .samplers import sample_triplets

CONTRASTIVE_MARGIN = 0.7
TRIPLET_MARGIN = 0.1


def contrastive_terms(x: Tensor, y: Tensor, matching: Tensor, margin: float = CONTRASTIVE_MARGIN) -> Tensor:
    """Per-pair contrastive loss of the rows of x and y, (T, D) each, a (T,) output:

        1/2 d(x, y)^2 for a matching pair, 1/2 max(0, margin - d(x, y))^2 for a non-matching one.

    A matching pair is pulled together; a non-matching one is pushed out only while closer than `margin`.
    """
    squared = (x - y).pow(2).sum(dim=1)
    matching = torch.as_tensor(matching, dtype=torch.bool, device=x.device)
    # The square root only where it is used: at d = 0 (a positive equal to its query) its gradient
    # is infinite, and an unused infinite gradient still turns the step into NaN.
    distance = squared.masked_fill(matching, 1.0).sqrt()
    return 0.5 * torch.where(matching, squared, torch.clamp(margin - distance, min=0).pow(2))


def triplet_hinge(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = TRIPLET_MARGIN) -> Tensor:
    r"""Per-triplet loss :math:`\max(0,\; g + \lVert a - p \rVert^2 - \lVert a - n \rVert^2)` (Deep Ranking's
    hinge on squared distances with gap g = margin); (T, D) inputs, a (T,) output."""
    return torch.relu(margin + ((anchor - positive) ** 2).sum(dim=1) - ((anchor - negative) ** 2).sum(dim=1))


def _check_tuple(query: Tensor, positive: Tensor, negatives: Tensor) -> None:
    if query.ndim != 1 or positive.shape != query.shape:
        raise ValueError(f"query and positive must be two (D,) vectors, got {tuple(query.shape)} and "
                         f"{tuple(positive.shape)}")
    if negatives.ndim != 2 or negatives.shape[1] != query.shape[0]:
        raise ValueError(f"negatives must be (N, {query.shape[0]}), got {tuple(negatives.shape)}")


def contrastive_loss(query: Tensor, positive: Tensor, negatives: Tensor, margin: float = CONTRASTIVE_MARGIN
                     ) -> Tensor:
    """Contrastive loss of one tuple: its pairs (query, positive) and (query, negative i), summed:

        L = 1/2 d(q, p)^2 + sum_n 1/2 max(0, margin - d(q, n))^2
    """
    _check_tuple(query, positive, negatives)
    others = torch.cat([positive[None], negatives])
    matching = torch.arange(len(others), device=query.device) == 0
    return contrastive_terms(query.expand_as(others), others, matching, margin).sum()


def triplet_loss(query: Tensor, positive: Tensor, negatives: Tensor, margin: float = TRIPLET_MARGIN) -> Tensor:
    """Triplet loss of one tuple: one triplet (q, p, n) per negative, summed:

        L = sum_n max(0, margin + d(q, p)^2 - d(q, n)^2)

    Zero once every negative is at least `margin` (in squared distance) farther than the positive.
    """
    _check_tuple(query, positive, negatives)
    return triplet_hinge(query.expand_as(negatives), positive.expand_as(negatives), negatives, margin).sum()


def batch_triplet_loss(embeddings: Tensor, labels, strategy: str = "semi-hard", margin: float = TRIPLET_MARGIN,
                       generator: torch.Generator | None = None, excluded: Tensor | None = None
                       ) -> tuple[Tensor, dict]:
    """Mean triplet hinge over the batch's triplets chosen by `strategy` (see samplers.sample_triplets),
    and statistics: how many triplets, the fraction already satisfied (zero loss, no gradient) and the
    mean cosine of anchor and negative (how hard the chosen negatives are, for unit embeddings)."""
    anchors, positives, negatives = sample_triplets(embeddings, labels, strategy, margin, generator, excluded)
    if len(anchors) == 0:
        return embeddings.sum() * 0, {"triplets": 0, "satisfied": float("nan"), "negative_similarity": float("nan")}
    losses = triplet_hinge(embeddings[anchors], embeddings[positives], embeddings[negatives], margin)
    similarity = (embeddings[anchors] * embeddings[negatives]).sum(dim=1).detach()
    return losses.mean(), {"triplets": len(losses), "satisfied": float((losses == 0).float().mean()),
                           "negative_similarity": float(similarity.mean())}


LOSSES = {"contrastive": contrastive_loss, "triplet": triplet_loss}
DEFAULT_MARGINS = {"contrastive": CONTRASTIVE_MARGIN, "triplet": TRIPLET_MARGIN}
