"""Inspecting regional pooling on one image's feature map: which channels respond, where a channel
fires among the R-MAC regions, how close integral max-pooling comes to the true maximum, and its time.

Numbers for notebook 01's figures (viz draws them) and for localization (notebook 04).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .arrays import as_numpy
from .pooling import box_max_approx, integral_images, regional_max, rmac_regions
from .timing import fastest_seconds_each


def strongest_channels(maps, n: int, by: str = "mean") -> list[int]:
    """The n channels of a (C, H, W) map that respond most, strongest first.

    by="mean": largest mean activation (channels active over much of the image);
    by="peak": largest max minus mean (channels that fire in one place, like a part detector).
    """
    values = as_numpy(maps).astype(np.float64)
    if by == "mean":
        score = values.mean(axis=(1, 2))
    elif by == "peak":
        score = values.max(axis=(1, 2)) - values.mean(axis=(1, 2))
    else:
        raise ValueError(f"strongest_channels: by must be 'mean' or 'peak', got {by!r}")
    return [int(c) for c in np.argsort(-score, kind="stable")[:n]]


def rmac_regions_by_scale(height: int, width: int, L: int = 3) -> list[list[tuple[int, int, int, int]]]:
    """The R-MAC regions of an H x W map grouped by scale: element l - 1 holds the regions of scale l."""
    groups, seen = [], 0
    for level in range(1, L + 1):
        upto = rmac_regions(height, width, level, include_global=False)
        groups.append(upto[seen:])
        seen = len(upto)
    return groups


@dataclass(frozen=True)
class RegionResponse:
    """Where one channel fires among the R-MAC regions (see `strongest_region`)."""

    channel: int
    by: str                           # "max" or "share"
    index: int                        # position in rmac_regions(H, W, L, include_global=False)
    box: tuple[int, int, int, int]    # (x, y, w, h) in map cells
    scale: int                        # l of the region
    max: float                        # the channel's largest activation inside the region
    share: float                      # the channel's entry in the region's L2-normalised MAC vector


def strongest_region(maps, channel: int, L: int = 3, by: str = "max") -> RegionResponse:
    """The R-MAC region (scales 1..L) where `channel` of a (C, H, W) map fires most.

    by="max": the region with the channel's largest activation; every region around the peak
    has it, so the smallest of them wins (then the one listed first): where the channel fires.
    by="share": the region where the channel has the largest entry of the L2-normalised regional
    MAC vector, max_c / ||MAC||, which is what it contributes to R-MAC from that region. That
    is a region where the channel stands out from the other channels, not necessarily its peak.
    """
    values = as_numpy(maps).astype(np.float64)
    if values.ndim != 3:
        raise ValueError(f"strongest_region: expected one image's map of shape (C, H, W), got {values.shape}")
    if isinstance(channel, bool) or not 0 <= int(channel) < values.shape[0] or int(channel) != channel:
        raise ValueError(f"strongest_region: channel must be an integer in 0..{values.shape[0] - 1}, got {channel!r}")
    if by not in ("max", "share"):
        raise ValueError(f"strongest_region: by must be 'max' or 'share', got {by!r}")
    groups = rmac_regions_by_scale(values.shape[1], values.shape[2], L)
    regions = [box for group in groups for box in group]
    scales = [level for level, group in enumerate(groups, start=1) for _ in group]
    regional = np.stack([values[:, y:y + h, x:x + w].max(axis=(1, 2)) for x, y, w, h in regions])
    shares = regional[:, channel] / (np.linalg.norm(regional, axis=1) + 1e-6)
    if by == "share":
        best = int(np.argmax(shares))
    else:
        areas = np.array([w * h for _, _, w, h in regions])
        best = int(np.lexsort((np.arange(len(regions)), areas, -regional[:, channel]))[0])
    return RegionResponse(int(channel), by, best, tuple(int(v) for v in regions[best]), scales[best],
                          float(regional[best, channel]), float(shares[best]))


def integral_max_errors(maps, boxes=None, alphas: Sequence[float] = (1, 2, 5, 10, 20, 50, 100)):
    """How well integral max-pooling, (sum over a box of x^alpha)^(1/alpha), matches the true max.

    maps: a (C, H, W) or (N, C, H, W) tensor, or a list of (C, H, W) maps of different sizes.
    boxes: (x, y, w, h) in cells, the same for every map; None: each map's R-MAC regions (L = 3,
    whole map included). For every alpha, over all (map, box, channel) with a positive max: the
    ratio approximation / true max (the bound says 1 <= ratio <= area^(1/alpha)), and the share
    that float64 cannot resolve (returned as 0, see `pooling.integral_images`). Returns a pandas
    DataFrame, one row per alpha.
    """
    import pandas as pd

    if isinstance(maps, (list, tuple)):
        batches = [torch.as_tensor(as_numpy(m), dtype=torch.float64)[None] for m in maps]
    else:
        x = torch.as_tensor(as_numpy(maps), dtype=torch.float64)
        batches = [x[None] if x.dim() == 3 else x]
    per_batch = []
    for x in batches:
        regions = rmac_regions(x.shape[-2], x.shape[-1], 3) if boxes is None else boxes
        regions = [tuple(int(v) for v in box) for box in regions]
        exact = direct_box_max(x, regions)
        per_batch.append((x, regions, exact))
    largest_area = max(w * h for _, regions, _ in per_batch for _, _, w, h in regions)
    rows = []
    for alpha in alphas:
        ratios, n_unresolved, n_positive = [], 0, 0
        for x, regions, exact in per_batch:
            approx = box_max_approx(integral_images(x, alpha), regions, alpha)
            positive = exact > 0
            unresolved = positive & (approx == 0)
            ratios.append((approx / exact)[positive & ~unresolved])
            n_unresolved += int(unresolved.sum())
            n_positive += int(positive.sum())
        ratio = torch.cat(ratios)
        rows.append({"alpha": alpha,
                     "median ratio": float(ratio.median()),
                     "90% of ratios below": float(ratio.quantile(0.9)),
                     "largest ratio": float(ratio.max()),
                     "bound": largest_area ** (1 / alpha),
                     "unresolved %": 100 * n_unresolved / max(1, n_positive)})
    return pd.DataFrame(rows).set_index("alpha")


def random_boxes(count: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """(count, 4) boxes (x, y, w, h) in cells: sides uniform in 1..W and 1..H, placed uniformly inside."""
    w = torch.randint(1, width + 1, (count,), generator=generator)
    h = torch.randint(1, height + 1, (count,), generator=generator)
    x = (torch.rand(count, generator=generator) * (width - w + 1)).long()
    y = (torch.rand(count, generator=generator) * (height - h + 1)).long()
    return torch.stack([x, y, w, h], dim=1)


def direct_box_max(maps: torch.Tensor, boxes) -> torch.Tensor:
    """The exact maximum of each (x, y, w, h) box of (N, C, H, W) maps, (N, B, C), pooling every box directly.

    This is `pooling.regional_max`, which reads the map channels-last and reduces each box over rows of
    C contiguous values: the fastest exact route in the kit on a CPU, and so the fair baseline for
    integral images. Reducing each channel's strided (h, w) slice instead gives the same values about
    10x slower (1280 x 32 x 24 map, 300 boxes, 2 cores), which would flatter the integral route.
    """
    return regional_max(maps, boxes)


def integral_box_max(maps: torch.Tensor, boxes, alpha: float = 10.0) -> torch.Tensor:
    """Build the integral images of x^alpha, then read every box from them at once, (N, B, C)."""
    return box_max_approx(integral_images(maps, alpha), boxes, alpha)


def time_regional_max(maps: torch.Tensor, boxes, alpha: float = 10.0, repeats: int = 7) -> dict[str, float]:
    """Milliseconds to max-pool `boxes` of `maps` directly and through integral images (building
    the tables included, as a new image pays it), and to build the tables alone: the fastest of `repeats`
    (`timing.fastest_seconds_each`)."""
    box_list = [tuple(int(v) for v in box) for box in (boxes.tolist() if hasattr(boxes, "tolist") else boxes)]
    seconds = fastest_seconds_each({"direct": lambda: direct_box_max(maps, box_list),
                                    "build": lambda: integral_images(maps, alpha),
                                    "integral": lambda: integral_box_max(maps, boxes, alpha)}, repeats)
    return {name: 1000 * value for name, value in seconds.items()}
