"""Figures of notebook 01: what a CNN computes (filters, feature maps) and how pooling reads it
(the SPoC centre prior, the R-MAC grid, the region where a channel fires, integral max-pooling, GeM)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from .. import pooling, regions
from ..arrays import as_numpy
from .grids import COLORS, as_rgb, no_ticks


def conv_filters(weight, columns: int = 8, title: str = ""):
    """First-layer filters (O, 3, k, k) as small RGB pictures, normalised per filter as in the classic
    AlexNet figure: grey is 0, each filter scaled by its own largest |weight| to fill [0, 1].

    Mid-grey means "ignores this pixel and colour"; bright and dark are the weights of either sign,
    so an edge detector shows as a bright and a dark side. Scaling each filter separately shows its
    pattern; it hides how strong the filter is compared with the others. Filters are shown in
    order of decreasing norm (strongest first), and each tile is enlarged without smoothing.
    """
    filters = as_numpy(weight).astype(np.float64)
    if filters.ndim != 4 or filters.shape[1] != 3:
        raise ValueError(f"conv_filters: expected first-layer weights of shape (O, 3, k, k), got {filters.shape}")
    count = filters.shape[0]
    order = np.argsort(-np.sqrt((filters ** 2).sum(axis=(1, 2, 3))), kind="stable")
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(0.9 * columns, 0.95 * rows + (0.4 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        no_ticks(ax)
        if i >= count:
            ax.axis("off")
            continue
        f = filters[order[i]]
        scale = np.abs(f).max()
        ax.imshow((0.5 + f / (2 * scale) if scale > 0 else np.full_like(f, 0.5)).transpose(1, 2, 0),
                  interpolation="nearest")
        ax.set_title(f"{order[i]}", fontsize=6, pad=1)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def feature_maps(image, maps, channels: Sequence[int] | None = None, n: int = 7, title: str = ""):
    """An image beside some channels of one of its feature maps (C, H, W).

    channels: which to show; by default the n with the largest mean activation. Each channel has
    its own colour scale (bright = strong); its maximum is in the title.
    """
    values = as_numpy(maps).astype(np.float64)
    if values.ndim != 3:
        raise ValueError(f"feature_maps: expected one image's map of shape (C, H, W), got {values.shape}")
    channels = list(channels) if channels is not None else regions.strongest_channels(values, n)
    fig, axes = plt.subplots(1, len(channels) + 1, figsize=(1.9 * (len(channels) + 1), 2.3), squeeze=False)
    axes = axes[0]
    axes[0].imshow(as_rgb(image))
    axes[0].set_title("image", fontsize=9)
    for ax, c in zip(axes[1:], channels):
        ax.imshow(values[c], cmap="viridis", interpolation="nearest")
        ax.set_title(f"channel {c}\nmax {values[c].max():.2f}", fontsize=8)
    for ax in axes:
        no_ticks(ax)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _cell_grid(ax, height: int, width: int, cell_w: float, cell_h: float, color: str = "white") -> None:
    for i in range(1, width):
        ax.axvline(i * cell_w, color=color, lw=0.4, alpha=0.6)
    for j in range(1, height):
        ax.axhline(j * cell_h, color=color, lw=0.4, alpha=0.6)


def center_prior(image, height: int, width: int, sigma: float | None = None):
    """The SPoC centre prior of an H x W map: the weights, and the same weights laid over the image."""
    weights = as_numpy(pooling.center_prior_weights(height, width, sigma))
    rgb = as_rgb(image)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    shown = axes[0].imshow(weights, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    axes[0].set_title(f"weights on the {height} x {width} map "
                      f"(sigma = {sigma if sigma is not None else min(height, width) / 6:.2f} cells)", fontsize=9)
    fig.colorbar(shown, ax=axes[0], fraction=0.04)
    axes[1].imshow(rgb)
    img_h, img_w = rgb.shape[:2]
    axes[1].imshow(weights, cmap="magma", vmin=0, vmax=1, alpha=0.55, interpolation="nearest",
                   extent=(0, img_w, img_h, 0))
    _cell_grid(axes[1], height, width, img_w / width, img_h / height)
    axes[1].set_title("the same weights over the image, one cell per map position", fontsize=9)
    for ax in axes:
        no_ticks(ax)
    fig.tight_layout()
    return fig


def distinct_colors(n: int) -> list:
    """n colours that can be told apart: the saturated half of tab20 first, then its light half,
    then evenly spaced hues when more are needed."""
    tab20 = plt.get_cmap("tab20").colors
    palette = list(tab20[0::2]) + list(tab20[1::2])
    if n <= len(palette):
        return palette[:n]
    return [plt.get_cmap("hsv")(i / n) for i in range(n)]


def _draw_box(ax, box, cell_w: float, cell_h: float, color, lw: float = 2.0, inset: float = 0.0) -> None:
    x, y, w, h = box
    ax.add_patch(Rectangle((x * cell_w + inset, y * cell_h + inset), w * cell_w - 2 * inset,
                           h * cell_h - 2 * inset, fill=False, ec=color, lw=lw))


def rmac_grid(image, height: int, width: int, L: int = 3):
    """The R-MAC regions of an H x W feature map drawn on the image, one panel per scale l = 1..L.

    Regions are in map cells; a cell covers (image width / W) x (image height / H) pixels. Each
    region of a scale has its own colour and number (top left) and is drawn slightly inset, so
    that overlapping regions can be told apart.
    """
    rgb = as_rgb(image)
    img_h, img_w = rgb.shape[:2]
    cell_w, cell_h = img_w / width, img_h / height
    groups = regions.rmac_regions_by_scale(height, width, L)
    fig, axes = plt.subplots(1, L, figsize=(3.6 * L, 3.6 * img_h / img_w + 0.8), squeeze=False)
    for level, (ax, level_boxes) in enumerate(zip(axes[0], groups), start=1):
        ax.imshow(rgb)
        _cell_grid(ax, height, width, cell_w, cell_h)
        colors = distinct_colors(len(level_boxes))
        for i, box in enumerate(level_boxes):
            inset = 1.5 + 1.5 * (i % 3)
            _draw_box(ax, box, cell_w, cell_h, colors[i], inset=inset)
            ax.text(box[0] * cell_w + inset + 2, box[1] * cell_h + inset + 2, str(i + 1), color="white",
                    fontsize=7, fontweight="bold", va="top", ha="left",
                    bbox={"boxstyle": "square,pad=0.1", "fc": colors[i], "ec": "none"})
        side = level_boxes[0][2] if level_boxes else 0
        ax.set_title(f"l = {level}: {len(level_boxes)} regions of {side} x {side} cells", fontsize=9)
        no_ticks(ax)
    fig.suptitle(f"R-MAC regions of a {height} x {width} map: "
                 f"{sum(map(len, groups))} regions (+ the whole map in our R-MAC)", fontsize=10)
    fig.tight_layout()
    return fig


def region_response(image, maps, channel: int, L: int = 3):
    """One channel's activations and where it fires most among the R-MAC regions (`strongest_region`).

    Left: the image with every region (thin white), the region of the channel's peak (red) and
    the region where the channel weighs most in R-MAC (orange, dashed). Right: the channel over
    the map's cells with the same boxes.
    """
    values = as_numpy(maps).astype(np.float64)
    peak = regions.strongest_region(values, channel, L, by="max")
    weight = regions.strongest_region(values, channel, L, by="share")
    height, width = values.shape[1:]
    rgb = as_rgb(image)
    img_h, img_w = rgb.shape[:2]
    all_boxes = [box for group in regions.rmac_regions_by_scale(height, width, L) for box in group]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8 * img_h / img_w + 1.1))
    axes[0].imshow(rgb)
    shown = axes[1].imshow(values[channel], cmap="viridis", interpolation="nearest", extent=(0, width, height, 0))
    fig.colorbar(shown, ax=axes[1], fraction=0.035, pad=0.02, label=f"activation of channel {channel}")
    for ax, cell_w, cell_h in ((axes[0], img_w / width, img_h / height), (axes[1], 1.0, 1.0)):
        for box in all_boxes:
            _draw_box(ax, box, cell_w, cell_h, "white", lw=0.6)
        _draw_box(ax, peak.box, cell_w, cell_h, COLORS["negative"], lw=3)
        x, y, w, h = weight.box
        ax.add_patch(Rectangle((x * cell_w, y * cell_h), w * cell_w, h * cell_h, fill=False,
                               ec="#ff7f0e", lw=2.5, ls="--"))
        no_ticks(ax)
    axes[0].set_title(f"channel {channel}: fires most in region {peak.index} (red, max {peak.max:.2f});\n"
                      f"weighs most in R-MAC in region {weight.index} (orange, {weight.share:.0%} of its norm)",
                      fontsize=9)
    axes[1].set_title(f"channel {channel} on the {height} x {width} map", fontsize=9)
    fig.tight_layout()
    return fig


def plot_integral_max_errors(table):
    """The table of `integral_max_errors` as two panels: the ratio to the true max, and what float64 loses."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    alphas = table.index.to_numpy(dtype=float)
    ax = axes[0]
    ax.plot(alphas, table["median ratio"], "o-", label="median")
    ax.plot(alphas, table["90% of ratios below"], "s-", label="90th percentile")
    ax.plot(alphas, table["largest ratio"], "^-", label="largest")
    ax.plot(alphas, table["bound"], "k--", lw=1, label="bound area^(1/alpha)")
    ax.axhline(1, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("alpha")
    ax.set_ylabel("approximation / true max")
    ax.set_title("(sum of x^alpha)^(1/alpha) approaches the max", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(alphas, table["unresolved %"], "o-", color=COLORS["negative"])
    ax.set_xscale("log")
    ax.set_xlabel("alpha")
    ax.set_ylabel("% of (box, channel) returned as 0")
    ax.set_title("float64 rounding: weak boxes vanish as alpha grows", fontsize=10)
    fig.tight_layout()
    return fig


def gem_vs_p(maps, channels: Sequence[int], ps: Sequence[float] = tuple(np.geomspace(1, 200, 40)),
             labels: Sequence[str] | None = None):
    """GeM of some channels of a (C, H, W) map as p grows: from the mean (p = 1) to the max (p -> inf).

    labels: one legend entry per channel (default "channel c"); the legend sits outside the axes.
    """
    import torch

    x = torch.as_tensor(as_numpy(maps), dtype=torch.float64)[None]
    values = np.array([as_numpy(pooling.gem(x[:, list(channels)], p=float(p)))[0] for p in ps])
    fig, ax = plt.subplots(figsize=(8.5, 3.4))
    colors = plt.get_cmap("tab10").colors
    labels = list(labels) if labels is not None else [f"channel {c}" for c in channels]
    for i, c in enumerate(channels):
        color = colors[i % len(colors)]
        ax.plot(ps, values[:, i], color=color, lw=2, label=labels[i])
        ax.axhline(float(x[0, c].mean()), color=color, ls=":", lw=1)
        ax.axhline(float(x[0, c].max()), color=color, ls="--", lw=1)
    ax.plot([], [], color="grey", ls=":", lw=1, label="its mean (p = 1)")
    ax.plot([], [], color="grey", ls="--", lw=1, label="its max (p -> inf)")
    ax.set_xscale("log")
    ax.set_xlabel("p")
    ax.set_ylabel("GeM")
    ax.set_title("GeM from average (p = 1, dotted) to max (dashed)", fontsize=10)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig
