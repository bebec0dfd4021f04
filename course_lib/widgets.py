"""ipywidgets front-ends. Each widget wraps a plain function that notebooks also call directly,
so readers without a widget frontend (the web, nbval) see the same result."""
from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display


def query_explorer(dataset, descriptors, k: int = 8):
    """Pick a query and a method; see its ranked results and AP (wraps `viz.show_query`)."""
    from .viz import show_query

    def _show(query, method, top_k):
        show_query(dataset, descriptors, method, query, top_k)
        plt.show()

    return widgets.interact(
        _show,
        query=widgets.IntSlider(0, 0, dataset.n_queries - 1, description="query"),
        method=widgets.Dropdown(options=descriptors.methods, description="method"),
        top_k=widgets.IntSlider(k, 4, 16, description="top k"),
    )


def week_ahead(now=None, days: int = 7):
    """Pick a day and a horizon; see the sessions and deadlines ahead (wraps `schedule.week_ahead`)."""
    import pandas as pd

    from . import schedule

    start = pd.Timestamp(now) if now is not None else pd.Timestamp.now()

    def _show(day, horizon):
        display(schedule.week_ahead(now=pd.Timestamp(day) if day else start, days=horizon))

    return widgets.interact(
        _show,
        day=widgets.DatePicker(value=start.date(), description="from"),
        horizon=widgets.IntSlider(days, 1, 28, description="days"),
    )
