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
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_harness import DESKTOP, PHONE, PageProblems, open_page

REPO_ROOT = Path(__file__).resolve().parents[2]
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
STARTUP_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ui_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a running `python -m service` (default settings, the shipped model).

    UI_BASE_URL, when set, points the tests at a service already running (e.g. a deployed container).
    Otherwise the suite's shared ``live_server`` (tests/conftest.py) is used, or, without one, a server of
    our own.
    """
    if os.environ.get("UI_BASE_URL"):
        yield os.environ["UI_BASE_URL"].rstrip("/")
        return
    try:
        shared = request.getfixturevalue("live_server")
    except pytest.FixtureLookupError:
        shared = None
    if shared is not None:
        yield str(shared).rstrip("/")
        return
    yield from _own_server(tmp_path_factory.mktemp("ui_server") / "server.log")


def _own_server(log_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "DIGITS_HOST": "127.0.0.1", "DIGITS_PORT": str(port), "DIGITS_WORKERS": "1"}
    with log_path.open("w") as log_file:  # a file, not a pipe: a chatty server can never block on it
        command = [sys.executable, "-m", "service"]
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"python -m service exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"python -m service not ready after {STARTUP_TIMEOUT}s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
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
