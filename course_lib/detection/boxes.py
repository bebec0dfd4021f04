"""Boxes for detection: IoU, anchors, the Faster R-CNN box encoding, and non-maximum suppression.

Boxes are (x1, y1, x2, y2) in pixels, as torchvision uses them; IoU and NMS come from torchvision.ops.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torchvision import ops

BOX_CODING_WEIGHTS = (1.0, 1.0, 1.0, 1.0)  # Ren et al. 2015 encode (dx, dy, dw, dh) unweighted
MAX_LOG_SCALE = math.log(1000.0 / 16)       # torchvision's clamp: no box grows more than 62x in decoding


class BoxError(ValueError):
    """Boxes of the wrong shape, or empty/inverted boxes where real ones are needed."""


def as_boxes(boxes, name: str = "boxes") -> torch.Tensor:
    """A (B, 4) float tensor of (x1, y1, x2, y2) from a list, array or tensor; a single box becomes (1, 4)."""
    tensor = torch.as_tensor(np.asarray(boxes, dtype=np.float64) if not isinstance(boxes, torch.Tensor) else boxes)
    if tensor.dim() == 1 and tensor.numel() == 4:
        tensor = tensor[None]
    if tensor.numel() == 0:
        return torch.zeros((0, 4), dtype=torch.float64)
    if tensor.dim() != 2 or tensor.shape[1] != 4:
        raise BoxError(f"{name}: expected (x1, y1, x2, y2) rows, shape (B, 4); got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        tensor = tensor.double()
    if not torch.isfinite(tensor).all():
        raise BoxError(f"{name}: boxes must be finite numbers")
    return tensor


def box_iou(a, b) -> torch.Tensor:
    """IoU of every box in a (A, 4) with every box in b (B, 4): an (A, B) matrix (torchvision.ops.box_iou)."""
    a, b = as_boxes(a, "a"), as_boxes(b, "b")
    return ops.box_iou(a.to(torch.float64), b.to(torch.float64))


def paired_iou(a, b) -> np.ndarray:
    """IoU of a[i] with b[i] for each i (two (B, 4) sets of the same length), as a numpy array."""
    a, b = as_boxes(a, "a"), as_boxes(b, "b")
    if len(a) != len(b):
        raise BoxError(f"paired_iou: {len(a)} boxes against {len(b)}; give the same number")
    if len(a) == 0:
        return np.zeros(0)
    return box_iou(a, b).diagonal().numpy()


def anchors_at(center: tuple[float, float], scales: Sequence[float], ratios: Sequence[float]) -> torch.Tensor:
    """The anchors of one feature-map location: one box per (scale, ratio), scale-major.

    scale s is the square root of the anchor's area in pixels; ratio r = height / width
    (torchvision's AnchorGenerator convention), so the box is w = s / sqrt(r), h = s * sqrt(r).
    Returns (len(scales) * len(ratios), 4) boxes centred on `center`.
    """
    cx, cy = (float(v) for v in center)
    rows = []
    for s in scales:
        for r in ratios:
            if s <= 0 or r <= 0:
                raise BoxError(f"anchors_at: scales and ratios must be positive, got scale {s}, ratio {r}")
            w, h = s / math.sqrt(r), s * math.sqrt(r)
            rows.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, 4)


def anchor_grid(feature_size: tuple[int, int], stride: float, scales: Sequence[float],
                ratios: Sequence[float]) -> torch.Tensor:
    """Anchors of every cell of an (H, W) feature map with the given stride in pixels.

    Cell (i, j) is centred on pixel ((j + 0.5) * stride, (i + 0.5) * stride). Returns
    (H * W * A, 4), cell-major (row by row), A = len(scales) * len(ratios) per cell.
    """
    height, width = feature_size
    base = anchors_at((0.0, 0.0), scales, ratios)
    ys = (torch.arange(height, dtype=torch.float64) + 0.5) * stride
    xs = (torch.arange(width, dtype=torch.float64) + 0.5) * stride
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    shifts = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)
    return (shifts + base[None]).reshape(-1, 4)


def match_anchors(anchors, ground_truth, positive_iou: float = 0.7, negative_iou: float = 0.3) -> torch.Tensor:
    """Label each anchor as in the RPN of Ren et al. (2015): the index of its ground-truth box
    (IoU >= positive_iou, or the best anchor of some box), -1 background (IoU < negative_iou
    with every box), -2 ignored (in between). Returns an int64 tensor of len(anchors)."""
    anchors, ground_truth = as_boxes(anchors, "anchors"), as_boxes(ground_truth, "ground_truth")
    labels = torch.full((len(anchors),), -1, dtype=torch.int64)
    if len(ground_truth) == 0 or len(anchors) == 0:
        return labels
    iou = box_iou(anchors, ground_truth)
    best_iou, best_box = iou.max(dim=1)
    labels[best_iou >= negative_iou] = -2
    labels[best_iou >= positive_iou] = best_box[best_iou >= positive_iou]
    # Every ground-truth box gets at least its best anchors, even when their IoU is low.
    for g in range(len(ground_truth)):
        top = iou[:, g].max()
        if top > 0:
            labels[iou[:, g] == top] = g
    return labels


def encode(boxes, anchors, weights: Sequence[float] = BOX_CODING_WEIGHTS) -> torch.Tensor:
    """Regression targets (dx, dy, dw, dh) that move each anchor onto its box (Ren et al. 2015, eq. 2):
    dx = (x - x_a) / w_a, dy = (y - y_a) / h_a, dw = log(w / w_a), dh = log(h / h_a), on centres and sizes."""
    boxes, anchors = as_boxes(boxes, "boxes"), as_boxes(anchors, "anchors")
    if len(boxes) != len(anchors):
        raise BoxError(f"encode: {len(boxes)} boxes for {len(anchors)} anchors")
    wx, wy, ww, wh = weights
    aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if (aw <= 0).any() or (ah <= 0).any() or (bw <= 0).any() or (bh <= 0).any():
        raise BoxError("encode: every box and anchor needs x2 > x1 and y2 > y1")
    ax, ay = anchors[:, 0] + aw / 2, anchors[:, 1] + ah / 2
    bx, by = boxes[:, 0] + bw / 2, boxes[:, 1] + bh / 2
    return torch.stack([wx * (bx - ax) / aw, wy * (by - ay) / ah, ww * torch.log(bw / aw), wh * torch.log(bh / ah)],
                       dim=1)


def decode(deltas, anchors, weights: Sequence[float] = BOX_CODING_WEIGHTS) -> torch.Tensor:
    """The boxes that regression outputs (dx, dy, dw, dh) make of the anchors: the inverse of `encode`.
    dw and dh are clamped at log(1000/16) as torchvision does, so a wild output cannot overflow."""
    deltas, anchors = as_boxes(deltas, "deltas"), as_boxes(anchors, "anchors")
    if len(deltas) != len(anchors):
        raise BoxError(f"decode: {len(deltas)} deltas for {len(anchors)} anchors")
    wx, wy, ww, wh = weights
    aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    ax, ay = anchors[:, 0] + aw / 2, anchors[:, 1] + ah / 2
    dx, dy = deltas[:, 0] / wx, deltas[:, 1] / wy
    dw = (deltas[:, 2] / ww).clamp(max=MAX_LOG_SCALE)
    dh = (deltas[:, 3] / wh).clamp(max=MAX_LOG_SCALE)
    cx, cy = ax + dx * aw, ay + dy * ah
    w, h = aw * torch.exp(dw), ah * torch.exp(dh)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=1)


def nms(boxes, scores, iou_threshold: float = 0.5) -> torch.Tensor:
    """Indices of the boxes kept by greedy non-maximum suppression, highest score first (torchvision.ops.nms)."""
    boxes = as_boxes(boxes)
    scores = torch.as_tensor(scores, dtype=boxes.dtype).reshape(-1)
    if len(scores) != len(boxes):
        raise BoxError(f"nms: {len(scores)} scores for {len(boxes)} boxes")
    return ops.nms(boxes, scores, float(iou_threshold))


def greedy_nms(boxes, scores, iou_threshold: float = 0.5) -> torch.Tensor:
    """The same as `nms`, written out: take the best box, drop every box overlapping it more
    than the threshold, repeat. O(B^2); for reading, torchvision's version is for use."""
    boxes = as_boxes(boxes)
    scores = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
    order = torch.argsort(scores, descending=True, stable=True)
    iou = box_iou(boxes, boxes)
    kept, suppressed = [], torch.zeros(len(boxes), dtype=torch.bool)
    for i in order.tolist():
        if suppressed[i]:
            continue
        kept.append(i)
        suppressed |= iou[i] > iou_threshold
    return torch.tensor(kept, dtype=torch.int64)


def clip_boxes(boxes, width: float, height: float) -> torch.Tensor:
    """Boxes cut to the image (0..width, 0..height)."""
    return ops.clip_boxes_to_image(as_boxes(boxes), (round(height), round(width)))
