"""Real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against `python -m service`.

Playwright's own browser download does not work on this network, so the tests launch the system Chromium via
``executable_path``; without it they fail with the reason (``scripts/setup-dev.sh`` installs it; a skip would
hide a gap). Every page records console errors, uncaught exceptions and failed requests so each test
can assert the page ran clean. Screenshots go to ``artifacts/screenshots/`` (gitignored; kept as test
artifacts).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_harness import DESKTOP, PHONE, PageProblems, open_page
from repo_files import REPO_ROOT

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def ui_server(request: pytest.FixtureRequest) -> str:
    """Base URL of a running `python -m service` (default settings, the shipped model).

    UI_BASE_URL, when set, points the tests at a service already running (e.g. a deployed container);
    otherwise they use the suite's shared ``live_server`` (tests/conftest.py).
    """
    if os.environ.get("UI_BASE_URL"):
        return os.environ["UI_BASE_URL"].rstrip("/")
    return str(request.getfixturevalue("live_server"))


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """One browser per test module, closed after it: Playwright's sync API keeps an asyncio loop
    running in this thread while it is open, which would break later tests that call ``asyncio.run``."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's 'chromium' (scripts/setup-dev.sh does so)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def desktop(chromium: object, ui_server: str) -> Iterator[tuple[object, PageProblems]]:
    page, problems = open_page(chromium, ui_server, DESKTOP)
    yield page, problems
    page.context.close()


@pytest.fixture
def phone(chromium: object, ui_server: str) -> Iterator[tuple[object, PageProblems]]:
    page, problems = open_page(chromium, ui_server, PHONE)
    yield page, problems
    page.context.close()
