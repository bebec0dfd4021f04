"""Execute course notebooks top to bottom and store them with clean outputs.

    python notebooks/execute.py                       # every notebook
    python notebooks/execute.py notebooks/00_start_here.ipynb

Outputs are committed so that students can read the notebooks on the web. This script
removes execution noise (progress bars, widget state that cannot render statically) and
records a hash of each code cell's source, so `tests/test_notebooks.py` can tell when a
cell was edited after the outputs were made (stale outputs).
"""
from __future__ import annotations

import hashlib
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent
SOURCE_HASH_KEY = "course_lib_source_sha256"
PROGRESS_BAR = re.compile(r"\d+%\|.*\|")


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def is_noise(output) -> bool:
    """Progress bars (tqdm in text or as a widget) are noise in a committed notebook."""
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        return "\r" in output.get("text", "") or bool(PROGRESS_BAR.search(output.get("text", "")))
    if output.get("output_type") == "display_data":
        text = output.get("data", {}).get("text/plain", "")
        return "application/vnd.jupyter.widget-view+json" in output.get("data", {}) and (
            PROGRESS_BAR.search(text) is not None or text.startswith("HBox(children=(HTML(value="))
    return False


WIDGET_NOTE = "[interactive widget: run the notebook in Jupyter or Colab to use it]"


def static_widget(output):
    """Widget views carry random model ids and render nowhere without a kernel: keep a note."""
    data = output.get("data", {})
    if output.get("output_type") in ("display_data", "execute_result") and \
            "application/vnd.jupyter.widget-view+json" in data:
        return nbformat.v4.new_output("display_data", data={"text/plain": WIDGET_NOTE})
    return output


def clean(nb) -> None:
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = [static_widget(o) for o in cell.outputs if not is_noise(o)]
        cell.metadata[SOURCE_HASH_KEY] = source_hash(cell.source)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)


def execute(path: Path, timeout: int = 1200) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    clean(nb)
    nbformat.write(nb, path)
    return time.perf_counter() - start


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    for p in paths:
        print(f"{p.name}: executed in {execute(p):.0f} s")
