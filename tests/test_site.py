"""The course site builds (site/build.py), every page is there, no internal link or anchor is broken, nothing
loads from the internet, and the default build (release's student copies) shows no reference solution while
the instructor build does."""
from __future__ import annotations

import html
import importlib.util
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from course_lib import release

pytest.importorskip("myst_nb", reason="the site needs the dev extras (pip install -e '.[dev]')")

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("site_build", REPO / "site" / "build.py")
site_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(site_build)
LECTURES = sorted(p.stem for p in (REPO / "lectures").glob("[0-9][0-9]_*.md"))
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


class Page(HTMLParser):
    """The links (a href, img/script src, link href) and the element ids of one HTML page."""

    def __init__(self, text: str):
        super().__init__()
        self.links: list[str] = []
        self.resources: list[str] = []  # what the page loads: scripts, style sheets, pictures
        self.ids: set[str] = set()
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key) and tag in ("a", "img", "script", "link"):
                self.links.append(attrs[key])
            if attrs.get(key) and tag in ("script", "link"):
                self.resources.append(attrs[key])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    start = site_build.build(out)
    return start.parents[1]  # the html folder


@pytest.fixture(scope="module")
def instructor_site(tmp_path_factory):
    return site_build.build(tmp_path_factory.mktemp("instructor"), instructor=True).parents[1]


def pages(root: Path) -> dict[Path, Page]:
    return {p: Page(p.read_text(encoding="utf-8")) for p in root.rglob("*.html") if "_static" not in p.parts}


def test_every_page_is_built(site):
    expected = (["site/index.html", "schedule.html", "lectures/README.html"]
                + [f"lectures/{name}.html" for name in LECTURES]
                + [f"notebooks/{name}.html" for name in NOTEBOOKS]
                + [f"site/slides/{name}.slides.html" for name in NOTEBOOKS])
    missing = [page for page in expected if not (site / page).is_file()]
    assert not missing, f"pages not built: {missing}"


def test_no_internal_link_is_broken(site):
    parsed = pages(site)
    broken = []
    for page, content in parsed.items():
        for link in content.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "data:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.exists():
                broken.append(f"{page.relative_to(site)} -> {link}")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else Page(target.read_text(encoding="utf-8")).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)} -> {link} (no such anchor)")
    assert not broken, f"{len(broken)} broken links, e.g.:\n" + "\n".join(broken[:20])


def test_lectures_and_notebooks_link_to_each_other(site):
    for lecture in LECTURES:
        number = lecture[:2]
        notebook = next(n for n in NOTEBOOKS if n.startswith(number))
        lecture_links = Page((site / "lectures" / f"{lecture}.html").read_text(encoding="utf-8")).links
        notebook_links = Page((site / "notebooks" / f"{notebook}.html").read_text(encoding="utf-8")).links
        assert any(link.split("#")[0] == f"../notebooks/{notebook}.html" for link in lecture_links), lecture
        assert any(link.split("#")[0] == f"../lectures/{lecture}.html" for link in notebook_links), notebook


def test_course_map_links_every_notebook_lecture_and_slides(site):
    links = Page((site / "site" / "index.html").read_text(encoding="utf-8")).links
    for name in NOTEBOOKS:
        assert f"../notebooks/{name}.html" in links and f"slides/{name}.slides.html" in links, name
    for name in LECTURES:
        assert f"../lectures/{name}.html" in links, name
    assert "../schedule.html" in links


def test_equations_are_left_to_mathjax_and_outputs_are_the_committed_ones(site):
    lecture = (site / "lectures" / "01_representations.html").read_text(encoding="utf-8")
    assert "mathjax" in lecture.lower() and re.search(r'class="math[^"]*"', lecture)
    notebook = (site / "notebooks" / "00_start_here.html").read_text(encoding="utf-8")
    assert "<img" in notebook  # the committed figures, not re-executed


def test_nothing_loads_from_the_internet(site):
    """Scripts, style sheets and fonts (reveal.js, MathJax) come from the site itself: it works offline."""
    remote = [f"{page.relative_to(site)}: {link}" for page, content in pages(site).items()
              for link in content.resources if urlsplit(link).scheme in ("http", "https") or link.startswith("//")]
    assert not remote, "\n".join(remote[:10])
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (site / "_static" / "reveal" / "dist" / "reveal.js").is_file()


def built_texts(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in root.rglob("*.html")
            if "_static" not in p.parts and ("notebooks" in p.parts or "slides" in p.parts)}


def test_default_build_shows_no_reference_solution_and_the_instructor_build_does(site, instructor_site):
    marker = "Reference solution of exercise"
    lines = [html.escape(line, quote=False) for lines in release.reference_lines().values() for line in lines]
    student = built_texts(site)
    leaks = [f"{name}: {line}" for name, text in student.items() for line in lines if line in text]
    assert not [name for name, text in student.items() if marker in text] and not leaks, leaks[:5]
    instructor = built_texts(instructor_site)
    for name in NOTEBOOKS:
        exercises = release.find_exercises(nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4))
        for page in (f"notebooks/{name}.html", f"site/slides/{name}.slides.html"):
            assert instructor[page].count(marker) >= len(exercises), page


def test_slides_leave_out_the_setup_cell_and_start_a_slide_at_each_heading(site):
    setup = (REPO / "notebooks" / "setup_cell.py").read_text().strip().splitlines()[-1]
    for name in NOTEBOOKS:
        slides = (site / "site" / "slides" / f"{name}.slides.html").read_text(encoding="utf-8")
        assert html.escape(setup.strip(), quote=False) not in slides and "reveal.js" in slides, name
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        headings = sum(line.startswith(("# ", "## ", "### ")) for c in nb.cells if c.cell_type == "markdown"
                       for line in c.source.splitlines())
        assert slides.count("<section") >= 2 * headings, name  # a slide is a <section> in a <section>


def test_a_long_section_is_cut_at_its_cells_within_the_budget():
    text = nbformat.v4.new_markdown_cell("## A long section\n\n" + "\n\n".join(["A paragraph of prose. " * 8] * 12))
    code = nbformat.v4.new_code_cell("print('x')", outputs=[nbformat.v4.new_output("stream", text="x\n" * 30)])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%pip install course_lib"), text, code])
    deck = site_build.deck(nb)
    assert all("pip install" not in cell.source for cell in deck.cells)
    starts = [i for i, cell in enumerate(deck.cells) if cell.metadata["slideshow"]["slide_type"] == "slide"]
    assert len(starts) >= 3 and deck.cells[0].source == "## A long section"
    for begin, end in zip(starts, starts[1:] + [len(deck.cells)]):
        slide = deck.cells[begin:end]
        assert len(slide) == 1 or sum(map(site_build.estimated_height, slide)) <= site_build.SLIDE_BUDGET_PX


def test_markdown_is_cut_at_blank_lines_outside_code_and_math():
    text = "# T\nintro\n\n```python\nx = 1\n\ny = 2\n```\n$$\na\n\nb\n$$\n\n$$x$$\n\nend"
    assert site_build.markdown_blocks(text) == ["# T\nintro", "```python\nx = 1\n\ny = 2\n```\n$$\na\n\nb\n$$",
                                                "$$x$$", "end"]


def test_a_revealable_answer_stays_whole_so_it_stays_folded():
    text = "Question?\n\n<details><summary>Answer (click)</summary>\n\nThe answer.\n\nMore of it.\n</details>\n\nAfter."
    assert site_build.markdown_blocks(text) == [
        "Question?", "<details><summary>Answer (click)</summary>\n\nThe answer.\n\nMore of it.\n</details>", "After."]
