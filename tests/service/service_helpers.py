"""Pictures and checks the service tests share (imported by tests/service/*)."""

from __future__ import annotations

import io
import json
import math

import numpy as np
from PIL import Image, ImageDraw

PROBLEM_FIELDS = {"type", "title", "status", "detail"}


def draw_digit(digit: int, *, size: int = 240, ink: int = 20, paper: int = 235, fmt: str = "PNG") -> bytes:
    """A thick dark pen digit (0, 1 or 7) on light paper, the way a photo or scan of paper looks."""
    image = Image.new("L", (size, size), paper)
    pen = ImageDraw.Draw(image)
    s = size / 240
    width = max(2, round(18 * s))
    if digit == 0:
        pen.ellipse([70 * s, 30 * s, 170 * s, 210 * s], outline=ink, width=width)
    elif digit == 1:
        pen.line([(120 * s, 30 * s), (120 * s, 210 * s)], fill=ink, width=width)
    elif digit == 7:
        pen.line(
            [(60 * s, 40 * s), (180 * s, 40 * s), (100 * s, 210 * s)], fill=ink, width=width, joint="curve"
        )
    else:
        raise ValueError(f"no drawing for {digit}")
    return encode(image, fmt)


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def blank_png(size: int = 64, value: int = 255) -> bytes:
    return encode(Image.new("L", (size, size), value))


def mnist_like_one() -> np.ndarray:
    """A 28x28 uint8 MNIST-format '1': a white vertical bar, centred, on black."""
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[4:24, 13:16] = 255
    return pixels


def assert_problem(response, status: int, detail_part: str = "") -> dict:
    """An RFC 9457 problem+json answer with this status and a detail mentioning ``detail_part``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body.keys() >= PROBLEM_FIELDS, body
    assert body["status"] == status
    assert body["detail"]
    assert isinstance(body["detail"], str)
    assert detail_part.lower() in body["detail"].lower(), body["detail"]
    assert "Traceback" not in response.text
    assert "<html" not in response.text.lower()
    return body


def strict_json(text: str) -> object:
    """json.loads that fails on NaN/Infinity (Python's parser accepts them; JSON does not)."""

    def reject(constant: str) -> float:
        raise ValueError(f"non-JSON number {constant} in response")

    return json.loads(text, parse_constant=reject)


def relative_error(value: float, reference: float, scale: float) -> float:
    return abs(value - reference) / max(abs(reference), scale, math.ulp(1.0))
