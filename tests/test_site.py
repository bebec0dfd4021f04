"""The course site builds (site/build.py), every page is there, and no internal link or anchor is broken."""
from __future__ import annotations

import importlib.util
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

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


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    start = site_build.build(out)
    return start.parents[1]  # the html folder


def pages(html: Path) -> dict[Path, Page]:
    return {p: Page(p.read_text(encoding="utf-8")) for p in html.rglob("*.html") if "_static" not in p.parts}


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
        if page.name.endswith(".slides.html"):
            continue  # nbconvert's slides link only to the CDN's reveal.js
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


def test_slides_have_one_slide_per_heading(site):
    slides = (site / "site" / "slides" / "01_representations.slides.html").read_text(encoding="utf-8")
    assert "reveal" in slides.lower()
    assert slides.count("<section") >= 10
