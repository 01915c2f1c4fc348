"""Helpers shared by the browser tests: viewport sizes, a page that records its own problems."""

from __future__ import annotations

from typing import Any

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


class PageProblems:
    """Console errors, uncaught exceptions and failed requests seen by one page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("requestfailed", lambda req: self.errors.append(f"request failed: {req.url} {req.failure}"))


def open_page(browser: Any, url: str, viewport: dict[str, int], **options: Any) -> tuple[Any, PageProblems]:
    context = browser.new_context(viewport=viewport, **{"device_scale_factor": 1, **options})
    page = context.new_page()
    problems = PageProblems(page)
    page.goto(url)
    return page, problems
