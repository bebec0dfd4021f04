"""Labelling a view for a query object (easy, hard, junk or negative) from its geometry, never its pixels."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .objects import Box
from .views import View, apply_homography, polygon_area


@dataclass(frozen=True)
class Visibility:
    """What a view shows of an object: the three measures the labelling rule reads."""

    visible: float     # fraction of the object's box inside the view and not occluded
    scale: float       # object size in the view / in the query image (linear)
    coverage: float    # visible object area / view area


def visibility(view: View, box: Box, query_box_size: tuple[float, float], samples: int = 24) -> Visibility:
    """How much of the object (given by its box on the view's photo) the view shows, and how big."""
    h = view.photo_to_view()
    x1, y1, x2, y2 = box
    xs = x1 + (np.arange(samples) + 0.5) / samples * (x2 - x1)
    ys = y1 + (np.arange(samples) + 0.5) / samples * (y2 - y1)
    grid = np.array([(x, y) for y in ys for x in xs])
    mapped = apply_homography(h, grid)
    w, ht = view.size
    inside = (mapped[:, 0] >= 0) & (mapped[:, 0] < w) & (mapped[:, 1] >= 0) & (mapped[:, 1] < ht)
    if view.occluder is not None:
        ox1, oy1, ox2, oy2 = view.occluder.rect
        inside &= ~((mapped[:, 0] >= ox1) & (mapped[:, 0] < ox2) & (mapped[:, 1] >= oy1) & (mapped[:, 1] < oy2))
    visible = float(inside.mean())
    corners = apply_homography(h, np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float64))
    area = polygon_area(corners)
    scale = math.sqrt(area / (query_box_size[0] * query_box_size[1]))
    return Visibility(visible, scale, visible * area / (w * ht))


def box_in_view(view: View, box: Box) -> list[float]:
    """The object's box (on the view's photo) as seen in the view: the bounding box of its warped
    corners, cut to the view, (x1, y1, x2, y2) in view pixels rounded to 0.1 (occluders ignored)."""
    x1, y1, x2, y2 = box
    corners = apply_homography(view.photo_to_view(), np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]],
                                                              dtype=np.float64))
    lo = np.clip(corners.min(axis=0), 0, view.size)
    hi = np.clip(corners.max(axis=0), 0, view.size)
    return [round(float(v), 1) for v in (*lo, *hi)]


def label(view: View, seen: Visibility) -> str | None:
    """'easy', 'hard', 'junk' or None (negative): the rule applied to every view of a photo that holds
    an instance of the object, whatever the view was planned for.

    With `seen` = visibility(view, box, query box size):
    - visible == 0          -> negative (None). So views of the same photo that miss the object
                               are negatives: like Oxford photos of the same city without the landmark.
    - 0 < visible < 0.25    -> junk (the revisited protocol's "less than 25% visible")
    - otherwise positive, "easy" when visible >= 0.8, 0.5 <= scale <= 2, coverage >= 0.1,
      perspective <= 0.1, rotation <= 10 degrees and the lighting change is mild; "hard" otherwise.
    """
    if seen.visible == 0:
        return None
    if seen.visible < 0.25:
        return "junk"
    mild_change = (view.perspective <= 0.1 and abs(view.rotation) <= 10 and not view.lighting.strong)
    if seen.visible >= 0.8 and 0.5 <= seen.scale <= 2 and seen.coverage >= 0.1 and mild_change:
        return "easy"
    return "hard"
