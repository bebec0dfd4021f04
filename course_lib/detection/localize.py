"""Where is the query object in a retrieved image? Boxes on the conv map scored with integral max-pooling:
every box (exhaustive search) vs greedy refinement from the strongest R-MAC region (Tolias et al., ICLR 2016)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ..pooling import box_max_approx, integral_images, rmac_regions

DEFAULT_ALPHA = 10.0
SCORE_CHUNK = 1024   # boxes scored at once: (chunk, C) float64 look-ups stay near 10 MB for C = 1280


@dataclass(frozen=True)
class Localization:
    """A box found for the query in one image, and what finding it cost."""

    method: str
    cells: tuple[int, int, int, int]       # (x, y, w, h) on the feature map
    box: tuple[float, float, float, float]  # (x1, y1, x2, y2) in image pixels
    score: float                            # cosine of the query vector with the box's pooled vector
    evaluations: int                        # boxes scored
    seconds: float


def query_vector(maps: torch.Tensor) -> torch.Tensor:
    """The query's description to compare with boxes: the L2-normalised MAC of the query crop's (C, H, W) map."""
    return F.normalize(maps.double().amax(dim=(-2, -1)), dim=0)


def all_boxes(height: int, width: int, min_cells: int = 1) -> torch.Tensor:
    """Every box on an H x W map with both sides at least `min_cells`: (B, 4) int64 (x, y, w, h).
    There are about H^2 W^2 / 4 of them: 25,200 on a 15 x 20 map."""
    rows = [(x, y, w, h) for h in range(min_cells, height + 1) for w in range(min_cells, width + 1)
            for y in range(height - h + 1) for x in range(width - w + 1)]
    return torch.tensor(rows, dtype=torch.int64).reshape(-1, 4)


def box_scores(integral: torch.Tensor, query: torch.Tensor, cell_boxes: torch.Tensor,
               alpha: float = DEFAULT_ALPHA) -> torch.Tensor:
    """Cosine similarity of the query vector with the approximate max-pooled vector of each box.

    integral: one image's (C, H + 1, W + 1) tables from `pooling.integral_images`; query: (C,).
    Boxes are scored in chunks so that memory stays small whatever their number.
    """
    scores = []
    for start in range(0, len(cell_boxes), SCORE_CHUNK):
        pooled = box_max_approx(integral, cell_boxes[start:start + SCORE_CHUNK], alpha)
        scores.append(F.normalize(pooled, dim=1) @ query.to(pooled.dtype))
    return torch.cat(scores) if scores else torch.zeros(0, dtype=torch.float64)


def cells_to_box(cells, map_size: tuple[int, int], image_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """(x, y, w, h) in cells of an (H, W) map -> (x1, y1, x2, y2) in pixels of a (width, height) image."""
    x, y, w, h = (int(v) for v in cells)
    sx, sy = image_size[0] / map_size[1], image_size[1] / map_size[0]
    return (x * sx, y * sy, (x + w) * sx, (y + h) * sy)


def localize_exhaustive(maps: torch.Tensor, query: torch.Tensor, image_size: tuple[int, int],
                        alpha: float = DEFAULT_ALPHA, min_cells: int = 1,
                        integral: torch.Tensor | None = None) -> Localization:
    """Score every box of the (C, H, W) map and return the best: the reference the refinement is judged by."""
    start = time.perf_counter()
    height, width = maps.shape[-2:]
    integral = integral_images(maps[None], alpha)[0] if integral is None else integral
    candidates = all_boxes(height, width, min_cells)
    scores = box_scores(integral, query, candidates, alpha)
    best = int(torch.argmax(scores))
    cells = tuple(int(v) for v in candidates[best])
    return Localization("exhaustive", cells, cells_to_box(cells, (height, width), image_size),
                        float(scores[best]), len(candidates), time.perf_counter() - start)


def neighbours(cells: tuple[int, int, int, int], height: int, width: int, step: int = 1) -> list[tuple[int, int, int, int]]:
    """Boxes one step away: each side moved in or out, the box shifted, grown or shrunk on all sides."""
    x, y, w, h = cells
    x2, y2 = x + w, y + h
    edges = []
    for d in (-step, step):
        edges += [(x + d, y, x2, y2), (x, y, x2 + d, y2), (x, y + d, x2, y2), (x, y, x2, y2 + d),
                  (x + d, y, x2 + d, y2), (x, y + d, x2, y2 + d), (x - d, y - d, x2 + d, y2 + d)]
    found = []
    for a, b, c, e in edges:
        if 0 <= a < c <= width and 0 <= b < e <= height and (a, b, c - a, e - b) != cells:
            found.append((a, b, c - a, e - b))
    return list(dict.fromkeys(found))


def localize_refine(maps: torch.Tensor, query: torch.Tensor, image_size: tuple[int, int],
                    alpha: float = DEFAULT_ALPHA, L: int = 3, max_steps: int = 200,
                    integral: torch.Tensor | None = None) -> Localization:
    """Start at the best-scoring R-MAC region (scales 1..L and the whole map), then move greedily:
    score the box's neighbours (`neighbours`), step to the best while it improves the score.
    Every distinct box scored is counted, the R-MAC regions included."""
    start = time.perf_counter()
    height, width = maps.shape[-2:]
    integral = integral_images(maps[None], alpha)[0] if integral is None else integral
    seen: dict[tuple[int, int, int, int], float] = {}

    def score(boxes: list[tuple[int, int, int, int]]) -> list[float]:
        new = [b for b in boxes if b not in seen]
        if new:
            values = box_scores(integral, query, torch.tensor(new, dtype=torch.int64), alpha)
            seen.update(zip(new, values.tolist()))
        return [seen[b] for b in boxes]

    initial = [tuple(int(v) for v in r) for r in rmac_regions(height, width, L)]
    initial_scores = score(initial)
    best_index = max(range(len(initial)), key=initial_scores.__getitem__)
    current, current_score = initial[best_index], initial_scores[best_index]
    for _ in range(max_steps):
        around = neighbours(current, height, width)
        around_scores = score(around)
        if not around:
            break
        best = max(range(len(around)), key=around_scores.__getitem__)
        if around_scores[best] <= current_score:
            break
        current, current_score = around[best], around_scores[best]
    return Localization("refine", current, cells_to_box(current, (height, width), image_size),
                        float(current_score), len(seen), time.perf_counter() - start)


def localize(maps: torch.Tensor, query: torch.Tensor, image_size: tuple[int, int], method: str = "refine",
             alpha: float = DEFAULT_ALPHA, integral: torch.Tensor | None = None) -> Localization:
    """The query's box in one image's (C, H, W) map by `method` ("refine" or "exhaustive")."""
    if method == "refine":
        return localize_refine(maps, query, image_size, alpha, integral=integral)
    if method == "exhaustive":
        return localize_exhaustive(maps, query, image_size, alpha, integral=integral)
    raise ValueError(f"localize: method must be 'refine' or 'exhaustive', got {method!r}")
