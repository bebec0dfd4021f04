"""Which cells of a notebook some cells need: the names each code cell reads and binds, and the backward
slice from target cells (the grader runs only a submission's exercise cells and what they need).

A cell is needed when it binds or changes a name that a needed cell reads (assignment, import, def,
augmented or item/attribute assignment); the first code cell (the setup cell) is always kept.
"""
from __future__ import annotations

import ast
import builtins
import functools


@functools.cache
def _to_python():
    """IPython's cell-to-Python translator, made on first use (importing IPython costs every command's start)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def names_of(source: str) -> tuple[set[str], set[str]]:
    """(names the cell reads from outside itself, names the cell binds or changes); IPython magics allowed.

    A cell that is not valid Python raises SyntaxError."""
    tree = ast.parse(_to_python().transform_cell(source))
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


def needed_cells(nb, targets: list[int]) -> list[int]:
    """Indices, in order, of the first code cell, the code cells `targets` and the earlier code cells they
    need. Cells that are not valid Python read and bind nothing here (running them says what is wrong)."""
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    if not code:
        return []
    reads_binds = {}
    for i in code:
        try:
            reads_binds[i] = names_of(nb.cells[i].source)
        except SyntaxError:
            reads_binds[i] = (set(), set())
    keep = {code[0], *targets}
    needed = set().union(*(reads_binds[i][0] for i in keep))
    last = max(targets, default=code[0])
    for i in reversed(code):
        if i > last or i in keep:
            continue
        reads, binds = reads_binds[i]
        if binds & needed:
            keep.add(i)
            needed |= reads
    return sorted(keep)
