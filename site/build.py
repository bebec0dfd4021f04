"""Build the course site: lecture notes, executed notebooks (committed outputs), schedule, course map,
and reveal.js slides of every notebook.

    python site/build.py                  # into build/site; open build/site/html/site/index.html
    python site/build.py --out DIR

Sphinx with MyST-NB renders the pages (site/conf.py); `jupyter nbconvert --to slides` makes the slides,
one slide per markdown heading (a `#`/`##` heading starts a slide, `###` a sub-slide), decided on a copy
of each notebook so the committed notebooks stay as they are.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "site"
# reveal.js comes from a CDN when the slides are opened (nbconvert's default; pin a version so slides do not drift).
REVEAL_PREFIX = "https://unpkg.com/reveal.js@4.6.1"


def slide_type(cell) -> str:
    """A markdown cell that opens with a `#`/`##` heading starts a slide, `###` a sub-slide; the rest follows."""
    if cell.cell_type == "markdown":
        first = cell.source.lstrip().split("\n", 1)[0]
        if first.startswith(("# ", "## ")):
            return "slide"
        if first.startswith("### "):
            return "subslide"
    return "-"


def build_slides(notebooks: list[Path], out: Path) -> list[Path]:
    import nbformat
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(reveal_url_prefix=REVEAL_PREFIX)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = copy.deepcopy(nbformat.read(path, as_version=4))
        for i, cell in enumerate(nb.cells):
            kind = "slide" if i == 0 else slide_type(cell)
            cell.metadata["slideshow"] = {"slide_type": kind}
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        target = out / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
    return written


def build(out: str | Path = REPO / "build" / "site", quiet: bool = True) -> Path:
    """Build the site into `out`; returns the path of its start page. Raises RuntimeError if Sphinx fails."""
    from sphinx.cmd.build import build_main

    out = Path(out)
    html = out / "html"  # MyST-NB keeps the notebooks' images beside it, in out/jupyter_execute
    args = ["-b", "html", "-c", str(SITE), "-d", str(out / ".doctrees"), str(REPO), str(html)]
    if build_main((["-q"] if quiet else []) + args) != 0:
        raise RuntimeError("sphinx-build failed (see the messages above)")
    build_slides(sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")), html / "site" / "slides")
    return html / "site" / "index.html"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "build" / "site"), help="output folder (default build/site)")
    options = parser.parse_args()
    try:
        start = build(options.out, quiet=False)
    except RuntimeError as exc:
        sys.exit(f"error: {exc}")
    print(f"site built: open {start}")
