"""Synthetic pictures that are not digits, in MNIST format, for the model's "looks like a digit" head.

Each kind is drawn white on black on a 112x112 canvas with strokes about as wide, relative to the
shape, as MNIST's, then laid out the way MNIST was made (crop to the ink, longer side to 20 px,
centre of mass to the centre of 28x28). That layout is written here, not imported from the service:
training and the service meet only in ``contract``; the held-out measurement through the service's
own preprocessing lives in the tests and ``bench/``.

Splits never share a picture: training, validation (choosing the threshold) and held-out test use
different seeds, and the held-out test adds fonts (FONT_SPLIT) and kinds (HELD_OUT_KINDS) that training
never sees (of them, ``face`` is closest to the training kind ``ring``: round outlines with marks inside).
Letters that are drawn like digits in common fonts (O, I, l, Z, S, B, g, ...) are left out: a service
cannot be asked to call an "O" not-a-zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from contract import IMAGE_SIZE

CANVAS = 112
BOX = 20  # MNIST: the digit's longer side, px
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
# Letters and symbols that read as a digit in some font (0: O o D Q U; 1: I l i j | ! /; 2: Z z;
# 4: y; 5: S s $; 6: b G; 8: B &; 9: g q a; 7: T) are not negatives.
LETTERS = "ACEFHKMNPRVWXcdefhkmnprtvwx"
SYMBOLS = "#%@*?+=<>{}"
TRAIN_KINDS = ("letter", "symbol", "strokes", "scribble", "shape", "texture", "blob", "lines", "ring")
HELD_OUT_KINDS = ("star", "face", "arrow", "hatch")
ALL_KINDS = TRAIN_KINDS + HELD_OUT_KINDS


def font_files() -> list[Path]:
    """Upright TrueType/OpenType fonts on this machine, sorted (slanted ones are left out)."""
    found = {path for root in FONT_DIRS if root.is_dir() for path in root.rglob("*.[ot]tf")}
    upright = [p for p in found if not any(w in p.name.lower() for w in ("italic", "oblique"))]
    return sorted(upright, key=lambda p: p.name)


def font_split(fonts: Sequence[Path] | None = None) -> tuple[list[Path | None], list[Path]]:
    """(training fonts, held-out fonts): every other font family by name (DejaVuSans-Bold.ttf and
    DejaVuSans.ttf are one family), so no held-out face shares a family with a training one.
    ``None`` is Pillow's bundled font, a training font."""
    fonts = list(font_files() if fonts is None else fonts)
    families = sorted({f.stem.split("-")[0] for f in fonts})
    held_out = set(families[1::2])
    return [None, *(f for f in fonts if f.stem.split("-")[0] not in held_out)], [
        f for f in fonts if f.stem.split("-")[0] in held_out
    ]


def _font(source: Path | None, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size) if source is None else ImageFont.truetype(str(source), size)


def mnist_layout(canvas: Image.Image) -> np.ndarray | None:
    """White-on-black 'L' picture -> uint8 [28, 28] laid out like MNIST; None if it has no ink."""
    box = canvas.point(lambda v: 255 if v >= 64 else 0).getbbox()
    if box is None:
        return None
    width, height = box[2] - box[0], box[3] - box[1]
    scale = BOX / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    digit = np.asarray(canvas.resize(size, Image.Resampling.LANCZOS, box=box), dtype=np.float32)
    mass = float(digit.sum())
    if mass <= 0:
        return None
    centre_y = float(digit.sum(axis=1) @ np.arange(digit.shape[0])) / mass
    centre_x = float(digit.sum(axis=0) @ np.arange(digit.shape[1])) / mass
    offset_y = min(max(round(IMAGE_SIZE / 2 - centre_y), 0), IMAGE_SIZE - digit.shape[0])
    offset_x = min(max(round(IMAGE_SIZE / 2 - centre_x), 0), IMAGE_SIZE - digit.shape[1])
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    out[offset_y : offset_y + digit.shape[0], offset_x : offset_x + digit.shape[1]] = np.clip(digit, 0, 255)
    return out


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (CANVAS, CANVAS), 0)
    return image, ImageDraw.Draw(image)


def _width(rng: np.random.Generator) -> int:
    return int(rng.integers(7, 14))  # MNIST-like strokes for a shape about 80-100 px across


def _points(rng: np.random.Generator, n: int, margin: int = 12) -> list[tuple[float, float]]:
    return [tuple(rng.uniform(margin, CANVAS - margin, 2)) for _ in range(n)]


def _glyph(text: str, rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    image, draw = _canvas()
    font = _font(fonts[int(rng.integers(len(fonts)))], int(rng.integers(60, 90)))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((CANVAS - right - left) / 2, (CANVAS - bottom - top) / 2), text, fill=255, font=font)
    return image


def letter(rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    return _glyph(LETTERS[int(rng.integers(len(LETTERS)))], rng, fonts)


def symbol(rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    return _glyph(SYMBOLS[int(rng.integers(len(SYMBOLS)))], rng, fonts)


def strokes(rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    """A pen line of 4-8 straight segments in random directions (zig-zags, crossings)."""
    image, draw = _canvas()
    draw.line(_points(rng, int(rng.integers(5, 10))), fill=255, width=_width(rng), joint="curve")
    return image


def scribble(rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    """A smooth random walk that loops over itself: a pen scribble."""
    image, draw = _canvas()
    steps = int(rng.integers(150, 320))
    heading = np.cumsum(rng.normal(0, 0.5, steps)) + rng.uniform(0, 2 * np.pi)
    xy = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], 1) * rng.uniform(2.5, 5), axis=0)
    xy -= xy.min(0)
    xy = 10 + xy / max(float(xy.max()), 1.0) * (CANVAS - 20)
    draw.line([tuple(p) for p in xy], fill=255, width=_width(rng), joint="curve")
    return image


def shape(rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    """A filled rectangle, ellipse or polygon, or an outlined rectangle or polygon (outlined ellipses
    are zeros, so none are drawn)."""
    image, draw = _canvas()
    (x0, y0), (x1, y1) = _points(rng, 2)
    box = (min(x0, x1), min(y0, y1), max(x0, x1) + 20, max(y0, y1) + 20)
    choice = int(rng.integers(5))
    if choice == 0:
        draw.rectangle(box, fill=255)
    elif choice == 1:
        draw.ellipse(box, fill=255)
    elif choice == 2:
        draw.polygon(_points(rng, int(rng.integers(3, 7))), fill=255)
    elif choice == 3:
        draw.rectangle(box, outline=255, width=_width(rng))
    else:
        draw.polygon(_points(rng, int(rng.integers(3, 6))), outline=255, width=_width(rng))
    return image


def texture(rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    """Stripes, a checkerboard, dots or smoothed noise filling the picture."""
    choice = int(rng.integers(4))
    yy, xx = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32)
    period = rng.uniform(10, 30)
    if choice == 0:
        angle = rng.uniform(0, np.pi)
        wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
        pixels = (wave > 0).astype(np.float32)
    elif choice == 1:
        pixels = ((xx // period + yy // period) % 2).astype(np.float32)
    elif choice == 2:
        image, draw = _canvas()
        for x, y in _points(rng, int(rng.integers(8, 30)), margin=4):
            r = rng.uniform(3, 8)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
        return image
    else:
        noise = Image.fromarray((rng.random((CANVAS, CANVAS)) * 255).astype(np.uint8))
        blurred = np.asarray(noise.filter(ImageFilter.GaussianBlur(rng.uniform(2, 6))), np.float32)
        pixels = (blurred > np.median(blurred)).astype(np.float32)
    return Image.fromarray((pixels * 255).astype(np.uint8))


def blob(rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    """A filled smooth random blob (a smudge, a stain): a closed curve of random radii."""
    image, draw = _canvas()
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    harmonics = rng.normal(0, 1, (4, 2)) / np.arange(1, 5)[:, None] ** 1.5
    radius = (
        1
        + sum(
            h[0] * np.cos((k + 1) * angles) + h[1] * np.sin((k + 1) * angles) for k, h in enumerate(harmonics)
        )
        * 0.4
    )
    radius = np.clip(radius, 0.2, None) * rng.uniform(25, 45)
    centre = rng.uniform(45, 67, 2)
    draw.polygon(
        [
            (centre[0] + r * math.cos(a), centre[1] + r * math.sin(a))
            for r, a in zip(radius, angles, strict=True)
        ],
        fill=255,
    )
    return image


def lines(rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    """Two to five separate straight pen lines, crossing or not (a tick, a cross, a tally, a frame)."""
    image, draw = _canvas()
    width = _width(rng)
    for _ in range(int(rng.integers(2, 6))):
        draw.line(_points(rng, 2), fill=255, width=width)
    return image


def ring(rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    """An outlined ellipse with one to four small marks inside that do not touch it (dots, dashes, small
    arcs, crosses): round things with something in them (a badge, a face, a clock) are not zeros. A
    bare ring is a zero, and a line through one is a slashed zero, so neither is drawn."""
    image, draw = _canvas()
    width = _width(rng)
    rx, ry = rng.uniform(38, 52), rng.uniform(38, 52)
    cx, cy = CANVAS / 2 + rng.uniform(-4, 4), CANVAS / 2 + rng.uniform(-4, 4)
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), outline=255, width=width)
    # Marks live inside the hole, kept a stroke width away from the outline.
    hole_x, hole_y = rx - width - 6, ry - width - 6
    mark = max(5, width - 1)
    for _ in range(int(rng.integers(1, 5))):
        size = rng.uniform(0.25, 0.5) * min(hole_x, hole_y)
        angle, reach = rng.uniform(0, 2 * np.pi), rng.uniform(0, 1) ** 0.5
        x = cx + (hole_x - size) * reach * math.cos(angle)
        y = cy + (hole_y - size) * reach * math.sin(angle)
        choice = int(rng.integers(4))
        if choice == 0:  # a dot
            r = rng.uniform(5, 10)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
        elif choice == 1:  # a dash
            turn = rng.uniform(0, np.pi)
            dx, dy = size * math.cos(turn), size * math.sin(turn)
            draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=255, width=mark)
        elif choice == 2:  # a small arc
            start = rng.uniform(0, 360)
            draw.arc((x - size, y - size, x + size, y + size), start, start + rng.uniform(90, 200), 255, mark)
        else:  # a small cross
            for turn in (np.pi / 4, 3 * np.pi / 4):
                dx, dy = size * math.cos(turn), size * math.sin(turn)
                draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=255, width=mark)
    return image


def star(rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    image, draw = _canvas()
    tips = int(rng.integers(5, 9))
    outer, inner = rng.uniform(40, 52), rng.uniform(0.35, 0.55)
    turn = rng.uniform(0, 2 * np.pi)
    points = [
        (
            CANVAS / 2 + (outer if i % 2 == 0 else outer * inner) * math.cos(turn + i * np.pi / tips),
            CANVAS / 2 + (outer if i % 2 == 0 else outer * inner) * math.sin(turn + i * np.pi / tips),
        )
        for i in range(2 * tips)
    ]
    if rng.random() < 0.5:
        draw.polygon(points, fill=255)
    else:
        draw.polygon(points, outline=255, width=_width(rng))
    return image


def face(rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    """A smiley: a head outline, two eyes and a mouth."""
    image, draw = _canvas()
    width = _width(rng)
    draw.ellipse((8, 8, CANVAS - 8, CANVAS - 8), outline=255, width=width)
    eye = rng.uniform(5, 9)
    for x in (40, 72):
        draw.ellipse((x - eye, 42 - eye, x + eye, 42 + eye), fill=255)
    smile = (32, 50, 80, 88)
    start = rng.uniform(10, 40)
    draw.arc(smile, start, 180 - start, fill=255, width=width)
    return image


def arrow(rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    image, draw = _canvas()
    width = _width(rng)
    angle = rng.uniform(0, 2 * np.pi)
    c, s = math.cos(angle), math.sin(angle)
    tail = (CANVAS / 2 - 45 * c, CANVAS / 2 - 45 * s)
    tip = (CANVAS / 2 + 45 * c, CANVAS / 2 + 45 * s)
    draw.line([tail, tip], fill=255, width=width)
    for side in (-1, 1):
        back = angle + np.pi + side * rng.uniform(0.4, 0.7)
        draw.line([tip, (tip[0] + 28 * math.cos(back), tip[1] + 28 * math.sin(back))], fill=255, width=width)
    return image


def hatch(rng: np.random.Generator, fonts: Sequence[Path | None]) -> Image.Image:
    """Cross-hatching: two families of parallel pen lines."""
    image, draw = _canvas()
    width = max(4, _width(rng) - 4)
    gap = rng.uniform(14, 24)
    for angle in rng.uniform(0, np.pi, 2):
        c, s = math.cos(angle), math.sin(angle)
        for offset in np.arange(-CANVAS, CANVAS, gap):
            centre = (CANVAS / 2 + offset * -s, CANVAS / 2 + offset * c)
            a = (centre[0] - CANVAS * c, centre[1] - CANVAS * s)
            b = (centre[0] + CANVAS * c, centre[1] + CANVAS * s)
            draw.line([a, b], fill=255, width=width)
    return image


DRAWERS: dict[str, Callable[[np.random.Generator, Sequence[Path | None]], Image.Image]] = {
    "letter": letter,
    "symbol": symbol,
    "strokes": strokes,
    "scribble": scribble,
    "shape": shape,
    "texture": texture,
    "blob": blob,
    "lines": lines,
    "ring": ring,
    "star": star,
    "face": face,
    "arrow": arrow,
    "hatch": hatch,
}


def pictures(kind: str, count: int, seed: int, fonts: Sequence[Path | None]) -> list[Image.Image]:
    """``count`` pictures (white on black, 112x112) of one kind, reproducible from ``seed``."""
    rng = np.random.default_rng([seed, ALL_KINDS.index(kind)])
    return [DRAWERS[kind](rng, fonts) for _ in range(count)]


def generate(
    kinds: Sequence[str], per_kind: int, seed: int, fonts: Sequence[Path | None]
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images [N, 28, 28] in MNIST format, kind index into ``ALL_KINDS`` [N])."""
    images, kind_ids = [], []
    for kind in kinds:
        for picture in pictures(kind, per_kind, seed, fonts):
            pixels = mnist_layout(picture)
            if pixels is not None:
                images.append(pixels)
                kind_ids.append(ALL_KINDS.index(kind))
    return np.stack(images), np.asarray(kind_ids, dtype=np.int64)


def printed_digits(count: int, seed: int, fonts: Sequence[Path | None]) -> tuple[np.ndarray, np.ndarray]:
    """Digits printed in ``fonts``, in MNIST format: positives beside MNIST's handwriting, so that the
    head does not learn "printed means not a digit". Returns (images, labels)."""
    rng = np.random.default_rng([seed, 99])
    images, labels = [], []
    for _ in range(count):
        label = int(rng.integers(10))
        pixels = mnist_layout(_glyph(str(label), rng, fonts))
        if pixels is not None:
            images.append(pixels)
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)
