"""Figures shared by every notebook: image thumbnails, the dataset at a glance, ranked results
framed by relevance, bars of a results table, classified photos.

Figures draw; the numbers they show come from the library (experiment, evaluation).
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from ..arrays import as_numpy
from ..images import image_size, load_image

THUMB = 256
COLORS = {"positive": "#2ca02c", "negative": "#d62728", "junk": "#7f7f7f", "query": "#1f77b4"}


def as_rgb(image) -> np.ndarray:
    """An image as an (H, W, 3) float array in [0, 1]: a file path, a PIL image or a (3, H, W) tensor."""
    if hasattr(image, "detach") or isinstance(image, np.ndarray):
        array = as_numpy(image).astype(np.float64)
        if array.ndim != 3 or array.shape[0] != 3:
            raise ValueError(f"image array must have shape (3, H, W) with values in [0, 1], got {array.shape}")
        return array.transpose(1, 2, 0).clip(0, 1)
    if not hasattr(image, "size"):
        image = load_image(image, max_side=512)
    return np.asarray(image.convert("RGB"), dtype=np.float64) / 255


def no_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def epoch_panels(axes, titles: Sequence[str], legend_on: int) -> None:
    """Title, an integer epoch axis and a light grid for each panel of training curves; the legend on one."""
    from matplotlib.ticker import MaxNLocator

    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[legend_on].legend(fontsize=8, loc="best")
    axes[legend_on].figure.tight_layout()


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


def map_bars(table, columns: Sequence[str] = ("map",), title: str = "mAP (%)", intervals=None):
    """Grouped horizontal bars of a results table (methods as rows), legend outside the bars.

    intervals: a table with the same rows and, per column c, "c_low" and "c_high" (for instance
    `experiment.interval_table`), drawn as error bars: a difference smaller than the bars' overlap
    is not shown to be real. The value axis is zoomed to the data (bars and intervals), not 0-100,
    so that differences of a few points stay visible; its range is in the label.
    """
    labels = {"map_easy": "Easy", "map_medium": "Medium", "map_hard": "Hard", "map": "mAP"}
    columns = list(columns)
    data = table[columns]
    n_rows, n_cols = len(data), len(columns)
    fig, ax = plt.subplots(figsize=(7, 0.45 * n_rows * max(1, n_cols) / 1.5 + 1.4))
    height = 0.8 / n_cols
    colors = plt.get_cmap("tab10").colors
    lows, highs = [data.to_numpy(dtype=float).min()], [data.to_numpy(dtype=float).max()]
    for j, column in enumerate(columns):
        y = np.arange(n_rows) - 0.4 + height * (j + 0.5)
        values = data[column].to_numpy(dtype=float)
        error = None
        if intervals is not None:
            low = intervals.loc[data.index, f"{column}_low"].to_numpy(dtype=float)
            high = intervals.loc[data.index, f"{column}_high"].to_numpy(dtype=float)
            error = np.vstack([values - low, high - values]).clip(min=0)
            lows.append(low.min())
            highs.append(high.max())
        ax.barh(y, values, height=height, color=colors[j % len(colors)], label=labels.get(column, column),
                xerr=error, error_kw={"elinewidth": 1, "capsize": 2, "ecolor": "black"})
    span = max(highs) - min(lows)
    left = max(0.0, min(lows) - max(2.0, 0.1 * span))
    ax.set_xlim(left, min(100.0, max(highs) + max(1.0, 0.05 * span)))
    ax.set_yticks(np.arange(n_rows))
    ax.set_yticklabels([str(i) for i in data.index])
    ax.invert_yaxis()
    ax.set_xlabel(f"% (axis starts at {left:.0f}, not 0)" if left > 0 else "%")
    ax.set_title(title + (" with 95% bootstrap intervals over queries" if intervals is not None else ""),
                 fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def show_query(dataset, descriptors, method: str, query: int, k: int = 8):
    """Rank the database for one query with one method and draw the top k, titled with its AP.

    The plain-function twin of `widgets.query_explorer`: the notebook calls it directly.
    """
    from ..experiment import query_result

    ranking, gnd, ap = query_result(dataset, descriptors, method, query)
    return ranked_results(dataset, query, ranking, k=k, gnd=gnd,
                          title=f"{method}: query {query}, AP = {ap:.2f} (medium)")


def show_predictions(images: Sequence, predictions: Sequence[Sequence[tuple[str, float]]],
                     titles: Sequence[str] | None = None, columns: int = 4):
    """Photos with the network's top-k classes and their probabilities under each one.

    `predictions` is what `Backbone.classify` returns: per image a list of (class name, probability).
    """
    if len(images) != len(predictions):
        raise ValueError(f"show_predictions: {len(images)} images but {len(predictions)} predictions")
    cols = max(1, min(columns, len(images)))
    rows = -(-len(images) // cols)
    n_lines = max((len(p) for p in predictions), default=0)  # room under each photo for its class lines
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, (3.5 + 0.16 * n_lines) * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(images):
            ax.axis("off")
            continue
        ax.imshow(as_rgb(images[i]))
        no_ticks(ax)
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
        ax.set_xlabel("\n".join(f"{p:6.1%}  {name[:24]}" for name, p in predictions[i]),
                      fontsize=8, family="monospace", loc="left")
    fig.tight_layout()
    return fig
