"""Pictures of handwritten numbers made from MNIST digits (test helpers; shared with bench/read_accuracy.py).

``compose(digits, spacing, rng)`` lays 28x28 MNIST digits (white on black) on one line, 4x upscaled,
with a little jitter in size and height, and a gap by spacing class:

- spaced: 30-60% of the digit height between the ink of neighbours;
- close: 3-12% between them (boxes may still overlap where a digit leans, the ink does not);
- touching: each digit slid onto the previous one until the inks overlap by 1-3 px.

``RENDERERS`` turn the line into the file a user sends: ``paper`` (a flat scan, dark on off-white,
PNG), ``canvas`` (RGBA PNG, black strokes on transparent, as the web page exports) and ``photo``
(paper photographed: lighting gradient, blur, sensor noise, JPEG).
"""

from __future__ import annotations

import numpy as np
from digit_renderers import _noise, encode
from PIL import Image, ImageFilter

SPACINGS = ("spaced", "close", "touching")
SCALE = 4  # MNIST's 28 px -> 112 px per digit before jitter
INKED = 64  # a pixel at least this bright is ink (for the touching overlap)


def _ink(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One digit upscaled (size jitter +-10%), cropped to its ink."""
    size = int(28 * SCALE * rng.uniform(0.9, 1.1))
    big = np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC))
    rows, cols = np.nonzero(big > 0)
    return big[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def compose(digits: list[np.ndarray], spacing: str, rng: np.random.Generator) -> np.ndarray:
    """MNIST digits -> one white-on-black uint8 line (margins included)."""
    inks = [_ink(digit, rng) for digit in digits]
    height = max(ink.shape[0] for ink in inks)
    canvas_h = int(height * 1.5)
    width = sum(ink.shape[1] for ink in inks) + len(inks) * height + 2 * height
    line = np.zeros((canvas_h, width), np.uint8)
    x = int(height * rng.uniform(0.2, 0.5))
    previous: tuple[int, int, np.ndarray] | None = None  # left, top, ink of the digit before
    for ink in inks:
        top = (canvas_h - ink.shape[0]) // 2 + int(rng.integers(-height // 20, height // 20 + 1))
        if previous is not None and spacing != "touching":
            gap = rng.uniform(0.3, 0.6) if spacing == "spaced" else rng.uniform(0.03, 0.12)
            x = previous[0] + previous[2].shape[1] + int(gap * height)
        elif previous is not None:
            x = _touching_left(line, ink, top, previous[0] + previous[2].shape[1], int(rng.integers(1, 4)))
        region = line[top : top + ink.shape[0], x : x + ink.shape[1]]
        np.maximum(region, ink, out=region)
        previous = (x, top, ink)
    used = np.nonzero(line.max(axis=0))[0]
    right = min(width, used.max() + 1 + int(height * rng.uniform(0.2, 0.5)))
    return line[:, :right]


def _touching_left(line: np.ndarray, ink: np.ndarray, top: int, start: int, overlap: int) -> int:
    """The left edge at which ``ink`` touches what is on the line already, slid ``overlap`` px further."""
    mask = ink >= INKED
    for x in range(start, start - ink.shape[1], -1):
        region = line[top : top + ink.shape[0], x : x + ink.shape[1]] >= INKED
        if (region & mask).any():
            return max(0, x - overlap + 1)
    return max(0, start - ink.shape[1] // 2)


def paper(line: np.ndarray, rng: np.random.Generator) -> bytes:
    """Dark ink on off-white paper, scanned: 60-100 px digits, light noise, PNG."""
    image = _scaled(line, rng, 60, 100)
    paper_level, pen = rng.uniform(0.85, 0.97), rng.uniform(0.05, 0.25)
    value = (paper_level - (paper_level - pen) * image) * 255
    value += rng.normal(0, 3, value.shape)
    return encode(Image.fromarray(np.clip(value, 0, 255).astype(np.uint8)), "PNG")


def canvas(line: np.ndarray, rng: np.random.Generator) -> bytes:
    """RGBA PNG: black strokes on a fully transparent background, 80-160 px digits (the web page)."""
    alpha = (_scaled(line, rng, 80, 160) * 255 + 0.5).astype(np.uint8)
    rgba = np.zeros((*alpha.shape, 4), np.uint8)
    rgba[..., 3] = alpha
    return encode(Image.fromarray(rgba), "PNG", compress_level=1)


def photo(line: np.ndarray, rng: np.random.Generator) -> bytes:
    """Paper photographed: 100-200 px digits in a larger frame, blur, a lighting gradient, noise, JPEG."""
    ink = _scaled(line, rng, 100, 200)
    ink = np.asarray(
        Image.fromarray((ink * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5))),
        np.float32,
    ) / np.float32(255)
    pad_y, pad_x = int(ink.shape[0] * rng.uniform(0.2, 0.6)), int(ink.shape[0] * rng.uniform(0.2, 0.6))
    frame = np.zeros((ink.shape[0] + 2 * pad_y, ink.shape[1] + 2 * pad_x), np.float32)
    frame[pad_y : pad_y + ink.shape[0], pad_x : pad_x + ink.shape[1]] = ink
    height, width = frame.shape
    paper_level = rng.uniform(0.82, 0.96)
    pen = paper_level * rng.uniform(0.05, 0.25)
    angle = rng.uniform(0, 2 * np.pi)
    ramp_x = np.cos(angle) * np.linspace(-0.5, 0.5, width, dtype=np.float32)
    ramp_y = np.sin(angle) * np.linspace(-0.5, 0.5, height, dtype=np.float32)
    light = 1 - np.float32(rng.uniform(0.2, 0.35)) * (ramp_y[:, None] + ramp_x[None, :] + 0.5)
    value = (np.float32(paper_level * 255) - np.float32((paper_level - pen) * 255) * frame) * light
    if height <= 1300 and width <= 1300:
        value += _noise(rng, height, width) * np.float32(rng.uniform(0.01, 0.03) * 255)
    else:
        value += rng.normal(0, rng.uniform(0.01, 0.03) * 255, value.shape).astype(np.float32)
    gray = Image.fromarray(np.clip(value, 0, 255).astype(np.uint8))
    return encode(gray.convert("RGB"), "JPEG", quality=int(rng.integers(70, 86)))


def _scaled(line: np.ndarray, rng: np.random.Generator, low: int, high: int) -> np.ndarray:
    """The line resized so a digit (4x MNIST's 28 px) becomes ``low``..``high`` px tall; ink 0..1."""
    factor = rng.uniform(low, high) / (28 * SCALE)
    size = (max(1, round(line.shape[1] * factor)), max(1, round(line.shape[0] * factor)))
    return np.asarray(Image.fromarray(line).resize(size, Image.Resampling.LANCZOS), np.float32) / 255


RENDERERS = {"paper": paper, "canvas": canvas, "photo": photo}


def numbers(images: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator):
    """``count`` numbers of 2-6 random MNIST digits each: yields (digit images, the number's text)."""
    for _ in range(count):
        length = int(rng.integers(2, 7))
        picks = rng.integers(0, len(labels), length)
        yield [images[i] for i in picks], "".join(str(int(labels[i])) for i in picks)


def evaluate(images: np.ndarray, labels: np.ndarray, score, *, count: int, seed: int, read_line) -> dict:
    """Exact-number accuracy of ``read_line`` per spacing class and rendering, ``count`` numbers each.

    Beside it, what single-digit accuracy allows (each number's digits read one by one from clean
    MNIST, right only if all are) and the digits-per-number error. ``read_line(data) -> uint8 [N, 28,
    28]`` raises ValueError (an ImageError) for a picture it refuses (counted wrong).
    """
    rng = np.random.default_rng(seed)
    results: dict[str, dict] = {}
    for spacing in SPACINGS:
        for name, render in RENDERERS.items():
            right = allowed = wrong_count = 0
            for digits, text in numbers(images, labels, count, rng):
                data = render(compose(digits, spacing, rng), rng)
                try:
                    pixels = read_line(data)
                    got = "".join(str(int(p)) for p in score(pixels).argmax(axis=1))
                except ValueError:
                    got = ""
                right += got == text
                wrong_count += len(got) != len(text)
                clean = "".join(str(int(p)) for p in score(np.stack(digits)).argmax(axis=1))
                allowed += clean == text
            results[f"{spacing}/{name}"] = {
                "exact": round(right / count, 4),
                "single_digit_bound": round(allowed / count, 4),
                "wrong_digit_count": round(wrong_count / count, 4),
                "n": count,
            }
        cells = [results[f"{spacing}/{name}"] for name in RENDERERS]
        results[spacing] = {
            "exact": round(sum(c["exact"] for c in cells) / len(cells), 4),
            "single_digit_bound": round(sum(c["single_digit_bound"] for c in cells) / len(cells), 4),
            "n": count * len(cells),
        }
    return results
