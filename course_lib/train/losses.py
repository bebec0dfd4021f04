"""Ranking losses for training a retrieval network on tuples, written out for students to read.

A tuple is (query, positive, negative 1 .. N), all L2-normalised descriptors; the distance
is Euclidean, d(a, b) = ||a - b||, so for unit vectors d^2 = 2 - 2 cos(a, b).
"""
from __future__ import annotations

import torch
from torch import Tensor


def _check_tuple(query: Tensor, positive: Tensor, negatives: Tensor) -> None:
    if query.ndim != 1 or positive.shape != query.shape:
        raise ValueError(f"query and positive must be two (D,) vectors, got {tuple(query.shape)} and "
                         f"{tuple(positive.shape)}")
    if negatives.ndim != 2 or negatives.shape[1] != query.shape[0]:
        raise ValueError(f"negatives must be (N, {query.shape[0]}), got {tuple(negatives.shape)}")


def contrastive_loss(query: Tensor, positive: Tensor, negatives: Tensor, margin: float = 0.7) -> Tensor:
    """Contrastive loss of one tuple (Radenovic, Tolias & Chum, TPAMI 2018, eq. 2; as in cirtorch):

        L = 1/2 d(q, p)^2 + sum_n 1/2 max(0, margin - d(q, n))^2

    The positive is pulled in; a negative is pushed out only while it is closer than `margin`.
    """
    _check_tuple(query, positive, negatives)
    pull = 0.5 * (query - positive).pow(2).sum()
    negative_distances = (negatives - query).pow(2).sum(dim=1).sqrt()
    push = 0.5 * torch.clamp(margin - negative_distances, min=0).pow(2).sum()
    return pull + push


def triplet_loss(query: Tensor, positive: Tensor, negatives: Tensor, margin: float = 0.1) -> Tensor:
    """Triplet loss of one tuple, one triplet per negative (squared distances, as in cirtorch):

        L = sum_n max(0, d(q, p)^2 - d(q, n)^2 + margin)

    Zero once every negative is at least `margin` (in squared distance) farther than the positive.
    """
    _check_tuple(query, positive, negatives)
    positive_sq = (query - positive).pow(2).sum()
    negative_sq = (negatives - query).pow(2).sum(dim=1)
    return torch.clamp(positive_sq - negative_sq + margin, min=0).sum()


LOSSES = {"contrastive": contrastive_loss, "triplet": triplet_loss}
DEFAULT_MARGINS = {"contrastive": 0.7, "triplet": 0.1}
