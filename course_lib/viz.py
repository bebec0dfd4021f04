"""Matplotlib figures for retrieval: dataset overviews, ranked results, precision-recall curves.

Functions read from the layers above (datasets, rankings, ground truth) and return the
figure, so notebooks can show it and tests can check it.
"""
from __future__ import annotations

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
    """Grouped horizontal bars of a results table (methods as rows)."""
    ax = table[list(columns)].plot.barh(figsize=(6, 0.45 * len(table) + 1.2), width=0.8)
    ax.set_xlabel("%")
    ax.set_title(title)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
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
