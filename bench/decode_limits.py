"""Worst-case cost of decoding a picture at the pixel limit, per format: time and peak memory.

What DIGITS_MAX_IMAGE_PIXELS (baseline JPEGs, decoded at reduced scale) and DIGITS_MAX_FULL_DECODE_PIXELS
(everything decoded at full size) must bound is what one request can make ``service.images.read_digit``
spend; each case is measured at 48 MP (8000x6000, a phone photo) and at its limit's default. The worst
case of each format is the largest picture that still fits in the body limit (DIGITS_MAX_BODY_BYTES,
10 MiB) in the mode that decodes widest:

  jpeg-*       baseline JPEGs are decoded at reduced scale (libjpeg's DCT scaling, ``draft``), but the
               entropy decoding still reads the whole file (noise: as much of 10 MiB as fits); a
               progressive JPEG buffers all its coefficients at full size, 4:4:4 and CMYK the most.
  png-*        decoded fully, then reduced: RGBA 8-bit (4 bytes per pixel), and a palette image with
               transparency (1 byte per pixel, expanded to RGBA before reducing).
  gif, webp, tiff, bmp-rle   decoded fully as well (GIF: palette + transparency; WebP: lossless RGBA;
               TIFF: deflate RGBA; BMP: 1 bit per pixel, the only BMP this large that fits in 10 MiB).

Each case runs ``read_digit`` in a fresh process (so peak memory is that request's alone: the peak
resident set during the decode minus the resident set before it, file already in memory) ``--repeat``
times; the table shows the median time and the largest peak. Prints the table and writes
bench/results/decode-limits-latest.json.

    .venv/bin/python bench/decode_limits.py [--repeat 3] [--only png]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFile

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
BODY_LIMIT = 10 * 1024 * 1024  # DIGITS_MAX_BODY_BYTES' default: a worst case must fit in it
PHONE = (8000, 6000)  # a 48-megapixel phone photo
HUGE = (12000, 9000)  # 108 MP: the largest phone sensor in wide use; DIGITS_MAX_IMAGE_PIXELS' default
FULL_LIMIT = (7304, 5476)  # 40.0 MP: DIGITS_MAX_FULL_DECODE_PIXELS' default
ImageFile.MAXBLOCK = 64 * 2**20  # Pillow's encoder buffer: progressive JPEGs this large need more


def page(size: tuple[int, int], mode: str, noise: float) -> Image.Image:
    """A digit in dark ink on paper, with a gradient and `noise` (0..1) so the file is as large as wanted."""
    width, height = size
    rng = np.random.default_rng(0)
    small = Image.new("L", (width // 8, height // 8), 230)
    pen = ImageDraw.Draw(small)
    w, h = small.size
    pen.line([(w * 0.3, h * 0.2), (w * 0.7, h * 0.2), (w * 0.45, h * 0.85)], fill=30, width=max(2, w // 30))
    gray = np.asarray(small.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    gray += np.linspace(-20, 20, width, dtype=np.float32)[None, :]
    if noise:
        gray += rng.normal(0, 255 * noise, size=(height, width)).astype(np.float32)
    gray8 = np.clip(gray, 0, 255).astype(np.uint8)
    if mode == "L":
        return Image.fromarray(gray8)
    rgb = np.stack([gray8, np.roll(gray8, 1, axis=1), np.roll(gray8, 2, axis=0)], axis=-1)
    image = Image.fromarray(rgb)
    if mode == "RGBA":
        image.putalpha(Image.fromarray(np.where(gray8 < 128, 255, 200).astype(np.uint8)))
    elif mode != "RGB":
        image = image.convert(mode)
    return image


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def palette_with_transparency(size: tuple[int, int], fmt: str) -> bytes:
    image = page(size, "L", 0).quantize(16)
    return encode(image, fmt, transparency=0)


def jpeg_filling_the_body(size: tuple[int, int], mode: str, **params: object) -> bytes:
    """The noisiest JPEG of this size that still fits in the body limit (most entropy decoding)."""
    best = b""
    for noise in (0.06, 0.03, 0.015, 0.0):
        data = encode(page(size, mode, noise), "JPEG", quality=90, **params)
        if len(data) <= BODY_LIMIT:
            return data
        best = data
    raise SystemExit(f"no {mode} JPEG of {size} fits in {BODY_LIMIT} bytes ({len(best)})")


CASES = {
    "jpeg-baseline-420": lambda size: jpeg_filling_the_body(size, "RGB", subsampling=2),
    "jpeg-progressive-444": lambda size: jpeg_filling_the_body(size, "RGB", subsampling=0, progressive=True),
    "jpeg-progressive-cmyk": lambda size: jpeg_filling_the_body(size, "CMYK", progressive=True),
    "png-rgba": lambda size: encode(page(size, "RGBA", 0), "PNG", compress_level=9),
    "png-palette-transparent": lambda size: palette_with_transparency(size, "PNG"),
    "gif-transparent": lambda size: palette_with_transparency(size, "GIF"),
    "webp-lossless-rgba": lambda size: encode(
        page(size, "RGBA", 0), "WEBP", lossless=True, quality=0, method=0
    ),
    "tiff-deflate-rgba": lambda size: encode(page(size, "RGBA", 0), "TIFF", compression="tiff_adobe_deflate"),
    "bmp-1bit": lambda size: encode(page(size, "L", 0).convert("1"), "BMP"),
}
REDUCED_SCALE = ("jpeg-baseline-420",)  # decoded at 1/8 scale; every other case is decoded at full size

# Peak memory of the decode alone: the kernel's peak-RSS mark is reset just before it (clear_refs 5),
# then read after it (VmHWM), minus the resident set before it.
CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from service import images

def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field + ":"))

data = open({path!r}, "rb").read()
with open("/proc/self/clear_refs", "w") as marks:
    marks.write("5")
before = status("VmRSS")
start = time.perf_counter()
try:
    images.read_digit(data, max_pixels=10**9)
    outcome = "read"
except images.ImageError as error:
    outcome = type(error).__name__
seconds = time.perf_counter() - start
print(seconds, status("VmHWM") - before, outcome)
"""


def measure(path: Path, repeat: int) -> dict[str, object]:
    times, peaks, outcomes = [], [], set()
    for _ in range(repeat):
        code = CHILD.format(repo=str(REPO), path=str(path))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        seconds, peak, outcome = out.stdout.split()
        times.append(float(seconds))
        peaks.append(int(peak))
        outcomes.add(outcome)
    return {
        "seconds_median": statistics.median(times),
        "seconds_max": max(times),
        "peak_bytes": max(peaks),
        "outcome": "/".join(sorted(outcomes)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in CASES.items():
            if args.only not in name:
                continue
            for size in (PHONE, HUGE) if name in REDUCED_SCALE else (FULL_LIMIT, PHONE):
                data = make(size)
                if len(data) > BODY_LIMIT:
                    print(f"{name} {size}: {len(data)} bytes does not fit in the body limit; skipped")
                    continue
                path = Path(tmp) / f"{name}-{size[0]}x{size[1]}"
                path.write_bytes(data)
                row = {
                    "case": name,
                    "width": size[0],
                    "height": size[1],
                    "megapixels": size[0] * size[1] / 1e6,
                }
                row |= {"file_bytes": len(data), **measure(path, args.repeat)}
                rows.append(row)
                print(
                    f"{name:24} {size[0]:>5}x{size[1]:<5} {row['megapixels']:5.0f} MP  "
                    f"file {len(data) / 2**20:5.1f} MiB  {row['seconds_median'] * 1000:7.0f} ms  "
                    f"peak {row['peak_bytes'] / 2**20:6.0f} MiB  {row['outcome']}",
                    flush=True,
                )
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "pillow": Image.__version__,
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores (shared, busy)",
        "repeat": args.repeat,
        "body_limit_bytes": BODY_LIMIT,
        "memory_note": "peak = VmHWM after read_digit (mark reset just before) minus VmRSS before it, "
        "one fresh process per run",
        "cases": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "decode-limits-latest.json" if not args.only else f"decode-limits-{args.only}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
