"""Figures of a team's experiment log: how the mAP of each method moved over the runs."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


def map_over_runs(table: pd.DataFrame, title: str = "mAP over runs"):
    """mAP (%) per run, one line per method (and dataset, when the log holds several), from the rows of
    `experiment.log_table`; the x axis is the run number, so a run's row in the table is found at once."""
    several = table.dataset.nunique() > 1
    runs = sorted(table.run.unique())
    fig, ax = plt.subplots(figsize=(min(12.0, 4.0 + 0.35 * len(runs)), 3.4))
    for (dataset, method), part in table.groupby(["dataset", "method"], sort=False):
        ax.plot(part.run, part["mAP %"], marker="o", label=f"{method} ({dataset})" if several else method)
    ax.set_xticks(runs)
    ax.set_xlabel("run (see `python -m course_lib log`)")
    ax.set_ylabel("mAP (%)")
    ax.set_title(title, loc="left", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig
