"""Matplotlib figures for retrieval: dataset overviews, ranked results, precision-recall curves,
and what a CNN computes: filters, feature maps, pooling weights and regions (notebook 01).

Functions read from the layers above (datasets, rankings, ground truth) and return the
figure, so notebooks can show it and tests can check it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from .images import image_size, load_image

THUMB = 256
COLORS = {"positive": "#2ca02c", "negative": "#d62728", "junk": "#7f7f7f", "query": "#1f77b4"}


def _show(ax, path, title: str = "", bbox=None, crop: bool = False, frame: str | None = None):
    """Draw one image thumbnail; its query box (original pixel coordinates) as a rectangle."""
    img = load_image(path, max_side=THUMB, bbox=bbox if crop else None)
    ax.imshow(img)
    ax.set_xticks([])
    ax.set_yticks([])
    if bbox is not None and not crop:
        w, _ = image_size(path)
        s = img.width / w
        x1, y1, x2, y2 = (v * s for v in bbox)
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=2, ec=COLORS["query"]))
    if frame:
        for spine in ax.spines.values():
            spine.set_edgecolor(COLORS[frame])
            spine.set_linewidth(4)
    ax.set_title(title, fontsize=8)


def relevance(db_id: int, gnd: dict) -> str:
    """'positive', 'junk' or 'negative' for a database id under one query's ground truth."""
    if db_id in set(gnd.get("easy", [])) | set(gnd.get("hard", [])) | set(gnd.get("ok", [])):
        return "positive"
    return "junk" if db_id in set(gnd.get("junk", [])) else "negative"


def dataset_overview(dataset, queries: Sequence[int] = (0, 1, 2), n_positives: int = 4, n_distractors: int = 4,
                     seed: int = 0):
    """One row per query: the query with its box, some positives, then some distractors."""
    rng = np.random.default_rng(seed)
    relevant = set()
    for g in dataset.gnd:
        relevant |= set(g.get("easy", [])) | set(g.get("hard", [])) | set(g.get("junk", []))
    distractors = [i for i in range(len(dataset.images)) if i not in relevant]
    cols = 1 + n_positives + n_distractors
    fig, axes = plt.subplots(len(queries), cols, figsize=(1.7 * cols, 1.9 * len(queries)), squeeze=False)
    for row, q in enumerate(queries):
        g = dataset.gnd[q]
        _show(axes[row, 0], dataset.queries[q], f"query {q}", bbox=dataset.bboxes[q], frame="query")
        positives = [(i, "easy") for i in g.get("easy", [])] + [(i, "hard") for i in g.get("hard", [])]
        picks = [positives[j] for j in np.linspace(0, len(positives) - 1, min(n_positives, len(positives))).astype(int)] \
            if positives else []
        for col in range(n_positives):
            ax = axes[row, 1 + col]
            if col < len(picks):
                _show(ax, dataset.images[picks[col][0]], f"{picks[col][1]} positive", frame="positive")
            else:
                ax.axis("off")
        for col, i in enumerate(rng.choice(distractors, size=min(n_distractors, len(distractors)), replace=False)):
            _show(axes[row, 1 + n_positives + col], dataset.images[i], "distractor", frame="negative")
    fig.tight_layout()
    return fig


def ranked_results(dataset, query: int, ranking: Sequence[int], k: int = 8, gnd: dict | None = None,
                   title: str = ""):
    """The query (cropped to its box) followed by its top-k results framed by relevance.

    Green: positive, red: negative, grey: junk (ignored by the protocol).
    """
    gnd = dataset.gnd[query] if gnd is None else gnd
    fig, axes = plt.subplots(1, k + 1, figsize=(1.7 * (k + 1), 2.2), squeeze=False)
    axes = axes[0]
    _show(axes[0], dataset.queries[query], f"query {query}", bbox=dataset.bboxes[query], crop=True, frame="query")
    for rank, db_id in enumerate(ranking[:k]):
        label = relevance(int(db_id), gnd)
        _show(axes[rank + 1], dataset.images[db_id], f"#{rank + 1} {label}", frame=label)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def map_bars(table, columns: Sequence[str] = ("map",), title: str = "mAP (%)"):
    """Grouped horizontal bars of a results table (methods as rows), legend outside the bars."""
    labels = {"map_easy": "Easy", "map_medium": "Medium", "map_hard": "Hard", "map": "mAP"}
    data = table[list(columns)].rename(columns=labels)
    ax = data.plot.barh(figsize=(7, 0.5 * len(table) + 1.2), width=0.8)
    ax.set_xlabel("%")
    ax.set_ylabel("")
    ax.set_title(title)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig = ax.figure
    fig.tight_layout()
    return fig


def show_query(dataset, descriptors, method: str, query: int, k: int = 8):
    """Rank the database for one query with one method and draw the top k, titled with its AP.

    The plain-function twin of `widgets.query_explorer`: the notebook calls it directly.
    """
    from .evaluation import compute_map, revisited_split
    from .search import rank_database

    ranking = rank_database(descriptors.db[method], descriptors.queries[method][query:query + 1])
    gnd = dict(dataset.gnd[query])
    if dataset.query_ids is not None:
        gnd["junk"] = [*gnd.get("junk", []), int(dataset.query_ids[query])]
    ap = compute_map(ranking, revisited_split([gnd], "medium"), kappas=())[0]
    return ranked_results(dataset, query, ranking[:, 0], k=k, gnd=gnd,
                          title=f"{method}: query {query}, AP = {ap:.2f} (medium)")


# ---------------------------------------------------------------- notebook 01: filters, feature maps, pooling regions


def _numpy(values) -> np.ndarray:
    """A torch tensor (any device, with or without grad) or an array-like as a numpy array."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _rgb(image) -> np.ndarray:
    """An image as an (H, W, 3) float array in [0, 1]: a file path, a PIL image or a (3, H, W) tensor."""
    if hasattr(image, "detach") or isinstance(image, np.ndarray):
        array = _numpy(image).astype(np.float64)
        if array.ndim != 3 or array.shape[0] != 3:
            raise ValueError(f"image array must have shape (3, H, W) with values in [0, 1], got {array.shape}")
        return array.transpose(1, 2, 0).clip(0, 1)
    if not hasattr(image, "size"):
        image = load_image(image, max_side=512)
    return np.asarray(image.convert("RGB"), dtype=np.float64) / 255


def _no_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def show_predictions(images: Sequence, predictions: Sequence[Sequence[tuple[str, float]]],
                     titles: Sequence[str] | None = None, columns: int = 4):
    """Photos with the network's top-k classes and their probabilities under each one.

    `predictions` is what `Backbone.classify` returns: per image a list of (class name, probability).
    """
    if len(images) != len(predictions):
        raise ValueError(f"show_predictions: {len(images)} images but {len(predictions)} predictions")
    cols = max(1, min(columns, len(images)))
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.9 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(images):
            ax.axis("off")
            continue
        ax.imshow(_rgb(images[i]))
        _no_ticks(ax)
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
        ax.set_xlabel("\n".join(f"{p:6.1%}  {name[:24]}" for name, p in predictions[i]),
                      fontsize=8, family="monospace", loc="left")
    fig.tight_layout()
    return fig


def conv_filters(weight, columns: int = 8, title: str = ""):
    """First-layer filters (O, 3, k, k) as small RGB pictures, each stretched to [0, 1] on its own.

    Stretching each filter separately shows its pattern (an edge, a colour blob); it hides how
    strong the filter is compared with the others.
    """
    filters = _numpy(weight).astype(np.float64)
    if filters.ndim != 4 or filters.shape[1] != 3:
        raise ValueError(f"conv_filters: expected first-layer weights of shape (O, 3, k, k), got {filters.shape}")
    count = filters.shape[0]
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(0.9 * columns, 0.9 * rows + (0.4 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        _no_ticks(ax)
        if i >= count:
            ax.axis("off")
            continue
        f = filters[i]
        span = f.max() - f.min()
        ax.imshow(((f - f.min()) / span if span > 0 else np.zeros_like(f)).transpose(1, 2, 0),
                  interpolation="nearest")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def strongest_channels(maps, n: int, by: str = "mean") -> list[int]:
    """The n channels of a (C, H, W) map that respond most, strongest first.

    by="mean": largest mean activation (channels active over much of the image);
    by="peak": largest max minus mean (channels that fire in one place, like a part detector).
    """
    values = _numpy(maps).astype(np.float64)
    if by == "mean":
        score = values.mean(axis=(1, 2))
    elif by == "peak":
        score = values.max(axis=(1, 2)) - values.mean(axis=(1, 2))
    else:
        raise ValueError(f"strongest_channels: by must be 'mean' or 'peak', got {by!r}")
    return [int(c) for c in np.argsort(-score, kind="stable")[:n]]


def feature_maps(image, maps, channels: Sequence[int] | None = None, n: int = 7, title: str = ""):
    """An image beside some channels of one of its feature maps (C, H, W).

    channels: which to show; by default the n with the largest mean activation. Each channel has
    its own colour scale (bright = strong); its maximum is in the title.
    """
    values = _numpy(maps).astype(np.float64)
    if values.ndim != 3:
        raise ValueError(f"feature_maps: expected one image's map of shape (C, H, W), got {values.shape}")
    channels = list(channels) if channels is not None else strongest_channels(values, n)
    fig, axes = plt.subplots(1, len(channels) + 1, figsize=(1.9 * (len(channels) + 1), 2.3), squeeze=False)
    axes = axes[0]
    axes[0].imshow(_rgb(image))
    axes[0].set_title("image", fontsize=9)
    for ax, c in zip(axes[1:], channels):
        ax.imshow(values[c], cmap="viridis", interpolation="nearest")
        ax.set_title(f"channel {c}\nmax {values[c].max():.2f}", fontsize=8)
    for ax in axes:
        _no_ticks(ax)
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
    from .pooling import center_prior_weights

    weights = _numpy(center_prior_weights(height, width, sigma))
    rgb = _rgb(image)
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
        _no_ticks(ax)
    fig.tight_layout()
    return fig


def rmac_regions_by_scale(height: int, width: int, L: int = 3) -> list[list[tuple[int, int, int, int]]]:
    """The R-MAC regions of an H x W map grouped by scale: element l - 1 holds the regions of scale l."""
    from .pooling import rmac_regions

    groups, seen = [], 0
    for level in range(1, L + 1):
        upto = rmac_regions(height, width, level, include_global=False)
        groups.append(upto[seen:])
        seen = len(upto)
    return groups


def _draw_box(ax, box, cell_w: float, cell_h: float, color, lw: float = 2.0, inset: float = 0.0) -> None:
    x, y, w, h = box
    ax.add_patch(Rectangle((x * cell_w + inset, y * cell_h + inset), w * cell_w - 2 * inset,
                           h * cell_h - 2 * inset, fill=False, ec=color, lw=lw))


def rmac_grid(image, height: int, width: int, L: int = 3):
    """The R-MAC regions of an H x W feature map drawn on the image, one panel per scale l = 1..L.

    Regions are in map cells; a cell covers (image width / W) x (image height / H) pixels. Each
    region is drawn slightly inset in its own colour so that overlapping edges stay visible.
    """
    rgb = _rgb(image)
    img_h, img_w = rgb.shape[:2]
    cell_w, cell_h = img_w / width, img_h / height
    groups = rmac_regions_by_scale(height, width, L)
    colors = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(1, L, figsize=(3.6 * L, 3.6 * img_h / img_w + 0.8), squeeze=False)
    for level, (ax, regions) in enumerate(zip(axes[0], groups), start=1):
        ax.imshow(rgb)
        _cell_grid(ax, height, width, cell_w, cell_h)
        for i, box in enumerate(regions):
            _draw_box(ax, box, cell_w, cell_h, colors[i % len(colors)], inset=1.5 + 1.5 * (i % 3))
        side = regions[0][2] if regions else 0
        ax.set_title(f"l = {level}: {len(regions)} regions of {side} x {side} cells", fontsize=9)
        _no_ticks(ax)
    fig.suptitle(f"R-MAC regions of a {height} x {width} map: "
                 f"{sum(map(len, groups))} regions (+ the whole map in our R-MAC)", fontsize=10)
    fig.tight_layout()
    return fig


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
    values = _numpy(maps).astype(np.float64)
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


def region_response(image, maps, channel: int, L: int = 3):
    """One channel's activations and where it fires most among the R-MAC regions (`strongest_region`).

    Left: the image with every region (thin white), the region of the channel's peak (red) and
    the region where the channel weighs most in R-MAC (orange, dashed). Right: the channel over
    the map's cells with the same boxes.
    """
    values = _numpy(maps).astype(np.float64)
    peak = strongest_region(values, channel, L, by="max")
    weight = strongest_region(values, channel, L, by="share")
    height, width = values.shape[1:]
    rgb = _rgb(image)
    img_h, img_w = rgb.shape[:2]
    regions = [box for group in rmac_regions_by_scale(height, width, L) for box in group]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8 * img_h / img_w + 1.1))
    axes[0].imshow(rgb)
    axes[1].imshow(values[channel], cmap="viridis", interpolation="nearest", extent=(0, width, height, 0))
    for ax, cell_w, cell_h in ((axes[0], img_w / width, img_h / height), (axes[1], 1.0, 1.0)):
        for box in regions:
            _draw_box(ax, box, cell_w, cell_h, "white", lw=0.6)
        _draw_box(ax, peak.box, cell_w, cell_h, COLORS["negative"], lw=3)
        x, y, w, h = weight.box
        ax.add_patch(Rectangle((x * cell_w, y * cell_h), w * cell_w, h * cell_h, fill=False,
                               ec="#ff7f0e", lw=2.5, ls="--"))
        _no_ticks(ax)
    axes[0].set_title(f"channel {channel}: fires most in region {peak.index} (red, max {peak.max:.2f});\n"
                      f"weighs most in R-MAC in region {weight.index} (orange, {weight.share:.0%} of its norm)",
                      fontsize=9)
    axes[1].set_title(f"channel {channel} on the {height} x {width} map", fontsize=9)
    fig.tight_layout()
    return fig


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
    import torch

    from .pooling import box_max_approx, integral_images, rmac_regions

    if isinstance(maps, (list, tuple)):
        batches = [torch.as_tensor(_numpy(m), dtype=torch.float64)[None] for m in maps]
    else:
        x = torch.as_tensor(_numpy(maps), dtype=torch.float64)
        batches = [x[None] if x.dim() == 3 else x]
    per_batch = []
    for x in batches:
        regions = rmac_regions(x.shape[-2], x.shape[-1], 3) if boxes is None else boxes
        regions = [tuple(int(v) for v in box) for box in regions]
        exact = torch.stack([x[:, :, y:y + h, left:left + w].amax(dim=(-2, -1)) for left, y, w, h in regions], dim=1)
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


def gem_vs_p(maps, channels: Sequence[int], ps: Sequence[float] = tuple(np.geomspace(1, 200, 40))):
    """GeM of some channels of a (C, H, W) map as p grows: from the mean (p = 1) to the max (p -> inf)."""
    import torch

    from .pooling import gem

    x = torch.as_tensor(_numpy(maps), dtype=torch.float64)[None]
    values = np.array([_numpy(gem(x[:, list(channels)], p=float(p)))[0] for p in ps])
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    colors = plt.get_cmap("tab10").colors
    for i, c in enumerate(channels):
        color = colors[i % len(colors)]
        ax.plot(ps, values[:, i], color=color, label=f"channel {c}")
        ax.axhline(float(x[0, c].mean()), color=color, ls=":", lw=1)
        ax.axhline(float(x[0, c].max()), color=color, ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("p")
    ax.set_ylabel("GeM")
    ax.set_title("GeM from average (p = 1, dotted) to max (dashed)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
