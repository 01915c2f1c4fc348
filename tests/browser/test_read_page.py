"""The page's "Read a number" panel in real Chromium against the real service: write digits side by side
with the mouse, or upload a picture, and see the number with a box, label and confidence per digit."""

from __future__ import annotations

import pytest
from browser_harness import PageProblems
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

OpenPage = tuple[Page, PageProblems]


def write(page: Page, *strokes: list[tuple[float, float]]) -> None:
    """Mouse strokes on the number canvas; points are fractions of its width and height."""
    canvas = page.get_by_test_id("read-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0] * box["width"], box["y"] + stroke[0][1] * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=8)
        page.mouse.up()


def one(x: float) -> list[tuple[float, float]]:
    return [(x + 0.01, 0.15), (x, 0.5), (x - 0.01, 0.85)]


def seven(x: float) -> list[tuple[float, float]]:
    return [(x - 0.08, 0.2), (x + 0.08, 0.2), (x + 0.03, 0.5), (x - 0.02, 0.85)]


def boxes(page: Page) -> list[dict]:
    return page.locator("[data-testid=read-box]").evaluate_all(
        "els => els.map(e => ({left: e.offsetLeft, width: e.offsetWidth, text: e.textContent}))"
    )


def test_writing_a_number_reads_it_with_boxes(desktop: OpenPage) -> None:
    page, problems = desktop
    write(page, one(0.2), seven(0.5), one(0.8))  # each stroke sends the drawing; the last answer wins
    page.locator("#read[data-read-state=done]").wait_for(timeout=10_000)
    expect(page.get_by_test_id("read-text")).to_have_text("171", timeout=10_000)
    found = boxes(page)
    assert [b["text"][0] for b in found] == ["1", "7", "1"]
    assert all("%" in b["text"] for b in found)  # label and confidence
    lefts = [b["left"] for b in found]
    assert lefts == sorted(lefts)
    width = page.get_by_test_id("read-canvas").bounding_box()["width"]
    for b, x in zip(found, (0.2, 0.5, 0.8), strict=True):  # each box lies over its digit
        assert b["left"] <= x * width <= b["left"] + b["width"] + 2
    page.get_by_test_id("read-clear").click()
    expect(page.get_by_test_id("read-text")).to_have_text("?")
    assert boxes(page) == []
    assert problems.errors == []


def test_uploading_a_picture_of_a_number(desktop: OpenPage, tmp_path) -> None:
    from PIL import Image, ImageDraw

    path = tmp_path / "number.png"
    picture = Image.new("RGB", (600, 200), (236, 232, 220))
    pen = ImageDraw.Draw(picture)
    for x in (100, 400):  # 1 _ 1 with a 7 between
        pen.line([(x, 40), (x, 160)], fill=(30, 30, 60), width=14)
    pen.line([(200, 45), (300, 45), (240, 165)], fill=(30, 30, 60), width=14, joint="curve")
    picture.save(path)
    page, problems = desktop
    page.locator("#read-upload").set_input_files(path)
    page.locator("#read[data-read-state=done]").wait_for(timeout=10_000)
    expect(page.get_by_test_id("read-text")).to_have_text("171")
    assert len(boxes(page)) == 3
    assert problems.errors == []


def test_a_blank_upload_says_no_digits_found(desktop: OpenPage, tmp_path) -> None:
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (300, 100), 255).save(blank)
    page, problems = desktop
    page.locator("#read-upload").set_input_files(blank)
    expect(page.locator("#read-status")).to_contain_text("No digits found", timeout=10_000)
    assert boxes(page) == []
    assert [e for e in problems.errors if "status of 422" not in e] == []
