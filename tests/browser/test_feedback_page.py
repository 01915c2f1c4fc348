"""The page's "Wrong? It was a ..." buttons in real Chromium against ``python -m service`` with a SQLite
sample store: draw, correct, and see the feedback summary change (on the page and at /feedback/summary).
On the shared server (store off) the buttons never show."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from browser_harness import DESKTOP, open_page
from playwright.sync_api import Page, expect
from test_page import draw, prediction, vertical_stroke

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def store_server(start_server, tmp_path: Path) -> str:
    """Its own python -m service (tests/conftest.py's start_server), the store in a temp SQLite file."""
    return start_server(env={"DIGITS_STORE_URL": f"sqlite:///{tmp_path / 'samples.db'}"})


def summary(server: str) -> dict:
    (version,) = httpx.get(f"{server}/feedback/summary").json()["versions"]
    return version


def test_draw_correct_and_see_the_summary_change(chromium, store_server: str, screenshots) -> None:
    page, problems = open_page(chromium, store_server, DESKTOP)
    try:
        feedback = page.get_by_test_id("feedback")
        expect(feedback).to_be_hidden()  # nothing to correct yet
        draw(page, vertical_stroke())
        label, _ = prediction(page)
        expect(feedback).to_be_visible()
        expect(page.get_by_text("Wrong? It was a …")).to_be_visible()
        expect(page.get_by_test_id(f"feedback-{label}")).to_be_hidden()  # not "it was what it said"
        wrong = (label + 6) % 10
        page.get_by_test_id(f"feedback-{wrong}").click()
        page.locator("#feedback[data-feedback-state=done]").wait_for(timeout=10_000)
        status = page.get_by_test_id("feedback-status")
        expect(status).to_contain_text(f"saved as a {wrong}")
        expect(status).to_contain_text("1 labelled, 0 not a digit, 0.0% read right")
        first = summary(store_server)
        assert (first["labelled"], first["correct"], first["not_a_digit"]) == (1, 0, 0)
        assert first["confusion"][wrong][label] == 1
        page.locator("#digits").screenshot(path=screenshots / "desktop-feedback.png")

        page.get_by_test_id("feedback-not-a-digit").click()  # changed my mind: replaces the correction
        expect(status).to_contain_text("saved as not a digit")
        expect(status).to_contain_text("0 labelled, 1 not a digit")
        second = summary(store_server)
        assert (second["labelled"], second["not_a_digit"]) == (0, 1)

        page.get_by_test_id("clear").click()
        expect(feedback).to_be_hidden()
        assert problems.errors == []
    finally:
        page.context.close()


def test_without_a_store_the_page_offers_no_corrections(desktop: tuple[Page, object]) -> None:
    page, problems = desktop
    draw(page, vertical_stroke())
    prediction(page)
    expect(page.get_by_test_id("feedback")).to_be_hidden()
    assert problems.errors == []
