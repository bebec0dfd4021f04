"""The headless Chromium that the browser tests drive: a system one (Debian's package) or Playwright's own."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Chromium flags for a machine with a closed network: no background connections, no sandbox as root.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def chromium_executable() -> str | None:
    """A system Chromium first (Debian's package), else the one `playwright install chromium` downloaded."""
    from playwright import sync_api

    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    with sync_api.sync_playwright() as p:
        bundled = p.chromium.executable_path
    return bundled if bundled and Path(bundled).exists() else None


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

    executable = chromium_executable()
    if executable is None:
        reason = "no Chromium here: `apt-get install -y chromium` (Debian) or `playwright install chromium`"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (.ci/run installs one: CI never skips the browser tests)")
        pytest.skip(reason)
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
