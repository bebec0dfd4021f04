"""The notebooks' widgets checked in the kernel, without a browser, under any ipywidgets: for the
version JupyterLab 4 cannot render (7.x, Colab's).

    python tests/browser/widgets_kernel_side.py /path/to/python   # an interpreter with ipywidgets 7.x, say

Each notebook with widgets is cut to its widget cells and the cells they need (notebook_slice.py),
run by nbclient in a kernel started with that interpreter, and then every control of every widget
is set to another value in the kernel; the picture or table under it must change. Prints one line per
notebook with the ipywidgets version the kernel used; exit status 1 if a view did not change.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from notebook_slice import is_widget_cell, widget_slice

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
MOVE_EVERY_CONTROL = r'''
import datetime, json
import ipywidgets
try:
    instances = list(ipywidgets.Widget.widgets.values())          # 7.x
except AttributeError:
    from ipywidgets.widgets.widget import _instances as registry  # 8.x
    instances = list(registry.values())
boxes = [w for w in instances if isinstance(w, ipywidgets.VBox) and w.children
         and isinstance(w.children[-1], (ipywidgets.Image, ipywidgets.HTML))]
report = {"ipywidgets": ipywidgets.__version__, "widgets": len(boxes), "moved": 0, "unchanged": []}
for number, box in enumerate(boxes):
    view = box.children[-1]
    controls = [c for row in box.children[:-1] for c in (row.children if isinstance(row, ipywidgets.HBox) else [row])]
    for control in reversed(controls):  # last first: a dropdown that refills another is moved after it
        before = view.value
        if isinstance(control, ipywidgets.DatePicker):
            control.value = control.value + datetime.timedelta(days=7)
        elif getattr(control, "options", None) and len(control.options) > 1:
            values = [o[1] if isinstance(o, tuple) else o for o in control.options]
            control.value = next(v for v in values if v != control.value)
        elif hasattr(control, "min") and hasattr(control, "max"):
            control.value = control.min if control.value == control.max else control.max
        else:
            continue
        report["moved"] += 1
        if view.value == before:
            report["unchanged"].append(f"widget {number}: {control.description or type(control).__name__}")
print(json.dumps(report))
'''


def check(python: str) -> int:
    failed = 0
    with tempfile.TemporaryDirectory() as data:
        spec = Path(data) / "kernels" / "python3"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)", "language": "python"}))
        os.environ["JUPYTER_PATH"] = data  # this kernel spec in front of the installed "python3"
        for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            if not any(is_widget_cell(cell) for cell in nb.cells):
                continue
            cut = widget_slice(nb)
            for cell in cut.cells:  # a trailing ';' only hides the widget from the page, not from the kernel
                if is_widget_cell(cell) and cell.source.rstrip().endswith(";"):
                    cell.source = cell.source.rstrip()[:-1]
            cut.cells.append(nbformat.v4.new_code_cell(MOVE_EVERY_CONTROL))
            NotebookClient(cut, timeout=900, kernel_name="python3",
                           resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
            report = json.loads("".join(o.get("text", "") for o in cut.cells[-1].outputs))
            failed += bool(report["unchanged"]) or report["moved"] == 0
            print(f"{path.name}: {report}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/browser/widgets_kernel_side.py /path/to/python")
    sys.exit(check(sys.argv[1]))
