"""Figures of notebook 02 (fine-tuning): image pairs with their similarity, training curves, per-query AP."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .grids import as_rgb, epoch_panels, no_ticks


def similarity_pairs(pairs: Sequence[tuple], titles: Sequence[str]):
    """One row per pair: (image a, image b, cosine similarity); `titles` says what each pair is."""
    fig, axes = plt.subplots(len(pairs), 2, figsize=(5.2, 2.5 * len(pairs)), squeeze=False)
    for row, ((a, b, sim), title) in enumerate(zip(pairs, titles)):
        for col, image in enumerate((a, b)):
            ax = axes[row, col]
            ax.imshow(as_rgb(image))
            no_ticks(ax)
        axes[row, 0].set_title(f"{title}: cosine {sim:.2f}", loc="left", fontsize=10)
    fig.tight_layout()
    return fig


def training_curves(histories: Mapping[str, list[dict]]):
    """Loss, validation mAP and the GeM exponent p per epoch, one line per run (epoch 0 = before training)."""
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    for label, history in histories.items():
        epochs = [row["epoch"] for row in history]
        trained = [row for row in history if row["loss"] is not None]
        axes[0].plot([r["epoch"] for r in trained], [r["loss"] for r in trained], marker="o", label=label)
        axes[1].plot(epochs, [100 * r["val_map"] for r in history], marker="o", label=label)
        axes[2].plot(epochs, [r["p"] for r in history], marker="o", label=label)
        axes[3].plot([r["epoch"] for r in trained], [r["negative_similarity"] for r in trained], marker="o",
                     label=label)
    epoch_panels(axes, ("training loss (mean per tuple)", "validation mAP (%)", "GeM exponent p",
                        "similarity of chosen negatives"), legend_on=3)
    return fig


def ap_scatter(before: Sequence[float], after: Mapping[str, Sequence[float]], names: Sequence[str] | None = None):
    """Per-query AP before (x) and after (y) fine-tuning: points above the diagonal improved."""
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    before = 100 * np.asarray(before)
    for label, values in after.items():
        ax.scatter(before, 100 * np.asarray(values), label=label, alpha=0.75, s=28)
    lo = min(before.min(), *(100 * np.min(v) for v in after.values())) - 3
    ax.plot([lo, 101], [lo, 101], color="grey", lw=1, ls="--")
    ax.set_xlim(lo, 101)
    ax.set_ylim(lo, 101)
    ax.set_xlabel("AP before fine-tuning (%)")
    ax.set_ylabel("AP after (%)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
