"""The request bodies every serving benchmark sends, made the same way each time.

- ``canvas.png``: what the web page's canvas exports: 280x280 RGBA, a hand-drawn "3" in black
  anti-aliased strokes (18 px pen) on a fully transparent background, PNG as a browser writes it.
- ``pixels.json``: ``{"pixels": [...]}`` with 784 integers, an MNIST-format digit (white on black), the
  shape a client that already has MNIST data sends.

Usage: ``python bench/payloads.py [OUT_DIR]`` (default ``bench/results/payloads``) prints the paths.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 280  # the web page's drawing canvas, 10x MNIST
PEN = 18  # the canvas's stroke width, px
SUPERSAMPLE = 4  # draw big, shrink: anti-aliased edges like a browser's stroke
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "payloads"


def canvas_png() -> bytes:
    """A "3" drawn the way a person draws on the page: two bowls and a short middle stroke."""
    s = SUPERSAMPLE
    alpha = Image.new("L", (CANVAS * s, CANVAS * s), 0)
    draw = ImageDraw.Draw(alpha)
    w = PEN * s
    # upper bowl, lower (bigger) bowl, slightly off-centre like a real drawing
    draw.arc([(95 * s, 45 * s), (185 * s, 140 * s)], start=200, end=90, fill=255, width=w)
    draw.arc([(85 * s, 125 * s), (195 * s, 235 * s)], start=270, end=160, fill=255, width=w)
    draw.line([(125 * s, 135 * s), (142 * s, 133 * s)], fill=255, width=w)
    alpha = alpha.resize((CANVAS, CANVAS), Image.Resampling.LANCZOS)
    rgba = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    rgba.putalpha(alpha)  # black ink, transparency carries the strokes (canvas export)
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")  # zlib level 6, as browsers' encoders roughly do
    return buffer.getvalue()


def mnist_pixels() -> list[int]:
    """The canvas digit brought to 28x28 MNIST form by a plain resize (no service code needed)."""
    image = Image.open(io.BytesIO(canvas_png())).getchannel("A")
    box = image.getbbox()
    assert box is not None
    digit = image.crop(box)
    scale = 20 / max(digit.size)
    digit = digit.resize((max(1, round(digit.width * scale)), max(1, round(digit.height * scale))))
    out = Image.new("L", (28, 28), 0)
    out.paste(digit, ((28 - digit.width) // 2, (28 - digit.height) // 2))
    return np.asarray(out, dtype=np.uint8).ravel().tolist()


def write(out_dir: Path = DEFAULT_OUT) -> dict[str, Path]:
    """Write both bodies into ``out_dir`` and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"canvas": out_dir / "canvas.png", "pixels": out_dir / "pixels.json"}
    paths["canvas"].write_bytes(canvas_png())
    paths["pixels"].write_text(json.dumps({"pixels": mnist_pixels()}, separators=(",", ":")))
    return paths


if __name__ == "__main__":
    for name, path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT).items():
        print(f"{name}: {path} ({path.stat().st_size} bytes)")
