"""Notebook 04's figures: boxes on real images (true vs found), anchors of a location, NMS before/after,
box-search cost, and region-search results. Figures draw; boxes and numbers come from course_lib.detection."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from ..images import image_size, load_image
from .grids import no_ticks

BOX_STYLES = {"true": {"ec": "#2ca02c", "lw": 2.5, "ls": "-"}, "exhaustive": {"ec": "#1f77b4", "lw": 2, "ls": "--"},
              "refine": {"ec": "#ff7f0e", "lw": 2, "ls": ":"}, "found": {"ec": "#ff7f0e", "lw": 2, "ls": "-"},
              "query": {"ec": "#1f77b4", "lw": 2, "ls": "-"}}


def draw_box(ax, box, scale: float = 1.0, label: str | None = None, **style) -> None:
    """One (x1, y1, x2, y2) box, in pixels of the original image times `scale`, on an axis."""
    x1, y1, x2, y2 = (float(v) * scale for v in box)
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, label=label, **style))


def image_with_boxes(ax, path, boxes: Mapping[str, Sequence[float]], title: str = "", max_side: int = 320) -> None:
    """An image with named boxes drawn in the styles of BOX_STYLES (unknown names: orange)."""
    image = load_image(path, max_side=max_side)
    scale = image.width / image_size(path)[0]
    ax.imshow(image)
    for name, box in boxes.items():
        draw_box(ax, box, scale, label=name, **BOX_STYLES.get(name, BOX_STYLES["found"]))
    no_ticks(ax)
    ax.set_title(title, fontsize=8)


def localization_examples(dataset, table, pairs: Sequence[tuple[int, int]], columns: int = 4):
    """True box vs the boxes found by exhaustive search and by refinement, for (query, image) pairs,
    with the query crop in front of each row. `table` is `detection.evaluate.compare_localizers`'s."""
    rows = int(np.ceil(len(pairs) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (q, i) in zip(axes.ravel(), pairs):
        found = table[(table["query"] == q) & (table["image"] == i)].set_index("method")
        boxes = {"true": dataset.positive_boxes[q][i]}
        ious = []
        for method in found.index:
            boxes[method] = found.loc[method, ["x1", "y1", "x2", "y2"]].to_numpy(dtype=float)
            ious.append(f"{method[:4]} {found.loc[method, 'iou']:.2f}")
        ax.axis("on")
        image_with_boxes(ax, dataset.images[i], boxes, f"{dataset.extra['query_names'][q]}\nIoU " + ", ".join(ious))
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def iou_histograms(table, located_iou: float = 0.5):
    """Distribution of IoU with the true box per localization method."""
    fig, ax = plt.subplots(figsize=(6, 2.8))
    bins = np.linspace(0, 1, 21)
    for method, group in table.groupby("method", sort=False):
        ax.hist(group["iou"], bins=bins, histtype="step", lw=2, label=f"{method} (mean {group['iou'].mean():.2f})",
                color=BOX_STYLES[method]["ec"])
    ax.axvline(located_iou, color="0.4", lw=1, ls="--")
    ax.set(xlabel="IoU with the true box", ylabel="(query, image) pairs", xlim=(0, 1))
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def anchors_on_image(path, scales: Sequence[float], ratios: Sequence[float], stride: int,
                     location: tuple[int, int], anchors, max_side: int = 512):
    """The image with the stride grid, one location (row, col) marked, and its anchors drawn.
    `anchors` are the (A, 4) boxes of that location in pixels of the image at `max_side`."""
    image = load_image(path, max_side=max_side)
    fig, ax = plt.subplots(figsize=(5.5, 5.5 * image.height / image.width))
    ax.imshow(image)
    for x in range(0, image.width, stride):
        ax.axvline(x, color="white", lw=0.3, alpha=0.5)
    for y in range(0, image.height, stride):
        ax.axhline(y, color="white", lw=0.3, alpha=0.5)
    colors = plt.cm.viridis(np.linspace(0, 1, max(1, len(scales))))
    for index, box in enumerate(np.asarray(anchors)):
        draw_box(ax, box, ec=colors[index // len(ratios)], lw=1.8)
    row, col = location
    ax.plot([(col + 0.5) * stride], [(row + 0.5) * stride], "o", color="red", ms=5)
    ax.set_xlim(-0.5, image.width - 0.5)
    ax.set_ylim(image.height - 0.5, -0.5)
    ax.set_title(f"{len(anchors)} anchors at cell ({row}, {col}): scales {list(scales)}, "
                 f"ratios h/w {list(ratios)}, stride {stride}", fontsize=8)
    no_ticks(ax)
    fig.tight_layout()
    return fig


def anchors_at_cell(path, base_size: float = 64, n_scales: int = 3, ratios: Sequence[float] = (0.5, 1.0, 2.0),
                    stride: int = 32, row: int = 4, col: int = 6, max_side: int = 512):
    """The anchors of one cell: n_scales sizes doubling from base_size, each at every ratio (h / w);
    the figure the anchor widget redraws (anchors from `detection.boxes.anchors_at`)."""
    from ..detection.boxes import anchors_at

    scales = [base_size * 2 ** i for i in range(n_scales)]
    anchors = anchors_at(((col + 0.5) * stride, (row + 0.5) * stride), scales, ratios)
    return anchors_on_image(path, scales, ratios, stride, (row, col), anchors.numpy(), max_side)


def nms_before_after(path, boxes, scores, kept, max_side: int = 512):
    """Candidate boxes (thin, coloured by score) and the ones NMS keeps (thick), side by side."""
    image = load_image(path, max_side=max_side)
    scale = image.width / image_size(path)[0]
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5 * image.height / image.width))
    scores = np.asarray(scores, dtype=float)
    span = max(1e-9, scores.max() - scores.min())
    for ax, title, which, lw in [(axes[0], f"{len(boxes)} candidates", range(len(boxes)), 1),
                                 (axes[1], f"{len(kept)} kept by NMS", list(kept), 2.5)]:
        ax.imshow(image)
        for i in which:
            draw_box(ax, boxes[i], scale, ec=plt.cm.plasma((scores[i] - scores.min()) / span), lw=lw)
        ax.set_title(title, fontsize=9)
        no_ticks(ax)
    fig.tight_layout()
    return fig


def cost_bars(table, value: str, label: str, log: bool = True):
    """Horizontal bars of one column of a cost table (index: the methods)."""
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(table)))
    ax.barh(list(map(str, table.index)), table[value], color="#1f77b4")
    if log:
        ax.set_xscale("log")
    for y, v in enumerate(table[value]):
        ax.text(v, y, f" {v:.3g}", va="center", fontsize=8)
    ax.set_xlim(right=table[value].max() * (4 if log else 1.2))
    ax.invert_yaxis()
    ax.set_xlabel(label)
    fig.tight_layout()
    return fig


def region_results(dataset, query: int, results: Sequence[tuple[int, float, Sequence[float]]], gnd=None, k: int = 6):
    """The query crop, then the top-k (image, score or rank, box) of a region search with the found box
    (and the true box where the dataset has one)."""
    fig, axes = plt.subplots(1, k + 1, figsize=(2.2 * (k + 1), 2.4))
    image_with_boxes(axes[0], dataset.queries[query], {"query": dataset.bboxes[query]} if dataset.bboxes[query] else {},
                     f"query: {dataset.extra.get('query_names', [''] * (query + 1))[query]}")
    truth = dataset.positive_boxes[query] if dataset.positive_boxes else {}
    positives = set(gnd["easy"]) | set(gnd["hard"]) if gnd else set()
    for ax, (i, score, box) in zip(axes[1:], results[:k]):
        boxes = {"found": box}
        if i in truth:
            boxes = {"true": truth[i], **boxes}
        label = f"rank {score}" if isinstance(score, int) else f"{score:.2f}"
        image_with_boxes(ax, dataset.images[i], boxes, label + (" positive" if i in positives else ""))
    fig.tight_layout()
    return fig


def _scene_axis(ax, scene, class_names, detections=None, score_threshold: float = 0.5) -> None:
    ax.imshow(scene.image)
    for box, label in zip(scene.boxes, scene.labels):
        draw_box(ax, box, **BOX_STYLES["true"])
    if detections is not None:
        keep = detections["scores"] >= score_threshold
        for box, label, score in zip(detections["boxes"][keep].tolist(), detections["labels"][keep].tolist(),
                                     detections["scores"][keep].tolist()):
            draw_box(ax, box, **BOX_STYLES["found"])
            ax.text(box[0], box[1] - 2, f"{class_names[label - 1]} {score:.2f}", color="#ff7f0e", fontsize=6,
                    bbox={"facecolor": "black", "alpha": 0.5, "pad": 0.5, "lw": 0})
    else:
        for box, label in zip(scene.boxes, scene.labels):
            ax.text(box[0], box[1] - 2, class_names[label - 1], color="#2ca02c", fontsize=6,
                    bbox={"facecolor": "black", "alpha": 0.5, "pad": 0.5, "lw": 0})
    ax.set_title(scene.background, fontsize=8)
    no_ticks(ax)


def scene_grid(scenes, class_names, columns: int = 4, detections=None, score_threshold: float = 0.5):
    """Detection scenes with their true boxes (green), and detections (orange) when given."""
    rows = int(np.ceil(len(scenes) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for index, (ax, scene) in enumerate(zip(axes.ravel(), scenes)):
        ax.axis("on")
        _scene_axis(ax, scene, class_names, None if detections is None else detections[index], score_threshold)
    fig.tight_layout()
    return fig


def detections_grid(scenes, detections, class_names, score_threshold: float = 0.5, columns: int = 4):
    """Held-out scenes: true boxes (green) and the detector's boxes above `score_threshold` (orange)."""
    return scene_grid(scenes, class_names, columns, detections, score_threshold)


def loss_curve(history, smooth: int = 10):
    """Training losses per step (running mean over `smooth` steps), total and the four parts."""
    fig, ax = plt.subplots(figsize=(6.5, 3))
    names = [k for k in history[0] if k not in ("step",)]
    steps = np.array([h["step"] for h in history])
    for name in names:
        values = np.array([h[name] for h in history])
        kernel = np.ones(min(smooth, len(values))) / min(smooth, len(values))
        ax.plot(steps[len(kernel) - 1:], np.convolve(values, kernel, mode="valid"), label=name.replace("loss_", ""),
                lw=2.5 if name == "total" else 1.2)
    ax.set(xlabel="step", ylabel=f"loss (mean of {smooth} steps)", xlim=(steps[0], steps[-1]))
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, frameon=False, ncol=2)
    fig.tight_layout()
    return fig


def search_results(query_path, bbox, dataset, results: Sequence[tuple[int, float, Sequence[float]]], k: int = 6):
    """A query image (its box in blue) and the top-k (image id, score, box) of a search, boxes in orange."""
    shown = list(results)[:k]
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(2.4 * (len(shown) + 1), 2.6), squeeze=False)
    image_with_boxes(axes[0, 0], query_path, {"query": bbox} if bbox is not None else {}, "query")
    for ax, (i, score, box) in zip(axes[0, 1:], shown):
        image_with_boxes(ax, dataset.images[i], {"found": box}, f"{score:.3f}")
    fig.tight_layout()
    return fig
