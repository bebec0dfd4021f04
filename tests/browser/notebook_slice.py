"""A notebook cut down to some cells and the cells they need: the widget cells for the browser tests,
the exercise cells for the release test (tests/test_release.py).

A widget cell is a code cell that uses `widgets.` or `live(`. The cut keeps the setup cell, every
widget cell, and, going backwards, every earlier code cell that binds or changes a name that a
kept cell reads (assignment, import, def, augmented or item/attribute assignment), until no name
is missing. Markdown cells and cells nobody needs are dropped; nothing in the notebook is edited.
"""
from __future__ import annotations

import ast
import builtins

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

WIDGET_MARKERS = ("widgets.", "live(")
_TO_PYTHON = TransformerManager()


def is_widget_cell(cell) -> bool:
    return cell.cell_type == "code" and any(marker in cell.source for marker in WIDGET_MARKERS)


def names_of(source: str) -> tuple[set[str], set[str]]:
    """(names the cell reads from outside itself, names the cell binds or changes)."""
    tree = ast.parse(_TO_PYTHON.transform_cell(source))
    binds: set[str] = set()
    reads: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (binds if isinstance(node.ctx, (ast.Store, ast.Del)) else reads).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            binds.add(node.name)
        elif isinstance(node, ast.alias):
            binds.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            binds.add(node.arg)  # a parameter is local: reading it needs no earlier cell
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, ast.Store):
            target = node.value
            while isinstance(target, (ast.Attribute, ast.Subscript)):
                target = target.value
            if isinstance(target, ast.Name):
                binds.add(target.id)  # `x.a = ...`, `x[i] = ...` change x
    # A name bound inside the cell (a loop variable, a parameter) is not needed from before it.
    return reads - binds - set(dir(builtins)), binds


def widget_slice(nb) -> nbformat.NotebookNode:
    """A copy of `nb` with the setup cell, its widget cells and the cells they need, in their order."""
    widget_cells = [i for i, cell in enumerate(nb.cells) if is_widget_cell(cell)]
    if not widget_cells:
        raise ValueError("the notebook has no widget cell")
    return cells_needed(nb, widget_cells)


def cells_needed(nb, targets: list[int]) -> nbformat.NotebookNode:
    """A copy of `nb` with its first code cell (the setup cell), the code cells `targets` and the
    earlier code cells they need, in their order (code cells only, sources as they are)."""
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    reads_binds = {i: names_of(nb.cells[i].source) for i in code}
    keep = {code[0], *targets}
    needed = set().union(*(reads_binds[i][0] for i in keep))
    for i in reversed(code):
        if i > max(targets) or i in keep:
            continue
        reads, binds = reads_binds[i]
        if binds & needed:
            keep.add(i)
            needed |= reads
    cut = nbformat.v4.new_notebook(metadata=nb.metadata)
    cut.cells = [nbformat.v4.new_code_cell(nb.cells[i].source) for i in sorted(keep)]
    return cut
