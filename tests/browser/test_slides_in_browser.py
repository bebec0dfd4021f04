"""The slide decks in a real browser: every slide of every deck fits reveal.js's canvas, and math renders
without internet.

site/build.py makes the decks (from release's student copies; slides only, no Sphinx), with reveal.js and
MathJax copied beside them. Headless Chromium opens each deck from disk with every request that leaves the
disk refused, waits for MathJax, steps through every slide and measures it: content taller or wider than
the canvas is allowed only on a slide that holds a single cell (it cannot be cut further, so it scrolls).
A screenshot per slide goes to $BROWSER_SCREENSHOTS/slides (default build/browser-screenshots/slides).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", REPO / "build" / "browser-screenshots")) / "slides"
_spec = importlib.util.spec_from_file_location("site_build", REPO / "site" / "build.py")
site_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(site_build)
LOCAL = ("file:", "data:", "about:")
MEASURE_SLIDE = """i => {
    Reveal.slide(i);
    const s = Reveal.getCurrentSlide();
    return {height: s.scrollHeight, width: s.scrollWidth, box_height: s.clientHeight, box_width: s.clientWidth,
            bottom: s.offsetTop + s.offsetHeight, cells: s.querySelectorAll(".jp-Cell").length,
            scrolls: getComputedStyle(s).overflowY !== "visible",
            title: (s.querySelector("h1, h2, h3") || {}).textContent || ""};
}"""


@pytest.fixture(scope="module")
def decks(tmp_path_factory) -> list[Path]:
    html = tmp_path_factory.mktemp("site") / "html"
    site_build.vendor(html / "_static")
    return site_build.build_slides(site_build.released_notebooks(instructor=False), html / "site" / "slides",
                                   assets="../../_static")


def open_offline(browser, deck: Path):
    """The deck in a page of the canvas's size, every request off the disk refused; returns (page, refused)."""
    page = browser.new_page(viewport=site_build.CANVAS)
    refused: list[str] = []

    def route(request_route):
        request = request_route.request
        if request.url.startswith(LOCAL):
            request_route.continue_()
        else:
            refused.append(f"{request.resource_type} {request.url}")
            request_route.abort()

    page.route("**/*", route)
    page.goto(deck.as_uri())
    page.wait_for_function("window.Reveal && Reveal.isReady() && window.MathJax && MathJax.startup "
                           "&& MathJax.startup.promise", timeout=30_000)
    page.evaluate("MathJax.startup.promise")
    return page, refused


def test_every_slide_fits_the_canvas_offline(decks, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems, scrolling = [], []
    for deck in decks:
        page, refused = open_offline(browser, deck)
        name = deck.name.split(".")[0]
        # Only pictures may be refused (the Colab badges); a script, style sheet or font must come from disk.
        problems += [f"{name}: {r}" for r in refused if not r.startswith("image ")]
        total = page.evaluate("Reveal.getTotalSlides()")
        assert total >= 5, f"{name}: {total} slides"
        for i in range(total):
            slide = page.evaluate(MEASURE_SLIDE, i)
            page.screenshot(path=str(SCREENSHOTS / f"{name}_{i:03d}.png"))
            where = f"{name} slide {i + 1} ({slide['title'][:40]!r})"
            if slide["bottom"] > site_build.CANVAS["height"]:
                problems.append(f"{where}: the slide reaches {slide['bottom']} px, below the canvas")
            if slide["height"] > slide["box_height"] + 1 or slide["width"] > slide["box_width"] + 1:
                if slide["cells"] > 1 or not slide["scrolls"]:
                    problems.append(f"{where}: content of {slide['width']}x{slide['height']} px on a "
                                    f"{slide['box_width']}x{slide['box_height']} slide of {slide['cells']} cells")
                scrolling.append(where)
        if name.startswith("01"):
            math = page.evaluate("[document.querySelectorAll('mjx-container').length, "
                                 "document.querySelectorAll('mjx-merror').length]")
            assert math[0] > 0 and math[1] == 0, f"{name}: MathJax typeset {math[0]} formulas, {math[1]} errors"
        page.close()
    print(f"{len(scrolling)} slides scroll (one cell taller than the canvas): {scrolling}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:30])
