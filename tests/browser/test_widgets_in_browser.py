"""The notebooks' widgets in a real browser: JupyterLab on 127.0.0.1, driven by Playwright in headless Chromium.

For every notebook that shows widgets, the test opens a cut-down copy in JupyterLab (the setup
cell, the widget cells and the cells they need: tests/browser/notebook_slice.py; the rest of the
notebook is nbval's job), runs all its cells with a live kernel, then moves each control of each
widget (a slider by keyboard, a dropdown by choosing another option, a date picker by typing) and
asserts that the view under it changes (the picture or the table the widget draws). It fails
on any JavaScript error in the page or a widget "model not found" message, and saves a screenshot
per widget before and after (folder: $BROWSER_SCREENSHOTS, default build/browser-screenshots).

Chromium comes from the system (Debian: `apt-get install -y chromium`) or from Playwright
(`playwright install chromium`), as tests/browser/conftest.py finds it; without one the test is
skipped with a one-line reason.
In CI it runs after `pytest`, whose notebook run leaves the descriptor cache warm, so the cells
the widgets need read their descriptors instead of computing them.
"""
from __future__ import annotations

import datetime
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from notebook_slice import is_widget_cell, widget_slice

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", REPO / "build" / "browser-screenshots"))
# BROWSER_KERNEL_PYTHON=/path/to/python runs the notebooks' kernel with that interpreter (another ipywidgets).
RUN_ALL_TIMEOUT_S = 180
VIEW_CHANGE_TIMEOUT_MS = 60_000
# Messages of JupyterLab itself on a machine without internet (its news feed, PyPI look-ups): not our widgets.
OFFLINE_NOISE = ("net::ERR_", "Failed to load resource", "fetch", "lab/api/news", "lab/api/listings")


def notebooks_with_widgets() -> list[Path]:
    found = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        if any(is_widget_cell(cell) for cell in nbformat.read(path, as_version=4).cells):
            found.append(path)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving cut-down scratch copies of the notebooks (autosave never touches the committed ones)."""
    root = tmp_path_factory.mktemp("lab")
    (root / "notebooks").mkdir()
    for path in notebooks_with_widgets():
        nbformat.write(widget_slice(nbformat.read(path, as_version=4)), root / "notebooks" / path.name)
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".config"), "JUPYTERLAB_WORKSPACES_DIR": str(root / ".ws")}
    kernel_python = os.environ.get("BROWSER_KERNEL_PYTHON")
    if kernel_python:  # e.g. an environment with Colab's ipywidgets 7 behind JupyterLab 4's widget frontend
        spec = root / ".jupyter-data" / "kernels" / "python3"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [kernel_python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)", "language": "python"}))
        env["JUPYTER_PATH"] = str(root / ".jupyter-data")
    # Render every cell (JupyterLab 4 renders only the cells in view by default), so each widget can be reached.
    settings = root / ".settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    # No "get notified about Jupyter news?" toast over the screenshots (there is no network to fetch it anyway).
    notification = root / ".settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--LabApp.news_url=", f"--LabApp.user_settings_dir={root / '.settings'}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    log = root / "jupyterlab.log"
    with open(log, "w") as log_file:
        server = subprocess.Popen(command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
    yield base, token
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def run_all_cells(page) -> None:
    """Run > Run All Cells, until every code cell has its execution count. A click that comes before
    the kernel is ready runs nothing: then it is clicked again."""
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt")
    deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
    for _ in range(3):
        dialog = page.locator(".jp-Dialog")
        if dialog.count():  # e.g. a kernel that died: say what JupyterLab says rather than time out on the menu
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "dialog.png"))
            raise AssertionError(f"JupyterLab shows a dialog: {' '.join(dialog.first.inner_text().split())[:300]}")
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        idle_since = None
        while time.monotonic() < deadline:
            page.wait_for_timeout(1000)
            texts = prompts.all_inner_texts()
            running = sum("[*]" in t for t in texts)
            pending = sum("[ ]" in t for t in texts)
            if running == 0 and pending == 0:
                return
            if running:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > 15:
                break  # nothing ran: click again
    raise AssertionError(f"cells did not all run within {RUN_ALL_TIMEOUT_S} s")


def view_state(view) -> str:
    """What a widget's view shows: the picture's data URL, or the table's text."""
    if view.evaluate("e => e.tagName") == "IMG":
        return view.get_attribute("src") or ""
    return view.inner_text()


def move(control) -> str:
    """Change one control the way a person would; returns what was done."""
    select = control.locator("select")
    if select.count():
        options = select.first.locator("option").all_inner_texts()
        current = select.first.input_value()
        values = select.first.locator("option").evaluate_all("os => os.map(o => o.value)")
        target = next((v for v in values if v != current), None)
        if target is None:
            return ""  # one option only: nothing a person could change
        select.first.select_option(target)
        return f"dropdown -> {options[values.index(target)]}"
    date = control.locator("input[type=date]")
    if date.count():
        current = date.first.input_value()
        later = (datetime.date.fromisoformat(current) + datetime.timedelta(days=7)).isoformat()
        date.first.fill(later)
        date.first.press("Enter")
        return f"date -> {later}"
    handle = control.locator(".noUi-handle, .ui-slider-handle")
    if handle.count():
        # To the far end: one step may show the same thing (a week with no new event); the other end if already there.
        at_end = handle.first.get_attribute("aria-valuenow") == handle.first.get_attribute("aria-valuemax")
        handle.first.focus()
        handle.first.press("Home" if at_end else "End")
        return f"slider -> its {'first' if at_end else 'last'} value"
    return ""


@pytest.mark.parametrize("notebook", notebooks_with_widgets(), ids=lambda p: p.stem)
def test_widgets_respond_in_jupyterlab(notebook, lab, browser):
    silenced = [c.source.rstrip().splitlines()[-1] for c in nbformat.read(notebook, as_version=4).cells
                if is_widget_cell(c) and c.source.rstrip().endswith(";")]
    assert not silenced, f"{notebook.name}: a widget cell ends with ';', so Jupyter shows no widget: {silenced[0]!r}"
    base, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and not any(n in m.text for n in OFFLINE_NOISE)
            and problems.append(f"console error: {m.text[:300]}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {str(e)[:300]}"))
    # A workspace of its own, reset: no tab of an earlier test is restored in front of this notebook.
    page.goto(f"{base}/lab/workspaces/{notebook.stem}/tree/notebooks/{notebook.name}?reset&token={token}")
    page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
    page.get_by_text("Kernel status: Idle").first.wait_for(state="attached", timeout=60_000)
    dialog = page.locator(".jp-Dialog")
    page.wait_for_timeout(1000)
    if dialog.count():  # a kernel that failed to start, a kernel chooser: say what it says
        (SCREENSHOTS / notebook.stem).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / notebook.stem / "dialog.png"))
        pytest.fail(f"{notebook.name}: JupyterLab shows a dialog: {' '.join(dialog.first.inner_text().split())[:300]}")
    run_all_cells(page)

    folder = SCREENSHOTS / notebook.stem
    folder.mkdir(parents=True, exist_ok=True)
    # A widget here is a VBox: a row of controls above a view (an Image or an HTML widget).
    widget_boxes = page.locator(".jp-OutputArea-output .widget-vbox").filter(
        has=page.locator(".widget-image, .widget-html-content"))
    count = widget_boxes.count()
    page.screenshot(path=str(folder / "after_run_all.png"))
    if count == 0:
        shown = page.get_by_text("Click to show javascript error")
        if shown.count():  # the widget frontend failed: show what it said
            shown.first.click()
            page.wait_for_timeout(500)
            page.screenshot(path=str(folder / "javascript_error.png"))
            error = " ".join(shown.first.locator("xpath=..").inner_text().split())[:400]
            pytest.fail(f"{notebook.name}: the widget frontend failed: {error}")
    assert count > 0, f"{notebook.name}: no widget rendered (is the ipywidgets frontend missing?)"
    moved = 0
    for i in range(count):
        box = widget_boxes.nth(i)
        box.scroll_into_view_if_needed()
        view = box.locator(".widget-image, .widget-html-content").last
        controls = box.locator(".widget-dropdown, .widget-slider, .widget-datepicker")
        # Last control first: a dropdown that refills another (layer -> pooling) is moved after it.
        for j in reversed(range(controls.count())):
            before = view_state(view)
            box.screenshot(path=str(folder / f"widget{i}_control{j}_before.png"))
            action = move(controls.nth(j))
            if not action:
                continue
            deadline = time.monotonic() + VIEW_CHANGE_TIMEOUT_MS / 1000
            while view_state(view) == before and time.monotonic() < deadline:
                page.wait_for_timeout(250)
            box.screenshot(path=str(folder / f"widget{i}_control{j}_after.png"))
            assert view_state(view) != before, f"{notebook.name}: widget {i}, {action}: the view did not change"
            moved += 1
    page.screenshot(path=str(folder / "page.png"), full_page=False)
    assert moved > 0, f"{notebook.name}: no control could be moved"
    text = page.locator(".jp-Notebook").inner_text()
    for message in ("model not found", "Error displaying widget", "Failed to load model class"):
        if message in text:
            problems.append(f"notebook shows {message!r}")
    page.close()
    assert not problems, "\n".join(problems)
