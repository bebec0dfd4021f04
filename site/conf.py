"""Sphinx configuration of the course site (built by site/build.py; source folder: the repository root).

The site shows the lecture notes, the executed notebooks as committed (never re-executed), the schedule
and the course map. Links to GitHub copies of pages that are on the site become links between site pages;
relative links to repository files that are not on the site go to GitHub.
"""
from __future__ import annotations

import posixpath
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The one configurable address of the course repository (notebooks/setup_cell.py), as the notebooks use it.
REPOSITORY = re.search(r'COURSE_REPOSITORY = "([^"]+)"', (REPO / "notebooks" / "setup_cell.py").read_text()).group(1)
BLOB = f"{REPOSITORY}/blob/main/"

project = "Deep Learning for Image Search"
author = "the course kit's authors"
extensions = ["myst_nb"]
root_doc = "site/index"
include_patterns = ["site/*.md", "lectures/*.md", "notebooks/[0-9][0-9]_*.ipynb", "schedule.md"]
exclude_patterns = ["build", ".venv", "**/.ipynb_checkpoints"]
nb_execution_mode = "off"  # the committed outputs are the site's outputs
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
# MathJax from the site itself (site/build.py copies it into _static from its pip package): math offline.
mathjax_path = "mathjax/tex-chtml.js"
myst_heading_anchors = 3
html_theme = "alabaster"
html_title = project
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {"fixed_sidebar": True, "page_width": "1240px", "sidebar_width": "240px"}
suppress_warnings = ["image.not_readable", "misc.highlighting_failure"]


def site_documents() -> set[str]:
    """Repository paths of every page on the site."""
    found = set()
    for pattern in include_patterns:
        found |= {p.relative_to(REPO).as_posix() for p in REPO.glob(pattern)}
    return found


MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def rewrite_links(text: str, docname_path: str, documents: set[str]) -> str:
    """GitHub links to site pages -> relative links; relative links to files not on the site -> GitHub."""
    folder = posixpath.dirname(docname_path)

    def one(match: re.Match) -> str:
        target = match.group(1)
        path, _, anchor = target.partition("#")
        if path.startswith(BLOB) and path[len(BLOB):] in documents:
            relative = posixpath.relpath(path[len(BLOB):], folder or ".")
            return f"]({relative}{'#' + anchor if anchor else ''})"
        if not path or re.match(r"^[a-z][a-z0-9+.-]*:", path):  # an anchor, or http:, mailto:, data: ...
            return match.group(0)
        in_repo = posixpath.normpath(posixpath.join(folder, path))
        if in_repo in documents or in_repo.startswith(".."):
            return match.group(0)
        kind = "tree" if (REPO / in_repo).is_dir() else "blob"
        return f"]({REPOSITORY}/{kind}/main/{in_repo}{'#' + anchor if anchor else ''})"

    return MARKDOWN_LINK.sub(one, text)


def course_map(documents: set[str]) -> str:
    """The README's course map table, links made relative to site/, with a slides link per notebook."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Course map", 1)[1].split("\n## ", 1)[0].strip()
    rows = []
    for line in table.splitlines():
        if not line.startswith("|"):
            continue
        notebook = re.search(r"\]\((notebooks/([0-9][0-9]_\w+)\.ipynb)\)", line)
        if line.startswith("| Notebook"):
            line += " Slides |"
        elif line.startswith("|---"):
            line += "---|"
        elif notebook:
            # Raw HTML: the slides are written next to the pages after Sphinx ran, so Sphinx cannot resolve them.
            line += f' <a href="slides/{notebook.group(2)}.slides.html">slides</a> |'
        rows.append(line)
    return rewrite_links("\n".join(rows).replace("](notebooks/", "](../notebooks/").replace(
        "](lectures/", "](../lectures/"), "site/index.md", documents)


def on_source_read(app, docname: str, source: list[str]) -> None:
    documents = site_documents()
    path = next((d for d in documents if d.rsplit(".", 1)[0] == docname), docname)
    text = source[0]
    if docname == "site/index":
        text = text.replace("<!-- course map -->", course_map(documents))
    source[0] = rewrite_links(text, path, documents)


def setup(app):
    app.connect("source-read", on_source_read)
