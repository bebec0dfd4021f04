"""Figures of notebook 05: where each triplet sampler picks its negatives, how re-ranking parameters
move mAP, and one query's list as post-processing steps are applied one after another."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..images import load_image
from .grids import COLORS, epoch_panels, relevance


def _thumbnail(ax, path, title: str, frame: str) -> None:
    ax.imshow(load_image(path, max_side=160))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(COLORS[frame])
        spine.set_linewidth(3)
    ax.set_title(title, fontsize=8)


def sampler_picks(points: np.ndarray, labels: Sequence, anchor: int, picks: dict[str, np.ndarray],
                  positives: Sequence[int] = ()):
    """One panel per sampler: the batch in 2-D (grey: other labels; blue: the anchor's label), the anchor
    (star), and the negatives the sampler picked for it, sized by how often."""
    labels = np.asarray(labels)
    same = labels == labels[anchor]
    fig, axes = plt.subplots(1, len(picks), figsize=(3.3 * len(picks), 3.4), squeeze=False)
    pad = 0.08 * (points.max(axis=0) - points.min(axis=0))
    for ax, (name, chosen) in zip(axes[0], picks.items()):
        ax.scatter(*points[~same].T, s=10, c="#bbbbbb", label="other photos")
        ax.scatter(*points[same].T, s=18, c=COLORS["query"], label="same photo (positives)")
        ids, counts = np.unique(np.asarray(chosen), return_counts=True)
        ax.scatter(*points[ids].T, s=25 + 200 * counts / counts.max(), facecolors="none", edgecolors=COLORS["negative"],
                   linewidths=1.5, label="picked negatives")
        ax.scatter(*points[anchor], marker="*", s=260, c="k", label="anchor")
        ax.set_title(name, fontsize=10)
        ax.set_xlim(points[:, 0].min() - pad[0], points[:, 0].max() + pad[0])
        ax.set_ylim(points[:, 1].min() - pad[1], points[:, 1].max() + pad[1])
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, -1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def sampler_training(histories: dict[str, list[dict]]):
    """Per epoch and per sampler: the share of sampled triplets already at zero loss, the training loss,
    and the validation mAP (epoch 0 = before training)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.3))
    for label, history in histories.items():
        trained = [row for row in history if row["loss"] is not None]
        epochs = [row["epoch"] for row in trained]
        axes[0].plot(epochs, [100 * row["satisfied"] for row in trained], marker="o", label=label)
        axes[1].plot(epochs, [row["loss"] for row in trained], marker="o", label=label)
        axes[2].plot([row["epoch"] for row in history], [100 * row["val_map"] for row in history], marker="o",
                     label=label)
    epoch_panels(axes, ("sampled triplets already at zero loss (%)", "training loss (mean hinge)",
                        "validation mAP (%)"), legend_on=0)
    return fig


def parameter_curves(curves, baseline: float | None = None):
    """mAP (%) against a parameter, one panel per parameter: curves is a DataFrame with columns
    "parameter", "method", "value", "map" (one row per run). The dashed line is the first search."""
    parameters = list(dict.fromkeys(curves["parameter"]))
    fig, axes = plt.subplots(1, len(parameters), figsize=(4.2 * len(parameters), 3.2), squeeze=False)
    for ax, parameter in zip(axes[0], parameters):
        part = curves[curves["parameter"] == parameter]
        for method, rows in part.groupby("method", sort=False):
            ax.plot(rows["value"], 100 * rows["map"], marker="o", label=method)
        if baseline is not None:
            ax.axhline(100 * baseline, ls="--", c="k", lw=1, label="first search")
        values = 100 * np.concatenate([part["map"].to_numpy(), [] if baseline is None else [baseline]])
        ax.set_ylim(values.min() - 2, min(100, values.max() + 2))
        ax.set_xlabel(parameter)
        ax.set_ylabel("mAP Medium (%)")
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def rerank_steps(dataset, query: int, stages: Sequence[tuple[str, Sequence[int], float]], k: int = 8):
    """One row per stage: its name and AP, then its top k framed by relevance (green positive, red negative,
    grey junk); the plain-function twin of the notebook's step-by-step widget."""
    gnd = dataset.gnd[query]
    fig, axes = plt.subplots(len(stages), k + 1, figsize=(1.45 * (k + 1), 1.35 * len(stages)), squeeze=False)
    for row, (name, ranking, ap) in enumerate(stages):
        label_ax = axes[row, 0]
        label_ax.axis("off")
        label_ax.text(0.95, 0.5, f"{name}\nAP {ap:.2f}", ha="right", va="center", fontsize=8, wrap=True)
        for rank, db_id in enumerate(ranking[:k]):
            verdict = relevance(int(db_id), gnd)
            _thumbnail(axes[row, rank + 1], dataset.images[db_id], f"#{rank + 1}", verdict)
    fig.tight_layout()
    return fig
