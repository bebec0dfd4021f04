"""Widgets show what their plain-function twins return, and redraw when a control changes."""
import ipywidgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from course_lib.widgets import live, week_ahead  # noqa: E402


def _figure(n):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(range(n))
    return fig


def test_live_figure_is_an_image_that_redraws():
    open_before = plt.get_fignums()  # figures other tests in this process left open are not this test's
    slider = ipywidgets.IntSlider(2, 1, 5)
    box = live(_figure, n=slider)
    controls, view = box.children
    assert isinstance(view, ipywidgets.Image) and view.value[:8] == b"\x89PNG\r\n\x1a\n"
    before = view.value
    slider.value = 5
    assert view.value != before and view.value[:4] == b"\x89PNG"
    assert list(controls.children) == [slider]
    assert plt.get_fignums() == open_before  # rendered figures are closed, not leaked


def test_live_table_is_html():
    box = live(lambda k: pd.DataFrame({"x": range(k)}), k=ipywidgets.IntSlider(3, 1, 5))
    assert isinstance(box.children[1], ipywidgets.HTML) and box.children[1].value.count("<tr") == 4


def test_week_ahead_widget_matches_the_plain_function():
    from course_lib import schedule

    box = week_ahead(now="2016-10-24T09:00", days=7)
    html = box.children[1].value
    for title in schedule.week_ahead(now="2016-10-24T09:00", days=7)["title"]:
        assert title in html


def test_widgets_are_returned_not_displayed(capsys):
    """Displaying inside and returning showed every widget twice in JupyterLab."""
    box = live(_figure, n=ipywidgets.IntSlider(2, 1, 5))
    assert isinstance(box, ipywidgets.VBox)
    assert capsys.readouterr().out == ""  # outside a kernel, display() would print the widget's repr


def test_a_widget_cell_shows_one_widget_in_a_kernel():
    """Run in a real kernel as a notebook cell (nbclient), the explorer appears exactly once."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from course_lib import widgets\n"
                                          "widgets.week_ahead(now='2016-10-24T09:00', days=7)")]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    views = [o for o in nb.cells[0].outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1, nb.cells[0].outputs
