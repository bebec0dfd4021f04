"""A notebook cut down to some cells and the cells they need: the widget cells for the browser tests,
the exercise cells for the release test (tests/test_release.py).

A widget cell is a code cell that uses `widgets.` or `live(`. Which earlier cells a cell needs is
course_lib.notebook_cells' rule (the grader's): the setup cell, and going backwards every earlier code
cell that binds or changes a name a kept cell reads. Markdown cells and cells nobody needs are dropped;
nothing in the notebook is edited.
"""
from __future__ import annotations

import nbformat

from course_lib.notebook_cells import needed_cells

WIDGET_MARKERS = ("widgets.", "live(")


def is_widget_cell(cell) -> bool:
    return cell.cell_type == "code" and any(marker in cell.source for marker in WIDGET_MARKERS)


def widget_slice(nb) -> nbformat.NotebookNode:
    """A copy of `nb` with the setup cell, its widget cells and the cells they need, in their order."""
    widget_cells = [i for i, cell in enumerate(nb.cells) if is_widget_cell(cell)]
    if not widget_cells:
        raise ValueError("the notebook has no widget cell")
    return cells_needed(nb, widget_cells)


def cells_needed(nb, targets: list[int]) -> nbformat.NotebookNode:
    """A copy of `nb` with its first code cell (the setup cell), the code cells `targets` and the
    earlier code cells they need, in their order (code cells only, sources as they are)."""
    cut = nbformat.v4.new_notebook(metadata=nb.metadata)
    cut.cells = [nbformat.v4.new_code_cell(nb.cells[i].source) for i in needed_cells(nb, targets)]
    return cut
