"""Figures of notebook 03: the eigenvalue spectrum, mAP against dimensions beside the lecture's table,
one descriptor and its PQ reconstruction, and the recall-speed trade-off of an index."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def spectrum(pcas: dict, ax=None):
    """Eigenvalues (log scale, left) and the share of variance kept by the first k components (right),
    one line per method: {method: transforms.PCA}."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4)) if ax is None else (ax[0].figure, ax)
    for method, pca in pcas.items():
        k = np.arange(1, pca.rank + 1)
        left.semilogy(k, pca.eigenvalues, label=method)
        right.plot(k, 100 * pca.explained_variance(), label=method)
    left.set(xlabel="component k", ylabel="eigenvalue (variance along it)", title="Spectrum",
             xlim=(1, max(p.rank for p in pcas.values())))
    right.set(xlabel="components kept", ylabel="variance kept (%)", title="Cumulative variance",
              xlim=(1, max(p.rank for p in pcas.values())), ylim=(0, 101))
    right.legend(fontsize=8, loc="lower right")
    for a in (left, right):
        a.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def map_vs_dims(curve: pd.DataFrame, paper: pd.DataFrame | None = None):
    """Left: mAP (%) against dimensions with 95% bootstrap intervals, from a table with columns method,
    whiten, dims, map, low, high; right: the lecture's table (columns descriptor, dims, oxford5k_map)."""
    fig, axes = plt.subplots(1, 2 if paper is not None else 1, figsize=(11, 3.8), squeeze=False)
    ax = axes[0, 0]
    colors = dict(zip(curve["method"].unique(), plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for (method, whiten), part in curve.groupby(["method", "whiten"], sort=False):
        part = part.sort_values("dims")
        ax.errorbar(part["dims"], part["map"], yerr=[part["map"] - part["low"], part["high"] - part["map"]],
                    color=colors[method], linestyle="-" if whiten else "--", marker="o" if whiten else "s",
                    markersize=4, capsize=2, label=f"{method} {'PCA-whitened' if whiten else 'PCA'}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(curve["dims"].unique()), [str(d) for d in sorted(curve["dims"].unique())])
    ax.set(xlabel="dimensions", ylabel="mAP % (Medium)", title="This kit: mini, learned on mini-train")
    low, high = curve["low"].min(), curve["high"].max()
    ax.set_ylim(max(0, low - 3), min(100, high + 3))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    if paper is not None:
        right = axes[0, 1]
        for descriptor, part in paper.groupby("descriptor", sort=False):
            right.plot(part["dims"], 100 * part["oxford5k_map"], marker="o", markersize=4, label=descriptor)
        right.set_xscale("log", base=2)
        right.set_xticks(sorted(paper["dims"].unique()), [str(d) for d in sorted(paper["dims"].unique())])
        right.set(xlabel="dimensions", ylabel="mAP % (Oxford 5k)", title="Lecture: neural codes + PCA (Babenko et al. 2014)")
        right.set_ylim(100 * paper["oxford5k_map"].min() - 3, 100 * paper["oxford5k_map"].max() + 3)
        right.grid(alpha=0.3)
        right.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def pq_reconstruction(vector: np.ndarray, reconstruction: np.ndarray, n_subspaces: int, codes=None):
    """One descriptor (first 64 coordinates shown with subspace borders) and its PQ reconstruction."""
    shown = min(64, vector.shape[0])
    fig, ax = plt.subplots(figsize=(10, 2.8))
    ax.plot(vector[:shown], color="black", linewidth=1.2, label="descriptor")
    ax.plot(reconstruction[:shown], color="tab:red", linewidth=1.2, linestyle="--", label="decoded from its PQ code")
    sub = vector.shape[0] // n_subspaces
    for m, start in enumerate(range(0, shown, sub)):
        ax.axvline(start - 0.5, color="grey", alpha=0.3)
        if codes is not None and m < len(codes):
            ax.text(start + sub / 2 - 0.5, ax.get_ylim()[1], str(int(codes[m])), ha="center", va="bottom", fontsize=7)
    ax.set(xlim=(-0.5, shown - 0.5), xlabel=f"coordinate (first {shown}; grey lines: subspace borders, "
           "numbers: sub-codes)", ylabel="value")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def recall_speed(zoo_table: pd.DataFrame, sweeps: dict[str, pd.DataFrame] | None = None, highlight: dict | None = None,
                 k: int = 10):
    """Recall@k against ms/query: one point per zoo index (annotated), one line per knob sweep
    ({label: sweep table}); `highlight` ({label: value}) rings the current knob setting of each sweep."""
    fig, ax = plt.subplots(figsize=(8, 4))
    column = f"recall@{k}"
    for label, table in (sweeps or {}).items():
        knob = table.columns[0]
        line, = ax.plot(table["ms_per_query"], table[column], marker=".", label=f"{label} ({knob} sweep)")
        for _, row in table.iterrows():
            ax.annotate(str(int(row[knob])), (row["ms_per_query"], row[column]), fontsize=6,
                        xytext=(2, -8), textcoords="offset points", color=line.get_color())
        if highlight and label in highlight:
            chosen = table[table[knob] == highlight[label]]
            ax.scatter(chosen["ms_per_query"], chosen[column], s=160, facecolors="none", edgecolors=line.get_color(),
                       linewidths=2, zorder=5)
    ax.scatter(zoo_table["ms_per_query"], zoo_table[column], color="black", zorder=4, s=18)
    for _, row in zoo_table.iterrows():
        ax.annotate(row["index"], (row["ms_per_query"], row[column]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    every_ms = pd.concat([zoo_table["ms_per_query"], *[t["ms_per_query"] for t in (sweeps or {}).values()]])
    every_recall = pd.concat([zoo_table[column], *[t[column] for t in (sweeps or {}).values()]])
    ax.set_xscale("log")
    ax.set_xlim(every_ms.min() / 1.5, every_ms.max() * 1.5)
    ax.set_ylim(max(0, every_recall.min() - 0.05), 1.02)
    ax.set(xlabel="ms per query (log scale)", ylabel=f"recall@{k} of the exact neighbours",
           title="Recall against speed")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
