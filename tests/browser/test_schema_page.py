"""/schema (the page's "API docs" link) in real Chromium with every other host unreachable.

Behind a strict proxy or offline, a renderer from a CDN leaves the page blank. Here each request to a host
other than the service is aborted and recorded; the page must still list the operations, ask no other
host for anything, and log no error (a Content-Security-Policy violation is a console error).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from browser_harness import DESKTOP, PageProblems
from playwright.sync_api import Route, expect

pytestmark = pytest.mark.browser

OPERATIONS = [
    ("POST", "/predict"),
    ("POST", "/predict/batch"),
    ("POST", "/fit-line"),
    ("GET", "/healthz"),
    ("HEAD", "/readyz"),
    ("POST", "/v2/models/{model_name}/infer"),
]


def test_the_docs_page_lists_the_operations_with_other_hosts_blocked(
    chromium, ui_server: str, screenshots
) -> None:
    service = urlsplit(ui_server).netloc
    elsewhere: list[str] = []

    def only_the_service(route: Route) -> None:
        if urlsplit(route.request.url).netloc == service:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("blockedbyclient")

    context = chromium.new_context(viewport=DESKTOP)
    page = context.new_page()
    problems = PageProblems(page)
    page.route("**/*", only_the_service)
    try:
        response = page.goto(f"{ui_server}/schema")
        assert response is not None
        assert response.status == 200
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "'unsafe-inline'" not in policy
        assert "'unsafe-eval'" not in policy
        summaries = page.locator(".opblock-summary")
        expect(summaries.first).to_be_visible(timeout=20_000)
        listed = {
            (
                summaries.nth(i).locator(".opblock-summary-method").inner_text().strip(),
                summaries.nth(i).locator(".opblock-summary-path").inner_text().strip().replace("\u200b", ""),
            )
            for i in range(summaries.count())
        }
        for operation in OPERATIONS:
            assert operation in listed, (operation, sorted(listed))
        page.screenshot(path=str(screenshots / "schema-offline.png"))
        assert elsewhere == []  # nothing was even asked of another host
        assert problems.errors == []
    finally:
        context.close()
