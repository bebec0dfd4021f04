"""Triplet sampling inside a batch: which negative each (anchor, positive) pair is trained against.

random; hard (the closest negative); semi-hard (FaceNet: Schroff, Kalenichenko, Philbin, CVPR 2015);
distance-weighted (Wu, Manmatha, Smola, Kraehenbuehl, "Sampling Matters in Deep Embedding Learning",
ICCV 2017). Deep Ranking (Wang et al., CVPR 2014) calls this the triplet sampling layer.
"""
from __future__ import annotations

import math

import torch

from ..names import SAMPLER_NAMES as SAMPLERS


def pair_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between all rows of a batch (B, D) -> (B, B), exact zeros on the diagonal."""
    squared = (embeddings * embeddings).sum(dim=1)
    d2 = (squared[:, None] + squared[None, :] - 2 * embeddings @ embeddings.T).clamp_min(0)
    d2 = d2 * (1 - torch.eye(len(embeddings), dtype=d2.dtype, device=d2.device))
    return d2.sqrt()


def positive_pairs(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ordered (anchor, positive) pair of distinct items with the same label."""
    labels = torch.as_tensor(labels)
    same = (labels[:, None] == labels[None, :]) & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    anchors, positives = same.nonzero(as_tuple=True)
    return anchors, positives


def distance_weights(distances: torch.Tensor, dim: int, cutoff: float = 0.5, nonzero_loss_cutoff: float = 1.4
                     ) -> torch.Tensor:
    r"""Wu et al.'s sampling weights for unit vectors in `dim` dimensions: the inverse of the density of
    pairwise distances on the sphere, :math:`q(d) \propto d^{n-2} (1 - d^2/4)^{(n-3)/2}`, so that negatives
    are drawn uniformly over distance rather than crowded at :math:`\sqrt 2`. Distances are clipped below at
    `cutoff`; negatives beyond `nonzero_loss_cutoff` get weight 0 (they would give no loss). Unnormalised."""
    d = distances.clamp_min(cutoff)
    log_q = (dim - 2) * torch.log(d) + (dim - 3) / 2 * torch.log((1 - d * d / 4).clamp_min(1e-8))
    log_w = -log_q
    log_w = log_w - log_w.max()
    return torch.exp(log_w) * (distances < nonzero_loss_cutoff)


def sample_triplets(embeddings: torch.Tensor, labels, strategy: str, margin: float,
                    generator: torch.Generator | None = None, excluded: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(anchors, positives, negatives) index tensors: every positive pair of the batch with one negative.

    margin: the margin of the triplet hinge the triplets will train (`losses.triplet_hinge`); only
    semi-hard reads it.
    random: any item of another label. hard: the closest one. semi-hard: a random one farther than the
    positive but inside the margin of the hinge on squared distances (FaceNet's definition),
    d(a,p)^2 < d(a,n)^2 < d(a,p)^2 + margin; where there is none, the closest negative farther than the
    positive, and failing that the farthest negative (as TensorFlow's semi-hard loss does).
    distance-weighted: drawn with probability from `distance_weights` (embeddings are taken as unit
    vectors); uniform where all weights vanish.
    excluded: optional (B, B) boolean, True where item j must never be a negative of anchor i although
    its label differs (it shows i's object too, or is junk for it); anchors left with no negative are dropped.
    """
    if strategy not in SAMPLERS:
        raise ValueError(f"unknown sampler {strategy!r}; valid samplers: {', '.join(SAMPLERS)}")
    labels = torch.as_tensor(labels, device=embeddings.device)
    if embeddings.ndim != 2 or len(labels) != len(embeddings):
        raise ValueError(f"embeddings must be (B, D) with one label each; got {tuple(embeddings.shape)} and "
                         f"{len(labels)} labels")
    with torch.no_grad():
        distances = pair_distances(embeddings.detach().float())
    anchors, positives = positive_pairs(labels)
    if len(anchors) == 0:
        empty = torch.zeros(0, dtype=torch.long, device=embeddings.device)
        return empty, empty, empty
    is_negative = labels[anchors][:, None] != labels[None, :]              # (P, B)
    if excluded is not None:
        excluded = torch.as_tensor(excluded, dtype=torch.bool, device=embeddings.device)
        if excluded.shape != (len(labels), len(labels)):
            raise ValueError(f"excluded must be ({len(labels)}, {len(labels)}), got {tuple(excluded.shape)}")
        is_negative = is_negative & ~excluded[anchors]
        keep = is_negative.any(dim=1)
        anchors, positives, is_negative = anchors[keep], positives[keep], is_negative[keep]
        if len(anchors) == 0:
            empty = torch.zeros(0, dtype=torch.long, device=embeddings.device)
            return empty, empty, empty
    if not is_negative.any(dim=1).all():
        raise ValueError("every anchor needs at least one negative: the batch must hold two labels or more")
    d_an = distances[anchors]                                               # (P, B)
    d_ap = distances[anchors, positives][:, None]
    uniform = torch.rand(d_an.shape, generator=generator, device="cpu").to(d_an.device)
    if strategy == "random":
        score = torch.where(is_negative, uniform, torch.full_like(uniform, -1.0))
        return anchors, positives, score.argmax(dim=1)
    if strategy == "hard":
        return anchors, positives, torch.where(is_negative, d_an, torch.full_like(d_an, math.inf)).argmin(dim=1)
    if strategy == "semi-hard":
        semi = is_negative & (d_an > d_ap) & (d_an ** 2 < d_ap ** 2 + margin)
        random_semi = torch.where(semi, uniform, torch.full_like(uniform, -1.0)).argmax(dim=1)
        outside = is_negative & (d_an > d_ap)
        closest_outside = torch.where(outside, d_an, torch.full_like(d_an, math.inf)).argmin(dim=1)
        farthest = torch.where(is_negative, d_an, torch.full_like(d_an, -math.inf)).argmax(dim=1)
        chosen = torch.where(outside.any(dim=1), closest_outside, farthest)
        return anchors, positives, torch.where(semi.any(dim=1), random_semi, chosen)
    weights = distance_weights(d_an, embeddings.shape[1]) * is_negative
    weights = torch.where(weights.sum(dim=1, keepdim=True) > 0, weights, is_negative.to(weights.dtype))
    negatives = torch.multinomial(weights.cpu(), 1, generator=generator).squeeze(1).to(d_an.device)
    return anchors, positives, negatives
