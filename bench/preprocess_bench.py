"""Time the image preprocessing (service/images.py) step by step; prints figures, asserts nothing.

Inputs, made here so the script needs nothing but the base dependencies:
  canvas   280x280 RGBA PNG, black anti-aliased strokes on a fully transparent background (the web page)
  photo    4032x3024 JPEG (a 12 MP phone photo): dark ink on paper, uneven light, sensor noise
  scan     1200x900 grayscale PNG, dark on white (a flatbed scan / screenshot)
  mnist    28x28 grayscale PNG, white on black (already MNIST format)
  oversized  PNG headers declaring 100000x100000, 10000x10000 and 5000x5000 pixels (refused with 413
           from the header alone; tests/images checks that no pixel buffer is allocated, this how fast)

Steps: decode (header check, JPEG draft, load, EXIF orientation, integer reduce), ink map (alpha or
polarity + lighting + noise floor), layout (bbox, 20 px box, centre of mass), the whole read_digit,
and png_base64 of the result. For the photo also a full-resolution decode, to show what draft saves.

    .venv/bin/python bench/preprocess_bench.py [--repeat 200] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import io
import statistics
import struct
import sys
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from service import images

MAX_PIXELS = 40_000_000


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def strokes(size: int, width: int) -> Image.Image:
    """A hand-drawn-looking "4" as an anti-aliased mask (drawn at 4x, box-reduced)."""
    big = Image.new("L", (size * 4, size * 4), 0)
    draw = ImageDraw.Draw(big)
    s = size * 4
    draw.line([(0.55 * s, 0.15 * s), (0.2 * s, 0.62 * s), (0.78 * s, 0.6 * s)], fill=255, width=width * 4)
    draw.line([(0.6 * s, 0.35 * s), (0.58 * s, 0.88 * s)], fill=255, width=width * 4)
    return big.reduce(4)


def canvas_png() -> bytes:
    rgba = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    rgba.putalpha(strokes(280, 18))
    return encode(rgba, "PNG")


def phone_photo_jpeg() -> bytes:
    height, width = 3024, 4032
    rng = np.random.default_rng(0)
    ink = np.zeros((height, width), np.float32)
    ink[900:2100, 1700:2900] = np.asarray(strokes(1200, 60), np.float32) / 255
    light = np.linspace(1.0, 0.7, width, dtype=np.float32)[None, :]
    gray = (225 - 190 * ink) * light + rng.standard_normal((height, width), dtype=np.float32) * 5
    rgb = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).convert("RGB")
    return encode(rgb, "JPEG", quality=85)


def scan_png() -> bytes:
    page = Image.new("L", (1200, 900), 255)
    page.paste(Image.eval(strokes(500, 30), lambda value: 255 - value), (350, 200))
    return encode(page, "PNG")


def mnist_png() -> bytes:
    return encode(strokes(28, 2), "PNG")


def png_header(width: int, height: int) -> bytes:
    """A valid PNG signature, IHDR declaring width x height, a tiny IDAT and IEND."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def measure(function: Callable[[], object], repeat: int, seconds: float) -> list[float]:
    """Wall times in ms: at least 5 runs, at most ``repeat``, stopping after about ``seconds``."""
    function()  # warm up (imports, plugin init, caches)
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < repeat and (len(times) < 5 or time.perf_counter() < deadline):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return times


def row(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"  {name:<28} {statistics.median(times):8.3f} {ordered[0]:8.3f} {p90:8.3f} {len(times):6d}"


def bench_input(label: str, data: bytes, repeat: int, seconds: float) -> None:
    probe = Image.open(io.BytesIO(data))
    decoded = images.decode_image(data, max_pixels=MAX_PIXELS)
    ink, noisy = images._ink_map(decoded)
    pixels = images.to_mnist(decoded)
    print(
        f"\n{label}: {probe.format} {probe.size[0]}x{probe.size[1]} {probe.mode}, {len(data) / 1024:.0f} KiB"
        f" -> decoded {decoded.size[0]}x{decoded.size[1]} {decoded.mode}"
    )
    print(f"  {'step':<28} {'median':>8} {'min':>8} {'p90':>8} {'runs':>6}   (ms)")
    steps: dict[str, Callable[[], object]] = {
        "decode_image": lambda: images.decode_image(data, max_pixels=MAX_PIXELS),
        "  ink map": lambda: images._ink_map(decoded),
        "  layout (bbox, 20px, CoM)": lambda: images._mnist_layout(ink, despeckle=noisy),
        "to_mnist": lambda: images.to_mnist(decoded),
        "read_digit (total)": lambda: images.read_digit(data, max_pixels=MAX_PIXELS),
        "png_base64": lambda: images.png_base64(pixels),
    }
    if probe.format == "JPEG" and max(probe.size) > images.WORK_SIZE:
        steps["(full-size decode, no draft)"] = lambda: Image.open(io.BytesIO(data)).load()
    for name, function in steps.items():
        print(row(name, measure(function, repeat, seconds)))


def bench_oversized(repeat: int, seconds: float) -> None:
    """Time the refusal of pictures that declare too many pixels (nothing is decoded)."""
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # Pillow's own warning, then ours
    print(f"\noversized: PNG headers only, refused with {images.ImageTooLarge.status_code}")
    print(f"  {'declared (limit)':<28} {'median':>8} {'min':>8} {'p90':>8} {'runs':>6}   (ms)")
    cases = [(100_000, 100_000, MAX_PIXELS), (10_000, 10_000, MAX_PIXELS), (5_000, 5_000, 1_000_000)]
    for width, height, limit in cases:
        data = png_header(width, height)

        label = f"{width}x{height} ({limit:,})"

        def refuse(data: bytes = data, limit: int = limit, label: str = label) -> None:
            try:
                images.read_digit(data, max_pixels=limit)
            except images.ImageTooLarge:
                return
            raise SystemExit(f"{label} was not refused")

        print(row(label, measure(refuse, repeat, seconds)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=300, help="most runs per step")
    parser.add_argument("--seconds", type=float, default=1.0, help="time budget per step")
    parser.add_argument("--only", choices=["canvas", "photo", "scan", "mnist", "oversized"], action="append")
    args = parser.parse_args()
    inputs = {"canvas": canvas_png, "photo": phone_photo_jpeg, "scan": scan_png, "mnist": mnist_png}
    print(f"service/images.py preprocessing, WORK_SIZE={images.WORK_SIZE}; Pillow {Image.__version__}")
    for label in args.only or [*inputs, "oversized"]:
        if label == "oversized":
            bench_oversized(args.repeat, args.seconds)
        else:
            bench_input(label, inputs[label](), args.repeat, args.seconds)


if __name__ == "__main__":
    main()
