"""Pictures of digits the way people send them, rendered from MNIST digits or fonts (test helpers).

Each renderer takes a uint8 28x28 MNIST digit (white on black) and a numpy Generator and returns the
encoded file bytes a user would upload. Shared by the unit tests, the accuracy test and the benchmark.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def upscale(digit: np.ndarray, size: int) -> np.ndarray:
    """28x28 -> size x size float in [0, 1]: a smooth, marker-like stroke."""
    image = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32) / 255


def paper_photo(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Dark ink on off-white paper, photographed: off-centre in a larger frame, slight blur, a lighting
    gradient, sensor noise, JPEG quality 70-85. The strokes are MNIST's, as wide as a marker's."""
    return _photo(Image.fromarray(digit), rng)


def pen_photo(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """As paper_photo, written with a fine pen: the strokes about half as wide as MNIST's."""
    shape = Image.fromarray(digit).resize((112, 112), Image.Resampling.BICUBIC).point(_INKED)
    return _photo(shape.filter(ImageFilter.MinFilter(5)), rng)


_INKED = [255 if level > 100 else 0 for level in range(256)]


def slant(digit: np.ndarray, shear: float) -> np.ndarray:
    """The digit sheared: each row moves ``-shear`` x its height above the centre (> 0 leans right)."""
    big = Image.fromarray(digit).resize((112, 112), Image.Resampling.BICUBIC)
    wide = Image.new("L", (224, 112), 0)
    wide.paste(big, (56, 0))
    sheared = wide.transform(
        wide.size, Image.Transform.AFFINE, (1, shear, -shear * 56, 0, 1, 0), resample=Image.Resampling.BICUBIC
    )
    return np.asarray(sheared.crop(sheared.getbbox() or (0, 0, 224, 112)))


def slanted_photo(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """As paper_photo, written leaning far right or left (a shear of 0.4-0.8, beyond most of MNIST)."""
    shear = rng.uniform(0.4, 0.8) * rng.choice((-1, 1))
    shape = slant(digit, float(shear))
    side = max(shape.shape)
    square = np.zeros((side, side), np.uint8)
    top, left = (side - shape.shape[0]) // 2, (side - shape.shape[1]) // 2
    square[top : top + shape.shape[0], left : left + shape.shape[1]] = shape
    return _photo(Image.fromarray(square), rng)


def ruled_paper(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """As paper_photo, on ruled paper: strong horizontal lines across the frame, 1-3 px thick."""
    return _photo(Image.fromarray(digit), rng, grid="ruled")


def graph_paper(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """As paper_photo, on graph paper: strong lines both ways, a square every 8-25% of the digit's size."""
    return _photo(Image.fromarray(digit), rng, grid="graph")


def _grid(rng: np.random.Generator, height: int, width: int, size: int, kind: str) -> np.ndarray:
    """Printed lines as ink (0..1): as dark as 40-80% of the pen, every ``step`` px, 1-3 px thick."""
    lines = np.zeros((height, width), np.float32)
    step = max(6, int(size * rng.uniform(0.08, 0.25) if kind == "graph" else size * rng.uniform(0.25, 0.4)))
    thick, strength = int(rng.integers(1, 4)), np.float32(rng.uniform(0.4, 0.8))
    for offset in range(int(rng.integers(0, step)), height, step):
        lines[offset : offset + thick] = strength
    if kind == "graph":
        for offset in range(int(rng.integers(0, step)), width, step):
            lines[:, offset : offset + thick] = strength
    return lines


def _photo(shape: Image.Image, rng: np.random.Generator, grid: str | None = None) -> bytes:
    size = int(rng.integers(300, 601))
    frame_h, frame_w = (np.array([size, size]) * rng.uniform(1.3, 2.0, 2)).astype(int)
    top, left = int(rng.integers(0, frame_h - size + 1)), int(rng.integers(0, frame_w - size + 1))
    stroke = shape.resize((size, size), Image.Resampling.BICUBIC)
    stroke = stroke.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))  # focus: before the sensor
    ink = np.zeros((frame_h, frame_w), np.float32)
    ink[top : top + size, left : left + size] = np.asarray(stroke, dtype=np.float32) / 255
    if grid is not None:
        lines = Image.fromarray((_grid(rng, frame_h, frame_w, size, grid) * 255).astype(np.uint8))
        lines = lines.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.0)))
        ink = np.maximum(ink, np.asarray(lines, dtype=np.float32) / 255)
    paper = rng.uniform(0.82, 0.96)  # under full light; the ink reflects 5-25% of what the paper does
    pen = paper * rng.uniform(0.05, 0.25)
    angle = rng.uniform(0, 2 * np.pi)  # light falls off by 25-40% across the frame in a random direction
    ramp_x = np.cos(angle) * np.linspace(-0.5, 0.5, frame_w, dtype=np.float32)
    ramp_y = np.sin(angle) * np.linspace(-0.5, 0.5, frame_h, dtype=np.float32)
    light = 1 - np.float32(rng.uniform(0.25, 0.4)) * (ramp_y[:, None] + ramp_x[None, :] + 0.5)
    value = (np.float32(paper * 255) - np.float32((paper - pen) * 255) * ink) * light
    value += _noise(rng, frame_h, frame_w) * np.float32(rng.uniform(0.01, 0.03) * 255)
    gray = Image.fromarray(np.clip(value, 0, 255).astype(np.uint8))
    # Warm-white paper: tint the channels (the noise stays correlated across them, as after demosaicing).
    tint = (1.0, rng.uniform(0.96, 1.0), rng.uniform(0.88, 0.98))
    rgb = Image.merge("RGB", [gray.point([round(level * factor) for level in range(256)]) for factor in tint])
    return encode(rgb, "JPEG", quality=int(rng.integers(70, 86)))


def paper_on_table(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A sheet of paper (60-85% of the frame each way, turned up to 8 degrees, maybe cut by the frame)
    lying on a darker, grained table, the digit written on it; photographed (blur, noise, JPEG)."""
    frame_h, frame_w = int(rng.integers(500, 800)), int(rng.integers(500, 800))
    rows = np.linspace(0, 1, frame_h, dtype=np.float32)[:, None]
    frame = np.float32(rng.uniform(0.15, 0.5)) + 0.05 * np.sin(rows * np.float32(rng.uniform(20, 60)))
    frame = np.repeat(frame, frame_w, axis=1)
    sheet_h, sheet_w = int(frame_h * rng.uniform(0.6, 0.85)), int(frame_w * rng.uniform(0.6, 0.85))
    sheet = Image.new("L", (sheet_w, sheet_h), 255)
    size = int(min(sheet_h, sheet_w) * rng.uniform(0.4, 0.7))
    shape = Image.fromarray(255 - digit).resize((size, size), Image.Resampling.BICUBIC)
    sheet.paste(shape, (int(rng.integers(0, sheet_w - size)), int(rng.integers(0, sheet_h - size))))
    angle = rng.uniform(-8, 8)
    cover = Image.new("L", sheet.size, 255).rotate(angle, expand=True, fillcolor=0)
    sheet = sheet.rotate(angle, expand=True, fillcolor=0, resample=Image.Resampling.BILINEAR)
    paper = np.asarray(sheet, np.float32) / 255 * np.float32(rng.uniform(0.8, 0.95))
    alpha = np.asarray(cover, np.float32) / 255
    top = int(rng.integers(0, max(1, frame_h - paper.shape[0])))
    left = int(rng.integers(0, max(1, frame_w - paper.shape[1])))
    height, width = min(paper.shape[0], frame_h - top), min(paper.shape[1], frame_w - left)
    region = frame[top : top + height, left : left + width]
    region *= 1 - alpha[:height, :width]
    region += paper[:height, :width] * alpha[:height, :width]
    frame += _noise(rng, frame_h, frame_w) * np.float32(0.02)
    image = Image.fromarray((np.clip(frame, 0, 1) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1))
    return encode(image.convert("RGB"), "JPEG", quality=int(rng.integers(70, 86)))


_NOISE: dict[str, np.ndarray] = {}


def _noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random window of one big field of unit Gaussian noise (made once: drawing it is the slow part)."""
    if "field" not in _NOISE:
        _NOISE["field"] = np.random.default_rng(12345).standard_normal((1300, 1300), dtype=np.float32)
    field = _NOISE["field"]
    top, left = (
        int(rng.integers(0, field.shape[0] - height + 1)),
        int(rng.integers(0, field.shape[1] - width + 1)),
    )
    return field[top : top + height, left : left + width]


def canvas_export(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A 280x280 RGBA PNG: black strokes on a fully transparent background, drawn somewhere in the box."""
    size = int(rng.integers(180, 281))
    top, left = int(rng.integers(0, 281 - size)), int(rng.integers(0, 281 - size))
    alpha = np.zeros((280, 280), np.uint8)
    alpha[top : top + size, left : left + size] = np.round(upscale(digit, size) * 255).astype(np.uint8)
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = alpha
    return encode(Image.fromarray(rgba), "PNG", compress_level=1)  # pixels as browsers export them


def white_on_black_jpeg(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """White on black (like MNIST itself), upscaled, off-centre, as a JPEG of quality 70-90."""
    size = int(rng.integers(100, 301))
    frame = int(size * rng.uniform(1.0, 1.6))
    top, left = int(rng.integers(0, frame - size + 1)), int(rng.integers(0, frame - size + 1))
    canvas = np.zeros((frame, frame), np.uint8)
    canvas[top : top + size, left : left + size] = np.round(upscale(digit, size) * 255).astype(np.uint8)
    image = Image.fromarray(canvas).convert("RGB")
    return encode(image, "JPEG", quality=int(rng.integers(70, 91)))


RENDERERS = {
    "paper_photo": paper_photo,
    "pen_photo": pen_photo,
    "paper_on_table": paper_on_table,
    "canvas_export": canvas_export,
    "jpeg_white_on_black": white_on_black_jpeg,
    "ruled_paper": ruled_paper,
    "graph_paper": graph_paper,
    "slanted_photo": slanted_photo,
}

# Printed digits -------------------------------------------------------------------------------------------

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
SLANTED = ("italic", "oblique")  # handwriting-slant is MNIST's business; print fonts are taken upright


def font_files() -> list[Path]:
    """Upright TrueType/OpenType fonts here (may be none: Pillow's bundled font is always used besides)."""
    found = {path for root in FONT_DIRS if root.is_dir() for path in root.rglob("*.[ot]tf")}
    return sorted(path for path in found if not any(word in path.name.lower() for word in SLANTED))


def load_font(source: Path | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font file, or Pillow's bundled TrueType default (Pillow >= 10.1) when ``source`` is None."""
    return ImageFont.load_default(size=size) if source is None else ImageFont.truetype(str(source), size)


def printed_digit(label: int, font, rng: np.random.Generator) -> bytes:
    """A digit printed in ``font`` on paper at a random position, photographed lightly (noise, JPEG)."""
    width, height = int(rng.integers(160, 400)), int(rng.integers(160, 400))
    paper = int(rng.integers(215, 250))
    image = Image.new("L", (width, height), paper)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), str(label), font=font)
    x = rng.integers(-left, max(-left + 1, width - right))
    y = rng.integers(-top, max(-top + 1, height - bottom))
    draw.text((int(x), int(y)), str(label), fill=int(rng.integers(10, 70)), font=font)
    pixels = np.asarray(image, np.float32) + rng.normal(0, 4, (height, width))
    noisy = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return encode(noisy, "JPEG", quality=int(rng.integers(75, 95)))
