"""ipywidgets front-ends. Each widget wraps a plain function that notebooks also call directly,
so readers without a widget frontend (the web, nbval) see the same result.

Every function here returns its widget and displays nothing: put the call last in a cell (no
semicolon) and Jupyter shows it once. (Displaying inside and returning it showed it twice in
JupyterLab.) Works with ipywidgets 7 (Colab) and 8 (JupyterLab 4).
"""
from __future__ import annotations

import html
import io

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def _render(result) -> tuple[str, object]:
    """A figure becomes PNG bytes for an Image widget; a table or text becomes HTML."""
    if isinstance(result, Figure):
        buffer = io.BytesIO()
        result.savefig(buffer, format="png", dpi=result.dpi, bbox_inches="tight")
        plt.close(result)
        return "image", buffer.getvalue()
    if hasattr(result, "to_html"):
        return "html", result.to_html()
    return "html", f"<pre>{html.escape(str(result))}</pre>"


def live(fn, **controls) -> widgets.VBox:
    """Controls above a view of `fn(**values)` (a Figure, a DataFrame or text), redrawn on change.

    Returned, not displayed (see the module's docstring). Like `ipywidgets.interact`, but the
    result is shown in an Image or HTML widget rather
    than an Output widget: nbclient (used by nbval and notebooks/execute.py) answers each
    output captured by an Output widget by sending the whole widget state back to the
    kernel, and with a figure inside, a notebook run stalls for its full cell timeout.
    """
    def current():
        return _render(fn(**{name: c.value for name, c in controls.items()}))

    kind, value = current()
    view = widgets.Image(value=value, format="png") if kind == "image" else widgets.HTML(value=value)

    def redraw(_change):
        view.value = current()[1]

    for control in controls.values():
        control.observe(redraw, names="value")
    return widgets.VBox([widgets.HBox(list(controls.values())), view])


def query_explorer(dataset, descriptors, k: int = 8):
    """Pick a query and a method; see its ranked results and AP (wraps `viz.show_query`)."""
    from .viz import show_query

    return live(
        lambda query, method, top_k: show_query(dataset, descriptors, method, query, top_k),
        query=widgets.IntSlider(0, 0, dataset.n_queries - 1, description="query"),
        method=widgets.Dropdown(options=descriptors.methods, description="method"),
        top_k=widgets.IntSlider(k, 4, 16, description="top k"),
    )


def week_ahead(now=None, days: int = 7):
    """Pick a day and a horizon; see the sessions and deadlines ahead (wraps `schedule.week_ahead`)."""
    import pandas as pd

    from . import schedule

    start = pd.Timestamp(now) if now is not None else pd.Timestamp.now()

    return live(
        lambda day, horizon: schedule.week_ahead(now=pd.Timestamp(day) if day else start, days=horizon),
        day=widgets.DatePicker(value=start.date(), description="from"),
        horizon=widgets.IntSlider(days, 1, 28, description="days"),
    )


def representation_explorer(dataset, descriptors, backbone, k: int = 8):
    """Pick a query, a layer and a pooling method; see the ranked results with AP (wraps `viz.show_query`)."""
    from .viz import show_query

    from .features import methods_by_layer

    table = methods_by_layer(descriptors.methods, backbone)
    first_layer = backbone.default_conv if backbone.default_conv in table else next(iter(table))
    query = widgets.IntSlider(0, 0, dataset.n_queries - 1, description="query")
    top_k = widgets.IntSlider(k, 4, 16, description="top k")
    layer = widgets.Dropdown(options=list(table), value=first_layer, description="layer")
    pooling = widgets.Dropdown(options=list(table[first_layer]), description="pooling")
    view = widgets.Image(format="png")  # not an Output widget: see `live`

    def draw(_=None):
        method = table[layer.value].get(pooling.value)
        if method is not None:
            view.value = _render(show_query(dataset, descriptors, method, query.value, top_k.value))[1]

    def new_layer(_):
        pooling.options = list(table[layer.value])
        draw()

    layer.observe(new_layer, "value")
    for control in (query, top_k, pooling):
        control.observe(draw, "value")
    draw()
    return widgets.VBox([widgets.HBox([query, top_k]), widgets.HBox([layer, pooling]), view])


def region_explorer(images, backbone, max_side: int = 384, tap: str | None = None, L: int = 3):
    """Pick an image, a channel and the number of scales L; see the image's R-MAC regions and the
    region in which that channel weighs most (wraps `viz.region_response`)."""
    from pathlib import Path

    from .features import conv_map, image_tensor
    from .regions import strongest_channels
    from .viz import region_response

    paths = list(images)
    cache: dict[int, tuple] = {}

    def image_and_maps(i: int):
        if i not in cache:
            x = image_tensor(paths[i], max_side=max_side)
            cache[i] = (x, conv_map(backbone, x, tap))
        return cache[i]

    x0, maps0 = image_and_maps(0)
    picker = widgets.Dropdown(options=[(Path(p).name, i) for i, p in enumerate(paths)], description="image")
    channel = widgets.IntSlider(strongest_channels(maps0, 1)[0], 0, maps0.shape[0] - 1, description="channel")
    scales = widgets.IntSlider(L, 1, 5, description="L")
    view = widgets.Image(format="png")  # not an Output widget: see `live`

    def draw(_=None):
        x, maps = image_and_maps(picker.value)
        view.value = _render(region_response(x, maps, channel.value, scales.value))[1]

    for control in (picker, channel, scales):
        control.observe(draw, "value")
    draw()
    return widgets.VBox([widgets.HBox([picker, channel, scales]), view])
