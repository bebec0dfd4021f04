"""Build the course site and its slides from release's copies of the notebooks: the student copies (no
reference solution) by default, the instructor copies with --instructor.

    python site/build.py                  # into build/site; open build/site/html/site/index.html
    python site/build.py --instructor --out build/site-instructor   # for the teaching team only

Sphinx with MyST-NB renders the lecture notes, the notebooks (committed outputs, never re-executed), the
schedule and the course map (site/conf.py), from OUT/source: the repository's pages with the released
notebooks in place of the committed ones. Each notebook also becomes a reveal.js deck (nbconvert with the
template site/deck/): a `#`/`##`/`###` heading starts a slide, the setup cell is left out, and a long
section is cut at its cells, its text blocks and its outputs (figures, tables); a slide whose single
piece is still taller than the canvas scrolls. reveal.js and MathJax are copied from their Python packages into the site, so the site
and the slides work in a classroom without internet.
"""
from __future__ import annotations

import argparse
import base64
import copy
import importlib.metadata
import math
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "site"
CANVAS = {"width": 960, "height": 700}  # reveal.js's canvas, scaled to the screen
SLIDE_BUDGET_PX = 540  # of the canvas's 700 px: room for the slide's padding and the estimates' error
FIGURE_MAX_PX = 560  # site/deck/deck.css caps a figure's height at this
FENCES = ("```", "~~~", "$$")  # what opens a block of markdown that a blank line does not end
# Vendored assets: (distribution, folder inside it, the files of that folder the site needs) -> a folder of _static.
VENDORED = {
    "reveal": ("sphinx-revealjs", "sphinx_revealjs/_static/revealjs",
               ["LICENSE", "dist/reveal.js", "dist/reveal.css", "dist/theme/white.css",
                "dist/theme/fonts/source-sans-pro/*", "plugin/notes/notes.js"]),
    "mathjax": ("django-static-mathjax", "mathjax/static/mathjax/es5",
                ["tex-chtml.js", "output/chtml/fonts/woff-v2/*", "input/tex/extensions/*"]),
}


def vendor(static: Path) -> None:
    """Copy reveal.js and MathJax from their installed packages into the site's `_static` folder."""
    for name, (distribution, folder, patterns) in VENDORED.items():
        try:
            root = Path(importlib.metadata.distribution(distribution).locate_file(folder))
        except importlib.metadata.PackageNotFoundError:
            raise RuntimeError(f"{distribution} is not installed (pip install -e '.[dev]'): the site serves "
                               f"{name} from it") from None
        for pattern in patterns:
            for source in root.glob(pattern):
                target = static / name / source.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)


def released_notebooks(instructor: bool) -> list:
    """(file name, notebook) of release's student copies, or instructor copies, of the course notebooks."""
    import nbformat

    from course_lib import release

    folder = REPO / "notebooks"
    for skipped in release.skipped_notebooks(folder):
        print(f"warning: {skipped.name}: not on the site (a course notebook is named NN_name.ipynb)", file=sys.stderr)
    cut = release.instructor_copy if instructor else release.student_copy
    return [(path.name, cut(nbformat.read(path, as_version=4), path.name))
            for path in release.course_notebooks(folder)]


def stage_sources(source: Path, notebooks: list) -> None:
    """The site's pages in `source`, laid out as in the repository, with `notebooks` as its notebooks."""
    import nbformat

    if source.exists():
        shutil.rmtree(source)
    (source / "site").mkdir(parents=True)
    for page in SITE.glob("*.md"):
        shutil.copyfile(page, source / "site" / page.name)
    shutil.copytree(REPO / "lectures", source / "lectures")
    shutil.copyfile(REPO / "schedule.md", source / "schedule.md")
    (source / "notebooks").mkdir()
    for name, nb in notebooks:
        nbformat.write(nb, source / "notebooks" / name)


# ---------------------------------------------------------------- slides

def is_figure(output) -> bool:
    return any(mime.startswith("image/") for mime in output.get("data", {}))


def figure_height(output) -> int:
    """The height a figure takes on the canvas: a PNG's own size scaled to the canvas width, capped by the CSS."""
    data = output["data"].get("image/png")
    if not data:
        return FIGURE_MAX_PX
    header = base64.b64decode("".join(data)[:32])
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    return min(FIGURE_MAX_PX, int(height * min(1.0, (CANVAS["width"] - 40) / max(width, 1))))


def text_height(text: str, line_px: int, chars_per_line: int) -> int:
    return sum(line_px * max(1, math.ceil(len(line) / chars_per_line)) for line in text.splitlines())


def estimated_height(cell) -> int:
    """About how many canvas pixels a cell takes in a deck (deck.css's fonts); used to cut long sections."""
    if cell.cell_type != "code":
        height = 0
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                height += 64
            elif stripped.startswith("|"):
                height += 36
            elif stripped.startswith("$$") or stripped.startswith("\\["):
                height += 48
            else:
                height += text_height(line, 30, 80) if stripped else 12
        return height + 24
    height = 0 if cell.metadata.get("transient", {}).get("remove_source") else text_height(cell.source, 20, 100) + 30
    for output in cell.outputs:
        data = output.get("data", {})
        if is_figure(output):
            height += figure_height(output) + 10
        elif "text/html" in data:
            html = "".join(data["text/html"])
            height += 40 + 34 * max(html.count("<tr"), html.count("<br") + html.count("<p") + html.count("<li"), 1)
        else:
            text = output.get("text") or "".join(data.get("text/plain", ""))
            height += text_height("".join(text), 20, 100) + 16
    return height


def output_cell(outputs: list):
    """A cell that shows outputs only (its source is left out of the slide)."""
    import nbformat

    cell = nbformat.v4.new_code_cell("", outputs=outputs)
    cell.metadata["transient"] = {"remove_source": True}
    return cell


def markdown_blocks(source: str) -> list[str]:
    """A markdown text cut before each heading and at each blank line outside fenced code, display math and
    revealable answers (<details>...</details>, which must stay whole to stay folded), so that a long text
    cell can go on several slides."""
    blocks: list[list[str]] = [[]]
    fence = None
    folded = 0  # how many <details> are open
    for line in source.splitlines():
        stripped = line.strip()
        if fence is None and not folded and (stripped.startswith("#") or not stripped) and blocks[-1]:
            blocks.append([])
        opening = next((marker for marker in FENCES if stripped.startswith(marker)), None)
        if fence is None and opening:
            fence = None if opening == "$$" and len(stripped) > 2 and stripped.endswith("$$") else opening
        elif fence is not None and stripped.startswith(fence):
            fence = None
        if fence is None:
            folded = max(0, folded + stripped.lower().count("<details") - stripped.lower().count("</details>"))
        if stripped or fence is not None or folded:
            blocks[-1].append(line)
    return ["\n".join(block) for block in blocks if block]


def slide_units(nb) -> list:
    """The cells a deck shows, each a unit a slide holds whole: no setup cell (the first code cell: pip
    install and imports), a text cell cut into its blocks, a code cell's source and each of its outputs
    (a figure, a table, printed text) apart."""
    import nbformat

    units = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and i == 0:
            continue
        if cell.cell_type == "markdown":
            for block in markdown_blocks(cell.source):
                units.append(nbformat.v4.new_markdown_cell(block, attachments=cell.get("attachments", {})))
            continue
        if cell.cell_type != "code":
            units.append(cell)
            continue
        code = copy.deepcopy(cell)
        code.outputs = []
        units += [code] + [output_cell([output]) for output in cell.outputs]
    return units


def starts_section(cell) -> bool:
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith(("# ", "## ", "### "))


def deck(nb):
    """A copy of `nb` cut into slides: a heading starts one, and so does a unit that would overflow the
    current slide (budget SLIDE_BUDGET_PX)."""
    deck_nb = copy.deepcopy(nb)
    deck_nb.cells = slide_units(nb)
    filled = None
    for cell in deck_nb.cells:
        height = estimated_height(cell)
        if filled is None or starts_section(cell) or filled + height > SLIDE_BUDGET_PX:
            cell.metadata["slideshow"] = {"slide_type": "slide"}
            filled = height
        else:
            cell.metadata["slideshow"] = {"slide_type": "-"}
            filled += height
    return deck_nb


def build_slides(notebooks: list, out: Path, assets: str) -> list[Path]:
    """Write one deck per (file name, notebook) into `out`; `assets` is the URL of _static from there."""
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(extra_template_basedirs=[str(SITE)], template_name="deck", exclude_anchor_links=True)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, nb in notebooks:
        stem = Path(name).stem
        resources = {"metadata": {"name": stem}, "deck": {"assets": assets, **CANVAS}}
        body, _ = exporter.from_notebook_node(deck(nb), resources=resources)
        target = out / f"{stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
    return written


def build(out: str | Path = REPO / "build" / "site", quiet: bool = True, instructor: bool = False) -> Path:
    """Build the site into `out` (student copies, or instructor copies); returns the path of its start page.
    Raises RuntimeError if Sphinx fails."""
    from sphinx.cmd.build import build_main

    out = Path(out)
    notebooks = released_notebooks(instructor)
    source = out / "source"
    stage_sources(source, notebooks)
    html = out / "html"  # MyST-NB keeps the notebooks' images beside it, in out/jupyter_execute
    args = ["-b", "html", "-c", str(SITE), "-d", str(out / ".doctrees"), str(source), str(html)]
    if build_main((["-q"] if quiet else []) + args) != 0:
        raise RuntimeError("sphinx-build failed (see the messages above)")
    vendor(html / "_static")
    build_slides(notebooks, html / "site" / "slides", assets="../../_static")
    return html / "site" / "index.html"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "build" / "site"), help="output folder (default build/site)")
    parser.add_argument("--instructor", action="store_true",
                        help="build from the instructor copies: reference solutions shown (never publish this one)")
    options = parser.parse_args()
    try:
        start = build(options.out, quiet=False, instructor=options.instructor)
    except RuntimeError as exc:
        sys.exit(f"error: {exc}")
    print(f"site built: open {start}")
