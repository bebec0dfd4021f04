"""Ranking losses over a batch of embeddings: pairwise contrastive and the triplet hinge of Deep Ranking,
with the share of triplets that are already satisfied (zero loss) to show why sampling matters.

Hadsell, Chopra, LeCun, CVPR 2006 (contrastive); Wang et al., "Learning Fine-grained Image Similarity
with Deep Ranking", CVPR 2014 (triplet hinge with a gap g); Schroff et al., CVPR 2015 (FaceNet).
"""
from __future__ import annotations

import torch

from .samplers import sample_triplets


def triplet_hinge(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float = 0.2
                  ) -> torch.Tensor:
    r"""Per-triplet loss :math:`\max(0,\; g + \lVert a - p \rVert^2 - \lVert a - n \rVert^2)` (Deep Ranking's
    hinge on squared distances with gap g = margin); (T, D) inputs, a (T,) output."""
    return torch.relu(margin + ((anchor - positive) ** 2).sum(dim=1) - ((anchor - negative) ** 2).sum(dim=1))


def contrastive_pairs(x: torch.Tensor, y: torch.Tensor, same: torch.Tensor, margin: float = 0.7) -> torch.Tensor:
    r"""Per-pair contrastive loss: :math:`\lVert x - y \rVert^2` for a matching pair, :math:`\max(0, m - \lVert x - y
    \rVert)^2` for a non-matching one: pairs are pulled together or pushed beyond the margin, each on its own."""
    distance = (x - y).norm(dim=1)
    same = torch.as_tensor(same, dtype=torch.bool, device=x.device)
    return torch.where(same, distance ** 2, torch.relu(margin - distance) ** 2)


def batch_triplet_loss(embeddings: torch.Tensor, labels, strategy: str = "semi-hard", margin: float = 0.2,
                       generator: torch.Generator | None = None, excluded: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, dict]:
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
